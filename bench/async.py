"""What children in flight buy: worker utilization of the synchronous loop against `--in-flight 8` on Ray.

A local Ray with 8 logical CPUs and an evaluator that sleeps for a heavy-tailed time (lognormal, drawn per child
from (seed, episode, child)) before returning the synthetic reward: the same 200 children's budget through
episodes of 8 (every worker waits for the episode's slowest child) and through 8 children in flight (a worker
gets the next child as soon as it is free). Utilization is busy seconds / (8 workers x wall seconds of the
search). The workers only sleep, so 2 cores are enough. Last line: `utilization sync S async A`.

    python bench/async.py [--median 0.5 --sigma 1.0 --children 200]

The median is 0.5 s, not less, because the driver's own work per child (a controller sample, two store writes,
an eighth of an update: about 35 ms on the loaded 2-core dev box) is time a freed worker waits for its next child.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time

import ray

from nasrl.config import make_config
from nasrl.run.store import RunStore
from nasrl.search import loop
from nasrl.search.evaluators import SyntheticEvaluator, child_seed

WORKERS = 8


class SleepingEvaluator(SyntheticEvaluator):
    """The synthetic reward after a lognormal sleep (its seconds are the child's train_seconds)."""

    name = "sleeping"

    def __init__(self, base: SyntheticEvaluator, median: float, sigma: float, seed: int) -> None:
        super().__init__(base.space, base.target_seed)
        self.median, self.sigma, self.seed = median, sigma, seed

    def evaluate(self, arch, episode, child_index, epochs=None):  # noqa: ANN001, ANN201 (the Evaluator protocol)
        rng = random.Random(child_seed(self.seed, episode, child_index))
        seconds = rng.lognormvariate(math.log(self.median), self.sigma)
        time.sleep(seconds)
        result = super().evaluate(arch, episode, child_index, epochs)
        result.train_seconds = seconds
        return result


@ray.remote(num_cpus=1)
def _warm(seconds: float) -> int:
    """Start a worker and import what a child needs, so neither run pays for worker start-up."""
    import nasrl.search.executors  # noqa: F401

    time.sleep(seconds)
    return 0


def utilization(fields: dict, median: float, sigma: float) -> tuple[float, float, float, int]:
    """(wall seconds, busy seconds, utilization, cached children) of one search."""
    real = loop.build_evaluator

    def sleeping(cfg, progress):  # noqa: ANN001, ANN202
        evaluator, note = real(cfg, progress)
        return SleepingEvaluator(evaluator, median, sigma, cfg.seed), note

    loop.build_evaluator = sleeping
    try:
        cfg = loop.prepare_run(make_config(fields), None, {})
        start = time.perf_counter()
        summary = loop.run_search(cfg, quiet=True)
        wall = time.perf_counter() - start
    finally:
        loop.build_evaluator = real
    store = RunStore.open_existing(summary.run_dir)
    busy = sum(c.train_seconds for c in store.children())
    return wall, busy, busy / (WORKERS * wall), summary.counts["cached"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--median", type=float, default=0.5, help="median sleep per child, seconds")
    parser.add_argument("--sigma", type=float, default=1.0, help="lognormal sigma of the sleep (its heavy tail)")
    parser.add_argument("--children", type=int, default=200, help="children per search (a multiple of 8)")
    args = parser.parse_args()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    ray.get([_warm.remote(1.0) for _ in range(WORKERS)])
    loop.build_strategy(make_config({"evaluator": "synthetic"}))  # torch's first optimiser imports for seconds
    tmp = tempfile.mkdtemp(prefix="nasrl-bench-async-")
    base = {"evaluator": "synthetic", "space": "zoph", "layers": 6, "children": WORKERS, "rungs": None,
            "episodes": args.children // WORKERS, "executor": "ray", "seed": 0}  # fmt: skip
    print(f"ray {ray.__version__}, {WORKERS} logical CPUs; sleep per child: lognormal, median {args.median:g} s, "
          f"sigma {args.sigma:g}; {base['episodes'] * WORKERS} children, reinforce, zoph 6 layers")  # fmt: skip
    results = {}
    for name, extra in (("sync", {}), ("async", {"in_flight": WORKERS})):
        wall, busy, used, cached = utilization({**base, **extra, "run_dir": f"{tmp}/{name}"}, args.median, args.sigma)
        label = "episodes of 8" if name == "sync" else "--in-flight 8"
        print(f"{name:5} ({label}): wall {wall:.1f} s, busy {busy:.1f} worker-s, utilization {used:.2f} "
              f"({cached} cached children)")  # fmt: skip
        results[name] = used
    ray.shutdown()
    print(f"utilization sync {results['sync']:.2f} async {results['async']:.2f}")


if __name__ == "__main__":
    main()
