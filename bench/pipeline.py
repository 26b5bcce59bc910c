"""How much the training loop costs beyond the network's own compute, and how it compares with the usual pipeline.

For one child network and one batch size, in one process, measured in interleaved rounds (so a busy machine
slows all three alike): rates are medians over the rounds, ratios medians of the per-round ratios:

  (a) the full training loop: `nasrl.train.loop.fit` (resident data, batched crop + flip, forward, backward, step),
      images/s over its training phases (the per-epoch validation is reported apart);
  (b) the same model and optimiser on one random batch that never changes: the compute limit;
  (c) the usual torchvision pipeline: a DataLoader (num_workers=0) over PIL images with per-image
      RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, feeding the same model.

Goals (issue 3): (a)/(b) >= 0.90 and (a)/(c) >= 1.0 at the project's defaults (batch 128, SGD Nesterov).

    python bench/pipeline.py                              # small child, synthetic data, CPU or CUDA
    python bench/pipeline.py --data folder:/tmp/cifar --steps 20 --rounds 3
    python bench/pipeline.py --arch nascnn15 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch import nn

from nasrl import data
from nasrl.nets import builder
from nasrl.space import Architecture
from nasrl.train.loop import TrainConfig, amp_dtype, fit, make_optimizer, resolve_device

# "A small child (3 layers of 32-64 filters)": the zoph space's nearest choices.
SMALL = Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 3, "filters": f} for f in (36, 48, 64)])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(arch: Architecture, device: torch.device, channels_last: bool) -> nn.Module:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.preserve_format
    return builder.build(arch).to(device, memory_format=fmt)


def full_loop(arch, train, val, cfg, device, steps, pre, cpu_clock) -> tuple[float, float]:
    """(a): images/s of fit's training phases, and seconds spent validating."""
    model = _model(arch, device, False)
    result = fit(model, train, val, cfg.model_copy(update={"max_steps": steps}), device, progress=False, preprocess=pre)
    train_seconds = sum(h["train_cpu_seconds" if cpu_clock else "train_seconds"] for h in result.history)
    val_seconds = sum(h["seconds"] - h["train_seconds"] for h in result.history)
    return result.steps * cfg.batch_size / train_seconds, val_seconds


def _step_fn(model, cfg, device):
    optimizer = make_optimizer(model, cfg)
    criterion = nn.CrossEntropyLoss()
    dtype = amp_dtype(cfg, device)

    def step(x, y):
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = criterion(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def resident_batch(arch, cfg, device, steps, channels_last, clock) -> float:
    """(b): the same model on one random batch already on the device."""
    model = _model(arch, device, channels_last)
    step = _step_fn(model, cfg, device)
    x = torch.randn(cfg.batch_size, 3, 32, 32, device=device)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    y = torch.randint(0, 10, (cfg.batch_size,), device=device)
    _sync(device)
    start = clock()  # from a fresh model's first step, as (a) and (c) are timed
    for _ in range(steps):
        step(x, y)
    _sync(device)
    return steps * cfg.batch_size / (clock() - start)


class _PilImages(torch.utils.data.Dataset):
    """The usual CIFAR dataset: HWC uint8 arrays, one PIL image and one transform chain per item."""

    def __init__(self, split: data.Split, transform) -> None:
        self.images = split.x.permute(0, 2, 3, 1).contiguous().numpy()
        self.labels = split.y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def torchvision_loader(arch, train, cfg, device, steps, channels_last, clock, pre) -> float:
    """(c): torchvision DataLoader + per-image transforms, one process, feeding the same model."""
    from torchvision import transforms as T

    transform = T.Compose(
        [
            T.RandomCrop(32, padding=4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize((pre.mean / 255).tolist(), (pre.std / 255).tolist()),
        ]
    )
    loader = torch.utils.data.DataLoader(
        _PilImages(train, transform),
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=0,
        pin_memory=device.type == "cuda",
    )
    model = _model(arch, device, channels_last)
    step = _step_fn(model, cfg, device)
    _sync(device)
    start = clock()
    batches = iter(loader)
    done = 0
    while done < steps:
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            continue
        x = x.to(device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        step(x, y.to(device, non_blocking=True))
        done += 1
    _sync(device)
    return steps * cfg.batch_size / (clock() - start)


def data_only(train, cfg, device, steps, channels_last, clock, pre) -> tuple[float, float]:
    """Milliseconds per batch of each data path alone (no model): ours, then torchvision's."""
    from torchvision import transforms as T

    loader = data.Loader(train, cfg.batch_size, pre, device, train=True, channels_last=channels_last)
    _sync(device)
    start = clock()
    for i, _ in enumerate(loader):
        if i + 1 == steps:
            break
    _sync(device)
    ours = (clock() - start) / steps * 1000
    transform = T.Compose(
        [
            T.RandomCrop(32, padding=4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize((pre.mean / 255).tolist(), (pre.std / 255).tolist()),
        ]
    )
    tv = torch.utils.data.DataLoader(_PilImages(train, transform), batch_size=cfg.batch_size, shuffle=True)
    start = clock()
    for i, (x, _) in enumerate(tv):
        x = x.to(device, non_blocking=True)
        if i + 1 == steps:
            break
    _sync(device)
    return ours, (clock() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="small", help="small (3 layers, 36-64 filters), a zoo name or JSON")
    parser.add_argument("--data", default="synthetic", help="synthetic or folder:PATH (e.g. folder:/tmp/cifar)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time (steady on a shared machine; use with --threads 1)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu_clock = args.clock == "cpu"
    clock = time.process_time if cpu_clock else time.perf_counter

    from nasrl.space.files import load_architecture

    arch = SMALL if args.arch == "small" else load_architecture(args.arch)
    device = resolve_device(args.device)
    cfg = TrainConfig(epochs=1000, batch_size=args.batch_size, lr=0.05, check_every=50)
    channels_last = cfg.channels_last  # what fit uses
    ds = data.load_dataset(args.data, args.data_dir)
    train, val = data.split_train_val(ds, val_size=min(5000, len(ds.train_y) // 10), val_subset=256)
    print(
        f"{ds.summary()}; device {device}; threads {torch.get_num_threads()}; arch {args.arch}; "
        f"batch {cfg.batch_size}; {args.steps} steps x {args.rounds} rounds; {args.clock} clock"
    )
    pre = data.Preprocess.fit(train.x)  # once, as a search does for its children
    full_loop(arch, train, val, cfg, device, 3, pre, cpu_clock)  # warm-up: allocator, oneDNN / cuDNN kernel choice

    rates: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    val_seconds = []
    for r in range(args.rounds):
        a, vs = full_loop(arch, train, val, cfg, device, args.steps, pre, cpu_clock)
        rates["a"].append(a)
        val_seconds.append(vs)
        rates["b"].append(resident_batch(arch, cfg, device, args.steps, channels_last, clock))
        rates["c"].append(torchvision_loader(arch, train, cfg, device, args.steps, channels_last, clock, pre))
        print(f"round {r + 1}: " + "  ".join(f"({k}) {v[-1]:8.0f} img/s" for k, v in rates.items()), flush=True)
    a, b, c = (statistics.median(rates[k]) for k in "abc")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(a) full training loop      {a:9.0f} images/s")
    print(f"(b) one resident batch      {b:9.0f} images/s")
    print(f"(c) torchvision DataLoader  {c:9.0f} images/s")
    ours, theirs = data_only(train, cfg, device, max(args.steps, 40), channels_last, clock, pre)
    print(f"data path alone: {ours:.2f} ms/batch (resident, batched) vs {theirs:.2f} ms/batch (torchvision)")
    # Paired: each round's three figures ran back to back, so their ratio cancels slow drifts in machine load.
    ab = statistics.median(x / y for x, y in zip(rates["a"], rates["b"]))
    ac = statistics.median(x / y for x, y in zip(rates["a"], rates["c"]))
    print(f"(a)/(b) = {ab:.3f}   (a)/(c) = {ac:.3f}   (medians of per-round ratios; load average {load:.1f})")
    if args.json:
        figures = {
            "a": a,
            "b": b,
            "c": c,
            "a_over_b": ab,
            "a_over_c": ac,
            "data_ms": [ours, theirs],
            "rates": rates,
            "device": str(device),
            "arch": args.arch,
            "batch_size": cfg.batch_size,
            "steps": args.steps,
            "data": ds.name,
            "clock": args.clock,
            "threads": torch.get_num_threads(),
        }
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
