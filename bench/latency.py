"""Is measured latency steady enough to rank children? Time the same cells again and again and compare.

    python bench/latency.py                         # 12 NAS-Bench-201 cells spread over the size range, 5 repeats
    python bench/latency.py --device cuda --batch 1 256

Each repeat times every cell once with `nasrl.nets.latency.measure_latency`, as a search does (warm-up, then timed
forwards for `--seconds`), in a shuffled order, so a slow spell of the machine hits different cells in each repeat.
It prints, per batch size, each cell's median over repeats with the spread between repeats (max/min - 1); then, for
the median forward and for the fastest, the mean spread and Kendall tau between every two repeats' rankings (1:
the same order every time).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time

import torch

from nasrl.benchmarks.costs import load_costs
from nasrl.nets import builder
from nasrl.nets.latency import Latency, latency_device, measure_latency
from nasrl.search.rank_check import kendall_tau
from nasrl.space.families.nb201 import parse_cell


def spread_cells(count: int, seed: int) -> list[str]:
    """`count` cells evenly spread over the parameter counts of the space (CIFAR-10's network), fixed by seed."""
    costs = load_costs()
    ranked = sorted(costs, key=lambda c: costs[c]["cifar10"][0])
    rng = random.Random(seed)
    n = len(ranked)
    return [ranked[rng.randrange(i * n // count, (i + 1) * n // count)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 128])
    parser.add_argument("--seconds", type=float, default=0.2, help="timed seconds per measurement (the default's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = latency_device(args.device)
    cells = spread_cells(args.cells, args.seed)
    models = {c: builder.build(parse_cell(c)) for c in cells}
    start = time.perf_counter()
    timed: dict[int, list[dict[str, Latency]]] = {b: [] for b in args.batch}
    rng = random.Random(args.seed)
    for _ in range(args.repeats):
        order = cells[:]
        rng.shuffle(order)
        for batch in args.batch:
            timed[batch].append({c: measure_latency(models[c], device, batch, seconds=args.seconds) for c in order})
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(
        f"{args.cells} cells x {args.repeats} repeats on {name}, torch {torch.__version__}, "
        f"{time.perf_counter() - start:.0f} s"
    )
    for batch, repeats in timed.items():
        print(f"\nbatch {batch}: median ms over repeats (spread between repeats)")
        for c in sorted(cells, key=lambda c: statistics.median(r[c].median_ms for r in repeats)):
            values = [r[c].median_ms for r in repeats]
            print(
                f"  {load_costs()[c]['cifar10'][0]:>9,} params  {statistics.median(values):9.3f} ms  "
                f"({max(values) / min(values) - 1:.1%})  {c}"
            )
        for stat in ("median_ms", "min_ms"):
            spreads = [
                max(r[c].__dict__[stat] for r in repeats) / min(r[c].__dict__[stat] for r in repeats) - 1 for c in cells
            ]
            pairs = itertools.combinations(repeats, 2)
            taus = [
                kendall_tau([a[c].__dict__[stat] for c in cells], [b[c].__dict__[stat] for c in cells])
                for a, b in pairs
            ]
            print(
                f"  {stat.removesuffix('_ms')}: mean spread {statistics.fmean(spreads):.1%}, worst "
                f"{max(spreads):.1%}; Kendall tau between repeats: mean {statistics.fmean(taus):.3f}, lowest "
                f"{min(taus):.3f}"
            )


if __name__ == "__main__":
    main()
