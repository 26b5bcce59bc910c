"""The batched on-device loader: resident uint8 splits, normalisation or ZCA, crop and flip over whole batches.

It follows airbench: the whole split lives on the training device as uint8, a batch is an index into it, and
augmentation is a handful of tensor operations over the whole batch. No per-image Python runs in the training
loop, so on CPU the loop costs almost nothing next to the convolutions (see BENCHMARKS.md, "Data pipeline").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nasrl.data.split import Split

# ----- normalisation and whitening -------------------------------------------------------------------------


@dataclass
class Preprocess:
    """uint8 images -> network input: per-channel standardisation, or ZCA whitening (Zoph & Le whitened their
    inputs). Statistics come from the training split alone and travel in checkpoints."""

    mean: torch.Tensor  # [C] (3, or 1 for grayscale), in 0-255 pixel units
    std: torch.Tensor  # [C], in 0-255 pixel units
    zca: torch.Tensor | None = None  # [D, D] whitening matrix over flattened 0-1 images, D = C*H*W
    zca_mean: torch.Tensor | None = None  # [D], mean of the flattened 0-1 training images

    def __post_init__(self) -> None:
        self._scale = (1.0 / self.std).view(1, -1, 1, 1)  # precomputed: no extra kernels per batch
        self._shift = (-self.mean / self.std).view(1, -1, 1, 1)

    @classmethod
    def fit(cls, x: torch.Tensor, zca: bool = False, zca_epsilon: float = 1e-2) -> Preprocess:
        """Statistics of a uint8 training split; ZCA costs one eigendecomposition of a D x D covariance."""
        # From a 256-bin histogram per channel: exact, and ~10x faster than float sums over 45k images. Computed
        # and kept on the CPU wherever the split lives (a split already moved to a GPU, say): callers move them.
        x = x.cpu()
        hist = torch.stack([torch.bincount(x[:, c].reshape(-1), minlength=256) for c in range(x.shape[1])])
        values = torch.arange(256, dtype=torch.float64)
        count = hist.sum(1).double().clamp_min(2)
        mean64 = (hist.double() * values).sum(1) / count
        var = ((hist.double() * values.square()).sum(1) / count - mean64.square()) * count / (count - 1)
        mean, std = mean64.float(), var.clamp_min(0).sqrt().clamp_min(1e-3).float()
        if not zca:
            return cls(mean, std)
        flat = x.double().flatten(1) / 255.0
        mu = flat.mean(0)
        centered = flat - mu
        cov = centered.T @ centered / max(1, len(flat) - 1)
        eigval, eigvec = torch.linalg.eigh(cov)
        w = eigvec @ torch.diag(1.0 / torch.sqrt(eigval.clamp_min(0) + zca_epsilon)) @ eigvec.T
        return cls(mean, std, w.float(), mu.float())

    def to(self, device: torch.device | str) -> Preprocess:
        zca = None if self.zca is None else self.zca.to(device)
        zca_mean = None if self.zca_mean is None else self.zca_mean.to(device)
        return Preprocess(self.mean.to(device), self.std.to(device), zca, zca_mean)

    def resident(self, x: torch.Tensor) -> torch.Tensor:
        """What the loader keeps on the device: uint8 as is, or the whitened float images (whitening is
        applied before augmentation, so padding is zero in whitened space)."""
        if self.zca is None:
            return x
        out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        for i in range(0, len(x), 2048):
            flat = x[i : i + 2048].flatten(1).float() / 255.0
            out[i : i + 2048] = ((flat - self.zca_mean) @ self.zca).view(-1, *x.shape[1:])
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """A batch from `resident` -> float network input, (x - mean) / std as one fused multiply-add."""
        if x.dtype != torch.uint8:
            return x
        return torch.addcmul(self._shift, x.float(), self._scale)

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"mean": self.mean.cpu(), "std": self.std.cpu()}
        if self.zca is not None:
            state |= {"zca": self.zca.cpu(), "zca_mean": self.zca_mean.cpu()}
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> Preprocess:
        return cls(state["mean"], state["std"], state.get("zca"), state.get("zca_mean"))


# ----- batched augmentation --------------------------------------------------------------------------------


def batch_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right (one mask, one `where`)."""
    mask = torch.rand(len(x), device=x.device, generator=generator) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


def batch_crop(x: torch.Tensor, generator: torch.Generator, pad: int = 4, flip: bool = False) -> torch.Tensor:
    """Random crop of every image after zero-padding by `pad` pixels, and with `flip` a random half mirrored.

    Two gathers with per-sample offsets, rows then columns; a mirrored image just reads its columns backwards
    (padding is symmetric, so crop-then-flip equals flip-then-crop). No host sync, so it suits GPUs too; the flip
    rides on the column gather because that beat a separate flip pass (BENCHMARKS.md, "Data pipeline")."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device, generator=generator)
    rows = (dy + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(n, c, h, w + 2 * pad)
    cols = dx + torch.arange(w, device=x.device)
    if flip:
        mirror = torch.rand(n, 1, device=x.device, generator=generator) < 0.5
        cols = torch.where(mirror, w + 2 * pad - 1 - cols, cols)
    return padded.gather(2, rows).gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


# ----- the loader ------------------------------------------------------------------------------------------


class Loader:
    """Batches of a resident split: a fresh seeded shuffle per epoch, batched augmentation, normalised floats.

    The generator lives on the data's device, so shuffles and crops never leave it; `set_epoch` reseeds it
    from (seed, epoch), which makes every epoch reproducible on its own and a resumed run exact."""

    def __init__(
        self,
        split: Split,
        batch_size: int,
        preprocess: Preprocess,
        device: torch.device | str = "cpu",
        train: bool = False,
        augment: bool = True,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.preprocess = preprocess.to(self.device)
        self.x = self.preprocess.resident(split.x.to(self.device))
        self.y = split.y.to(self.device)
        self.batch_size = batch_size
        self.train = train
        self.augment = augment and train
        self.seed = seed
        self.channels_last = channels_last
        if channels_last and not train:  # evaluation batches are slices of one NHWC copy, made once
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.generator = torch.Generator(device=self.device)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed * 100_003 + epoch)

    def __len__(self) -> int:
        n = len(self.y)
        if self.train:  # drop the ragged last batch: equal steps, and BatchNorm never sees a batch of one
            return max(1, n // self.batch_size)
        return math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches in order (evaluation) or shuffled and augmented (training).

        Training batches are prepared a chunk of ~4096 images at a time (airbench augments whole epochs):
        one gather, crop, flip and normalisation per chunk instead of per step, so a step's batch is a view
        (no kernel), which matters on a GPU where small children are launch-bound; a short run (--max-steps)
        still prepares only the chunks it uses."""
        size = min(self.batch_size, len(self.y))
        if not self.train:
            for b in range(len(self)):
                yield self.preprocess(self.x[b * size : (b + 1) * size]), self.y[b * size : (b + 1) * size]
            return
        order = torch.randperm(len(self.y), device=self.device, generator=self.generator)[: len(self) * size]
        per_chunk = max(1, 4096 // size) * size
        for start in range(0, len(order), per_chunk):
            idx = order[start : start + per_chunk]
            x = self.x[idx]
            if self.augment:
                x = batch_crop(x, self.generator, flip=True)
            if self.channels_last:  # before the float conversion: a quarter of the bytes to move
                x = x.contiguous(memory_format=torch.channels_last)
            x, y = self.preprocess(x), self.y[idx]  # normalised per chunk too: a step's batch is a view
            for b in range(0, len(idx), size):
                yield x[b : b + size], y[b : b + size]
