"""Children per hour on one GPU when several small children share it (1, 2, 4, 8 children per GPU).

A small child is launch-bound on a big GPU (an H200 ran this one at 3 ms a step): one child at a time leaves most
of the GPU idle, and several processes on it should finish more children per hour. This trains N copies (default
16) of the small child (bench/pipeline.py's SMALL: zoph 3x3/36 -> 3x3/48 -> 3x3/64) as real children: a real
`TrainEvaluator` on random CIFAR-shaped images, once per packing level P, each child with cores / P torch threads
(at least 1). Two launchers run them, and both measure the same thing: separate processes sharing one GPU, their
kernels time-sliced, or concurrent when CUDA's MPS daemon runs (`nvidia-cuda-mps-control -d`; the header says):

  --launcher ray        what a search runs: `RayExecutor.run` with N (index, arch) pairs (a search's cache would
                        answer the copies) and `--gpus-per-child` 1 / P. A warm-up round first starts the workers
                        and their CUDA contexts, as a running search has them.
  --launcher processes  P torch.multiprocessing (spawn) workers per level pulling child indices from one queue.
                        It exists because Ray (a 79 MB wheel) cannot travel to the borrowed GPU machine, which has
                        torch but no Ray and no network. Each worker makes the same random images from the same
                        seed, starts CUDA and trains one step (the warm-up, not timed); the parent then times from
                        releasing them to the last child's result. The default where `import ray` fails.

Prints per level: wall seconds, children per hour, ratio to packing 1, a child's own seconds; last line
`children/hour x1 A x2 B x4 C x8 D (best/x1 R)`.

Goal (issue "Scale", part 3): at least 3x the children per hour of one at a time, at some packing level.

    python bench/packing.py                                              # GPU: 16 children, 5,000/1,000 images
    python bench/packing.py --children 4 --train 256 --val 128 --epochs 1  # a quick check of the script itself

Without CUDA it still runs, on the CPU (Ray with a logical GPU to share out), and says that its figures then say
nothing about GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from pipeline import SMALL  # bench/pipeline.py's small child (a script's folder is on its import path)

from nasrl.config import SearchConfig, make_config
from nasrl.data import Split
from nasrl.run.records import ChildResult
from nasrl.search.evaluators.base import evaluate_safely
from nasrl.search.evaluators.train import TrainEvaluator
from nasrl.space import Architecture


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


def random_splits(args: argparse.Namespace) -> tuple[Split, Split]:
    """The train and validation images, the same in every process that makes them (fixed seeds)."""
    return random_split(args.train, 0), random_split(args.val, 1)


def child_config(args: argparse.Namespace, packing: int, max_steps: int | None = None) -> SearchConfig:
    cores = os.cpu_count() or 1
    return make_config(
        {
            "space": "zoph",
            "layers": 3,
            "executor": "ray",
            "evaluator": "train",
            "child_epochs": args.epochs,
            "child_max_steps": max_steps,
            "gpus_per_child": 1 / packing,
            "cpus_per_child": max(1, cores // packing),
        }
    )


# --- the Ray launcher ---------------------------------------------------------------------------------------------


def train_children(cfg: SearchConfig, train: Split, val: Split, count: int, cuda: bool) -> tuple[float, list]:
    """Wall seconds of `count` copies of SMALL through the Ray executor, and their results."""
    from nasrl.search.executors import RayExecutor

    evaluator = TrainEvaluator(cfg, train, val, torch.device("cpu"))  # the worker moves it to its GPU
    executor = RayExecutor(cfg, evaluator if cuda else CpuTraining(evaluator))
    try:
        start = time.perf_counter()
        results = [result for _, _, result in executor.run(0, [(i, SMALL) for i in range(count)])]
        return time.perf_counter() - start, results
    finally:
        executor.close()


def ray_levels(args: argparse.Namespace, levels: list[int], cuda: bool) -> dict[int, dict]:
    """Every level through one local Ray, whose workers (and CUDA contexts) a warm-up round starts first."""
    import ray

    train, val = random_splits(args)
    ray.init(num_cpus=os.cpu_count() or 1, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        warm, _ = train_children(child_config(args, max(levels), 2), train, val, max(levels), cuda)
        print(f"warm-up (workers, CUDA contexts): {warm:.1f} s", flush=True)

        def level(packing: int) -> tuple[float, list]:
            return train_children(child_config(args, packing), train, val, args.children, cuda)

        return measure_levels(args, levels, level)
    finally:
        ray.shutdown()


# --- the processes launcher ---------------------------------------------------------------------------------------


def worker(args: argparse.Namespace, packing: int, cuda: bool, tasks, results, go) -> None:
    """One of `packing` children on the GPU: warm up (CUDA context, cuDNN's choices, one step) before the clock
    starts, as a running search's worker is, then train child indices from `tasks` until its None."""
    try:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // packing))
        device = torch.device("cuda" if cuda else "cpu")
        warm = TrainEvaluator(child_config(args, packing, max_steps=1), *random_splits(args), device)
        warm.evaluate(SMALL, 0, -1)  # raises: a worker that cannot train one step says why at once
        evaluator = TrainEvaluator(child_config(args, packing), warm.train_split, warm.val_split, device)
    except Exception:
        results.put(("error", traceback.format_exc()))
        return
    results.put(("ready", None))
    go.wait()
    for index in iter(tasks.get, None):
        results.put(("done", evaluate_safely(evaluator, SMALL, 0, index)))


def receive(results, workers: list, count: int) -> list:
    """`count` messages' payloads from the workers; a worker's error, or its death, stops the level (instead of
    waiting forever for what it will never send)."""
    payloads = []
    while len(payloads) < count:
        try:
            kind, payload = results.get(timeout=1)
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a packing worker died (exit code {dead[0]})") from None
            continue
        if kind == "error":
            raise RuntimeError(f"a packing worker failed:\n{payload}")
        payloads.append(payload)
    return payloads


def train_processes(args: argparse.Namespace, packing: int, cuda: bool) -> tuple[float, list]:
    """Wall seconds of `args.children` copies of SMALL on `packing` fresh worker processes, and their results:
    timed in this process from releasing the warmed-up workers to the last child's result."""
    ctx = torch.multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    tasks, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    for index in [*range(args.children), *[None] * packing]:
        tasks.put(index)
    workers = [
        ctx.Process(target=worker, args=(args, packing, cuda, tasks, results, go), daemon=True) for _ in range(packing)
    ]
    started = time.perf_counter()
    for w in workers:
        w.start()
    try:
        receive(results, workers, packing)
        print(
            f"x{packing} warm-up ({packing} process(es) start, CUDA contexts, a step each): "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        start = time.perf_counter()
        go.set()
        done = receive(results, workers, args.children)
        return time.perf_counter() - start, done
    finally:
        for w in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.terminate()


def process_levels(args: argparse.Namespace, levels: list[int], cuda: bool) -> dict[int, dict]:
    return measure_levels(args, levels, lambda p: train_processes(args, p, cuda))


# --- both ---------------------------------------------------------------------------------------------------------


def measure_levels(args: argparse.Namespace, levels: list[int], train: Callable[[int], tuple]) -> dict[int, dict]:
    """Each level's figures, `train(packing)` giving its (wall seconds, results)."""
    figures: dict[int, dict] = {}
    for packing in levels:
        x1 = figures[1]["children_per_hour"] if 1 in figures else None
        figures[packing] = measure(args, packing, train, x1)
    return figures


def measure(args: argparse.Namespace, packing: int, train: Callable[[int], tuple], x1: float | None) -> dict:
    """One packing level: its figures, printed as one line (`x1`: packing 1's children per hour, once known)."""
    cfg = child_config(args, packing)
    wall, results = train(packing)
    failed = [r for r in results if not r.ok]
    child = sum(r.train_seconds for r in results) / len(results)
    per_hour = len(results) / wall * 3600
    ratio = f" ({per_hour / (x1 or per_hour):.2f}x of x1)" if x1 or packing == 1 else ""
    print(
        f"x{packing} ({cfg.executor.gpus_per_child:g} GPU, {cfg.executor.cpus_per_child:g} CPU per child): "
        f"wall {wall:.1f} s, "
        f"{per_hour:.0f} children/hour{ratio}, a child {child:.2f} s"
        + (f", {len(failed)} FAILED: {failed[0].error}" if failed else ""),
        flush=True,
    )
    return {"wall_seconds": wall, "children_per_hour": per_hour, "child_seconds": child, "failed": len(failed)}


def mps_running() -> bool:
    """Whether CUDA's MPS control daemon runs on this machine (a process named nvidia-cuda-mps-*)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith("nvidia-cuda-mps"):
                return True
        except OSError:  # the process ended while we looked
            continue
    return False


def ray_version() -> str | None:
    """Ray's version, None where it does not import: which launcher is the default."""
    try:
        import ray
    except ImportError:
        return None
    return ray.__version__


def header(args: argparse.Namespace, cuda: bool) -> None:
    cores = os.cpu_count() or 1
    gpu = torch.cuda.get_device_name() if cuda else "none (CPU training)"
    launcher = f"ray {ray_version()}" if args.launcher == "ray" else "processes (torch.multiprocessing, spawn)"
    print(
        f"gpu: {gpu}; torch {torch.__version__}, launcher {launcher}, {cores} CPUs, "
        f"CUDA MPS daemon {'running' if mps_running() else 'not running'}"
    )
    print(
        f"{args.children} copies of the small child per level, {args.train} train / {args.val} val random images, "
        f"{args.epochs} epoch(s), batch 128; packing levels {args.levels}"
    )
    if not cuda:
        print(
            "WARNING: torch sees no CUDA device: children train on the CPU, so these figures test the script and "
            "say nothing about packing children on a GPU."
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=16, help="copies of the small child per packing level")
    parser.add_argument("--train", type=int, default=5000, help="training images (random, CIFAR-shaped)")
    parser.add_argument("--val", type=int, default=1000, help="validation images")
    parser.add_argument("--epochs", type=int, default=2, help="epochs each child trains")
    parser.add_argument("--levels", default="1,2,4,8", help="children per GPU to measure, comma-separated")
    parser.add_argument("--launcher", choices=["ray", "processes"], help="default: ray if it imports, else processes")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    args.launcher = args.launcher or ("ray" if ray_version() else "processes")
    return args


def main() -> None:
    args = parse_args()
    levels = [int(p) for p in args.levels.split(",")]
    cuda = torch.cuda.is_available()
    header(args, cuda)
    figures = (ray_levels if args.launcher == "ray" else process_levels)(args, levels, cuda)
    per_hour = {p: f["children_per_hour"] for p, f in figures.items()}
    base = per_hour.get(1, per_hour[levels[0]])
    print(
        "children/hour "
        + " ".join(f"x{p} {v:.0f}" for p, v in per_hour.items())
        + f" (best/x1 {max(per_hour.values()) / base:.2f})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"cuda": cuda, "args": vars(args), "levels": figures}, indent=1))


if __name__ == "__main__":
    main()
