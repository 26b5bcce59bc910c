"""Data sets as uint8 tensors: torchvision's public sets, an image folder or archive, a synthetic set, and the
decode cache that makes every load after the first one fast.

Read top to bottom: the sources, then the cache. Images are decoded once to uint8 [N, C, H, W] tensors, the form
the stratified split (`nasrl.data.split`) and the on-device loader (`nasrl.data.loader`) take.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nasrl.errors import UserError

log = logging.getLogger("nasrl.data")

#: Bump when the cache's layout or decoding changes, so old caches are rebuilt, never misread.
CACHE_VERSION = 1
#: Where torchvision sets download to and where decoded data is cached when `--data-dir` is not given.
DEFAULT_DATA_DIR = Path(os.environ.get("NASRL_DATA_DIR", Path.home() / ".cache" / "nasrl"))
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SOURCES_HELP = (
    "cifar10, cifar100, svhn, mnist, fashion-mnist (downloaded once into --data-dir; the MNISTs are 1-channel), "
    "folder:PATH (PATH/train/<class>/*, PATH/test/<class>/*), synthetic"
)


@dataclass
class Dataset:
    """A whole data set in memory: uint8 images [N, C, H, W] and int64 labels [N], train and test apart.

    C is 3, or 1 for grayscale sets (mnist, fashion-mnist), which stay 1-channel so children read one plane."""

    name: str
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def resolution(self) -> int:
        return int(self.train_x.shape[-1])

    @property
    def channels(self) -> int:
        """Input channels a child network needs: 3 (colour) or 1 (grayscale)."""
        return int(self.train_x.shape[1])

    def summary(self) -> str:
        """One line for logs, so a run says which data it trained on (synthetic data says so)."""
        gray = ", grayscale" if self.channels == 1 else ""
        return (
            f"{self.name}: {len(self.train_y)} train / {len(self.test_y)} test images, "
            f"{len(self.classes)} classes, {self.resolution}x{self.resolution}{gray}"
        )


# ----- sources ---------------------------------------------------------------------------------------------


def load_dataset(source: str = "cifar10", data_dir: str | Path | None = None, resolution: int = 32) -> Dataset:
    """The data set named by `--data`, as uint8 tensors; decoded files are cached in `data_dir`."""
    if resolution < 8:
        raise UserError(f"The resolution must be at least 8 pixels, got {resolution}.")
    cache_dir = Path(data_dir).expanduser() if data_dir is not None else DEFAULT_DATA_DIR
    if source == "synthetic":
        return synthetic_dataset(resolution=resolution)
    if source in TORCHVISION_SOURCES:
        return _load_torchvision(source, cache_dir, resolution)
    if source.startswith("folder:"):
        return _load_folder(Path(source[len("folder:") :]).expanduser(), cache_dir, resolution)
    raise UserError(f"Unknown data source '{source}': use one of {SOURCES_HELP}.")


def synthetic_dataset(
    num_classes: int = 10, train_per_class: int = 600, test_per_class: int = 20, resolution: int = 32, seed: int = 0
) -> Dataset:
    """A small generated set with learnable structure, for tests and smoke runs (named "synthetic" everywhere).

    6,000 training images by default, so even an explicit 5,000-image validation split works (the default
    takes 10%, 600), and a small test set, so a smoke run's final test evaluation is quick even for NASCNN15
    on a CPU.

    Each class is a smooth random colour pattern; an image is its class's pattern, randomly shifted, with a
    random contrast and per-pixel noise. A convolutional network learns it in a few hundred steps; a
    constant guess scores 1/num_classes."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_classes, 3, 4, 4, generator=g)
    patterns = F.interpolate(coarse, size=(resolution, resolution), mode="bicubic", align_corners=False)

    def make(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(num_classes).repeat_interleave(per_class)
        n = len(y)
        # A circular shift of up to 3 pixels per image, so position alone never gives the class away.
        dy, dx = torch.randint(-3, 4, (2, n, 1), generator=g)
        ar = torch.arange(resolution)
        rows = ((ar + dy) % resolution).view(n, 1, resolution, 1)
        cols = ((ar + dx) % resolution).view(n, 1, 1, resolution)
        x = patterns[y.view(n, 1, 1, 1), torch.arange(3).view(1, 3, 1, 1), rows, cols]
        contrast = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=g)
        x = 0.5 + contrast * (x - 0.5) + 0.15 * torch.randn(x.shape, generator=g)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    train_x, train_y = make(train_per_class)
    test_x, test_y = make(test_per_class)
    classes = [f"class{i}" for i in range(num_classes)]
    return Dataset("synthetic", classes, train_x, train_y, test_x, test_y)


@dataclass(frozen=True)
class _TorchvisionSet:
    """Where one torchvision set's files lie in the data dir, and how its `.data` array is laid out."""

    title: str  # for messages: "CIFAR-100"
    cls: str  # the class in torchvision.datasets, looked up at call time (tests swap it for a fake)
    folder: str  # relative to the data dir: torchvision's own layout, so an existing download is found
    files: tuple[str, ...]  # every one present = downloaded; their sizes and times key the decode cache
    split_arg: str  # "train" (train=True/False) or "split" (split="train"/"test")
    layout: str  # `.data`: "NHWC" (numpy, CIFAR), "NCHW" (numpy, SVHN) or "NHW" (a grayscale tensor, MNIST)
    labels: str = "targets"  # the attribute holding the labels (SVHN: "labels", its 10 already mapped to 0)


_MNIST_FILES = (
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
)
#: The `--data` names served by torchvision's downloaders.
TORCHVISION_SOURCES = {
    "cifar10": _TorchvisionSet(
        "CIFAR-10",
        "CIFAR10",
        "cifar-10-batches-py",
        ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"),
        "train",
        "NHWC",
    ),
    "cifar100": _TorchvisionSet(
        "CIFAR-100", "CIFAR100", "cifar-100-python", ("meta", "test", "train"), "train", "NHWC"
    ),
    "svhn": _TorchvisionSet("SVHN", "SVHN", ".", ("test_32x32.mat", "train_32x32.mat"), "split", "NCHW", "labels"),
    "mnist": _TorchvisionSet("MNIST", "MNIST", "MNIST/raw", _MNIST_FILES, "train", "NHW"),
    "fashion-mnist": _TorchvisionSet("Fashion-MNIST", "FashionMNIST", "FashionMNIST/raw", _MNIST_FILES, "train", "NHW"),
}


def _open_torchvision(spec: _TorchvisionSet, cache_dir: Path, split: str, download: bool):
    """One split of a torchvision set; a missing package (scipy reads SVHN's .mat files) is a UserError."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, spec.cls)
    kwargs = {"train": split == "train"} if spec.split_arg == "train" else {"split": split}
    try:
        return cls(str(cache_dir), download=download, **kwargs)
    except ModuleNotFoundError as e:
        raise UserError(
            f"{spec.title} needs the Python package {e.name} to read its files: install it (pip install {e.name})."
        ) from None


def _load_torchvision(source: str, cache_dir: Path, resolution: int) -> Dataset:
    """A public set downloaded once by torchvision into `cache_dir`, decoded once to uint8 [N, C, H, W]."""
    spec = TORCHVISION_SOURCES[source]
    folder = cache_dir / spec.folder
    if not all((folder / f).is_file() for f in spec.files):
        try:
            for split in ("train", "test"):
                _open_torchvision(spec, cache_dir, split, download=True)
        except UserError:
            raise
        except Exception as e:  # no network, a proxy, a full disk: all mean the same to the user
            holding = f"{spec.folder}/" if spec.folder != "." else " and ".join(spec.files)
            example = ", such as folder:../shared/datasets/cifar10-jpeg.tar.gz" if source == "cifar10" else ""
            raise UserError(
                f"{spec.title} is not in {cache_dir} and could not be downloaded ({type(e).__name__}): point "
                f"--data-dir at a folder holding {holding}, or use --data folder:PATH with an image folder or its "
                f"archive{example}."
            ) from None
    # The same key as before this table existed (kind, folder, sorted files), so cifar10's old caches serve.
    key = _cache_key(source, folder, [(f, *_stat(folder / f)) for f in sorted(spec.files)], resolution)

    def decode() -> dict:
        parts = {}
        for split in ("train", "test"):
            ds = _open_torchvision(spec, cache_dir, split, download=False)
            x = _to_nchw(torch.as_tensor(ds.data), spec.layout)
            parts[split] = (_resize(x, resolution), torch.as_tensor(getattr(ds, spec.labels), dtype=torch.int64))
        return {
            "classes": _class_names(getattr(ds, "classes", None), parts),
            "train_x": parts["train"][0],
            "train_y": parts["train"][1],
            "test_x": parts["test"][0],
            "test_y": parts["test"][1],
            "skipped": 0,
        }

    data = _cached(cache_dir / f"{source}-r{resolution}", key, decode)
    return Dataset(source, data["classes"], data["train_x"], data["train_y"], data["test_x"], data["test_y"])


def _to_nchw(x: torch.Tensor, layout: str) -> torch.Tensor:
    """torchvision's `.data` as contiguous uint8 [N, C, H, W]: grayscale gains a channel axis of 1."""
    if layout == "NHWC":
        x = x.permute(0, 3, 1, 2)
    elif layout == "NHW":
        x = x.unsqueeze(1)
    return x.to(torch.uint8).contiguous()


def _class_names(names: list[str] | None, parts: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> list[str]:
    """The set's own class names, or "0".."K-1" where it has none (SVHN); K is counted from the labels."""
    count = max(int(y.max()) + 1 for _, y in parts.values() if len(y))
    names = list(names or [])
    return names if len(names) >= count else [str(i) for i in range(count)]


def _load_folder(root: Path, cache_dir: Path, resolution: int) -> Dataset:
    """An image folder, or a .tar(.gz) archive of one read in place (../shared/datasets/cifar10-jpeg.tar.gz)."""
    if root.is_file() and tarfile.is_tarfile(root):
        key = _cache_key("archive", root, [_stat(root)], resolution)

        def decode() -> dict:
            return _decode_archive(root, resolution)

    else:
        if not (root / "train").is_dir():
            raise UserError(
                f"{root} has no train/ folder: an image folder data set needs {root}/train/<class>/* "
                f"(and {root}/test/<class>/*), or give a .tar.gz archive of that layout."
            )
        train_files, classes = _scan(root / "train", None)
        if not classes:
            raise UserError(f"{root}/train has no class folders: put each class's images in {root}/train/<class>/.")
        test_files, _ = _scan(root / "test", classes) if (root / "test").is_dir() else ([], classes)
        key = _cache_key("folder", root, [(f[0], f[2], f[3]) for f in train_files + test_files], resolution)

        def decode() -> dict:
            parts = {"train": _decode_files(train_files, resolution), "test": _decode_files(test_files, resolution)}
            return _cache_entry(root, classes, parts)

    tag = "".join(c if c.isalnum() else "_" for c in root.resolve().name)[:40]
    path_hash = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    data = _cached(cache_dir / f"folder-{tag}-{path_hash}-r{resolution}", key, decode)
    if data["skipped"]:
        log.warning("Skipped %d unreadable image file(s) in %s.", data["skipped"], root)
    if len(data["test_y"]) == 0:
        log.warning("%s has no test images (test/<class>/*): a final test evaluation will be skipped.", root)
    return Dataset(f"folder:{root}", data["classes"], data["train_x"], data["train_y"], data["test_x"], data["test_y"])


def _cache_entry(root: Path, classes: list[str], parts: dict[str, tuple[torch.Tensor, torch.Tensor, int]]) -> dict:
    """What the cache holds: the decoded splits, the class names and how many files were unreadable."""
    (train_x, train_y, bad_train), (test_x, test_y, bad_test) = parts["train"], parts["test"]
    if len(train_y) == 0:
        raise UserError(f"No readable image in {root}'s train/: check the files are images Pillow can open.")
    return {
        "classes": classes,
        "train_x": train_x,
        "train_y": train_y,
        "test_x": test_x,
        "test_y": test_y,
        "skipped": bad_train + bad_test,
    }


def _decode_archive(root: Path, resolution: int) -> dict:
    """Read a tar archive of an image folder in one pass: members `[prefix/]train|test/<class>/<file>`."""
    members: list[tuple[str, str, str, bytes]] = []
    with tarfile.open(root, "r:*") as tar:
        for m in tar:
            parts = m.name.split("/")
            if not m.isfile() or len(parts) < 3 or parts[-3] not in ("train", "test"):
                continue
            if parts[-1].startswith(".") or parts[-2].startswith("."):
                continue
            members.append((parts[-3], parts[-2], parts[-1], tar.extractfile(m).read()))
    classes = sorted({c for split, c, _, _ in members if split == "train"})
    if not classes:
        raise UserError(f"{root} holds no train/<class>/* images: an archive must have the image-folder layout.")
    unknown = sorted({c for split, c, _, _ in members if c not in classes})
    if unknown:
        raise UserError(f"{root} has test class '{unknown[0]}', which train/ does not have.")
    index = {c: i for i, c in enumerate(classes)}
    members.sort(key=lambda m: (m[0], index[m[1]], m[2]))
    parts = {}
    for split in ("train", "test"):
        chosen = [m for m in members if m[0] == split]
        parts[split] = _decode_files([(io.BytesIO(m[3]), index[m[1]]) for m in chosen], resolution)
    return _cache_entry(root, classes, parts)


def _scan(folder: Path, classes: list[str] | None) -> tuple[list[tuple[str, int, int, int, int]], list[str]]:
    """(path, label, size, mtime_ns) per file in sorted order; classes are the sorted sub-folder names (or the
    given ones). os.scandir keeps this to one stat per file, so a cached load stays fast (BENCHMARKS.md, "Data
    pipeline")."""
    names = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if classes is None:
        classes = names
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise UserError(f"{folder} has class folder '{unknown[0]}', which train/ does not have.")
    files = []
    for label, name in enumerate(classes):
        if not (folder / name).is_dir():
            continue
        entries = sorted(
            (e for e in os.scandir(folder / name) if e.is_file() and not e.name.startswith(".")), key=lambda e: e.name
        )
        for e in entries:
            st = e.stat()
            files.append((e.path, label, st.st_size, st.st_mtime_ns))
    return files, classes


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _decode_chunk(paths: list[str | io.BytesIO], resolution: int) -> list[bytes | None]:
    """Decode image files to raw RGB bytes at the resolution (None for an unreadable file)."""
    from PIL import Image

    out: list[bytes | None] = []
    for path in paths:
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")  # grayscale, palette, RGBA, CMYK: all become 3 channels
                if im.size != (resolution, resolution):
                    im = im.resize((resolution, resolution), Image.Resampling.BILINEAR)
                out.append(im.tobytes())
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            out.append(None)
    return out


def _decode_files(files: list[tuple], resolution: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Decode every file once, in this process, then the cache serves every later load: decoding small JPEGs is
    Python-bound, so neither threads nor worker processes pay for themselves (BENCHMARKS.md, "Data pipeline")."""
    images = _decode_chunk([f[0] for f in files], resolution)
    keep = [i for i, im in enumerate(images) if im is not None]
    raw = bytearray(b"".join(images[i] for i in keep))
    if keep:
        x = torch.frombuffer(raw, dtype=torch.uint8).view(len(keep), resolution, resolution, 3)
        x = x.permute(0, 3, 1, 2).contiguous()
    else:
        x = torch.empty(0, 3, resolution, resolution, dtype=torch.uint8)
    y = torch.tensor([files[i][1] for i in keep], dtype=torch.int64)
    return x, y, len(files) - len(keep)


def _resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    out = F.interpolate(x.float(), size=(resolution, resolution), mode="bilinear", antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


# ----- the decode cache ------------------------------------------------------------------------------------


def _cache_key(kind: str, root: Path, listing: list[tuple], resolution: int) -> str:
    """A digest of everything the decoded tensors depend on: a changed file means a new key."""
    text = json.dumps([CACHE_VERSION, kind, str(root.resolve()), resolution, listing], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(stem: Path, key: str, decode) -> dict:
    """Load `<stem>-<key>.pt`, or decode and write it atomically (and drop that stem's stale caches)."""
    path = stem.with_name(f"{stem.name}-{key}.pt")
    if path.is_file():
        try:
            return torch.load(path, weights_only=True, mmap=True)  # mmap: a 185 MB cache opens in ~20 ms
        except Exception:  # a half-written or damaged cache is rebuilt, never trusted
            log.warning("The data cache %s is damaged; decoding again.", path)
    data = decode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(data, tmp)
        os.replace(tmp, path)
        for old in path.parent.glob(f"{stem.name}-*.pt"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.warning("Could not write the data cache in %s (%s); the next run decodes again.", path.parent, e)
    return data
