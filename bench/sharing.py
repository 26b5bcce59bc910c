"""Weight sharing, checked the way its users were let down: is the derived architecture better than random ones?

    python bench/sharing.py RUN_DIR --data folder:../shared/datasets/cifar10-jpeg.tar.gz --epochs 3 \\
        --train-subset 5000 --randoms 5

Retrains the run's derived architecture (best_architecture.json) and `--randoms` uniformly random architectures
of the same space, every one the same way (`nasrl train`: `--epochs` epochs on `--train-subset` images at the
run's resolution, tested on the test split), and prints each one's validation and test accuracy and whether the
derived one reaches the random ones' median. Each training is its own `nasrl train` run in RUN_DIR/retrain/
(kept, so an interrupted benchmark continues).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from nasrl.search.strategies import make_strategy
from nasrl.space.files import load_space


def retrain(arch_file: Path, out: Path, args: argparse.Namespace, resolution: int) -> dict:
    if not (out / "metrics.json").exists():
        cmd = [
            sys.executable,
            "-m",
            "nasrl.cli",
            "train",
            "--arch",
            str(arch_file),
            "--data",
            args.data,
            "--epochs",
            str(args.epochs),
            "--train-subset",
            str(args.train_subset),
            "--resolution",
            str(resolution),
            "--device",
            "cpu",
            "--quiet",
            "--run-dir",
            str(out),
        ]
        subprocess.run(cmd, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"best_val_acc": metrics["training"]["best_val_acc"], "test_acc": metrics["test_acc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a finished `nasrl search --evaluator shared` run")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-subset", type=int, default=5000)
    parser.add_argument("--randoms", type=int, default=5)
    args = parser.parse_args()
    cfg = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    space = load_space(cfg["space"], cfg["layers"])
    if cfg.get("channels"):
        space = dataclasses.replace(space, channels=cfg["channels"])
    folder = args.run_dir / "retrain"
    folder.mkdir(exist_ok=True)
    arms = {"derived": args.run_dir / "best_architecture.json"}
    for i, arch in enumerate(make_strategy("random", space, 1000 + cfg["seed"]).propose(args.randoms)):
        arms[f"random{i + 1}"] = folder / f"random{i + 1}.json"
        arms[f"random{i + 1}"].write_text(arch.to_json(indent=2))
    results = {name: retrain(path, folder / name, args, cfg["resolution"]) for name, path in arms.items()}
    print(f"{'architecture':<14}{'val acc':>9}{'test acc':>10}")
    for name, m in results.items():
        print(f"{name:<14}{m['best_val_acc']:>9.4f}{m['test_acc']:>10.4f}")
    for key in ("best_val_acc", "test_acc"):
        median = statistics.median(m[key] for name, m in results.items() if name != "derived")
        verdict = "at or above" if results["derived"][key] >= median else "below"
        print(f"{key}: derived {results['derived'][key]:.4f}, random median {median:.4f}: {verdict}")


if __name__ == "__main__":
    main()
