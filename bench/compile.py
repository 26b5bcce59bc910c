"""Whether `torch.compile` pays for itself on a child's budget: compile seconds against seconds saved per step.

A search trains each child once, from scratch, and every child is a new architecture, so a compiled child pays
its compilation every time. For one child network, in one process, this measures the eager training step, the
compiled model's first steps (compilation included) and its steady step, for each `--modes` of torch.compile
("reduce-overhead" adds CUDA graphs on a GPU), and prints the steps after which compilation has paid:

    break-even steps = compile seconds / (eager seconds per step - compiled seconds per step)

against the steps a child of each preset trains (epochs x images / batch). Rates are medians over `--rounds`
interleaved rounds, each from a fresh model. Last line: `compile: break-even S steps (MODE); a CONFIG child
trains T steps: pays|does not pay`.

    python bench/compile.py                        # small child, CPU or CUDA, synthetic data
    python bench/compile.py --device cuda --modes default reduce-overhead --arch nascnn15
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from pipeline import SMALL  # bench/pipeline.py's small child (a script's folder is on its import path)
from torch import nn

from nasrl.config import TrainConfig, load_config_file, make_config
from nasrl.nets import builder
from nasrl.train.loop import amp_dtype, make_optimizer, resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_times(arch, cfg: TrainConfig, device: torch.device, steps: int, mode: str | None) -> tuple[float, float]:
    """(seconds of a child's first moves, seconds per training step after them) of a fresh model, eager when `mode`
    is None. The first moves are what compiles: 3 training steps, then validation as `fit` runs it (eval mode,
    a full batch and a ragged last one), then a training step again."""
    torch.manual_seed(0)
    fmt = torch.channels_last if cfg.channels_last else torch.preserve_format
    model = builder.build(arch).to(device, memory_format=fmt)
    optimizer = make_optimizer(model, cfg)
    forward = model if mode is None else torch.compile(model, mode=mode)
    dtype = amp_dtype(cfg, device)
    x = torch.randn(cfg.batch_size, 3, 32, 32, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (cfg.batch_size,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = nn.functional.cross_entropy(forward(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    _sync(device)
    start = time.perf_counter()
    for _ in range(3):
        step()
    model.eval()
    with torch.inference_mode():
        forward(x)
        forward(x[: cfg.batch_size // 3])
    model.train()
    step()
    _sync(device)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return first, (time.perf_counter() - start) / steps


def child_steps(config: str) -> list[int]:
    """Optimiser steps a child of a search preset trains: one figure, or one per rung of successive halving
    (most children stop at the first)."""
    cfg = make_config(load_config_file(config))
    per_epoch = (cfg.data.train_subset or 45_000) // cfg.child.batch_size
    return [epochs * per_epoch for epochs in cfg.scheduler.rung_epochs or [cfg.child.epochs]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="small", help="small (zoph 3x3/36 -> 48 -> 64) or a zoo name / JSON")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=30, help="timed steps after the first 3")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["default"], help="torch.compile modes to try")
    parser.add_argument("--configs", nargs="+", default=["quick", "default"], help="presets whose child budget counts")
    args = parser.parse_args()
    from nasrl.space.files import load_architecture

    arch = SMALL if args.arch == "small" else load_architecture(args.arch)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}; {name}; arch {args.arch}; batch 128")
    cfg = TrainConfig(batch_size=128, lr=0.05)
    kinds = [None, *args.modes]
    firsts: dict[str | None, list[float]] = {k: [] for k in kinds}
    steady: dict[str | None, list[float]] = {k: [] for k in kinds}
    torch._inductor.config.force_disable_caches = True  # every child is a new network: no compiled kernel reused
    for _ in range(args.rounds):
        for kind in kinds:
            torch._dynamo.reset()
            first, per_step = step_times(arch, cfg, device, args.steps, kind)
            firsts[kind].append(first)
            steady[kind].append(per_step)
    eager, eager_first = statistics.median(steady[None]), statistics.median(firsts[None])
    print(f"eager: {eager * 1000:.2f} ms per step; first moves {eager_first:.2f} s")
    best = None
    for mode in args.modes:
        per_step = statistics.median(steady[mode])
        compile_seconds = statistics.median(firsts[mode]) - eager_first
        saved = eager - per_step
        even = compile_seconds / saved if saved > 0 else float("inf")
        print(
            f"compile ({mode}): {compile_seconds:.1f} s more for the first moves, {per_step * 1000:.2f} ms per "
            f"step ({eager / per_step:.2f}x eager), break-even after {even:,.0f} steps"
        )
        if best is None or even < best[1]:
            best = (mode, even)
    for config in args.configs:
        budgets = child_steps(config)
        verdict = " / ".join("pays" if steps > best[1] else "does not pay" for steps in budgets)
        trains = " or ".join(f"{steps:,}" for steps in budgets)
        print(
            f"compile: break-even {best[1]:,.0f} steps ({best[0]}); a {config} child trains {trains} steps: {verdict}"
        )


if __name__ == "__main__":
    main()
