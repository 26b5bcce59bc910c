"""What children in flight buy: worker utilization of the synchronous loop against `--in-flight 8` on Ray.

A local Ray with 8 logical CPUs and an evaluator that sleeps for a heavy-tailed time (lognormal, drawn per child
from (seed, episode, child)) before returning the synthetic reward: the same 200 children's budget through
episodes of 8 (every worker waits for the episode's slowest child) and through 8 children in flight (a worker
gets the next child as soon as it is free). Utilization is busy seconds / (8 workers x wall seconds of the
search). The workers only sleep, so 2 cores are enough. Last line: `utilization sync S async A`.

    python bench/async.py [--median 0.5 --sigma 1.0 --children 200 --seeds 0 1 2 3 4 --loops sync async plain]

Each line also gives the bound for the same children with a driver that takes no time: the synchronous loop's
sum of every episode's slowest child, and greedy list scheduling of the in-flight children in the order they
were proposed. With a fixed budget and a heavy tail, the bound is below 1 whenever a long child starts late (the
other workers then have nothing left to run), and it varies from seed to seed: `--seeds 0 1 2` averages them.
`--loops plain` runs the in-flight loop as it was before proposals were drawn ahead (a freed slot waits for a
controller pass, and for the update when one is due), to show what drawing ahead buys.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import tempfile
import time

import ray

from nasrl.config import make_config
from nasrl.run.store import RunStore
from nasrl.search import run
from nasrl.search.evaluators.base import child_seed
from nasrl.search.evaluators.synthetic import SyntheticEvaluator
from nasrl.search.executors import RayExecutor
from nasrl.search.strategies import make_strategy
from nasrl.space import preset

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


def utilization(fields: dict, median: float, sigma: float) -> tuple[float, float, float, float]:
    """(wall seconds, busy seconds, utilization, the instantaneous driver's bound) of one search."""
    cfg = run.prepare_run(make_config(fields), None, {})
    evaluator, _ = run.build_evaluator(cfg)
    start = time.perf_counter()
    summary = run.run_search(cfg, quiet=True, evaluator=SleepingEvaluator(evaluator, median, sigma, cfg.run.seed))
    wall = time.perf_counter() - start
    children = RunStore.open_existing(summary.run_dir).children()  # in (episode, child) order: as proposed
    seconds = [c.train_seconds for c in children if not c.cached]
    busy = sum(seconds)
    if fields.get("in_flight"):
        ideal = _list_schedule(seconds, WORKERS)
    else:
        ideal = sum(max(c.train_seconds for c in children if c.episode == e) for e in {c.episode for c in children})
    return wall, busy, busy / (WORKERS * wall), busy / (WORKERS * ideal)


def _list_schedule(seconds: list[float], workers: int) -> float:
    """Wall seconds of running children in this order, each on the first free worker, with no gap between."""
    free_at = [0.0] * workers
    for s in seconds:
        heapq.heappush(free_at, heapq.heappop(free_at) + s)
    return max(free_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--median", type=float, default=0.5, help="median sleep per child, seconds")
    parser.add_argument("--sigma", type=float, default=1.0, help="lognormal sigma of the sleep (its heavy tail)")
    parser.add_argument("--children", type=int, default=200, help="children per search (a multiple of 8)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="searches per loop; figures are means")
    parser.add_argument(
        "--loops",
        nargs="+",
        default=["sync", "async"],
        choices=["sync", "async", "plain"],
        help="plain: in flight, but proposing only when a slot frees and updating first",
    )
    args = parser.parse_args()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    ray.get([_warm.remote(1.0) for _ in range(WORKERS)])
    make_strategy("reinforce", preset("zoph", 4), 0)  # torch's first optimiser imports for seconds
    tmp = tempfile.mkdtemp(prefix="nasrl-bench-async-")
    base = {
        "evaluator": "synthetic",
        "space": "zoph",
        "layers": 6,
        "children": WORKERS,
        "rungs": None,
        "episodes": args.children // WORKERS,
        "executor": "ray",
    }
    print(
        f"ray {ray.__version__}, {WORKERS} logical CPUs; sleep per child: lognormal, median {args.median:g} s, "
        f"sigma {args.sigma:g}; {base['episodes'] * WORKERS} children, reinforce, zoph 6 layers"
    )
    results: dict[str, list[float]] = {name: [] for name in args.loops}
    labels = {"sync": "episodes of 8", "async": "--in-flight 8", "plain": "--in-flight 8, nothing ahead"}
    for seed in args.seeds:
        for name in args.loops:
            fields = {
                **base,
                **({} if name == "sync" else {"in_flight": WORKERS}),
                "seed": seed,
                "run_dir": f"{tmp}/{name}-{seed}",
            }
            RayExecutor.concurrent = name != "plain"
            wall, busy, used, bound = utilization(fields, args.median, args.sigma)
            label = labels[name]
            print(
                f"seed {seed} {name:5} ({label}): wall {wall:.1f} s, busy {busy:.1f} worker-s, "
                f"utilization {used:.2f} (bound with an instantaneous driver {bound:.2f})"
            )
            results[name].append(used)
    ray.shutdown()
    means = {name: statistics.mean(used) for name, used in results.items()}
    if "plain" in means:
        print(f"utilization, nothing proposed ahead: {means['plain']:.2f}")
    if "sync" in means and "async" in means:
        print(f"utilization sync {means['sync']:.2f} async {means['async']:.2f}")


if __name__ == "__main__":
    main()
