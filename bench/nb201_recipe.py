"""NAS-Bench-201's own 12-epoch recipe, run by nasrl on the CIFAR-10 copy, beside the table's `cifar10_valid_12ep`;
and the time of one epoch of the nb201 shared network. A GPU bench (bench/device.sh step f); on a CPU it runs
shrunk with `--train-subset`, to check the plumbing.

    python bench/nb201_recipe.py --device cuda --data folder:../shared/datasets/cifar10-jpeg.tar.gz

The recipe is the benchmark's `configs/nas-benchmark/hyper-opts/12E.config` with `CIFAR.config`'s data: SGD with
Nesterov momentum 0.9, lr 0.1 on a cosine to 0, weight decay 5e-4, batch 256, 12 epochs, random crop and flip, at
32 px, trained on one half of CIFAR-10's training set and validated on the other (25k/25k: `--val-size 25000`).
The copy is JPEG-re-encoded, so a gap to the table is expected; the bench prints it. Cells (`--cells`, default):
the table's CIFAR-10 optimum, its median cell and the ResNet cell (each family's baseline of nb201).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from nasrl.benchmarks import load_table
from nasrl.data import load_dataset, split_train_val
from nasrl.data.loader import Loader, Preprocess
from nasrl.nets import builder
from nasrl.search.strategies import make_strategy
from nasrl.space import preset

RECIPE = ["--epochs", "12", "--batch-size", "256", "--lr", "0.1", "--weight-decay", "5e-4", "--schedule", "cosine"]
RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def default_cells() -> list[str]:
    """The CIFAR-10 optimum (by 200-epoch test accuracy), the median cell, the ResNet cell."""
    entries = sorted(load_table("nb201", "cifar10").entries.items(), key=lambda kv: kv[1].test_acc)
    return [entries[-1][0], entries[len(entries) // 2][0], RESNET_CELL]


def train_cell(cell: str, args: argparse.Namespace, out: Path) -> dict:
    """`nasrl train` with the recipe, as a user runs it; its val accuracy beside the table's."""
    cmd = [sys.executable, "-m", "nasrl.cli", "train", "--arch", cell, "--data", args.data, *RECIPE]
    cmd += ["--val-size", str(args.val_size), "--resolution", "32", "--device", args.device, "--quiet"]
    cmd += ["--run-dir", str(out)]
    if args.train_subset:
        cmd += ["--train-subset", str(args.train_subset), "--epochs", str(args.epochs)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    entry = load_table("nb201", "cifar10").entries[cell]
    val = 100 * float(metrics["training"]["best_val_acc"])
    return {
        "cell": cell,
        "val_acc": val,
        "table_valid_12ep": entry.reward_acc,
        "gap": val - entry.reward_acc,
        "minutes": (time.perf_counter() - start) / 60,
    }


def supernet_epoch(args: argparse.Namespace) -> dict:
    """Seconds for one pass of the nb201 shared network over the training half, a uniformly random cell per
    minibatch of 64 (the benchmark's weight-sharing searches' batch), SGD as `search.sharing`."""
    device = torch.device(args.device)
    dataset = load_dataset(args.data, None, 32)
    train, _ = split_train_val(dataset, args.val_size, 0, args.train_subset or None, None)
    net = builder.build_shared(preset("nb201"), 10, 3).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    batches = Loader(train, 64, Preprocess.fit(train.x), device, train=True, augment=True, seed=0)
    cells = make_strategy("random", preset("nb201"), 0).propose(len(batches))
    start = time.perf_counter()
    for (x, y), cell in zip(batches, cells):
        loss = F.cross_entropy(net(x, cell), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"supernet_epoch_seconds": time.perf_counter() - start, "images": len(train.y), "steps": len(batches)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="folder:../shared/datasets/cifar10-jpeg.tar.gz")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cells", default=None, help="comma-separated cell strings (default: see above)")
    parser.add_argument("--val-size", type=int, default=25000)
    parser.add_argument("--train-subset", type=int, default=0, help="a CPU dry run: this many images")
    parser.add_argument("--epochs", type=int, default=1, help="with --train-subset: epochs of the dry run")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    cells = args.cells.split(",") if args.cells else default_cells()
    results: dict = {"device": name, "cells": [], "supernet": None}
    with tempfile.TemporaryDirectory() as tmp:
        for i, cell in enumerate(cells):
            results["cells"].append(train_cell(cell, args, Path(tmp) / f"cell{i}"))
            print(json.dumps(results["cells"][-1]), flush=True)
    results["supernet"] = supernet_epoch(args)
    print(json.dumps(results["supernet"]), flush=True)
    print(f"\n{name}\n\n| cell | nasrl val acc % | table cifar10_valid_12ep | gap | minutes |")
    print("| --- | --- | --- | --- | --- |")
    for r in results["cells"]:
        gap = f"{r['gap']:+.2f}"
        print(f"| `{r['cell']}` | {r['val_acc']:.2f} | {r['table_valid_12ep']:.2f} | {gap} | {r['minutes']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
