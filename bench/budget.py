"""Search-then-train against train-only at an equal wall budget T: does searching pay at a CPU's budget?

    python bench/budget.py --presets quick,quick-nb201 --minutes 5,10 --seeds 0,1,2 \\
        --data folder:../shared/datasets/cifar10-jpeg.tar.gz
    python bench/budget.py ... --arms search & python bench/budget.py ... --arms train   # two processes, 1 thread each
    python bench/budget.py ... --table-only                                               # the table of what is done

For each preset, budget T (`--minutes`) and seed (`--seeds`), two arms, each on the preset's child settings and
the seed's data split (so the arms differ only in what they spend T on):

- search: the preset's search, its episodes cut so that the search takes about T/2. The seconds per episode are
  measured on the run's own episodes (it runs one episode, is timed from its events.jsonl, and is resumed for one
  more while its mean episode so far still fits: `episodes_within(T, seconds)`), or taken from `--episode-seconds`
  (the count is then fixed up front). Then its best child is retrained from scratch for the rest of T with
  `nasrl baseline`'s trainer (`search.baseline.train_for_seconds`: one timed epoch, then as many epochs as fit;
  the timing epoch counts against the budget);
- train: the preset space's default network (`Family.baseline`, the one `nasrl baseline` trains) for all of T, the
  same way.

The time an arm spends is what the budget governs: the search's sessions (from events.jsonl) and the training with
its timing epoch; loading (and decoding) the data set is left out of both arms. Each arm of each (preset, T, seed)
has its own folder under `--out`, with its result in a JSON file, so an interrupted bench continues where it
stopped (a search resumes; a training cut short starts again). The printout is a markdown table for BENCHMARKS.md:
final validation and test accuracy (mean ± sd over seeds), wall minutes, and for an nb201 space the NAS-Bench-201
table's 200-epoch test accuracy of each arm's network.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from nasrl import api
from nasrl.benchmarks.table import table_summary
from nasrl.config import SearchConfig, load_config_file, make_config, read_config
from nasrl.run.atomic import write_json_atomic
from nasrl.run.store import RunStore
from nasrl.search.baseline import baseline_architecture, load_data, search_seconds, train_for_seconds
from nasrl.space import Architecture
from nasrl.space.families.nb201 import SPACE as NB201_SPACE
from nasrl.space.families.nb201 import cell_string

ARMS = ("search", "train")


# ----- the arithmetic ------------------------------------------------------------------------------------


def episodes_within(budget: float, episode_seconds: float) -> int:
    """Whole episodes that fit in half the budget (at least 1: a search of no episode finds nothing)."""
    if episode_seconds <= 0:
        raise ValueError(f"an episode takes some time, not {episode_seconds} s")
    return max(1, math.floor(budget / 2 / episode_seconds))


def retrain_seconds(budget: float, searched: float) -> float:
    """What the search left of the budget for retraining its best child (0 when it used it all)."""
    return max(0.0, budget - searched)


# ----- the arms -----------------------------------------------------------------------------------------


def _status(run: Path) -> tuple[str, int]:
    """A search folder's status and episodes done (`none` before it exists)."""
    if not (run / "results.sqlite").is_file():
        return "none", 0
    store = RunStore.open_existing(run)
    try:
        meta = store.meta()
    finally:
        store.close()
    return str(meta.get("status", "unknown")), int(meta.get("episodes_done", 0))


def search_to(run: Path, preset: str, flags: dict[str, Any], episodes: int) -> None:
    """Run the preset's search in `run` until `episodes` are done: start it, or resume it (with more episodes)."""
    status, done = _status(run)
    if status == "none" or not (run / "config.yaml").is_file():
        summary = api.search(config=preset, quiet=True, run_dir=str(run), episodes=episodes, **flags)
    elif status != "finished" or done < episodes:
        summary = api.search(resume=run, quiet=True, episodes=episodes)
    else:
        return
    if summary.status != "finished":  # Ctrl-C or SIGTERM: the search kept its checkpoint, the bench stops here
        raise SystemExit(f"{run}: the search was {summary.status}; run the same command again to continue")


def search_for_half(run: Path, preset: str, flags: dict[str, Any], budget: float, given: float | None) -> int:
    """Search for about half the budget; the episodes it ran. With `given` seconds per episode, the count is fixed
    up front; else the search runs one episode at a time and goes on while its own mean episode so far still fits
    in half the budget (`episodes_within`), so a first episode of small children does not plan the whole run."""
    if given is not None:
        episodes = episodes_within(budget, given)
        search_to(run, preset, flags, episodes)
        return episodes
    done = max(1, _status(run)[1])  # a rerun goes on from the episodes already done
    search_to(run, preset, flags, done)
    while done < episodes_within(budget, (search_seconds(run) or 0.0) / done):
        done += 1
        search_to(run, preset, flags, done)
    return done


def table_test(arch: Architecture) -> float | None:
    """NAS-Bench-201's 200-epoch CIFAR-10 test accuracy (percent) of an nb201 cell; None for other spaces."""
    return float(table_summary(cell_string(arch))["test_200ep"]) if arch.space == NB201_SPACE else None


def trained_result(arch: Architecture, cfg: SearchConfig, seconds: float) -> dict[str, Any]:
    """`arch` trained for `seconds` with `cfg`'s child settings and split, as one JSON-ready record."""
    trained = train_for_seconds(arch, cfg, load_data(cfg), seconds)
    return {
        "architecture": arch.to_dict(),
        "summary": arch.family.summary(arch),
        "epochs": trained.epochs,
        "train_seconds": trained.seconds,
        "timing_seconds": trained.timing_seconds,
        "val_acc": trained.val_acc,
        "test_acc": trained.test_acc,
        "table_test": table_test(arch),
    }


def search_arm(unit: Path, preset: str, flags: dict[str, Any], budget: float, given: float | None) -> dict:
    """Arm A: search for about half the budget, then retrain the best child for the rest."""
    run = unit / "search"
    episodes = search_for_half(run, preset, flags, budget, given)
    searched = search_seconds(run) or 0.0
    store = RunStore.open_existing(run)
    try:
        best, counts = store.best(), store.counts()
    finally:
        store.close()
    if best is None:
        raise SystemExit(f"{run} found no successful child: see its search.log")
    cfg = read_config(run / "config.yaml")
    result = trained_result(Architecture.from_json(best.arch_json), cfg, retrain_seconds(budget, searched))
    return {
        **result,
        "episodes": episodes,
        "episode_seconds": searched / episodes,
        "search_seconds": searched,
        "children": counts["children"],
        "search_best_val": best.val_acc,
        "wall_seconds": searched + result["train_seconds"],
    }


def train_arm(preset: str, flags: dict[str, Any], budget: float) -> dict:
    """Arm B: the preset space's default network trained for the whole budget."""
    cfg = make_config(load_config_file(preset), flags)
    result = trained_result(baseline_architecture(cfg), cfg, budget)
    return {**result, "search_seconds": 0.0, "children": 0, "wall_seconds": result["train_seconds"]}


def run_unit(out: Path, preset: str, minutes: float, seed: int, arm: str, args: argparse.Namespace) -> dict:
    """One arm of one (preset, T, seed), or its stored result when it is done already."""
    unit = out / preset / f"T{minutes:g}" / f"seed{seed}"
    path = unit / f"{arm}.json"
    if path.is_file():
        return json.loads(path.read_text())
    unit.mkdir(parents=True, exist_ok=True)
    flags = {"data": args.data, "seed": seed, **args.set}
    start = time.perf_counter()
    print(f"{preset} T={minutes:g} min seed {seed}: arm {arm} ...", file=sys.stderr, flush=True)
    if arm == "search":
        result = search_arm(unit, preset, flags, minutes * 60, args.episode_seconds)
    else:
        result = train_arm(preset, flags, minutes * 60)
    result.update(preset=preset, minutes=minutes, seed=seed, arm=arm, process_seconds=time.perf_counter() - start)
    write_json_atomic(path, result)
    return result


# ----- the table ------------------------------------------------------------------------------------------


def _spread(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def markdown_table(results: list[dict]) -> str:
    """One row per (preset, T, arm): seeds, accuracies (mean ± sd), wall minutes, what the search spent."""
    header = (
        "| preset | T (min) | arm | seeds | val acc | test acc | wall min | search min | children | epochs "
        "| NB201 200-ep test (%) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [header]
    keys = sorted(
        {(r["preset"], r["minutes"], r["arm"]) for r in results}, key=lambda k: (k[0], k[1], ARMS.index(k[2]))
    )
    for preset, minutes, arm in keys:
        group = [r for r in results if (r["preset"], r["minutes"], r["arm"]) == (preset, minutes, arm)]
        tests = [r["test_acc"] for r in group if r.get("test_acc") is not None]
        tables = [r["table_test"] for r in group if r.get("table_test") is not None]
        label = "search, then retrain" if arm == "search" else "train the default network"
        rows.append(
            f"| {preset} | {minutes:g} | {label} | {len(group)} | {_spread([r['val_acc'] for r in group])} "
            f"| {_spread(tests)} | {_spread([r['wall_seconds'] / 60 for r in group], digits=1)} "
            f"| {_spread([r['search_seconds'] / 60 for r in group], digits=1)} "
            f"| {_spread([r['children'] for r in group], digits=0)} "
            f"| {_spread([r['epochs'] for r in group], digits=0)} "
            f"| {_spread(tables, digits=2)} |"
        )
    return "\n".join(rows)


# ----- the command ----------------------------------------------------------------------------------------


def _numbers(text: str, kind: type) -> list:
    return [kind(part) for part in text.split(",") if part.strip()]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="quick", help="comma-separated search presets (default quick)")
    parser.add_argument("--minutes", default="5", help="comma-separated budgets T in minutes (default 5)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--arms", default="search,train", help="which arms this process runs (default both)")
    parser.add_argument("--data", default="folder:../shared/datasets/cifar10-jpeg.tar.gz", help="--data of nasrl")
    parser.add_argument("--episode-seconds", type=float, help="seconds per episode (default: timed on the first)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: two benches share 2 cores)")
    parser.add_argument("--out", default="runs/budget", help="folder of the runs (default runs/budget)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=V", help="a config field for both arms")
    parser.add_argument("--table-only", action="store_true", help="print the table of the finished arms only")
    args = parser.parse_args(argv)
    args.set = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.set)}
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    presets, minutes, seeds = args.presets.split(","), _numbers(args.minutes, float), _numbers(args.seeds, int)
    arms = [a for a in args.arms.split(",") if a in ARMS]
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    if not args.table_only:
        for preset in presets:
            for budget in minutes:
                for seed in seeds:
                    for arm in arms:
                        run_unit(out, preset, budget, seed, arm, args)
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/T*/seed*/*.json")) if p.stem in ARMS]
    results = [r for r in results if r["preset"] in presets and r["minutes"] in minutes and r["seed"] in seeds]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); started {started}, done "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
