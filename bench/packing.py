"""Children per hour on one GPU when Ray packs several small children on it (`--gpus-per-child` 1, 0.5, 0.25, 0.125).

A small child is launch-bound on a big GPU (an H200 ran this one at 3 ms a step): one child at a time leaves most
of the GPU idle, and several processes on it should finish more children per hour. This trains N copies (default
16) of the small child (bench/pipeline.py's SMALL: zoph 3x3/36 -> 3x3/48 -> 3x3/64) as real children: a real
`TrainEvaluator` on random CIFAR-shaped images, through `RayExecutor.run` with N (index, arch) pairs (a search's
cache would answer the copies), once per packing level, each child with cores / packing CPUs (at least 1). A
warm-up round first starts the workers and their CUDA contexts, as a running search has them. Prints per level:
wall seconds, children per hour, ratio to packing 1, a child's own seconds; last line
`children/hour x1 A x2 B x4 C x8 D (best/x1 R)`.

Goal (issue "Scale", part 3): at least 3x the children per hour of one at a time, at some packing level.

    python bench/packing.py                                              # GPU: 16 children, 5,000/1,000 images
    python bench/packing.py --children 4 --train 256 --val 128 --epochs 1  # a quick check of the script itself

Without CUDA it still runs, on the CPU with a logical GPU for Ray to share out, and says that its figures then
say nothing about GPUs. With CUDA's MPS daemon running (`nvidia-cuda-mps-control -d`), kernels of the packed
children run concurrently instead of time-sliced; the header says whether it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import ray
import torch

from nasrl.config import SearchConfig, make_config
from nasrl.data import Split
from nasrl.run.records import ChildResult
from nasrl.search.evaluators import TrainEvaluator
from nasrl.search.executors import RayExecutor
from nasrl.space import Architecture

# bench/pipeline.py's SMALL: "a small child (3 layers of 32-64 filters)", the zoph space's nearest choices.
SMALL = Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 3, "filters": f} for f in (36, 48, 64)])


class CpuTraining:
    """The train evaluator without a `device` to set: the worker leaves it on the CPU although Ray gave it a share
    of the logical GPU (used only where torch has no CUDA, to run the same schedule)."""

    name = "train"

    def __init__(self, inner: TrainEvaluator) -> None:
        self.inner = inner

    def evaluate(self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None) -> ChildResult:
        return self.inner.evaluate(arch, episode, child_index, epochs)


def random_split(images: int, seed: int) -> Split:
    """Random uint8 CIFAR-shaped images and labels: what the GPU sees per step is all that matters here."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=g)
    return Split(x, torch.randint(0, 10, (images,), generator=g))


def child_config(args: argparse.Namespace, packing: int, max_steps: int | None = None) -> SearchConfig:
    cores = os.cpu_count() or 1
    return make_config({
        "space": "zoph", "layers": 3, "executor": "ray", "evaluator": "train", "child_epochs": args.epochs,
        "child_max_steps": max_steps, "gpus_per_child": 1 / packing, "cpus_per_child": max(1, cores // packing),
    })  # fmt: skip


def train_children(cfg: SearchConfig, train: Split, val: Split, count: int, cuda: bool) -> tuple[float, list]:
    """Wall seconds of `count` copies of SMALL through the Ray executor, and their results."""
    evaluator = TrainEvaluator(cfg, train, val, torch.device("cpu"))  # the worker moves it to its GPU
    executor = RayExecutor(cfg, evaluator if cuda else CpuTraining(evaluator))
    try:
        start = time.perf_counter()
        results = [result for _, _, result in executor.run(0, [(i, SMALL) for i in range(count)])]
        return time.perf_counter() - start, results
    finally:
        executor.close()


def mps_running() -> bool:
    """Whether CUDA's MPS control daemon runs on this machine (a process named nvidia-cuda-mps-*)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith("nvidia-cuda-mps"):
                return True
        except OSError:  # the process ended while we looked
            continue
    return False


def header(args: argparse.Namespace, cuda: bool) -> None:
    cores = os.cpu_count() or 1
    gpu = torch.cuda.get_device_name() if cuda else "none (CPU training)"
    print(f"gpu: {gpu}; torch {torch.__version__}, ray {ray.__version__}, {cores} CPUs, "
          f"CUDA MPS daemon {'running' if mps_running() else 'not running'}")  # fmt: skip
    print(f"{args.children} copies of the small child per level, {args.train} train / {args.val} val random images, "
          f"{args.epochs} epoch(s), batch 128; packing levels {args.levels}")  # fmt: skip
    if not cuda:
        print("WARNING: torch sees no CUDA device: children train on the CPU and share a logical GPU, so these "
              "figures test the script and say nothing about packing children on a GPU.")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=16, help="copies of the small child per packing level")
    parser.add_argument("--train", type=int, default=5000, help="training images (random, CIFAR-shaped)")
    parser.add_argument("--val", type=int, default=1000, help="validation images")
    parser.add_argument("--epochs", type=int, default=2, help="epochs each child trains")
    parser.add_argument("--levels", default="1,2,4,8", help="children per GPU to measure, comma-separated")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    levels = [int(p) for p in args.levels.split(",")]
    cuda = torch.cuda.is_available()
    header(args, cuda)
    train, val = random_split(args.train, 0), random_split(args.val, 1)
    ray.init(num_cpus=os.cpu_count() or 1, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        warm, _ = train_children(child_config(args, max(levels), 2), train, val, max(levels), cuda)
        print(f"warm-up (workers, CUDA contexts): {warm:.1f} s", flush=True)
        figures: dict[int, dict] = {}
        for packing in levels:
            x1 = figures[1]["children_per_hour"] if 1 in figures else None
            figures[packing] = measure(args, packing, train, val, cuda, x1)
    finally:
        ray.shutdown()
    per_hour = {p: f["children_per_hour"] for p, f in figures.items()}
    base = per_hour.get(1, per_hour[levels[0]])
    print("children/hour " + " ".join(f"x{p} {v:.0f}" for p, v in per_hour.items()) +
          f" (best/x1 {max(per_hour.values()) / base:.2f})")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"cuda": cuda, "args": vars(args), "levels": figures}, indent=1))


def measure(args: argparse.Namespace, packing: int, train: Split, val: Split, cuda: bool, x1: float | None) -> dict:
    """One packing level: its figures, printed as one line (`x1`: packing 1's children per hour, once known)."""
    cfg = child_config(args, packing)
    wall, results = train_children(cfg, train, val, args.children, cuda)
    failed = [r for r in results if not r.ok]
    child = sum(r.train_seconds for r in results) / len(results)
    per_hour = len(results) / wall * 3600
    ratio = f" ({per_hour / (x1 or per_hour):.2f}x of x1)" if x1 or packing == 1 else ""
    print(f"x{packing} ({cfg.gpus_per_child:g} GPU, {cfg.cpus_per_child:g} CPU per child): wall {wall:.1f} s, "
          f"{per_hour:.0f} children/hour{ratio}, a child {child:.2f} s"
          + (f", {len(failed)} FAILED: {failed[0].error}" if failed else ""), flush=True)  # fmt: skip
    return {"wall_seconds": wall, "children_per_hour": per_hour, "child_seconds": child, "failed": len(failed)}


if __name__ == "__main__":
    main()
