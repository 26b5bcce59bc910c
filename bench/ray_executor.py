"""What Ray costs and buys on one machine: the same searches with `--executor local` and `--executor ray`.

Prints, from one process:
  1. Ray's start-up seconds (ray.init of a local instance);
  2. scheduling overhead: children per second with the synthetic evaluator (no training), local vs Ray;
  3. a quick search (episodes x children of the quick preset's children) on real data: wall seconds of
     local (1 worker, all torch threads) vs Ray (one worker per CPU, 1 CPU and 1 torch thread each).

    python bench/ray_executor.py --data folder:/path/to/cifar10 [--episodes 2 --children 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from nasrl.config import load_config_file, make_config
from nasrl.search.run import prepare_run, run_search


def timed_search(fields: dict) -> tuple[float, int]:
    cfg = prepare_run(make_config(fields), None, {})
    start = time.perf_counter()
    summary = run_search(cfg, quiet=True)
    return time.perf_counter() - start, summary.counts["children"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="synthetic", help="data source of the quick search (folder:PATH, ...)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--synthetic-children", type=int, default=400)
    args = parser.parse_args()
    import ray

    cpus = os.cpu_count() or 1
    tmp = tempfile.mkdtemp(prefix="nasrl-bench-ray-")
    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - start
    print(f"machine: {cpus} CPUs, torch {torch.__version__}, ray {ray.__version__}")
    print(f"ray start-up: {startup:.2f} s")

    synth = {
        "evaluator": "synthetic",
        "space": "zoph",
        "layers": 4,
        "children": 10,
        "episodes": args.synthetic_children // 10,
    }
    local_s, n = timed_search({**synth, "run_dir": f"{tmp}/synth-local"})
    ray_s, _ = timed_search({**synth, "executor": "ray", "run_dir": f"{tmp}/synth-ray"})
    print(
        f"synthetic, {n} children: local {n / local_s:.1f} children/s, ray {n / ray_s:.1f} children/s, "
        f"ray adds {(ray_s - local_s) / n * 1000:.1f} ms per child"
    )

    quick = {
        **load_config_file("quick"),
        "episodes": args.episodes,
        "children": args.children,
        "data": args.data,
        "data_dir": args.data_dir,
    }
    if args.data == "synthetic":
        quick["val_subset"] = 500  # the synthetic set's validation split holds 600 images, the preset asks 1,000
    torch.set_num_threads(cpus)
    timed_search({**quick, "episodes": 1, "children": 1, "run_dir": f"{tmp}/warm"})  # data cache, imports
    local_s, n = timed_search({**quick, "run_dir": f"{tmp}/quick-local"})
    ray_s, _ = timed_search({**quick, "executor": "ray", "cpus_per_child": 1, "run_dir": f"{tmp}/quick-ray"})
    print(
        f"quick search, {n} children on {args.data}: local ({cpus} threads) {local_s:.1f} s, "
        f"ray ({cpus} workers x 1 thread) {ray_s:.1f} s, ratio local/ray {local_s / ray_s:.2f}"
    )
    ray.shutdown()


if __name__ == "__main__":
    main()
