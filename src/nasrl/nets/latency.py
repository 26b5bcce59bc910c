"""A network's forward latency, measured: the median of timed runs after warm-up, at batch 1 and at a larger batch.

`torch.utils.benchmark` does the timing: its `Timer` synchronises CUDA around each timed pass and sets the thread
count, and `Measurement.merge` gives the median and interquartile range over passes. Each pass is one forward, so
the spread is the spread of single forwards. Latency ranks children only if it is steady: BENCHMARKS.md ("Latency,
measured") gives its run-to-run spread on the dev box.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.benchmark import Measurement, Timer

from nasrl.errors import UserError

#: Untimed forward passes before timing: the allocator, cuDNN's algorithm choice and the caches settle.
WARMUP_RUNS = 2
#: Timed passes at the least, however long each takes (a median and quartiles need a few).
MIN_RUNS = 5


@dataclass(frozen=True)
class Latency:
    """One batch size's measurement on one device: the median and interquartile range of a forward, in ms."""

    device: str
    threads: int
    batch: int
    median_ms: float
    iqr_ms: float
    runs: int  # timed forward passes behind the median
    min_ms: float  # the fastest pass: what the machine can do when nothing else runs

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def latency_device(name: str) -> torch.device:
    """The device a latency is measured on; one that is not there is one sentence."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--latency-device {name}: this machine has no usable CUDA GPU; use --latency-device cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(
            f"--latency-device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), numbered from 0."
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--latency-device {name}: this machine has no MPS device; use --latency-device cpu.")
    return device


def measure_latency(
    model: nn.Module,
    device: torch.device,
    batch: int = 1,
    resolution: int = 32,
    in_channels: int = 3,
    seconds: float = 0.2,
) -> Latency:
    """The median forward time of `model` in eval mode on `device` for a batch of `batch` images: `WARMUP_RUNS`
    untimed passes, then timed ones until `seconds` have passed and at least `MIN_RUNS` were timed. `model` itself
    is left where it was (a copy is timed)."""
    net = copy.deepcopy(model).to(device).eval()
    x = torch.randn(batch, in_channels, resolution, resolution, device=device)

    def forward() -> None:
        with torch.inference_mode():
            net(x)

    for _ in range(WARMUP_RUNS):
        forward()
    threads = torch.get_num_threads()
    timer = Timer("forward()", globals={"forward": forward}, num_threads=threads)
    passes, spent = [], 0.0
    while len(passes) < MIN_RUNS or spent < seconds:
        passes.append(timer.timeit(number=1))
        spent += passes[-1].raw_times[0]
    (measured,) = Measurement.merge(passes)
    fastest = min(m.raw_times[0] for m in passes)
    return Latency(str(device), threads, batch, measured.median * 1e3, measured.iqr * 1e3, len(passes), fastest * 1e3)
