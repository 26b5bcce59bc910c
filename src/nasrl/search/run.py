"""The one lifecycle every search shares, whichever driver runs it: the run folder prepared, the data loaded before
anything is written, the lock, config.yaml, the running/finished/failed meta, Ctrl-C and SIGTERM turned into a
checkpointed stop, a full disk into one sentence, and the summary.

A kill at any moment leaves a folder that `--resume` continues: config.yaml is written before anything else, and a
folder that holds no checkpoint yet (killed while starting) simply starts again under `--resume` or the same
`--run-dir`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from nasrl.benchmarks import test_outcome
from nasrl.benchmarks.table import table_summary
from nasrl.config import SearchConfig, make_config, read_config, save_config
from nasrl.errors import UserError
from nasrl.run.atomic import write_json_atomic
from nasrl.run.log import RunLog, format_seconds
from nasrl.run.records import ChildRecord
from nasrl.run.store import RunStore
from nasrl.search.drivers import Driver, make_driver
from nasrl.search.evaluators import Evaluator, evaluator_kind
from nasrl.search.evaluators.data import load_search_data
from nasrl.search.objective import make_objective
from nasrl.search.progress import progress_display
from nasrl.search.session import Session
from nasrl.search.storing import write_pareto
from nasrl.search.strategies import make_strategy
from nasrl.space import Architecture
from nasrl.space.describe import layer_table
from nasrl.space.families.nb201 import cell_string

# Fields a resumed run may change: they decide where and how long it runs, not which children it samples.
RESUMABLE_OVERRIDES = {
    "episodes",
    "device",
    "executor",
    "data_dir",
    "checkpoint_every",
    "run_dir",
    "tensorboard",
    "ray_address",
    "gpus_per_child",
    "cpus_per_child",
    "max_child_retries",
}


@dataclass
class SearchSummary:
    run_dir: Path
    status: str  # finished | interrupted
    episodes_done: int
    best: ChildRecord | None
    counts: dict[str, int]
    seconds: float


class SearchInterrupt(BaseException):
    """SIGTERM, turned into an exception so the driver can checkpoint on the way out. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way (a child's evaluation, a log handler) takes it
    for a failed child."""


def raise_interrupt(signum: int, frame: Any) -> None:
    raise SearchInterrupt(signal.Signals(signum).name)


def default_run_dir() -> Path:
    return Path("runs") / f"search-{datetime.now():%Y%m%d-%H%M%S}"


def has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / "checkpoints" / "latest.pt").is_file()


def prepare_run(cfg: SearchConfig, resume_dir: str | Path | None, overrides: dict[str, Any]) -> SearchConfig:
    """The config a run goes with: a new run's as given; a resumed run's from its folder plus allowed overrides."""
    if resume_dir is None:
        run_dir = Path(cfg.run.run_dir) if cfg.run.run_dir else default_run_dir()
        if has_checkpoint(run_dir):
            raise UserError(
                f"{run_dir} already holds a search: continue it with --resume {run_dir}, or pick another --run-dir."
            )
        return cfg.with_flat(run_dir=str(run_dir))
    run_dir = Path(resume_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(
            f"{run_dir} has no checkpoints/latest.pt and no config.yaml: give the folder of a search started by nasrl."
        )
    saved = read_config(run_dir / "config.yaml")
    asked = make_config(saved.model_dump(), overrides)  # typed: `--seed 0` equals a saved seed of 0
    asked_flat, saved_flat = asked.flat(), saved.flat()
    changed = {k for k in overrides if asked_flat.get(k) != saved_flat.get(k)} - RESUMABLE_OVERRIDES
    if changed:
        name = sorted(changed)[0]
        raise UserError(
            f"--{name.replace('_', '-')} differs from the run's config.yaml; a resumed run keeps its config "
            f"(only {', '.join(sorted('--' + k.replace('_', '-') for k in RESUMABLE_OVERRIDES))} may change)."
        )
    allowed = {k: v for k, v in overrides.items() if k in RESUMABLE_OVERRIDES}
    return make_config(saved.model_dump(), {**allowed, "run_dir": str(run_dir)})


def build_evaluator(cfg: SearchConfig, progress: Any = None) -> tuple[Evaluator, str]:
    """The config's evaluator (its data loaded here when it needs data) and the log's sentence on what it uses."""
    kind = evaluator_kind(cfg.evaluator.name)
    data = load_search_data(cfg) if kind.needs_data else None
    return kind.build(cfg, data, progress)


def run_search(
    cfg: SearchConfig,
    resume: bool = False,
    console: Console | None = None,
    quiet: bool = False,
    evaluator: Evaluator | None = None,
) -> SearchSummary:
    """Run (or continue) a search in `cfg.run.run_dir` with the driver its evaluator and config call for. `evaluator`
    (tests, benchmarks): evaluate with this object instead of the one the config names."""
    assert cfg.run.run_dir is not None, "prepare_run sets the run folder"
    run_dir = Path(cfg.run.run_dir)
    resume = resume and has_checkpoint(run_dir)  # a folder killed while starting starts again
    console = console or Console(stderr=True)
    progress = None if quiet else progress_display(console)
    board = _tensorboard(cfg)  # before anything is written: a missing package stops the run here
    if evaluator is None:
        if progress is not None and evaluator_kind(cfg.evaluator.name).needs_data:
            console.print(f"Loading data: {cfg.data.source} ...", soft_wrap=True, markup=False)
        evaluator, note = build_evaluator(cfg, progress)  # data problems stop the run before its folder holds any
    else:
        note = f"Evaluator: {type(evaluator).__name__} (given by the caller)"
    objective = make_objective(cfg, getattr(evaluator, "geometry", None))  # a missing latency device stops it here
    driver = make_driver(cfg, evaluator, note)
    if not resume:
        save_config(cfg, run_dir / "config.yaml")  # first, so any later kill leaves a folder --resume continues
    store = RunStore(run_dir)
    try:
        store.lock()  # the driver is the only writer: a second `--resume` of a live run stops here
    except UserError:
        store.close()
        raise
    log = RunLog(store.run_dir, console=console, quiet=quiet)
    strategy = make_strategy(cfg.strategy.name, cfg.search_space(), cfg.run.seed, cfg.strategy_settings())
    session = Session(cfg, store, log, strategy, board, progress, objective=objective)
    if objective.active:
        log.info(objective.describe(), event="objective", **cfg.objective.model_dump())
    optimum = getattr(evaluator, "test_optimum", None)  # an evaluator a test hands in may lack it
    if optimum is not None:
        store.set_meta(test_optimum=optimum)
    started = time.perf_counter()
    try:
        status = _drive(driver, session, resume)
    except BaseException as e:
        _record_failure(session, e)
        if _disk_full(e):
            raise UserError(
                f"Writing to {run_dir} failed ({e}): the run is intact up to its last checkpoint; free some space, "
                f"then continue it with `nasrl search --resume {run_dir}`."
            ) from None
        raise
    finally:
        driver.close()
        if board is not None:
            board.close()
    episodes_done, best = driver.outcome(session)
    write_pareto(store)
    summary = SearchSummary(store.run_dir, status, episodes_done, best, store.counts(), time.perf_counter() - started)
    store.set_meta(status=status, updated=time.time())
    if status == "finished" and not evaluator.shares_weights:  # weight sharing logged its derived architecture
        _log_summary(log, summary, optimum)
        _log_table_figures(log, cfg, store, summary.best)
    log.close()
    store.close()
    return summary


def _drive(driver: Driver, session: Session, resume: bool) -> str:
    """Start or resume, then run to the end or an interruption (Ctrl-C, SIGTERM); the run's status."""
    store = session.store
    with _sigterm_raises(), _progress_shown(session):
        if resume:
            driver.resume(session)
        else:
            driver.start(session)
        store.set_meta(status="running", pid=os.getpid(), episodes=driver.total_steps, updated=time.time())
        try:
            driver.run(session)
        except (KeyboardInterrupt, SearchInterrupt) as e:
            where = driver.interrupted(session)
            session.log.error(
                f"Interrupted ({str(e) or 'SIGINT'}) {where}; continue with `nasrl search --resume {store.run_dir}`",
                event="interrupted",
                episode=session.episode,
            )
            return "interrupted"
    return "finished"


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _progress_shown(session: Session) -> Iterator[None]:
    if session.progress is not None:
        session.progress.start()
    try:
        yield
    finally:
        if session.progress is not None:
            session.progress.stop()


def _tensorboard(cfg: SearchConfig) -> Any:
    if not cfg.run.tensorboard:
        return None
    from nasrl.run.tensorboard import TensorBoardScalars

    return TensorBoardScalars(Path(cfg.run.run_dir or ".") / "tensorboard", cfg.run.children)


def _disk_full(e: BaseException) -> bool:
    """A write that failed for want of space: the OS's, SQLite's or torch's way of saying so."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(e, sqlite3.OperationalError) and "full" in str(e):
        return True
    return isinstance(e, RuntimeError) and "failed writing" in str(e)


def _record_failure(session: Session, e: BaseException) -> None:
    """The store says the run failed and the log keeps why, as far as the disk still takes them."""
    with contextlib.suppress(Exception):
        session.store.set_meta(status="failed", updated=time.time())
    with contextlib.suppress(Exception):
        session.log.error(f"The search stopped: {type(e).__name__}: {e}", event="failed", episode=session.episode)
    with contextlib.suppress(Exception):
        session.log.close()
    with contextlib.suppress(Exception):
        session.store.close()


def _log_summary(log: RunLog, summary: SearchSummary, test_optimum: float | None) -> None:
    counts = summary.counts
    over = f", {counts['over_limit']} over the limit, not trained" if counts.get("over_limit") else ""
    log.success(
        f"Search finished: {counts['children']} children ({counts['evaluated']} evaluated, {counts['cached']} "
        f"cached, {counts['failed']} failed{over}) in {format_seconds(summary.seconds)}",
        event="finished",
        **counts,
        seconds=summary.seconds,
    )
    if summary.best is not None:
        best = summary.best
        arch = Architecture.from_json(best.arch_json)
        params = f", {best.params:,} parameters" if best.params else ""
        log.success(
            f"Best reward {best.reward:.4f} (episode {best.episode + 1}, child {best.child + 1}{params}):\n"
            + layer_table(arch),
            event="best_summary",
            reward=best.reward,
            arch_hash=best.arch_hash,
        )
    if summary.best is not None and summary.best.test_acc is not None:
        log.success(
            f"Its benchmark test accuracy: {test_outcome(summary.best.test_acc, test_optimum)} (never seen by the "
            "strategy)",
            event="best_test",
            test_acc=summary.best.test_acc,
            test_optimum=test_optimum,
        )


#: How the log names NAS-Bench-201's data sets, and the spelling by which a data source is taken to be one of them.
TABLE_DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
_DATASET_SPELLINGS = {"cifar10": r"cifar-?10(?!0)", "cifar100": r"cifar-?100", "imagenet16": r"imagenet-?16"}


def _log_table_figures(log: RunLog, cfg: SearchConfig, store: RunStore, best: ChildRecord | None) -> None:
    """What full training makes of the best cell of an nb201 search that trained its children: a proxy's reward
    says little on its own, the table's 200-epoch figure is what papers compare. Logged and written into
    best_architecture.json as `table`; the benchmark evaluator's children carry their test accuracy already."""
    if best is None or best.test_acc is not None:
        return
    arch = Architecture.from_json(best.arch_json)
    if arch.family.name != "nb201":
        return
    dataset = cfg.evaluator.benchmark_dataset
    figures = table_summary(cell_string(arch), dataset)
    name = TABLE_DATASETS[dataset]
    same_data = re.search(_DATASET_SPELLINGS[dataset], cfg.data.source.lower()) is not None
    other = "" if same_data else f" (the table's {name} figures: the children trained on {cfg.data.source})"
    log.success(
        f"The best cell's NAS-Bench-201 200-epoch test accuracy on {name}: {figures['test_200ep']:.2f}% "
        f"(12-epoch valid {figures['valid_12ep']:.2f}%; the table's best: {figures['optimum']:.2f}%, the median "
        f"cell: {figures['median']:.2f}%){other}",
        event="best_table",
        **figures,
    )
    if store.best_path.is_file():
        best_json = json.loads(store.best_path.read_text())
        write_json_atomic(store.best_path, {**best_json, "table": figures})
