"""The driver of a weight-sharing search (`nasrl search --evaluator shared`) and of `nasrl derive`: epochs of
`sharing.run_epoch` with the run folder's store, log, progress and checkpoints around them, then deriving."""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from nasrl.config import SearchConfig, read_config, save_config
from nasrl.errors import UserError
from nasrl.run.atomic import load_checkpoint, save_atomic, write_json_atomic
from nasrl.run.log import RunLog, format_seconds
from nasrl.run.records import ChildRecord, ChildResult
from nasrl.run.store import RunStore
from nasrl.run.tensorboard import TensorBoardScalars
from nasrl.search.loop import (
    SearchInterrupt,
    SearchSummary,
    build_strategy,
    load_search_data,
    progress_display,
    raise_interrupt,
)
from nasrl.search.sharing import Derived, SharedWeights, derive, random_baseline, run_epoch
from nasrl.search.strategies import Strategy
from nasrl.space.describe import layer_table

#: Weight-sharing checkpoints have their own format numbers, so a trained-children search's never loads as one.
SHARED_CHECKPOINT_FORMAT = 1001


def _open(cfg: SearchConfig, quiet: bool, console: Console | None) -> tuple[SharedWeights, Strategy, RunStore, RunLog]:
    data = load_search_data(cfg)  # data problems stop the run before its folder holds anything
    shared = SharedWeights(cfg, data.train, data.val, data.num_classes, data.device)
    assert cfg.run_dir is not None, "prepare_run sets the run folder"
    store = RunStore(cfg.run_dir)
    store.lock()
    log = RunLog(store.run_dir, console=console, quiet=quiet)
    log.info(data.note, event="evaluator", evaluator="shared", data=cfg.data)
    return shared, build_strategy(cfg), store, log


def save_shared_checkpoint(store: RunStore, next_epoch: int, shared: SharedWeights, strategy: Strategy) -> None:
    state = {
        "format": SHARED_CHECKPOINT_FORMAT,
        "next_epoch": next_epoch,
        "strategy": strategy.state_dict(),
        "shared": shared.state_dict(),
        "saved_at": time.time(),
    }
    save_atomic(state, store.checkpoint_path)


def load_shared_checkpoint(store: RunStore, shared: SharedWeights, strategy: Strategy) -> int:
    """Restore the shared weights, their optimizer and the strategy; the next epoch."""
    advice = "results.sqlite is intact; start a new run to continue searching"
    state = load_checkpoint(
        store.checkpoint_path, kind="weight-sharing search", fmt=SHARED_CHECKPOINT_FORMAT, advice=advice
    )
    shared.load_state_dict(state["shared"])
    strategy.load_state_dict(state["strategy"])
    return int(state["next_epoch"])


def run_shared_search(
    cfg: SearchConfig, resume: bool = False, console: Console | None = None, quiet: bool = False
) -> SearchSummary:
    """Run (or continue) a weight-sharing search to `cfg.shared_epochs` epochs, then derive its architecture."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    board = None
    if cfg.tensorboard:  # before the store, so a missing tensorboard package stops us before anything is written
        board = TensorBoardScalars(Path(cfg.run_dir) / "tensorboard", cfg.children)
    shared, strategy, store, log = _open(cfg, quiet, console)
    if resume:
        first = load_shared_checkpoint(store, shared, strategy)
        log.step(f"Resuming {store.run_dir} at epoch {first + 1} of {cfg.shared_epochs}", event="resume", epoch=first)
    else:
        save_config(cfg, store.config_path)
        log.info(
            f"New weight-sharing search in {store.run_dir}: {cfg.strategy} over space '{cfg.space}' "
            f"({cfg.max_layers} layers, {shared.network.space.channels} channels), {cfg.shared_epochs} epochs of "
            f"{len(shared.train_batches)} steps, then {cfg.controller_steps} controller steps of {cfg.children} "
            f"architectures; seed {cfg.seed}",
            event="start",
            config=cfg.model_dump(),
        )
        first = 0
        save_shared_checkpoint(store, 0, shared, strategy)
    store.set_meta(
        status="running", pid=os.getpid(), episodes=cfg.shared_epochs * cfg.controller_steps, updated=time.time()
    )
    try:
        status = _epochs(cfg, shared, strategy, store, log, first, quiet, board)
        best = _derive_and_write(shared, strategy, store, log, cfg.derive_samples) if status == "finished" else None
    except BaseException as e:
        store.set_meta(status="failed", updated=time.time())
        log.error(f"The search stopped: {type(e).__name__}: {e}", event="failed")
        log.close()
        store.close()
        raise
    finally:
        if board is not None:
            board.close()
    store.set_meta(status=status, updated=time.time())
    summary = SearchSummary(
        store.run_dir, status, len(store.shared_epochs()), best, store.counts(), time.perf_counter() - started
    )
    log.close()
    store.close()
    return summary


def _epochs(
    cfg: SearchConfig,
    shared: SharedWeights,
    strategy: Strategy,
    store: RunStore,
    log: RunLog,
    first: int,
    quiet: bool,
    board: TensorBoardScalars | None = None,
) -> str:
    """Epochs until the last or an interruption (the checkpoint of the epoch's start stays the resume point)."""
    previous_term = signal.signal(signal.SIGTERM, raise_interrupt)
    progress = None if quiet else progress_display(Console(stderr=True))
    epoch = first
    try:
        task = None
        if progress is not None:
            progress.start()
            task = progress.add_task("controller steps", total=cfg.controller_steps, stats="")
        for epoch in range(first, cfg.shared_epochs):
            log.step(
                f"Epoch {epoch + 1}/{cfg.shared_epochs}: shared weights, then the controller",
                event="epoch_start",
                epoch=epoch,
            )
            if progress is not None and task is not None:
                progress.update(task, completed=0, description=f"epoch {epoch + 1}/{cfg.shared_epochs}")
            on_step = (lambda s: progress.update(task, completed=s)) if progress is not None else None
            stats = run_epoch(shared, strategy, store, epoch, on_step)
            store.record_shared_epoch(epoch, stats.as_dict())
            if board is not None:
                board.shared_epoch(epoch, stats.as_dict())
            save_shared_checkpoint(store, epoch + 1, shared, strategy)
            store.set_meta(episodes_done=(epoch + 1) * cfg.controller_steps, updated=time.time())
            log.metric(
                f"Epoch {epoch + 1}: shared loss {stats.train_loss:.4f}, acc {stats.train_acc:.4f}, lr "
                f"{stats.lr:.2e}; controller mean reward {stats.mean_reward:.4f}, entropy {stats.entropy:.3f}; "
                f"{format_seconds(stats.seconds)}",
                event="shared_epoch",
                epoch=epoch,
                **stats.as_dict(),
            )
        return "finished"
    except (KeyboardInterrupt, SearchInterrupt) as e:
        log.error(
            f"Interrupted ({str(e) or 'SIGINT'}) during epoch {epoch + 1}: the checkpoint of its start stays; "
            f"continue with `nasrl search --resume {store.run_dir}`",
            event="interrupted",
            epoch=epoch,
        )
        return "interrupted"
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        if progress is not None:
            progress.stop()


def _derive_and_write(
    shared: SharedWeights,
    strategy: Strategy,
    store: RunStore,
    log: RunLog,
    samples: int,
    check: int = 0,
    check_epochs: int = 2,
) -> ChildRecord:
    """Derive, write best_architecture.json and derived.json (the ranked list), log the top, and with `check` run
    the rank check; the best as a row."""
    ranked = derive(shared, strategy, samples)
    scored_randoms = random_baseline(shared, samples, shared.cfg.seed + 1)
    randoms = [d.val_acc for d in scored_randoms]
    write_json_atomic(store.run_dir / "derived.json", [_derived_entry(rank, d) for rank, d in enumerate(ranked, 1)])
    best = ranked[0]
    accs = [d.val_acc for d in ranked]
    baseline = {"samples": len(randoms), "best": randoms[0], "median": _median(randoms)}
    write_json_atomic(
        store.best_path,
        {
            **_derived_entry(1, best),
            "reward": best.val_acc,
            "sampled": samples,
            "scored_with": "shared weights, whole validation split",
            "policy_median": _median(accs),
            "random_baseline": baseline,
        },
    )
    log.success(
        f"Derived: {len(ranked)} distinct of {samples} architectures sampled from the final policy; shared-weight "
        f"validation accuracy best {accs[0]:.4f}, median {_median(accs):.4f}. The same weights give {len(randoms)} "
        f"random architectures of the space best {randoms[0]:.4f}, median {_median(randoms):.4f} (a policy that "
        f"learned should beat them). Retrain the best from scratch: `nasrl train --arch {store.best_path}`.\n"
        + layer_table(best.architecture),
        event="derived",
        best=accs[0],
        samples=samples,
        policy_median=_median(accs),
        random_median=_median(randoms),
    )
    if check:
        _rank_check(shared, [*ranked, *scored_randoms], store, log, check, check_epochs)
    return ChildRecord.of(-1, 0, best.architecture, ChildResult(reward=best.val_acc, val_acc=best.val_acc))


def _rank_check(
    shared: SharedWeights, candidates: list[Derived], store: RunStore, log: RunLog, k: int, epochs: int
) -> None:
    """Train k candidates stand-alone, write rank_check.json, log the correlations (see `rank_check`)."""
    from nasrl.search.rank_check import rank_check

    log.step(f"Rank check: training {k} architectures stand-alone for {epochs} epochs each", event="rank_check_start")
    check = rank_check(shared, candidates, k, epochs)
    write_json_atomic(store.run_dir / "rank_check.json", check.as_dict())
    log.success(
        f"Rank check on {len(check.entries)} architectures ({epochs} epochs each, stand-alone): Kendall tau "
        f"{check.kendall_tau:.3f}, Spearman rho {check.spearman_rho:.3f} between shared-weight and stand-alone "
        f"validation accuracy (1: the same order; 0: no relation)",
        event="rank_check",
        kendall_tau=check.kendall_tau,
        spearman_rho=check.spearman_rho,
        k=len(check.entries),
    )


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _derived_entry(rank: int, derived: Derived) -> dict[str, Any]:
    arch = derived.architecture
    return {"rank": rank, "architecture": arch.to_dict(), "hash": arch.hash(), "val_acc": derived.val_acc}


def derive_run(
    run_dir: str | Path, samples: int | None = None, quiet: bool = False, rank_check: int = 0, rank_epochs: int = 2
) -> ChildRecord:
    """`nasrl derive RUN_DIR`: derive from a finished or interrupted weight-sharing run's last checkpoint, and with
    `rank_check` K train K architectures stand-alone to see whether the shared weights rank them right."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} holds no config.yaml: give the folder of a nasrl search run.")
    cfg = read_config(run_dir / "config.yaml")
    if cfg.evaluator != "shared":
        raise UserError(f"{run_dir} is a search with --evaluator {cfg.evaluator}: only weight-sharing runs derive.")
    cfg = cfg.model_copy(update={"run_dir": str(run_dir)})
    shared, strategy, store, log = _open(cfg, quiet, None)
    try:
        epoch = load_shared_checkpoint(store, shared, strategy)
        log.step(f"Deriving from the checkpoint after epoch {epoch} of {cfg.shared_epochs}", event="derive")
        return _derive_and_write(shared, strategy, store, log, samples or cfg.derive_samples, rank_check, rank_epochs)
    finally:
        log.close()
        store.close()
