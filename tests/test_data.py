import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nasrl import data
from nasrl.data import Dataset, Loader, Preprocess, Split, resolve_val_size, sources, split_train_val
from nasrl.errors import UserError


def _dataset(per_class=(30, 20, 10), res=8) -> Dataset:
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    x = torch.randint(0, 256, (len(y), 3, res, res), dtype=torch.uint8)
    classes = [f"c{i}" for i in range(len(per_class))]
    return Dataset("test", classes, x, y, x[:5].clone(), y[:5].clone())


def _write_folder(root, sizes=None, classes=("cat", "dog"), per_class=3):
    for split in ("train", "test"):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                size = (sizes or {}).get(i, (8, 8))
                Image.new("RGB", size, (label * 100 + i, 50, 200)).save(folder / f"{i}.png")


# ----- split -----------------------------------------------------------------------------------------------


def test_split_is_stratified_sized_and_deterministic_for_a_seed():
    ds = _dataset()
    train, val = split_train_val(ds, val_size=12, seed=3)
    assert (len(train), len(val)) == (48, 12)
    assert val.y.bincount().tolist() == [6, 4, 2]  # 30:20:10, as in the whole set
    again, val_again = split_train_val(ds, val_size=12, seed=3)
    assert torch.equal(val.x, val_again.x) and torch.equal(train.y, again.y)
    _, other = split_train_val(ds, val_size=12, seed=4)
    assert not torch.equal(val.x, other.x)
    # No image is in both parts, and together they are the whole training set.
    both = torch.cat([train.x, val.x]).flatten(1)
    assert torch.equal(both.sort(0).values, ds.train_x.flatten(1).sort(0).values)


def test_subsets_are_stratified_and_impossible_sizes_are_user_errors():
    ds = _dataset()
    train, val = split_train_val(ds, val_size=12, seed=0, train_subset=24, val_subset=6)
    assert train.y.bincount().tolist() == [12, 8, 4]
    assert val.y.bincount().tolist() == [3, 2, 1]
    for kwargs in ({"val_size": 60}, {"val_size": 0}, {"val_size": 12, "train_subset": 49}, {"val_subset": 13}):
        with pytest.raises(UserError):
            split_train_val(ds, **{"val_size": 12, **kwargs})


def test_synthetic_data_is_named_so_and_has_every_class():
    ds = data.load_dataset("synthetic", resolution=16)
    assert ds.name == "synthetic" and "synthetic" in ds.summary()
    assert ds.train_x.shape[1:] == (3, 16, 16) and ds.train_x.dtype == torch.uint8
    assert ds.train_y.bincount().tolist() == [600] * 10
    train, val = split_train_val(ds)  # the default: 10% of 6,000 images, under the 5,000 cap
    assert (len(train), len(val)) == (5400, 600)


def test_val_size_fraction_takes_that_share_and_splits_like_the_same_count():
    ds = _dataset()  # 60 training images
    train, val = split_train_val(ds, val_size=0.2, seed=3)
    assert (len(train), len(val)) == (48, 12)
    _, val_count = split_train_val(ds, val_size=12, seed=3)
    assert torch.equal(val.x, val_count.x)
    assert resolve_val_size(0.001, 300) == 1 and resolve_val_size(0.999, 300) == 299  # one image each side


def test_default_val_size_is_5000_images_but_never_more_than_a_tenth():
    assert resolve_val_size(None, 300) == 30
    assert resolve_val_size(None, 6000) == 600
    assert resolve_val_size(None, 100_000) == 5000
    assert resolve_val_size(None, 5) == 1  # a tiny set still validates on one image and trains on the rest
    train, val = split_train_val(_dataset((150, 100, 50)))
    assert (len(train), len(val)) == (270, 30)  # a 300-image folder needs no --val-size


def test_cifar_sized_default_is_still_5000_and_the_split_is_unchanged():
    y = torch.arange(50_000) % 10
    ds = Dataset("cifar-sized", [str(i) for i in range(10)], torch.arange(50_000).view(-1, 1, 1, 1), y, y, y)
    assert resolve_val_size(None, 50_000) == 5000
    train, val = split_train_val(ds, seed=0)
    old_train, old_val = split_train_val(ds, val_size=5000, seed=0)  # what every existing run asked for
    assert len(val) == 5000 and torch.equal(val.x, old_val.x) and torch.equal(train.x, old_train.x)


@pytest.mark.parametrize(
    "val_size, message",
    [
        (0, "between 1 and 59 images"),
        (60, "between 1 and 59 images"),
        (0.0, "strictly between 0 and 1"),
        (1.0, "strictly between 0 and 1"),
        (1.5, "strictly between 0 and 1"),
        (-0.1, "strictly between 0 and 1"),
        (True, "a number of images or a fraction"),
        ("ten", "a number of images or a fraction"),
    ],
)
def test_impossible_val_sizes_are_one_sentence_user_errors_that_say_what_to_do(val_size, message):
    with pytest.raises(UserError, match=message) as info:
        split_train_val(_dataset(), val_size=val_size)
    text = str(info.value)
    assert "--val-size" in text and text.count(". ") == 0 and text.endswith(".")


# ----- image folders and the cache -------------------------------------------------------------------------


def test_folder_is_decoded_once_then_served_from_the_cache_until_a_file_changes(tmp_path, monkeypatch):
    _write_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    first = data.load_dataset(f"folder:{tmp_path / 'imgs'}", cache, resolution=8)
    assert first.classes == ["cat", "dog"] and first.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(list(cache.glob("*.pt"))) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(sources, "_decode_chunk", no_decoding)
    second = data.load_dataset(f"folder:{tmp_path / 'imgs'}", cache, resolution=8)
    assert torch.equal(first.train_x, second.train_x)

    monkeypatch.undo()
    Image.new("RGB", (8, 8), (255, 255, 255)).save(tmp_path / "imgs" / "train" / "cat" / "0.png")
    changed = data.load_dataset(f"folder:{tmp_path / 'imgs'}", cache, resolution=8)
    assert changed.train_x[0].eq(255).all() and not torch.equal(changed.train_x, first.train_x)
    assert len(list(cache.glob("*.pt"))) == 1  # the stale cache is gone
    other_res = data.load_dataset(f"folder:{tmp_path / 'imgs'}", cache, resolution=16)
    assert other_res.train_x.shape[-1] == 16


def test_a_tar_archive_of_a_folder_reads_like_the_folder(tmp_path):
    import tarfile

    _write_folder(tmp_path / "imgs")
    with tarfile.open(tmp_path / "imgs.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "imgs" / "train", arcname="train")
        tar.add(tmp_path / "imgs" / "test", arcname="test")
    folder = data.load_dataset(f"folder:{tmp_path / 'imgs'}", tmp_path / "cache", resolution=8)
    archive = data.load_dataset(f"folder:{tmp_path / 'imgs.tar.gz'}", tmp_path / "cache", resolution=8)
    assert archive.classes == folder.classes
    assert torch.equal(archive.train_x, folder.train_x) and torch.equal(archive.test_y, folder.test_y)


def test_folder_without_train_is_a_user_error(tmp_path):
    (tmp_path / "test" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="no train/ folder"):
        data.load_dataset(f"folder:{tmp_path}", tmp_path / "cache")


def test_unreadable_files_are_skipped_with_one_warning_that_counts_them(tmp_path, caplog):
    _write_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "train" / "cat" / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "imgs" / "train" / "dog" / "notes.txt").write_text("hello")
    with caplog.at_level(logging.WARNING, logger="nasrl.data"):
        ds = data.load_dataset(f"folder:{tmp_path / 'imgs'}", tmp_path / "cache", resolution=8)
    assert len(ds.train_y) == 6
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and "Skipped 2 " in warnings[0]


def test_grayscale_and_odd_sizes_become_rgb_at_the_resolution(tmp_path):
    _write_folder(tmp_path / "imgs", sizes={1: (20, 12)})
    Image.new("L", (8, 8), 77).save(tmp_path / "imgs" / "train" / "cat" / "gray.png")
    ds = data.load_dataset(f"folder:{tmp_path / 'imgs'}", tmp_path / "cache", resolution=8)
    assert ds.train_x.shape == (7, 3, 8, 8)
    gray = ds.train_x[3]  # sorted names: 0.png, 1.png, 2.png, gray.png
    assert gray.eq(77).all()


def test_cifar10_without_files_or_network_says_what_to_do(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(UserError, match="--data-dir") as info:
        data.load_dataset("cifar10", tmp_path)
    assert "folder:PATH" in str(info.value)
    with pytest.raises(UserError, match="Unknown data source"):
        data.load_dataset("imagenet", tmp_path)


# ----- torchvision sets, with fake offline classes --------------------------------------------------------


def _fake_torchvision_class(source: str, n_train: int = 20, n_test: int = 10, classes=None):
    """A stand-in for a torchvision class: `download=True` writes the set's files, and every image is one flat
    value per channel (40 * channel + index), so a layout mix-up or a lost channel shows in the pixels."""
    spec = sources.TORCHVISION_SOURCES[source]

    class Fake:
        opened = 0

        def __init__(self, root, train=None, split=None, download=False):
            assert (split is None) == (spec.split_arg == "train")  # the set's own constructor signature
            folder = Path(root) / spec.folder
            if download:
                folder.mkdir(parents=True, exist_ok=True)
                for name in spec.files:
                    (folder / name).write_bytes(b"fake " + name.encode())
            assert all((folder / name).is_file() for name in spec.files)
            Fake.opened += 1
            n = n_train if (train if split is None else split == "train") else n_test
            channels, size = (1, 28) if spec.layout == "NHW" else (3, 32)
            values = 40 * np.arange(channels).reshape(1, channels, 1, 1) + np.arange(n).reshape(n, 1, 1, 1)
            nchw = np.broadcast_to(values, (n, channels, size, size)).astype(np.uint8)
            labels = np.arange(n) % 10
            if spec.layout == "NHWC":
                self.data, self.targets = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1)), labels.tolist()
            elif spec.layout == "NCHW":
                self.data, self.labels = nchw.copy(), labels  # SVHN: numpy labels, already 0-9
            else:
                self.data, self.targets = torch.from_numpy(nchw[:, 0].copy()), torch.from_numpy(labels)
            if classes is not None:
                self.classes = classes

    return Fake


@pytest.mark.parametrize(
    "source, channels, classes",
    [
        ("cifar100", 3, [f"fine{i}" for i in range(100)]),
        ("svhn", 3, None),  # torchvision's SVHN has no class names: digits, counted from the labels
        ("mnist", 1, ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four"] + [f"{i}" for i in range(5, 10)]),
        ("fashion-mnist", 1, ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"] + ["x"] * 5),
    ],
)
def test_torchvision_source_downloads_once_then_serves_uint8_images_with_its_channels_and_classes(
    tmp_path, monkeypatch, source, channels, classes
):
    import torchvision.datasets

    fake = _fake_torchvision_class(source, classes=classes)
    monkeypatch.setattr(torchvision.datasets, sources.TORCHVISION_SOURCES[source].cls, fake)
    ds = data.load_dataset(source, tmp_path)
    assert ds.name == source and ds.channels == channels
    assert ds.train_x.shape == (20, channels, 32, 32) and ds.test_x.shape == (10, channels, 32, 32)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert ds.classes == (classes if classes is not None else [str(i) for i in range(10)])
    assert ds.train_y.tolist() == [i % 10 for i in range(20)]
    expected = 40 * torch.arange(channels).view(1, -1) + torch.arange(20).view(-1, 1)
    assert torch.equal(ds.train_x[:, :, 16, 16], expected.to(torch.uint8))  # resizing kept the flat values
    assert ("grayscale" in ds.summary()) == (channels == 1)

    opened = fake.opened
    again = data.load_dataset(source, tmp_path)  # served from the decode cache: torchvision is not asked
    assert fake.opened == opened and torch.equal(again.train_x, ds.train_x)
    small = data.load_dataset(source, tmp_path, resolution=16)
    assert small.train_x.shape == (20, channels, 16, 16)


def test_cifar10_keeps_its_cache_key_so_existing_caches_still_serve(tmp_path, monkeypatch):
    import torchvision.datasets

    fake = _fake_torchvision_class("cifar10", classes=list(sources.CIFAR10_CLASSES))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake)
    ds = data.load_dataset("cifar10", tmp_path)
    assert ds.classes == sources.CIFAR10_CLASSES and ds.train_x.shape == (20, 3, 32, 32)
    folder = tmp_path / "cifar-10-batches-py"  # the key as the code before the torchvision table made it
    files = sorted(folder.glob("*_batch*"))
    old_key = sources._cache_key("cifar10", folder, [(f.name, *sources._stat(f)) for f in files], 32)
    assert [p.name for p in tmp_path.glob("*.pt")] == [f"cifar10-r32-{old_key}.pt"]


@pytest.mark.parametrize("source", ["cifar100", "svhn", "mnist", "fashion-mnist"])
def test_torchvision_source_without_files_or_network_says_what_to_do(tmp_path, monkeypatch, source):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise OSError("network is unreachable")

    spec = sources.TORCHVISION_SOURCES[source]
    monkeypatch.setattr(torchvision.datasets, spec.cls, Offline)
    with pytest.raises(UserError, match="could not be downloaded") as info:
        data.load_dataset(source, tmp_path)
    text = str(info.value)
    assert spec.title in text and "--data-dir" in text and "folder:PATH" in text and text.count(". ") == 0


def test_svhn_without_scipy_says_which_package_to_install(tmp_path, monkeypatch):
    import torchvision.datasets

    class NeedsScipy:
        def __init__(self, *args, **kwargs):
            raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    monkeypatch.setattr(torchvision.datasets, "SVHN", NeedsScipy)
    with pytest.raises(UserError, match=r"pip install scipy"):
        data.load_dataset("svhn", tmp_path)


# ----- loader and augmentation -----------------------------------------------------------------------------


def test_augmentation_keeps_shapes_and_labels_and_varies_the_images():
    # Each image is one flat colour that encodes its label: crops and flips keep the centre pixel's value.
    y = torch.arange(64) % 8
    x = (y * 30 + 5).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 16, 16).contiguous()
    x[:, :, :, :3] = 0  # an asymmetric stripe, so flips and shifts change the image (never reaching the centre)
    pre = Preprocess(torch.zeros(3), torch.ones(3))
    loader = Loader(Split(x, y), 16, pre, train=True, seed=1)
    assert len(loader) == 4
    epochs = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        batches = list(loader)
        for xb, yb in batches:
            assert xb.shape == (16, 3, 16, 16) and xb.dtype == torch.float32
            assert torch.equal(xb[:, 0, 8, 8], (yb * 30 + 5).float())
        epochs.append(batches)
    assert not torch.equal(epochs[0][0][1], epochs[1][0][1])  # a fresh shuffle per epoch
    stripes = torch.stack([xb[:, 0, 8, :].eq(0).sum(1) for xb, _ in epochs[0]]).flatten()
    assert len(set(stripes.tolist())) > 2  # crops move the stripe: it is cut to different widths
    loader.set_epoch(0)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(epochs[0], loader))  # reproducible per epoch


def test_flips_mirror_whole_images_and_crops_without_padding_are_the_image():
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = data.batch_crop(x, torch.Generator().manual_seed(0), pad=0, flip=True)
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(m or torch.equal(o, i) for m, o, i in zip(mirrored, out, x))
    assert 16 < sum(mirrored) < 48


def test_eval_loader_keeps_order_and_every_image():
    ds = _dataset((5, 6))
    pre = Preprocess.fit(ds.train_x)
    batches = list(Loader(Split(ds.train_x, ds.train_y), 4, pre))
    assert [len(b[1]) for b in batches] == [4, 4, 3]
    assert torch.equal(torch.cat([b[1] for b in batches]), ds.train_y)


def test_zca_whitening_decorrelates_the_training_pixels():
    x = torch.randint(0, 256, (400, 3, 4, 4), dtype=torch.uint8)
    x[:, 1] = x[:, 0] // 2 + torch.randint(0, 128, (400, 4, 4), dtype=torch.uint8)  # correlated channels
    pre = Preprocess.fit(x, zca=True, zca_epsilon=1e-4)
    flat = pre.resident(x).flatten(1)
    cov = torch.cov(flat.T)
    off_diagonal = cov - torch.diag(cov.diag())
    assert off_diagonal.abs().max() < 0.2
    restored = Preprocess.from_state_dict(pre.state_dict())
    assert torch.allclose(restored.resident(x[:5]), pre.resident(x[:5]))


@pytest.mark.parametrize("zca", [False, True])
def test_one_channel_split_goes_through_preprocess_and_loader(zca):
    y = torch.arange(64) % 4
    x = (torch.rand(64, 1, 8, 8) * 60 + y.view(-1, 1, 1, 1) * 50).to(torch.uint8)  # grayscale, like MNIST
    pre = Preprocess.fit(x, zca=zca)
    assert pre.mean.shape == (1,) and pre.std.shape == (1,)
    train = Loader(Split(x, y), 16, pre, train=True, seed=0)
    batches = list(train)
    assert len(batches) == 4 and all(xb.shape == (16, 1, 8, 8) and xb.dtype == torch.float32 for xb, _ in batches)
    evaluation = list(Loader(Split(x, y), 16, pre))
    whole = torch.cat([xb for xb, _ in evaluation])
    assert whole.shape == (64, 1, 8, 8) and torch.equal(torch.cat([yb for _, yb in evaluation]), y)
    if not zca:  # standardised with the split's own statistics
        assert abs(whole.mean().item()) < 1e-4 and abs(whole.std().item() - 1) < 1e-2
    restored = Preprocess.from_state_dict(pre.state_dict())
    assert torch.allclose(restored(restored.resident(x[:4])), pre(pre.resident(x[:4])))
