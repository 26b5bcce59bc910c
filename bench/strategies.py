"""Strategies side by side through the real search loop, then `nasrl compare`: anytime curves and the table.

    python bench/strategies.py --layers 10 --children 10000 --out /tmp/strategies-10      # synthetic target
    python bench/strategies.py --data folder:../shared/datasets/cifar10-jpeg.tar.gz --config quick \\
        --episodes 12 --strategies reinforce evolution random --out /tmp/strategies-cifar  # real data

Flags this script does not know (e.g. `--train-subset 2500`) go to every `nasrl search` it starts. For an equal
budget of child-epochs, give the plain arms one rung (`--plain-rungs 2`: every child trains 2 epochs) and
random-sh the halving (`--rungs 1,8 --eta 8`: per 8 children 8 + 7 = 15 child-epochs, against 16).

Every (strategy, seed) is one `nasrl search` run in OUT/runs/<strategy>-seed<k> (an existing finished run is
kept, so an interrupted benchmark continues where it stopped); the comparison is OUT/compare/compare.html.
With the synthetic evaluator (the default) the reward is the share of decisions equal to a hidden target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def run(args: argparse.Namespace, strategy: str, seed: int) -> Path:
    run_dir = Path(args.out) / "runs" / f"{strategy}-seed{seed}"
    if (run_dir / "best_architecture.json").exists() and "finished" in _status(run_dir):
        return run_dir
    cmd = [
        sys.executable,
        "-m",
        "nasrl.cli",
        "search",
        "--config",
        args.config,
        "--strategy",
        strategy,
        "--seed",
        str(seed),
        "--run-dir",
        str(run_dir),
        "--quiet",
    ]
    if args.data:
        cmd += ["--data", args.data]
    else:
        cmd += [
            "--evaluator",
            "synthetic",
            "--space",
            "zoph",
            "--layers",
            str(args.layers),
            "--children",
            str(args.per_episode),
            "--episodes",
            str(args.children // args.per_episode),
        ]
    if args.episodes:
        cmd += ["--episodes", str(args.episodes)]
    if strategy == "random-sh":
        cmd[cmd.index("--strategy") + 1] = "random"
        cmd += ["--rungs", args.rungs, "--eta", str(args.eta)]
    elif args.plain_rungs:
        cmd += ["--rungs", args.plain_rungs]
    cmd += args.search_flags
    if (run_dir / "checkpoints" / "latest.pt").exists():
        cmd = [sys.executable, "-m", "nasrl.cli", "search", "--resume", str(run_dir), "--quiet"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"{strategy} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def _status(run_dir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "nasrl.cli", "runs", str(run_dir.parent)], capture_output=True, text=True
    ).stdout
    return next((line for line in out.splitlines() if line.startswith(run_dir.name + " ")), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=["reinforce", "ppo", "evolution", "random"],
        help="any of reinforce, ppo, evolution, random, random-sh (random with --rungs)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--layers", type=int, default=10, help="synthetic: layers of the zoph space")
    parser.add_argument("--children", type=int, default=10000, help="synthetic: children per run")
    parser.add_argument("--per-episode", type=int, default=10, help="synthetic: children per episode")
    parser.add_argument("--data", help="train real children on this data (default: the synthetic target)")
    parser.add_argument("--config", default="quick", help="preset for the runs (real data)")
    parser.add_argument("--episodes", type=int, help="override the preset's episodes")
    parser.add_argument("--rungs", default="1,3", help="random-sh: successive halving's rungs")
    parser.add_argument("--eta", type=int, default=3, help="random-sh: successive halving's eta")
    parser.add_argument("--plain-rungs", help="rungs of all arms but random-sh (one rung N: N epochs each)")
    parser.add_argument("--out", required=True, help="folder for the runs and the comparison")
    args, args.search_flags = parser.parse_known_args()
    dirs = [str(run(args, strategy, seed)) for strategy in args.strategies for seed in args.seeds]
    compare = [sys.executable, "-m", "nasrl.cli", "compare", *dirs, "-o", str(Path(args.out) / "compare")]
    subprocess.run(compare, check=True)


if __name__ == "__main__":
    main()
