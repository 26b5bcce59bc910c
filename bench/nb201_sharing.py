"""Weight sharing over NAS-Bench-201's cells, checked against the table: how the shared weights' ranking of cells
(Kendall tau with the 200-epoch test accuracy) and the derived cell's full-training accuracy move with epochs.

    python bench/nb201_sharing.py --data folder:../shared/datasets/cifar10-jpeg.tar.gz --seeds 0,1,2 \\
        --strategies reinforce,random --epochs 16 --at 2,4,8,16

Each (strategy, seed) is one weight-sharing search of the `quick-enas` preset over `--space nb201`, run through
the library's own epoch (`search.sharing.run_epoch`, as `nasrl search --evaluator shared` runs it). After each
epoch in `--at` it scores `--cells` fixed uniformly random cells (the same for every run of a seed) and the final
policy's samples with the shared weights, and prints tau / rho against the table (`search.table_check`) and the
derived cell's 200-epoch test accuracy; `reinforce` is ENAS's controller, `random` is random sampling with weight
sharing (Li & Talwalkar 2019). The published figures beside them (Dong & Yang 2020, table 5, CIFAR-10): ENAS
54.30, random sampling with shared weights 87.66 +- 1.69; the median cell 90.7; the best 94.37.

Results go to `--out` (JSON, one entry per checkpoint, written after each), so a rerun prints without training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from nasrl.benchmarks import load_table
from nasrl.config import load_config_file, make_config
from nasrl.run.store import RunStore
from nasrl.search.evaluators.data import load_search_data
from nasrl.search.sharing import SharedWeights, derive, random_baseline, run_epoch
from nasrl.search.strategies import make_strategy
from nasrl.search.table_check import table_check


def config(args: argparse.Namespace, strategy: str, seed: int, run_dir: str):
    overrides = {
        "space": "nb201",
        "strategy": strategy,
        "seed": seed,
        "data": args.data,
        "shared_epochs": max(args.at),
        "train_subset": args.train_subset,
        "val_subset": args.val_subset,
        "resolution": args.resolution,
        "shared_bn_stats": args.bn,
        "derive_samples": args.derive_samples,
        "run_dir": run_dir,
    }
    return make_config(load_config_file("quick-enas"), overrides)


def one_search(args: argparse.Namespace, strategy: str, seed: int) -> list[dict]:
    """Train the shared weights epoch by epoch; at each checkpoint epoch, the table check."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(args, strategy, seed, tmp)
        data = load_search_data(cfg)
        shared = SharedWeights(cfg, data.train, data.val, data.num_classes, data.device)
        policy = make_strategy(strategy, cfg.search_space(), seed, cfg.strategy_settings())
        store = RunStore(tmp)
        table = load_table("nb201", "cifar10")
        randoms = random_baseline(shared, args.cells, 1000 + seed)  # fixed cells: rescored at each checkpoint
        rows, trained = [], 0.0
        for epoch in range(max(args.at)):
            start = time.perf_counter()
            run_epoch(shared, policy, store, epoch)
            trained += time.perf_counter() - start
            if epoch + 1 not in args.at:
                continue
            start = time.perf_counter()
            ranked = derive(shared, policy, args.derive_samples)
            rescored = [type(d)(d.architecture, shared.accuracy(d.architecture, shared.val_batches)) for d in randoms]
            check = table_check(ranked, rescored, table).as_dict()
            rows.append(
                {
                    "strategy": strategy,
                    "seed": seed,
                    "epochs": epoch + 1,
                    "train_minutes": trained / 60,
                    "check_minutes": (time.perf_counter() - start) / 60,
                    "cells": len(check["architectures"]),
                    **{k: check[k] for k in ("kendall_tau", "spearman_rho", "kendall_tau_valid_12ep")},
                    "derived": check["derived"]["cell"],
                    "derived_test_200ep": check["derived"]["test_200ep"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        store.close()
        return rows


def summary(rows: list[dict]) -> str:
    """A markdown table: per strategy and epoch count, mean (sd) over seeds."""

    def cell(values: list[float], fmt: str) -> str:
        sd = f" ({statistics.stdev(values):{fmt}})" if len(values) > 1 else ""
        return f"{statistics.mean(values):{fmt}}{sd}"

    lines = [
        "| strategy | epochs | seeds | train min | tau (200-epoch test) | rho | tau (12-epoch valid) | derived cell's "
        "200-epoch acc |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = sorted({(r["strategy"], r["epochs"]) for r in rows})
    for strategy, epochs in keys:
        group = [r for r in rows if r["strategy"] == strategy and r["epochs"] == epochs]
        lines.append(
            f"| {strategy} | {epochs} | {len(group)} | {cell([r['train_minutes'] for r in group], '.1f')} | "
            f"{cell([r['kendall_tau'] for r in group], '.3f')} | {cell([r['spearman_rho'] for r in group], '.3f')} | "
            f"{cell([r['kendall_tau_valid_12ep'] for r in group], '.3f')} | "
            f"{cell([r['derived_test_200ep'] for r in group], '.2f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="folder:../shared/datasets/cifar10-jpeg.tar.gz")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--strategies", default="reinforce,random")
    parser.add_argument("--at", default="2,4,8", help="epochs after which the table check runs")
    parser.add_argument("--cells", type=int, default=200, help="random cells scored at each check")
    parser.add_argument("--derive-samples", type=int, default=20)
    parser.add_argument("--train-subset", type=int, default=2560)
    parser.add_argument("--val-subset", type=int, default=500)
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--bn", choices=("running", "batch"), default="running", help="--shared-bn-stats")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/nb201_sharing.json")
    args = parser.parse_args()
    args.at = [int(a) for a in args.at.split(",")]
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else []
    for strategy in args.strategies.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            if any(r["strategy"] == strategy and r["seed"] == seed for r in rows):
                continue
            rows += one_search(args, strategy, seed)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(rows, indent=1))
    print(summary(rows))


if __name__ == "__main__":
    main()
