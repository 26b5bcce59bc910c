"""`nasrl baseline RUN_DIR`: did searching pay off, against just training a sensible default network?

The default network is the run's space's `Family.baseline` (a plain chain of 3x3 convolutions, a ResNet-like
macro network, the benchmark's ResNet cell). It trains with the run's own child settings on the run's own data
split, for the wall time the whole search took (`--match time`) or for as many epochs as the search trained
children (`--match epochs`), and its validation accuracy stands beside the search's best child's. An evaluator that
answers without training (a benchmark's table) answers for the default network too, and the comparison is then on
the table's held-out accuracy. The result is RUN_DIR/baseline.json, written atomically; reports show it.

How long a matched time allows: the learning-rate schedule must know its length before the first step, so the
network first trains one whole epoch (a complete 1-epoch schedule) to time it; then it trains again from the same
initial weights for as many epochs as fit in what is left of the budget (`epochs_within`). The timing epoch counts
against the budget. When no more than one epoch fits, the timed network is the result.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nasrl.config import SearchConfig, read_config
from nasrl.errors import UserError
from nasrl.run.atomic import write_json_atomic
from nasrl.run.records import ChildRecord
from nasrl.run.store import RunStore
from nasrl.search.evaluators.registry import evaluator_kind
from nasrl.space import Architecture

BASELINE_FILE = "baseline.json"
#: What the default network's training is matched on: the search's wall time, or its children's epochs.
MATCHES = ("time", "epochs")
#: The events that open a session of the search (its start, each resume), and those that open a later command on
#: the folder (`nasrl derive`), whose time is not the search's.
SEARCH_SESSIONS = ("start", "resume")
OTHER_SESSIONS = ("derive",)


# ----- what the search spent and found ---------------------------------------------------------------------


@dataclass
class SearchSide:
    """The search as its folder tells it: how long it took, how many child-epochs it trained, its best child."""

    status: str
    seconds: float
    seconds_from: str  # where the seconds were read: "events.jsonl", or the children's training seconds
    child_epochs: int  # epochs of every trained child added up (a weight-sharing search: its shared epochs)
    best_reward: float
    best_val_acc: float | None
    best_test_acc: float | None  # a benchmark's held-out accuracy of the best child; None when trained
    best_hash: str


def search_seconds(run_dir: Path) -> float | None:
    """The wall time the search ran, from events.jsonl: each session (its start, each resume) from its first event
    to its last, added up, so the time a run lay interrupted and later commands (`nasrl derive`) do not count.
    None without events (a folder from before them)."""
    path = Path(run_dir) / "events.jsonl"
    if not path.is_file():
        return None
    total, first, last, inside = 0.0, 0.0, 0.0, False
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
            stamp, name = float(event["time"]), event.get("event")
        except (ValueError, KeyError, TypeError):  # a line the driver was writing when it was killed
            continue
        if name in SEARCH_SESSIONS or name in OTHER_SESSIONS:
            total += last - first if inside else 0.0
            inside, first, last = name in SEARCH_SESSIONS, stamp, stamp
        elif inside:
            last = stamp
    return total + (last - first if inside else 0.0)


def child_epochs(children: list[ChildRecord]) -> int:
    """Epochs the search trained children for: each trained child counts the epochs of its history (one stopped at
    an early rung of successive halving only those it reached); a child answered from an earlier one counts none."""
    return sum(len(json.loads(c.history_json or "[]")) for c in children if not c.cached)


def search_side(store: RunStore, status: str) -> SearchSide:
    """The search's cost and best child; a weight-sharing search's epochs are its shared network's."""
    best = store.best()
    if best is None:
        raise UserError(f"{store.run_dir} has no successful child yet: there is no search result to compare with.")
    children, shared = store.children(), store.shared_epochs()
    seconds, source = search_seconds(store.run_dir), "events.jsonl"
    if seconds is None:
        seconds = sum(c.train_seconds for c in children) + sum(e.get("seconds") or 0.0 for e in shared)
        source = "the children's training seconds (no events.jsonl)"
    epochs = len(shared) if shared else child_epochs(children)
    val = best.val_acc if best.val_acc is not None else best.reward
    return SearchSide(status, seconds, source, epochs, best.reward, val, best.test_acc, best.arch_hash)


# ----- the default network, trained ----------------------------------------------------------------------


@dataclass
class BaselineData:
    """The run's splits, as its children saw them, and the data set's test split (None without one)."""

    train: Any  # data.Split
    val: Any
    test: Any | None
    num_classes: int
    device: Any  # torch.device


@dataclass
class Trained:
    """One training of a network: its schedule's length, what it reached, and the wall time it took."""

    epochs: int  # the schedule's length
    epochs_trained: int  # fewer when it stopped early (patience, max steps, divergence)
    seconds: float  # wall time of training and validation, the timing epoch included
    val_acc: float
    test_acc: float | None
    timing_seconds: float | None = None  # the timed first epoch (a matched time), else None


def load_data(cfg: SearchConfig) -> BaselineData:
    """The data split exactly as the search's `load_search_data` makes it, plus the test split it never used."""
    from nasrl.data import Split, load_dataset, split_train_val
    from nasrl.train.loop import resolve_device

    data = cfg.data_settings()
    dataset = load_dataset(data.source, data.data_dir, data.resolution)
    train, val = split_train_val(dataset, data.val_size, data.split_seed, data.train_subset, data.val_subset)
    test = Split(dataset.test_x, dataset.test_y) if len(dataset.test_y) else None
    return BaselineData(train, val, test, len(dataset.classes), resolve_device(cfg.executor.device))


def epochs_within(seconds: float, epoch_seconds: float) -> int:
    """Whole epochs that fit in `seconds` once a timing epoch of `epoch_seconds` is spent: the rest of the budget
    over one epoch's time, rounded down (0 when the timing epoch alone used it up)."""
    if epoch_seconds <= 0:
        raise ValueError(f"an epoch takes some time, not {epoch_seconds} s")
    return max(0, math.floor((seconds - epoch_seconds) / epoch_seconds))


def train_network(
    arch: Architecture, cfg: SearchConfig, data: BaselineData, epochs: int, progress: bool = False, test: bool = True
) -> Trained:
    """Train `arch` as the search trains a child (`TrainEvaluator.evaluate`: the run's child settings, its seed,
    statistics of the training split), for `epochs`, then test its best-validation weights once."""
    import torch

    from nasrl.data import Preprocess
    from nasrl.nets import builder
    from nasrl.search.evaluators.base import reward_from_history
    from nasrl.train.loop import fit, predict

    torch.manual_seed(cfg.run.seed)
    model = builder.build(arch, num_classes=data.num_classes, in_channels=int(data.train.x.shape[1]))
    settings = cfg.child_training(seed=cfg.run.seed).model_copy(update={"epochs": epochs})
    preprocess = Preprocess.fit(data.train.x)
    result = fit(model, data.train, data.val, settings, data.device, progress=progress, preprocess=preprocess)
    val_acc = reward_from_history(result.history, cfg.evaluator.reward_metric)
    test_acc = None
    if test and data.test is not None and result.best_state is not None:
        model.load_state_dict(result.best_state)
        predictions = predict(model, data.test, preprocess, data.device).argmax(1)
        test_acc = float((predictions == data.test.y.cpu()).double().mean())
    return Trained(epochs, len(result.history), result.seconds, val_acc, test_acc)


def train_for_seconds(
    arch: Architecture, cfg: SearchConfig, data: BaselineData, seconds: float, progress: bool = False
) -> Trained:
    """Train `arch` for as many epochs as fit in `seconds`, the timing epoch included (the module's docstring)."""
    timing = train_network(arch, cfg, data, 1, progress)
    epochs = epochs_within(seconds, timing.seconds)
    if epochs <= 1:  # one epoch from the same seed is the timed network again
        return replace(timing, timing_seconds=timing.seconds)
    full = train_network(arch, cfg, data, epochs, progress)
    return replace(full, seconds=timing.seconds + full.seconds, timing_seconds=timing.seconds)


def baseline_architecture(cfg: SearchConfig) -> Architecture:
    """The default network of the run's space, at the deepest depth it searched, valid in that space."""
    space = cfg.search_space()
    return space.family.baseline(space).validate(space)


def looked_up(arch: Architecture, cfg: SearchConfig) -> Trained:
    """The default network's figures from the run's evaluator when it answers without training (a benchmark's
    table: its 12-epoch validation accuracy and its held-out 200-epoch test accuracy)."""
    evaluator, _ = evaluator_kind(cfg.evaluator.name).build(cfg, None, None)
    result = evaluator.evaluate(arch, 0, 0)
    val_acc = result.val_acc if result.val_acc is not None else result.reward
    return Trained(0, 0, 0.0, val_acc, result.test_acc)


def _train_matched(arch: Architecture, cfg: SearchConfig, search: SearchSide, match: str, progress: bool) -> Trained:
    """The default network trained for the search's wall time or for its child-epochs."""
    data = load_data(cfg)
    if match == "epochs":
        return train_network(arch, cfg, data, max(1, search.child_epochs), progress)
    return train_for_seconds(arch, cfg, data, search.seconds, progress)


# ----- the verdict -----------------------------------------------------------------------------------------


def trained_accuracy(run_dir: Path) -> float | None:
    """best_architecture.json's validation accuracy when it is a trained one; None when it is a shared-weight
    score (`scored_with`, as `nasrl derive` writes it), which says little of what the network reaches trained."""
    try:
        best = json.loads((Path(run_dir) / "best_architecture.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(best, dict) or best.get("scored_with") or not isinstance(best.get("val_acc"), (int, float)):
        return None
    return float(best["val_acc"])


def verdict(difference: float | None) -> str:
    """`searching paid off, by +0.012` when the search's best is ahead, else `searching did not pay off`."""
    if difference is None:
        return "unknown until the derived architecture is retrained"
    return f"searching paid off, by {difference:+.3f}" if difference > 0 else "searching did not pay off"


def baseline_record(
    arch: Architecture, match: str, base: Trained, search: SearchSide, search_value: float | None, run_dir: Path
) -> dict[str, Any]:
    """baseline.json: the default network, how it was matched, what it reached, the search beside it, and the
    verdict. Held-out accuracies are compared when both sides have one (a benchmark's table), else validation
    accuracies (the search's best was chosen on that split, so its figure leans optimistic)."""
    on = "test_acc" if base.test_acc is not None and search.best_test_acc is not None else "val_acc"
    if on == "test_acc":
        search_value = search.best_test_acc
    mine = base.test_acc if on == "test_acc" else base.val_acc
    difference = None if search_value is None or mine is None else search_value - mine
    record = {
        "architecture": arch.to_dict(),
        "hash": arch.hash(),
        "summary": arch.family.summary(arch),
        "match": match,
        **asdict(base),
        "search": asdict(search),
        "compared_on": on,
        "search_value": search_value,
        "baseline_value": mine,
        "difference": difference,
        "paid_off": None if difference is None else difference > 0,
        "verdict": verdict(difference),
    }
    record["sentence"] = sentence(record, run_dir)
    return record


def _accuracy(value: float | None, on: str) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}% test acc" if on == "test_acc" else f"{value:.3f} val acc"


def matched_text(record: dict[str, Any]) -> str:
    """How the default network was matched to the search: `trained for the same 206 s (24 epochs)`, `trained for
    the same 120 child-epochs (61 s)`, or looked up as the children were (a benchmark's table)."""
    if record.get("match") == "lookup":
        return "looked up as the search's children were"
    epochs = record.get("epochs")
    plural = "" if epochs == 1 else "s"
    if record.get("match") == "epochs":
        return f"trained for the same {epochs} child-epoch{plural} ({record.get('seconds', 0):.0f} s)"
    return f"trained for the same {(record.get('search') or {}).get('seconds', 0):.0f} s ({epochs} epoch{plural})"


def sentence(record: dict[str, Any], run_dir: Path) -> str:
    """The command's one plain sentence: the search's best, the default network's, and whether searching paid."""
    on, search = record["compared_on"], record["search"]
    mine = f"the default network {matched_text(record)}: {_accuracy(record['baseline_value'], on)}"
    if record["search_value"] is None:
        return (
            f"The search's derived architecture has only a shared-weight accuracy, which is not what it reaches "
            f"trained: retrain it first (`nasrl train --arch {run_dir}`); {mine}."
        )
    spent = "" if record["match"] == "lookup" else f" in {search['seconds']:.0f} s"
    if record["match"] == "epochs":
        spent = f" after {search['child_epochs']} child-epochs ({search['seconds']:.0f} s)"
    outcome = "did not pay off here." if not record["paid_off"] else f"paid off here, by {record['difference']:+.3f}."
    return f"The search's best child: {_accuracy(record['search_value'], on)}{spent}; {mine}. Searching {outcome}"


def report_line(record: dict[str, Any]) -> str:
    """The line reports show beside the search's best: `default network for the same 206 s (24 epochs): 0.580 val
    acc; the search's best 0.486 val acc: searching did not pay off`."""
    on = record.get("compared_on", "val_acc")
    mine = f"default network {matched_text(record)}: {_accuracy(record.get('baseline_value'), on)}"
    if record.get("search_value") is None:
        return f"{mine}; the derived architecture must be retrained first (`nasrl train --arch RUN_DIR`)"
    return f"{mine}; the search's best {_accuracy(record['search_value'], on)}: {record.get('verdict')}"


# ----- the command -----------------------------------------------------------------------------------------


def open_search(run_dir: Path) -> tuple[SearchConfig, RunStore]:
    """The run's config and its store, locked for the baseline's while: a folder that is no search, or one that a
    search (or `nasrl derive`) is still writing, is one sentence."""
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "results.sqlite").is_file():
        raise UserError(
            f"{run_dir} is not a search run folder (no config.yaml and results.sqlite): give a folder that "
            "`nasrl search` wrote."
        )
    cfg = read_config(run_dir / "config.yaml")
    store = RunStore(run_dir)
    try:
        store.lock()
    except UserError:
        store.close()
        raise UserError(
            f"{run_dir} is still being written by another nasrl process: run `nasrl baseline` once it has finished."
        ) from None
    return cfg, store


def run_baseline(run_dir: str | Path, match: str = "time", quiet: bool = False) -> dict[str, Any]:
    """`nasrl baseline RUN_DIR`: the default network of the run's space, trained to match the search (or looked up
    where the run's evaluator answers without training), written to RUN_DIR/baseline.json; returns its record."""
    if match not in MATCHES:
        raise UserError(f"--match {match} is unknown: use time or epochs.")
    run_dir = Path(run_dir)
    cfg, store = open_search(run_dir)
    try:
        search = search_side(store, str(store.meta().get("status", "unknown")))
        arch = baseline_architecture(cfg)
        kind = evaluator_kind(cfg.evaluator.name)
        if kind.needs_data:
            base = _train_matched(arch, cfg, search, match, progress=not quiet)
        else:
            base, match = looked_up(arch, cfg), "lookup"
        mine = trained_accuracy(run_dir) if kind.shares_weights else search.best_val_acc
        record = baseline_record(arch, match, base, search, mine, run_dir)
        write_json_atomic(run_dir / BASELINE_FILE, record)
        return record
    finally:
        store.close()


def read_baseline(run_dir: str | Path) -> dict[str, Any] | None:
    """RUN_DIR/baseline.json, or None when there is none (or it is not one this version reads)."""
    try:
        record = json.loads((Path(run_dir) / BASELINE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "baseline_value" in record and "search" in record else None


def looked_up_record(run_dir: str | Path) -> dict[str, Any] | None:
    """For reports, without training or writing: the baseline of a run whose evaluator answers one space from a
    table (a benchmark's), computed on the fly; None for any other run, or one without a successful child."""
    run_dir = Path(run_dir)
    try:
        cfg = read_config(run_dir / "config.yaml")
        kind = evaluator_kind(cfg.evaluator.name)
        if kind.needs_data or kind.fixed_space(cfg.flat()) is None:
            return None
        store = RunStore.open_existing(run_dir)
        try:
            search = search_side(store, str(store.meta().get("status", "unknown")))
        finally:
            store.close()
        arch = baseline_architecture(cfg)
        return baseline_record(arch, "lookup", looked_up(arch, cfg), search, search.best_val_acc, run_dir)
    except UserError:
        return None
