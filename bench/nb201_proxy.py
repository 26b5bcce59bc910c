"""NAS-Bench-201 as a yardstick for nasrl's own training: does a cheap child training order cells as full training does?

    python bench/nb201_proxy.py                                        # 30 cells, the three default budgets
    python bench/nb201_proxy.py --cells 60 --budgets 16:5000:1,32:10000:2 --out runs/proxy60.json

A search with `--evaluator train` ranks children by a few epochs on a few thousand small images; a search with
`--evaluator benchmark` ranks them by the table's 12-epoch validation accuracy, and papers judge both by the
200-epoch test accuracy. This trains K cells at each budget (`RESOLUTION:TRAIN_IMAGES:EPOCHS`) with the search's
own machinery (its data split, `builder.build`, `train.loop.fit`, the quick preset's child settings) and reports
how the validation accuracies it gets rank against both table columns: Kendall's tau-b and Spearman's rho, the
tau among the cells in the table's top half (where a search spends its time), and how many of the table's top 10%
of the K cells the proxy also puts in its top 10%.

The K cells are spread over the table *by rank*, not drawn at random: the 15,625 cells sorted by their 200-epoch
test accuracy are cut into K equal strata and one cell is drawn from each (`--seed`). A proxy must order the cells
a search meets, from the hopeless to the best; a uniform draw would be mostly cells within a point of the median
(the table's accuracies crowd near 90%) and say little about either end.

Results go to `--out` after every cell (atomically); a rerun skips the (cell, budget) pairs already there, so an
interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import math
import random
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from nasrl.benchmarks import load_table
from nasrl.benchmarks.table import BenchmarkTable
from nasrl.config import SearchConfig, make_config
from nasrl.data import Preprocess, Split, load_dataset, split_train_val
from nasrl.nets import builder
from nasrl.run.atomic import write_json_atomic
from nasrl.search.evaluators.base import reward_from_history
from nasrl.search.rank_check import kendall_tau, spearman_rho
from nasrl.space.families.nb201 import parse_cell
from nasrl.train.loop import fit, resolve_device

#: The children's training, as presets/quick.yaml trains them (batch 128 at lr 0.1, no augmentation, cosine).
CHILD = {"child_batch_size": 128, "child_lr": 0.1, "augment": False, "child_schedule": "cosine"}
DEFAULT_BUDGETS = "16:5000:1,16:5000:3,32:5000:1"
#: The table's last row: the 12-epoch validation accuracy itself as the proxy (the benchmark evaluator's reward).
REFERENCE = "NB201 valid-12ep (reference)"


# ----- the cells -------------------------------------------------------------------------------------------


def ranked_cells(table: BenchmarkTable) -> list[str]:
    """Every cell, best 200-epoch test accuracy first (ties by cell string, so the order is the same everywhere)."""
    return sorted(table.entries, key=lambda cell: (-table.entries[cell].test_acc, cell))


def stratified_cells(table: BenchmarkTable, k: int, seed: int) -> list[str]:
    """One cell from each of k equal strata of the ranking (best stratum first), drawn with `random.Random(seed)`:
    every part of the table, from the optimum's neighbours to the cells that score 10%, is represented."""
    ranked = ranked_cells(table)
    if not 0 < k <= len(ranked):
        raise SystemExit(f"--cells must be between 1 and {len(ranked)}, got {k}.")
    rng = random.Random(seed)
    bounds = [i * len(ranked) // k for i in range(k + 1)]
    return [ranked[rng.randrange(bounds[i], bounds[i + 1])] for i in range(k)]


def spread_order(k: int) -> list[int]:
    """The strata in an order whose every prefix is spread over the table (van der Corput's sequence: 0, 1/2,
    1/4, 3/4, ...), so a run stopped part-way through a budget has measured the whole range, not its best third."""
    bits = max(0, (k - 1).bit_length())
    order: list[int] = []
    for j in range(1 << bits):
        reversed_j = int(format(j, f"0{bits}b")[::-1], 2) if bits else 0
        stratum = reversed_j * k >> bits
        if stratum not in order:
            order.append(stratum)
    return order + [i for i in range(k) if i not in order]


def cell_seed(cell: str) -> int:
    """A cell's training seed, from its string alone: the same cell starts from the same weights at every budget
    and whichever other cells are drawn."""
    return zlib.crc32(cell.encode())


# ----- budgets and data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """One child training: images resized to `resolution`, `train_images` of them, `epochs` passes."""

    resolution: int
    train_images: int
    epochs: int

    @property
    def key(self) -> str:
        return f"{self.resolution}:{self.train_images}:{self.epochs}"


def parse_budgets(text: str) -> list[Budget]:
    """`16:5000:1,32:5000:1` -> budgets; anything else is one sentence."""
    budgets = []
    for part in text.split(","):
        try:
            resolution, images, epochs = (int(v) for v in part.strip().split(":"))
        except ValueError:
            raise SystemExit(f"A budget is RESOLUTION:TRAIN_IMAGES:EPOCHS such as 16:5000:1, not '{part}'.") from None
        budgets.append(Budget(resolution, images, epochs))
    return budgets


def budget_config(data: str, budget: Budget, val_images: int, split_seed: int) -> SearchConfig:
    """The settings of a train-evaluator search of the nb201 space whose children train at `budget`."""
    flags = {
        "space": "nb201",
        "evaluator": "train",
        "data": data,
        "resolution": budget.resolution,
        "train_subset": budget.train_images,
        "val_subset": val_images,
        "child_epochs": budget.epochs,
        "seed": split_seed,
        **CHILD,
    }
    return make_config({}, flags)


class SplitCache:
    """The data set decoded once per resolution, split as a search splits it (`split_train_val` with the run's
    data settings), and its input statistics computed once per split, as the train evaluator does."""

    def __init__(self) -> None:
        self.datasets: dict[int, object] = {}
        self.splits: dict[tuple, tuple[Split, Split, Preprocess, int]] = {}

    def get(self, cfg: SearchConfig) -> tuple[Split, Split, Preprocess, int]:
        data = cfg.data_settings()
        if data.resolution not in self.datasets:
            self.datasets[data.resolution] = load_dataset(data.source, data.data_dir, data.resolution)
        dataset = self.datasets[data.resolution]
        key = (data.resolution, data.train_subset, data.val_subset, data.split_seed)
        if key not in self.splits:
            train, val = split_train_val(dataset, data.val_size, data.split_seed, data.train_subset, data.val_subset)
            self.splits[key] = (train, val, Preprocess.fit(train.x), len(dataset.classes))
        return self.splits[key]


def train_cell(cell: str, cfg: SearchConfig, splits: SplitCache) -> dict:
    """One cell trained as a train-evaluator child: its best validation accuracy (0-1) and its seconds."""
    train, val, preprocess, num_classes = splits.get(cfg)
    seed = cell_seed(cell)
    torch.manual_seed(seed)
    model = builder.build(parse_cell(cell), num_classes=num_classes, in_channels=int(train.x.shape[1]))
    device = resolve_device(cfg.executor.device)
    result = fit(model, train, val, cfg.child_training(seed), device=device, progress=False, preprocess=preprocess)
    return {"val_acc": reward_from_history(result.history, "best"), "seconds": result.seconds}


# ----- the results file ------------------------------------------------------------------------------------


def load_results(path: Path, settings: dict) -> dict:
    """The results so far, or a fresh file; one made with other data or validation settings is refused."""
    import json

    if not path.is_file():
        return {"settings": settings, "budgets": {}}
    results = json.loads(path.read_text())
    if results.get("settings") != settings:
        raise SystemExit(
            f"{path} was made with {results.get('settings')}, not {settings}: give another --out or delete it."
        )
    return results


def run_budget(
    cells: list[str], budget: Budget, args: argparse.Namespace, results: dict, out: Path, splits: SplitCache
) -> int:
    """Train every cell not yet in `results` at `budget`, writing the file after each; the number trained."""
    done = results["budgets"].setdefault(budget.key, {})
    cfg = budget_config(args.data, budget, args.val_images, args.split_seed)
    trained = 0
    for i in spread_order(len(cells)):
        cell = cells[i]
        if cell in done:
            continue
        done[cell] = train_cell(cell, cfg, splits)
        trained += 1
        write_json_atomic(out, results)
        print(
            f"  {budget.key}  stratum {i + 1}/{len(cells)}  val {done[cell]['val_acc']:.3f}  "
            f"{done[cell]['seconds']:.1f} s  {cell}",
            flush=True,
        )
    return trained


# ----- the statistics --------------------------------------------------------------------------------------


def table_as_proxy(cells: list[str], table: BenchmarkTable) -> dict:
    """The table's own 12-epoch validation accuracy in the form of a budget's results (no training time): the
    reference row, what the benchmark evaluator's reward makes of the same cells."""
    return {c: {"val_acc": table.entries[c].reward_acc / 100, "seconds": 0.0} for c in cells}


def top_overlap(proxy: list[float], truth: list[float]) -> float:
    """The share of the top 10% by `truth` (at least one cell) that is in the top 10% by `proxy` (ties broken by
    position, so the figure is the same on every run)."""
    n = max(1, round(len(truth) / 10))

    def top(values: list[float]) -> set[int]:
        return set(sorted(range(len(values)), key=lambda i: (-values[i], i))[:n])

    return len(top(proxy) & top(truth)) / n


def budget_statistics(cells: list[str], done: dict, table: BenchmarkTable) -> dict:
    """The agreement of the proxy's validation accuracies with the table's two columns over the trained cells."""
    cells = [c for c in cells if c in done]
    half = set(ranked_cells(table)[: len(table.entries) // 2])
    proxy = [done[c]["val_acc"] for c in cells]
    valid = [table.entries[c].reward_acc for c in cells]
    test = [table.entries[c].test_acc for c in cells]
    upper = [i for i, c in enumerate(cells) if c in half]
    return {
        "cells": len(cells),
        "minutes": sum(done[c]["seconds"] for c in cells) / 60,
        "tau_valid": kendall_tau(proxy, valid),
        "rho_valid": spearman_rho(proxy, valid),
        "tau_test": kendall_tau(proxy, test),
        "rho_test": spearman_rho(proxy, test),
        "top_half": len(upper),
        "tau_test_top_half": kendall_tau([proxy[i] for i in upper], [test[i] for i in upper]),
        "top10_overlap": top_overlap(proxy, test),
        "mean_val_acc": sum(proxy) / len(proxy) if proxy else math.nan,
    }


def markdown_table(rows: dict[str, dict]) -> str:
    """One row per budget, ready for BENCHMARKS.md."""
    lines = [
        "| budget (res:images:epochs) | cells | minutes | mean val acc | tau valid-12ep | rho valid-12ep "
        "| tau test-200ep | rho test-200ep | tau test-200ep, top half (cells) | top-10% overlap |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, s in rows.items():
        lines.append(
            f"| {key} | {s['cells']} | {s['minutes']:.1f} | {s['mean_val_acc']:.3f} | {s['tau_valid']:.3f} "
            f"| {s['rho_valid']:.3f} | {s['tau_test']:.3f} | {s['rho_test']:.3f} "
            f"| {s['tau_test_top_half']:.3f} ({s['top_half']}) | {s['top10_overlap']:.2f} |"
        )
    return "\n".join(lines)


# ----- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=30, help="K cells, one per stratum of the table's ranking")
    parser.add_argument("--seed", type=int, default=0, help="which cell of each stratum")
    parser.add_argument("--budgets", default=DEFAULT_BUDGETS, help="RESOLUTION:TRAIN_IMAGES:EPOCHS, comma-separated")
    parser.add_argument("--data", default="folder:../shared/datasets/cifar10-jpeg.tar.gz")
    parser.add_argument("--val-images", type=int, default=1000, help="validation images (the search's val_subset)")
    parser.add_argument("--split-seed", type=int, default=0, help="the train/validation split's seed (a run's seed)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/nb201_proxy.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = load_table("nb201", "cifar10")
    cells = stratified_cells(table, args.cells, args.seed)
    budgets = parse_budgets(args.budgets)
    out = Path(args.out)
    results = load_results(out, {"data": args.data, "val_images": args.val_images, "split_seed": args.split_seed})
    splits, start, trained = SplitCache(), time.perf_counter(), 0
    for budget in budgets:
        trained += run_budget(cells, budget, args, results, out, splits)
    write_json_atomic(out, results)
    rows = {b.key: budget_statistics(cells, results["budgets"][b.key], table) for b in budgets}
    rows[REFERENCE] = budget_statistics(cells, table_as_proxy(cells, table), table)
    print(
        f"\n{trained} trainings in {time.perf_counter() - start:.0f} s ({args.threads} thread(s)); {len(cells)} cells "
        f"(seed {args.seed}), {args.val_images} validation images of {args.data}; results in {out}\n"
    )
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
