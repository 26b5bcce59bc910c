"""Compare finished search runs: strategy, seed, children, best and mean reward, mean of the last episodes.

python bench/compare_runs.py runs/reinforce-0 runs/random-0 ...
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import yaml


def summarize(run_dir: Path, last: int) -> dict:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    with sqlite3.connect(f"file:{run_dir / 'results.sqlite'}?mode=ro", uri=True) as db:
        rewards = [r for (r,) in db.execute("SELECT reward FROM children ORDER BY episode, child")]
        seconds = db.execute("SELECT SUM(train_seconds) FROM children").fetchone()[0] or 0.0
        failed = db.execute("SELECT COUNT(*) FROM children WHERE status='failed'").fetchone()[0]
    tail = rewards[-last:]
    return {
        "run": run_dir.name,
        "strategy": cfg["strategy"],
        "seed": cfg["seed"],
        "children": len(rewards),
        "failed": failed,
        "best": max(rewards),
        "mean": sum(rewards) / len(rewards),
        f"mean last {last}": sum(tail) / len(tail),
        "train s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--last", type=int, default=8, help="children counted in the 'mean last' column")
    args = parser.parse_args()
    rows = [summarize(run, args.last) for run in args.runs]
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        cells = [
            f"{v:.4f}" if isinstance(v, float) and k != "train s" else f"{v:.0f}" if k == "train s" else str(v)
            for k, v in row.items()
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
