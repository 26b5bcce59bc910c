"""NAS-Bench-201 study: every strategy, many seeds, several budgets in distinct architectures, all three data sets.

    python bench/nb201.py                                   # 100 seeds (CIFAR-10), 50 (the others), all strategies
    python bench/nb201.py --datasets cifar100 imagenet16 --seeds 100-149 --budgets 100   # tuning: never CIFAR-10
    python bench/nb201.py --strategies reinforce --set controller_lr=0.05 --set entropy_weight=0   # a variant

Each (strategy, data set, seed) is one search of the `nb201` space with `--evaluator benchmark`, run by `search_once`
through the strategy's own propose/update as the episodes driver runs it (`tests/test_bench.py` checks that it
stores the same distinct architectures as `nasrl search`): children answered from earlier ones cost nothing, and a
search stops after its budget of distinct architectures, so one run to the largest budget gives every smaller one
as its prefix. The figure is the 200-epoch test accuracy of the best-by-reward (12-epoch validation) cell, which
no strategy sees: mean ± sd, the standard error, and how often the run's best is the optimum (94.37 on CIFAR-10).
`--compare-seeds K` also runs K seeds per strategy on CIFAR-10 through `nasrl search` and writes the `nasrl compare`
page of them (OUT/compare/compare.html).

Tune on CIFAR-100 and ImageNet16-120 with seeds outside 0-99; report CIFAR-10 with seeds 0-99 as it comes out.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from nasrl.benchmarks import load_table
from nasrl.benchmarks.costs import DATASET_GEOMETRY
from nasrl.config import make_config
from nasrl.search.costs import Geometry
from nasrl.search.objective import make_objective
from nasrl.search.strategies import make_strategy
from nasrl.space.families.nb201 import cell_string

STRATEGIES = ("random", "evolution", "reinforce", "ppo", "local")
DATASETS = ("cifar10", "cifar100", "imagenet16")
#: The published NATS-Bench figures (200-epoch test accuracy; Dong et al. 2021) beside which nasrl's go.
PUBLISHED = {
    "cifar10": "random 93.70 ± 0.36, REINFORCE 93.85 ± 0.37, the ResNet 93.97, optimum 94.37",
    "cifar100": "random 71.04, REINFORCE 71.71 ± 1.09, optimum 73.51",
    "imagenet16": "random 44.57, REINFORCE 45.24 ± 1.18, optimum 47.31",
}


def search_once(
    strategy: str,
    dataset: str,
    seed: int,
    budget: int,
    children: int = 10,
    flags: dict | None = None,
    with_costs: bool = False,
) -> list[tuple[float, ...]]:
    """(reward, test accuracy) of each distinct architecture in the order the search evaluated them, as
    `nasrl search --evaluator benchmark --max-evaluations BUDGET` evaluates them (`drivers/episodes.py`); with
    `with_costs`, (reward, test accuracy, parameters). A cell over a limit of the flags' objective (`max_params`)
    is not evaluated and costs nothing: the strategy learns its penalty reward, as in the driver."""
    cfg = make_config(
        {},
        {
            "evaluator": "benchmark",
            "strategy": strategy,
            "benchmark_dataset": dataset,
            "children": children,
            "seed": seed,
            "max_evaluations": budget,
            **(flags or {}),
        },
    )
    table, objective = load_table("nb201", dataset), make_objective(cfg, Geometry(*DATASET_GEOMETRY[dataset]))
    policy = make_strategy(strategy, cfg.search_space(), seed, cfg.strategy_settings())
    known: dict[str, float] = {}
    evaluated: list[tuple[float, ...]] = []
    for _ in range(cfg.run.episodes):
        architectures, rewards = policy.propose(cfg.run.children), []
        for arch in architectures:
            key = cell_string(arch)
            judged = objective.judge(arch) if key not in known else None
            if judged is not None and judged.over_limit:
                rewards.append(cfg.objective.over_limit_reward)
                continue
            if key not in known:
                if len(evaluated) == budget:
                    return evaluated  # the budget ends the run inside this episode, before its update
                entry = table.lookup(key)
                known[key] = entry.reward_acc / 100
                costs = (judged.costs.params,) if with_costs and judged is not None else ()
                evaluated.append((known[key], entry.test_acc / 100, *costs))
            rewards.append(known[key])
        policy.update(architectures, rewards)
        if len(evaluated) == budget:
            return evaluated
    return evaluated


def best_test(evaluated: list[tuple[float, float]], budget: int) -> float:
    """The test accuracy of the best-by-reward architecture among the first `budget` (the earliest on a tie, as the
    store's best)."""
    prefix = evaluated[:budget]
    return max(prefix, key=lambda e: e[0])[1] if prefix else math.nan


def _job(job: tuple) -> tuple:
    strategy, dataset, seed, budget, children, flags = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    evaluated = search_once(strategy, dataset, seed, budget, children, flags)
    return strategy, dataset, seed, evaluated, time.perf_counter() - start


def seeds_of(text: str) -> list[int]:
    """`0-99` or `3,5,8`."""
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def best_reward(evaluated: list[tuple[float, float]], budget: int) -> float:
    return max(r for r, _ in evaluated[:budget])


def summary_lines(
    results: list[tuple], budgets: list[int], optimum: dict[str, float], top_reward: dict[str, float]
) -> list[str]:
    """One line per (data set, strategy, budget): mean ± sd, standard error, how often the test optimum and the
    best-reward cell were found, the median, seconds per run."""
    lines = []
    for dataset in sorted({r[1] for r in results}, key=DATASETS.index):
        lines.append(f"\n{dataset} (published, NATS-Bench: {PUBLISHED[dataset]})")
        for strategy in dict.fromkeys(r[0] for r in results):
            runs = [r for r in results if r[0] == strategy and r[1] == dataset]
            if not runs:
                continue
            for budget in budgets:
                tests = [100 * best_test(r[3], budget) for r in runs]
                sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
                hits = sum(abs(t - optimum[dataset]) < 1e-6 for t in tests)
                tops = sum(best_reward(r[3], budget) >= top_reward[dataset] - 1e-9 for r in runs)
                lines.append(
                    f"  {strategy:<12} {budget:>5} archs  {statistics.fmean(tests):.2f} ± {sd:.2f} "
                    f"(se {sd / math.sqrt(len(tests)):.2f}, {len(tests)} seeds)  optimum {hits}/{len(tests)}, "
                    f"top reward {tops}/{len(tests)}  "
                    f"median {statistics.median(tests):.2f}  ({statistics.fmean(r[4] for r in runs):.2f} s/run)"
                )
    return lines


def compare_page(out: Path, strategies: list[str], seeds: int, budget: int, children: int) -> Path:
    """K seeds per strategy through `nasrl search` on CIFAR-10, then `nasrl compare` of them all."""
    runs = []
    for strategy in strategies:
        for seed in range(seeds):
            run_dir = out / "runs" / f"{strategy}-seed{seed}"
            if not (run_dir / "best_architecture.json").is_file():
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "nasrl.cli",
                        "search",
                        "--evaluator",
                        "benchmark",
                        "--strategy",
                        strategy,
                        "--children",
                        str(children),
                        "--seed",
                        str(seed),
                        "--max-evaluations",
                        str(budget),
                        "--run-dir",
                        str(run_dir),
                        "--quiet",
                    ],
                    check=True,
                    capture_output=True,
                )
            runs.append(str(run_dir))
    subprocess.run([sys.executable, "-m", "nasrl.cli", "compare", *runs, "-o", str(out / "compare")], check=True)
    return out / "compare" / "compare.html"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", default=None, help="e.g. 0-99 (default: 0-99 on CIFAR-10, 0-49 on the others)")
    parser.add_argument("--budgets", nargs="+", type=int, default=[50, 100, 300, 1000])
    parser.add_argument("--children", type=int, default=10, help="children per episode (the strategy's batch)")
    parser.add_argument("--set", action="append", default=[], metavar="FLAG=VALUE", help="a search flag, e.g. lr")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare-seeds", type=int, default=0)
    parser.add_argument("--out", default="/tmp/nb201-bench")
    args = parser.parse_args()
    flags = dict(item.split("=", 1) for item in args.set)
    jobs = []
    for dataset in args.datasets:
        seeds = seeds_of(args.seeds) if args.seeds else list(range(100 if dataset == "cifar10" else 50))
        jobs += [(s, dataset, seed, max(args.budgets), args.children, flags) for s in args.strategies for seed in seeds]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results = pool.map(_job, jobs, chunksize=4)
    optimum = {d: load_table("nb201", d).optimum for d in args.datasets}
    top_reward = {d: max(e.reward_acc for e in load_table("nb201", d).entries.values()) / 100 for d in args.datasets}
    print(f"{len(jobs)} searches in {time.perf_counter() - start:.0f} s ({args.workers} workers); flags {flags or '-'}")
    print("\n".join(summary_lines(results, sorted(args.budgets), optimum, top_reward)))
    if args.compare_seeds:
        page = compare_page(Path(args.out), args.strategies, args.compare_seeds, 100, args.children)
        print(f"wrote {page}")


if __name__ == "__main__":
    main()
