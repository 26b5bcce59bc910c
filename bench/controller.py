"""Controller benchmarks: does REINFORCE find a known target, and what does the controller cost per child?

    python bench/controller.py                      # both parts, the defaults as recorded in BENCHMARKS.md
    python bench/controller.py --part learning --option lr=1e-2 --option entropy_weight=1e-2
    python bench/controller.py --part learning --strategy ppo --layers 10 --children 10000

Learning: the synthetic reward (fraction of decisions equal to a hidden target) on the zoph space with 4 layers
(12 tokens and 6 skip bits; chance is (12/4 + 6/2)/18 = 1/3). Each strategy proposes `--children` children in
episodes of `--per-episode`; we report the mean reward of its last 100 children, per seed, REINFORCE vs random
search on the same seeds and targets. Seeds run in parallel processes, one torch thread each.

Overhead: seconds to propose and update 100 children of the 15-layer zoph space with skips (one episode of 100,
and ten episodes of 10), i.e. the controller's whole cost per 100 children in a search.
"""

from __future__ import annotations

import argparse
import ast
import multiprocessing as mp
import statistics
import time

import torch

from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.registry import strategy_names
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import preset


def learning_run(args: tuple[str, int, int, int, int, dict]) -> tuple[float, float, float]:
    """One strategy, one seed: (mean reward of the last 100 children, final entropy, seconds)."""
    name, seed, layers, children, per_episode, options = args
    torch.set_num_threads(1)
    space = preset("zoph", layers)
    target = synthetic_target(space, seed)
    strategy = make_strategy(name, space, seed, **options)
    rewards: list[float] = []
    start = time.perf_counter()
    stats = {}
    for _ in range(children // per_episode):
        archs = strategy.propose(per_episode)
        r = [synthetic_reward(a, target) for a in archs]
        stats = strategy.update(archs, r)
        rewards += r
    return statistics.fmean(rewards[-100:]), stats["entropy"], time.perf_counter() - start


def learning(args: argparse.Namespace, options: dict) -> None:
    jobs = [(args.strategy, s, args.layers, args.children, args.per_episode, options) for s in args.seeds]
    if not args.no_random:
        jobs += [("random", s, args.layers, args.children, args.per_episode, {}) for s in args.seeds]
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        results = pool.map(learning_run, jobs)
    lines = [
        f"learning: zoph {args.layers} layers, {args.children} children in episodes of {args.per_episode}, "
        f"options {options or 'defaults'}"
    ]
    for name in (args.strategy, "random"):
        rows = [(job[1], res) for job, res in zip(jobs, results) if job[0] == name]
        if not rows:
            continue
        per_seed = ", ".join(f"seed {s}: {r:.3f} (H {h:.2f}, {t:.0f} s)" for s, (r, h, t) in rows)
        mean = statistics.fmean(r for _, (r, _, _) in rows)
        lines.append(f"  {name:9s} mean of last 100 = {mean:.3f}   [{per_seed}]")
    print("\n".join(lines), flush=True)  # one write: several benches may share a terminal


def overhead(options: dict, repeats: int = 3, args_strategy: str = "reinforce") -> None:
    torch.set_num_threads(1)
    space = preset("zoph", 15)
    target = synthetic_target(space, 0)
    for per_episode in (100, 10):
        best = float("inf")
        for _ in range(repeats):
            strategy = make_strategy(args_strategy, space, 0, **options)
            start = time.perf_counter()
            for _ in range(100 // per_episode):
                archs = strategy.propose(per_episode)
                strategy.update(archs, [synthetic_reward(a, target) for a in archs])
            best = min(best, time.perf_counter() - start)
        print(
            f"overhead: zoph 15 layers with skips, 100 children in episodes of {per_episode}: "
            f"{best:.3f} s to propose + update (best of {repeats}, 1 torch thread)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("learning", "overhead", "both"), default="both")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--children", type=int, default=3000)
    parser.add_argument("--per-episode", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--strategy", choices=strategy_names(), default="reinforce")
    parser.add_argument("--no-random", action="store_true", help="skip the random-search baseline runs")
    parser.add_argument("--option", action="append", default=[], help="strategy option KEY=VALUE (Python literal)")
    args = parser.parse_args()
    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = ast.literal_eval(value)
    if args.part in ("learning", "both"):
        learning(args, options)
    if args.part in ("overhead", "both"):
        overhead(options, args_strategy=args.strategy)


if __name__ == "__main__":
    main()
