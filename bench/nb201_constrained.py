"""NAS-Bench-201 under limits: the exact best cell under a parameter limit, and how close each strategy gets.

    python bench/nb201_constrained.py --write-costs          # nasrl's counts of all 15,625 cells, all 3 data sets
    python bench/nb201_constrained.py                        # CIFAR-10, seeds 0-99, limits 25/50/75% of the largest
    python bench/nb201_constrained.py --datasets cifar100 imagenet16 --seeds 100-149   # tuning: never CIFAR-10

`--write-costs` writes `src/nasrl/benchmarks/nb201_costs.csv.gz`: each cell's parameters and forward FLOPs per
image as `nasrl.nets.builder` counts them, for the network of each data set (10, 100 or 120 classes; 32, 32 or 16
px). A cell's counts are the all-`none` cell's plus, for each edge, what that edge's operation adds: every module of
the network belongs to one edge or to the fixed stem, reductions and head, and its FLOPs depend only on its input's
fixed shape. So 1 + 6 x 4 networks give all 15,625 exactly. The script checks that sum against the counter on
`--check` random cells, and refuses to write when one differs.

The study runs each strategy as `nasrl search --evaluator benchmark --max-params L --max-evaluations N` runs it
(`bench/nb201.py`'s `search_once`, which follows the episodes driver): a cell over the limit is not evaluated, its
reward is the penalty (0), and it does not count against the budget. The figure is the 200-epoch test accuracy of
the best-by-reward cell within the limit, against the best 200-epoch test accuracy of any cell within it (the
constrained optimum) and against that of the cell with the best reward within it (what a perfect optimiser of the
reward would report).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import multiprocessing
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nb201 import search_once, seeds_of  # noqa: E402

from nasrl.benchmarks import load_table  # noqa: E402
from nasrl.benchmarks.costs import COSTS_FILE, DATASET_GEOMETRY, load_costs  # noqa: E402
from nasrl.nets import builder  # noqa: E402
from nasrl.space.families.nb201 import EDGES, OPERATIONS, parse_cell  # noqa: E402

STRATEGIES = ("random", "evolution", "reinforce", "ppo", "local", "local:1")
SHARES = (0.25, 0.5, 0.75)
COSTS_PATH = Path(__file__).resolve().parents[1] / "src" / "nasrl" / "benchmarks" / COSTS_FILE


def cell_of(ops: tuple[str, ...]) -> str:
    """The cell string of one operation per edge, in `EDGES` order (node 1 <- 0; 2 <- 0, 1; 3 <- 0, 1, 2)."""
    nodes = [[f"{op}~{j}" for (i, j), op in zip(EDGES, ops) if i == node] for node in (1, 2, 3)]
    return "+".join("|" + "|".join(parts) + "|" for parts in nodes)


def counted(cell: str, dataset: str) -> tuple[int, int]:
    """(parameters, FLOPs per image) of nasrl's network for `cell` on `dataset`, from the counter itself."""
    classes, channels, side = DATASET_GEOMETRY[dataset]
    model = builder.build(parse_cell(cell), num_classes=classes, in_channels=channels)
    return builder.count_parameters(model), builder.count_flops(model, resolution=side, in_channels=channels)


def all_counts(dataset: str) -> dict[str, tuple[int, int]]:
    """Every cell's counts from the all-`none` cell and each (edge, operation)'s increment (module docstring)."""
    empty = ("none",) * len(EDGES)
    base = counted(cell_of(empty), dataset)
    extra = {}
    for e in range(len(EDGES)):
        for op in OPERATIONS[1:]:
            ops = tuple(op if k == e else "none" for k in range(len(EDGES)))
            p, f = counted(cell_of(ops), dataset)
            extra[e, op] = (p - base[0], f - base[1])
    counts = {}
    for index in range(len(OPERATIONS) ** len(EDGES)):
        ops = tuple(OPERATIONS[(index // len(OPERATIONS) ** k) % len(OPERATIONS)] for k in range(len(EDGES)))
        adds = [extra[e, op] for e, op in enumerate(ops) if op != "none"]
        counts[cell_of(ops)] = (base[0] + sum(a[0] for a in adds), base[1] + sum(a[1] for a in adds))
    return counts


def write_costs(check: int, seed: int) -> None:
    start = time.perf_counter()
    counts = {d: all_counts(d) for d in DATASET_GEOMETRY}
    cells = sorted(counts["cifar10"])
    rng = random.Random(seed)
    for cell in rng.sample(cells, check):
        for d in DATASET_GEOMETRY:
            if counted(cell, d) != counts[d][cell]:
                raise SystemExit(f"{cell} on {d}: counted {counted(cell, d)}, summed {counts[d][cell]}: not written")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arch", *(f"{d}_{c}" for d in DATASET_GEOMETRY for c in ("params", "flops"))])
    for cell in cells:
        writer.writerow([cell, *(v for d in DATASET_GEOMETRY for v in counts[d][cell])])
    COSTS_PATH.write_bytes(gzip.compress(out.getvalue().encode(), mtime=0))
    print(
        f"wrote {COSTS_PATH} ({len(cells)} cells x {len(DATASET_GEOMETRY)} data sets) in "
        f"{time.perf_counter() - start:.0f} s; {check} random cells counted directly, all equal"
    )


def limits_of(dataset: str, shares: list[float]) -> list[int]:
    """Parameter limits at the given shares of the largest cell's count on `dataset`."""
    largest = max(c[dataset][0] for c in load_costs().values())
    return [int(share * largest) for share in shares]


def constrained_optimum(dataset: str, limit: int) -> tuple[float, float, int]:
    """Within `limit` parameters: the best 200-epoch test accuracy (%) of any cell; the test accuracy of the cell
    with the best reward (12-epoch validation), which is what a perfect optimiser of the reward finds; and how many
    cells are within."""
    table, costs = load_table("nb201", dataset), load_costs()
    inside = [(e.reward_acc, e.test_acc) for cell, e in table.entries.items() if costs[cell][dataset][0] <= limit]
    return max(t for _, t in inside), max(inside)[1], len(inside)


def _job(job: tuple) -> tuple:
    strategy, dataset, seed, budget, children, limit = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    name, _, per_episode = strategy.partition(":")  # local:1 = local search with episodes of one child
    episode = int(per_episode) if per_episode else children
    evaluated = search_once(name, dataset, seed, budget, episode, {"max_params": limit}, with_costs=True)
    return strategy, dataset, seed, limit, evaluated, time.perf_counter() - start


def summary_lines(results: list[tuple], budgets: list[int], shares: dict[int, float]) -> list[str]:
    """Per (data set, limit, strategy, budget): mean test accuracy of the best-by-reward cell, regret to the
    constrained optimum, the share of runs whose best breaks the limit, seconds per run."""
    lines = []
    for dataset in dict.fromkeys(r[1] for r in results):
        for limit in sorted({r[3] for r in results if r[1] == dataset}):
            optimum, ceiling, inside = constrained_optimum(dataset, limit)
            lines.append(
                f"\n{dataset}, at most {limit:,} parameters ({shares[limit]:.0%} of the largest cell; {inside} cells "
                f"within): constrained optimum {optimum:.2f}; the best-reward cell within has {ceiling:.2f}"
            )
            for strategy in dict.fromkeys(r[0] for r in results):
                runs = [r for r in results if r[0] == strategy and r[1] == dataset and r[3] == limit]
                for budget in budgets:
                    bests = [max(r[4][:budget], key=lambda e: e[0]) for r in runs]
                    tests = [100 * b[1] for b in bests]
                    broken = sum(b[2] > limit for b in bests)
                    sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
                    lines.append(
                        f"  {strategy:<10} {budget:>4} archs  {statistics.fmean(tests):.2f} ± {sd:.2f} (se "
                        f"{sd / len(tests) ** 0.5:.2f}, {len(tests)} seeds)  regret "
                        f"{optimum - statistics.fmean(tests):.2f}  over the limit {broken}/{len(tests)}  "
                        f"({statistics.fmean(r[5] for r in runs):.2f} s/run)"
                    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-costs", action="store_true", help="count every cell and write the shipped file")
    parser.add_argument("--check", type=int, default=200, help="--write-costs: cells counted directly as a check")
    parser.add_argument(
        "--strategies", nargs="+", default=list(STRATEGIES), help="NAME or NAME:K (episodes of K children)"
    )
    parser.add_argument("--datasets", nargs="+", default=["cifar10"], choices=list(DATASET_GEOMETRY))
    parser.add_argument("--seeds", default="0-99")
    parser.add_argument("--shares", nargs="+", type=float, default=list(SHARES))
    parser.add_argument("--budgets", nargs="+", type=int, default=[100, 300])
    parser.add_argument("--children", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.write_costs:
        write_costs(args.check, seed=0)
        return
    jobs, shares = [], {}
    for dataset in args.datasets:
        for share, limit in zip(args.shares, limits_of(dataset, args.shares)):
            shares[limit] = share
            jobs += [
                (s, dataset, seed, max(args.budgets), args.children, limit)
                for s in args.strategies
                for seed in seeds_of(args.seeds)
            ]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results = pool.map(_job, jobs, chunksize=4)
    print(f"{len(jobs)} searches in {time.perf_counter() - start:.0f} s ({args.workers} workers)")
    print("\n".join(summary_lines(results, sorted(args.budgets), shares)))


if __name__ == "__main__":
    main()
