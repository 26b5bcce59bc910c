"""Reading run folders without disturbing them: a read-only snapshot of a search, and `nasrl runs`.

The driver is the only writer of `results.sqlite` and keeps it in WAL mode, so a reader opened
read-only never blocks it and sees every child committed so far. Everything here works on a
finished, an interrupted and a running search alike.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nasrl.benchmarks import test_outcome
from nasrl.errors import UserError
from nasrl.run.records import ChildRecord, ChildStatus
from nasrl.run.store import connect_readonly
from nasrl.search.baseline import looked_up_record, read_baseline
from nasrl.search.evaluators.registry import known_evaluator

# ----- reading a run -----------------------------------------------------------------------------------


@dataclass
class SearchRun:
    """A search run folder as read at one moment: config, status, children and controller steps; for a
    weight-sharing run also its per-epoch rows and the derived ranking (None until derivation wrote it)."""

    run_dir: Path
    config: dict[str, Any]
    meta: dict[str, Any]
    children: list[ChildRecord]
    steps: list[dict[str, Any]]
    collapse_messages: list[str] = field(default_factory=list)
    read_at: float = field(default_factory=time.time)
    shared_epochs: list[dict[str, Any]] = field(default_factory=list)
    derived: list[dict[str, Any]] | None = None
    #: The default network beside the search (`nasrl baseline`'s baseline.json, or a table's figures looked up
    #: for a run whose evaluator answers from one); None until `nasrl baseline` has run.
    baseline: dict[str, Any] | None = None

    @property
    def shared(self) -> bool:
        """A weight-sharing (ENAS) search: its children's rewards are one-minibatch accuracies of shared weights."""
        kind = known_evaluator(self.config.get("evaluator"))
        return kind is not None and kind.shares_weights

    @property
    def per_episode(self) -> int:
        """Children sampled per episode (the paper's m)."""
        seen = max((c.child for c in self.children), default=-1) + 1
        return int(self.config.get("children") or seen or 1)

    @property
    def best(self) -> ChildRecord | None:
        ok = [c for c in self.children if c.ok]
        return max(ok, key=lambda c: (c.reward, -c.episode, -c.child)) if ok else None

    @property
    def status(self) -> str:
        return run_status(self.meta)


def _rows(db: sqlite3.Connection, sql: str) -> list[sqlite3.Row]:
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # a database the driver has only just created
            return []
        raise


def read_search(run_dir: str | Path) -> SearchRun:
    """Everything the report needs from a search run folder, read once (a consistent snapshot per table)."""
    run_dir = Path(run_dir)
    db = connect_readonly(run_dir / "results.sqlite")
    try:
        children = []
        for row in _rows(db, "SELECT * FROM children WHERE status != 'pending' ORDER BY episode, child"):
            data = dict(row)
            data["cached"] = bool(data["cached"])
            children.append(ChildRecord(**data))
        steps = [dict(r) for r in _rows(db, "SELECT * FROM controller_steps ORDER BY episode")]
        meta = {r["key"]: json.loads(r["value"]) for r in _rows(db, "SELECT * FROM meta")}
        # No such table in a run from before weight sharing: `_rows` reads that as no epochs.
        epochs = [dict(r) for r in _rows(db, "SELECT * FROM shared_epochs ORDER BY epoch")]
    finally:
        db.close()
    config: dict[str, Any] = {}
    if (run_dir / "config.yaml").is_file():
        loaded = yaml.safe_load((run_dir / "config.yaml").read_text())
        config = loaded if isinstance(loaded, dict) else {}
    collapse = []
    events = run_dir / "events.jsonl"
    if events.is_file():
        for line in events.read_text(errors="replace").splitlines():
            if '"collapse_warning"' in line:
                with contextlib.suppress(json.JSONDecodeError):  # the driver may be writing this line now
                    collapse.append(str(json.loads(line).get("message", "")))
    return SearchRun(
        run_dir,
        config,
        meta,
        children,
        steps,
        collapse,
        shared_epochs=epochs,
        derived=_read_derived(run_dir),
        baseline=run_baseline(run_dir),
    )


def run_baseline(run_dir: Path) -> dict[str, Any] | None:
    """The run's baseline.json, else for a run whose evaluator answers from a table the default network's figures
    looked up now (no training); None otherwise."""
    return read_baseline(run_dir) or looked_up_record(run_dir)


def _read_derived(run_dir: Path) -> list[dict[str, Any]] | None:
    """derived.json's ranking (entries with an architecture and a numeric val_acc), or None when there is none
    yet: an interrupted weight-sharing run derives only on `nasrl derive`, and a half-written file reads as none."""
    data = read_json(run_dir / "derived.json")
    if not isinstance(data, list):
        return None
    ranked = [d for d in data if isinstance(d, dict) and isinstance(d.get("architecture"), dict)]
    ranked = [d for d in ranked if isinstance(d.get("val_acc"), (int, float))]
    return sorted(ranked, key=lambda d: d.get("rank", math.inf)) or None


def run_status(meta: dict[str, Any]) -> str:
    """running / finished / interrupted, where a 'running' run whose process is gone reads as interrupted."""
    status = str(meta.get("status", "unknown"))
    if status == "running" and not _alive(meta.get("pid")):
        return "interrupted (process gone)"
    return status


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


# ----- `nasrl runs` --------------------------------------------------------------------------------------


@dataclass
class RunInfo:
    """One line of `nasrl runs`."""

    name: str
    kind: str  # search | train
    status: str
    children: str
    best: str
    updated: float | None
    versus_default: str = "-"  # the search's best minus the default network's (`nasrl baseline`), and the verdict


def list_runs(directory: str | Path) -> list[RunInfo]:
    """The run folders directly inside `directory` (or `directory` itself, if it is one), newest last."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} does not exist: give a folder of runs (default ./runs).")
    folders = [directory] if _is_run(directory) else sorted(p for p in directory.iterdir() if _is_run(p))
    infos = [_run_info(p) for p in folders]
    return sorted(infos, key=lambda r: (r.updated or 0, r.name))


def _is_run(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in ("results.sqlite", "run.json", "metrics.json"))


def _run_info(path: Path) -> RunInfo:
    if (path / "results.sqlite").is_file():
        try:
            db = connect_readonly(path / "results.sqlite")
        except UserError:
            return RunInfo(path.name, "search", "unreadable database", "?", "?", None)
        try:
            meta = {r["key"]: json.loads(r["value"]) for r in _rows(db, "SELECT * FROM meta")}
            ok = ChildStatus.OK.value
            count = _rows(
                db,
                f"SELECT COUNT(*), MAX(CASE WHEN status='{ok}' THEN reward END) FROM children "
                "WHERE status != 'pending'",
            )
            best_test = _rows(
                db,
                f"SELECT test_acc FROM children WHERE status='{ok}' ORDER BY reward DESC, episode, child LIMIT 1",
            )
        except sqlite3.OperationalError:  # a folder from before benchmarks: no test_acc column
            best_test = []
        finally:
            db.close()
        total, best = tuple(count[0]) if count else (0, None)
        updated = meta.get("updated") if isinstance(meta.get("updated"), (int, float)) else None
        episodes = f" ({meta['episodes_done']}/{meta['episodes']} ep)" if "episodes_done" in meta else ""
        updated = updated or (path / "results.sqlite").stat().st_mtime
        best_text = _derived_best(path) or ("-" if best is None else f"{best:.4f}")
        if best_test and best_test[0][0] is not None:
            best_text += f" (test {test_outcome(best_test[0][0], meta.get('test_optimum'))})"
        versus = versus_default(run_baseline(path))
        return RunInfo(path.name, "search", run_status(meta), f"{total}{episodes}", best_text, updated, versus)
    metrics = read_json(path / "metrics.json")
    history = read_json(path / "history.json") or []
    status = "finished" if metrics else f"not finished ({len(history)} epoch{'' if len(history) == 1 else 's'} done)"
    best_val = max((h.get("val_acc") or 0.0 for h in history), default=None)
    best = f"val {best_val:.4f}" if best_val else "-"
    if metrics and metrics.get("test_acc") is not None:
        best = f"test {metrics['test_acc']:.4f}"
    newest = max((p.stat().st_mtime for p in path.iterdir() if p.is_file()), default=None)
    return RunInfo(path.name, "train", status, "-", best, newest)


def _derived_best(path: Path) -> str | None:
    """A weight-sharing run's derived accuracy (whole validation split) from best_architecture.json: its
    children's rewards are one-minibatch accuracies, whose maximum overstates what was found."""
    best = read_json(path / "best_architecture.json")
    if isinstance(best, dict) and best.get("scored_with") and isinstance(best.get("val_acc"), (int, float)):
        return f"{best['val_acc']:.4f} (derived)"
    return None


def versus_default(baseline: dict[str, Any] | None) -> str:
    """`-0.094 (did not pay off)`: the search's best minus the default network's; `-` without a baseline."""
    if baseline is None:
        return "-"
    if baseline.get("difference") is None:
        return "retrain the derived architecture first"
    difference = baseline["difference"]
    text = f"{100 * difference:+.2f} pts" if baseline.get("compared_on") == "test_acc" else f"{difference:+.3f}"
    return f"{text} ({'paid off' if baseline.get('paid_off') else 'did not pay off'})"


def format_runs(infos: list[RunInfo]) -> str:
    """The listing as aligned columns (plain text, so it pipes into grep and sort)."""
    header = ("run", "kind", "status", "children", "best", "vs default network", "last update")
    cells = [
        (r.name, r.kind, r.status, r.children, r.best, r.versus_default, when(r.updated) if r.updated else "unknown")
        for r in infos
    ]
    return format_table(header, cells)


def format_table(header: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """Aligned plain-text columns (`nasrl runs`, `nasrl compare`)."""
    rows = [tuple(header), *map(tuple, cells)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


# ----- small pieces --------------------------------------------------------------------------------


def when(stamp: object) -> str:
    """A time stamp as local time plus how long ago, so a stale 'running' run stands out."""
    if not isinstance(stamp, (int, float)):
        return "unknown"
    ago = time.time() - stamp
    if ago < 0 or math.isnan(ago):
        rel = ""
    elif ago < 90:
        rel = f" ({ago:.0f} s ago)"
    elif ago < 5400:
        rel = f" ({ago / 60:.0f} min ago)"
    elif ago < 172800:
        rel = f" ({ago / 3600:.0f} h ago)"
    else:
        rel = f" ({ago / 86400:.0f} days ago)"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) + rel


def read_json(path: Path) -> Any:
    """The file's JSON, or None when it is missing or half-written (a run may be writing it right now)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
