"""How a child's outcome enters the run: its row in the store and its lines in the log, written once for every
driver (a trained result, an answer from the cache, the best architecture's file)."""

from __future__ import annotations

from dataclasses import replace

from nasrl.run.atomic import write_json_atomic
from nasrl.run.log import RunLog, format_seconds
from nasrl.run.records import ChildRecord, ChildResult, ChildStatus
from nasrl.run.store import RunStore
from nasrl.search.objective import pareto_fronts
from nasrl.space import Architecture


def store_result(
    store: RunStore,
    log: RunLog,
    episode: int,
    index: int,
    arch: Architecture,
    result: ChildResult,
    rung: int | None = None,
    proposal_log_prob: float | None = None,
    paused: bool = False,
) -> ChildRecord:
    """An evaluated child's row (durable on return) and its epochs and outcome in the log. `paused`: a rung's
    result of a child that trains on or waits for its cohort, stored as pending (no arrival number, not a result
    the strategy learns from yet), so a resumed driver replays it; the record returned keeps its real status."""
    rec = ChildRecord.of(episode, index, arch, result, rung=rung, proposal_log_prob=proposal_log_prob)
    store.record_child(replace(rec, status=ChildStatus.PENDING) if paused else rec)
    for h in result.history or []:
        val = f"{h['val_acc']:.4f}" if h.get("val_acc") is not None else "-"
        log.training(
            f"  child {index + 1}, epoch {h['epoch']}: train loss {h['train_loss']:.4f}, "
            f"train acc {h['train_acc']:.4f}, val acc {val}, lr {h['lr']:.3g}, {h['seconds']:.1f}s",
            event="child_epoch",
            episode=episode,
            child=index,
            **{k: h.get(k) for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")},
        )
    if result.ok:
        extra = f", {result.params:,} parameters" if result.params else ""
        log.reward(
            f"  child {index + 1}: reward {result.reward:.4f} in {format_seconds(result.train_seconds)}{extra}",
            event="child_done",
            episode=episode,
            child=index,
            reward=result.reward,
            params=result.params,
            seconds=result.train_seconds,
        )
    elif result.status == ChildStatus.OVER_LIMIT:  # `Objective.over_limit_result`: stored, never trained
        log.reward(
            f"  child {index + 1}: {result.error}, not trained (reward {result.reward:g})",
            event="child_over_limit",
            episode=episode,
            child=index,
            reward=result.reward,
            params=result.params,
            flops=result.flops,
            latency_ms=result.latency_ms,
        )
    else:
        log.error(
            f"  child {index + 1} failed: {result.error} (reward {result.reward})",
            event="child_failed",
            episode=episode,
            child=index,
            error=result.error,
        )
    return rec


def store_cached(
    store: RunStore,
    log: RunLog,
    episode: int,
    index: int,
    arch: Architecture,
    known: ChildRecord,
    proposal_log_prob: float | None = None,
) -> ChildRecord:
    """A child answered by an earlier one with the same architecture: nothing is trained twice in a run."""
    answer = known.result()
    answer.train_seconds, answer.history = 0.0, None  # nothing was trained for this child
    rec = ChildRecord.of(episode, index, arch, answer, cached=True, proposal_log_prob=proposal_log_prob)
    store.record_child(rec)
    log.reward(
        f"  child {index + 1}: cached (seen in episode {known.episode + 1}), reward {known.reward:.4f}",
        event="child_cached",
        episode=episode,
        child=index,
        reward=known.reward,
    )
    return rec


def write_pareto(store: RunStore) -> None:
    """pareto.json: the run's Pareto fronts of accuracy against parameters, FLOPs and latency."""
    fronts = pareto_fronts(store.children())
    if fronts:
        write_json_atomic(store.run_dir / "pareto.json", fronts)


def write_best(store: RunStore, rec: ChildRecord) -> None:
    """best_architecture.json: the best child so far, with its reward and costs."""
    arch = Architecture.from_json(rec.arch_json)
    write_json_atomic(
        store.best_path,
        {
            "architecture": arch.to_dict(),
            "hash": rec.arch_hash,
            "reward": rec.reward,
            "val_acc": rec.val_acc,
            "episode": rec.episode,
            "child": rec.child,
            "params": rec.params,
            "flops": rec.flops,
            **({"latency_ms": rec.latency_ms} if rec.latency_ms is not None else {}),
        },
    )
