"""The stratified train/validation split of a data set's training images (the test set is never touched)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from nasrl.data.sources import Dataset
from nasrl.errors import UserError


@dataclass
class Split:
    """Part of a training set: uint8 images [N, C, H, W] (C = 3, or 1 for grayscale) and int64 labels [N]."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


# ----- how many images validate ----------------------------------------------------------------------------

#: The paper's 45k/5k split of CIFAR-10's 50k training images, so existing runs split (and resume) as before.
DEFAULT_VAL_IMAGES = 5000
#: ...but a small set keeps 90% for training: a folder of 300 images validates on 30 without a flag.
DEFAULT_VAL_FRACTION = 0.1


def resolve_val_size(val_size: int | float | None, n: int) -> int:
    """The number of validation images out of `n` training images, so the config and logs can report it.

    `val_size` is a count of images (int), a fraction of the training images (float in (0, 1), rounded to
    the nearest image), or None: 5,000 images but never more than 10% of them. A fraction or the default
    always leaves at least one image on each side; an explicit count that does not is a UserError."""
    if n < 2:
        raise UserError(f"A validation split needs at least 2 training images, got {n}: add training images.")
    if val_size is None:
        return max(1, min(DEFAULT_VAL_IMAGES, int(n * DEFAULT_VAL_FRACTION)))
    if isinstance(val_size, bool) or not isinstance(val_size, numbers.Real):
        raise UserError(f"--val-size must be a number of images or a fraction such as 0.1, got {val_size!r}.")
    if isinstance(val_size, numbers.Integral):
        if not 0 < val_size < n:
            raise UserError(
                f"The validation set must hold between 1 and {n - 1} images (of {n}), got {val_size}: "
                "give --val-size fewer images or a fraction such as 0.1."
            )
        return int(val_size)
    if not 0 < val_size < 1:
        raise UserError(
            f"A validation fraction must lie strictly between 0 and 1, got {val_size}: give --val-size a fraction "
            "such as 0.1 or a whole number of images."
        )
    return max(1, min(n - 1, int(val_size * n + 0.5)))


# ----- the stratified split --------------------------------------------------------------------------------


def _largest_remainder(sizes: list[int], n: int) -> list[int]:
    """Split n over classes in proportion to their sizes, integer counts summing to exactly n."""
    total = sum(sizes)
    exact = [n * s / total for s in sizes]
    counts = [min(math.floor(e), s) for e, s in zip(exact, sizes)]
    order = sorted(range(len(sizes)), key=lambda c: (-(exact[c] - counts[c]), c))
    short = n - sum(counts)
    for c in order:
        if short == 0:
            break
        if counts[c] < sizes[c]:
            counts[c] += 1
            short -= 1
    return counts


def split_train_val(
    ds: Dataset,
    val_size: int | float | None = None,
    seed: int = 0,
    train_subset: int | None = None,
    val_subset: int | None = None,
) -> tuple[Split, Split]:
    """A stratified train/validation split of the training set, the same for the same seed (the test set is
    never touched); `val_size` as in `resolve_val_size`; `train_subset`/`val_subset` take stratified subsets
    of each part for proxy searches."""
    n = len(ds.train_y)
    val_size = resolve_val_size(val_size, n)
    if train_subset is not None and not 0 < train_subset <= n - val_size:
        raise UserError(f"--train-subset must be between 1 and {n - val_size} (images left after validation).")
    if val_subset is not None and not 0 < val_subset <= val_size:
        raise UserError(f"--val-subset must be between 1 and the validation size {val_size}, got {val_subset}.")
    g = torch.Generator().manual_seed(seed)
    num_classes = int(ds.train_y.max()) + 1
    per_class = []
    for c in range(num_classes):
        idx = (ds.train_y == c).nonzero().flatten()
        per_class.append(idx[torch.randperm(len(idx), generator=g)])
    sizes = [len(p) for p in per_class]
    val_counts = _largest_remainder(sizes, val_size)
    val_parts = [p[:k] for p, k in zip(per_class, val_counts)]
    train_parts = [p[k:] for p, k in zip(per_class, val_counts)]
    if val_subset is not None:
        counts = _largest_remainder([len(p) for p in val_parts], val_subset)
        val_parts = [p[:k] for p, k in zip(val_parts, counts)]
    if train_subset is not None:
        counts = _largest_remainder([len(p) for p in train_parts], train_subset)
        train_parts = [p[:k] for p, k in zip(train_parts, counts)]
    train_idx = torch.cat(train_parts).sort().values
    val_idx = torch.cat(val_parts).sort().values
    return Split(ds.train_x[train_idx], ds.train_y[train_idx]), Split(ds.train_x[val_idx], ds.train_y[val_idx])
