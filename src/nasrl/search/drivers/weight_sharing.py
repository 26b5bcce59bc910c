"""The weight-sharing driver (`nasrl search --evaluator shared`) and `nasrl derive`: epochs of `sharing.run_epoch`
with the run folder's store, log, progress and checkpoints around them, then deriving the architecture."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from nasrl.benchmarks import BENCHMARKS, BenchmarkTable, load_table
from nasrl.config import SearchConfig, read_config
from nasrl.errors import UserError
from nasrl.run.atomic import write_json_atomic
from nasrl.run.log import RunLog, format_seconds
from nasrl.run.records import ChildRecord, ChildResult
from nasrl.run.store import RunStore
from nasrl.search.checkpoints import load_shared_checkpoint, save_shared_checkpoint
from nasrl.search.evaluators import evaluator_kind
from nasrl.search.evaluators.data import load_search_data
from nasrl.search.objective import Objective, make_objective
from nasrl.search.session import Session
from nasrl.search.sharing import Derived, SharedWeights, derive, random_baseline, run_epoch
from nasrl.search.strategies import Strategy, make_strategy
from nasrl.search.table_check import table_check
from nasrl.space.describe import layer_table


class WeightSharingDriver:
    """ENAS's search: shared-weight epochs, each followed by the controller's steps; at the end, deriving."""

    def __init__(self, cfg: SearchConfig, shared: SharedWeights, note: str) -> None:
        self.cfg = cfg
        self.shared = shared
        self.note = note
        self.total_steps = cfg.evaluator.shared_epochs * cfg.evaluator.controller_steps
        self.first_epoch = 0
        self.epoch = 0
        self.best: ChildRecord | None = None

    def start(self, session: Session) -> None:
        cfg, shared = self.cfg, self.shared
        channels = shared.network.space.channels
        width = f", {channels} channels" if channels is not None else ""
        session.log.info(
            f"New weight-sharing search in {session.store.run_dir}: {cfg.strategy.name} over space "
            f"'{cfg.space.name}' ({cfg.max_layers} layers{width}), "
            f"{cfg.evaluator.shared_epochs} epochs of {len(shared.train_batches)} steps, then "
            f"{cfg.evaluator.controller_steps} controller steps of {cfg.run.children} architectures; "
            f"seed {cfg.run.seed}",
            event="start",
            config=cfg.flat(),
        )
        save_shared_checkpoint(session.store, 0, shared.state_dict(), session.strategy.state_dict())
        self.first_epoch = 0

    def resume(self, session: Session) -> None:
        self.first_epoch = restore_shared(session.store, self.shared, session.strategy)
        session.log.step(
            f"Resuming {session.store.run_dir} at epoch {self.first_epoch + 1} of {self.cfg.evaluator.shared_epochs}",
            event="resume",
            epoch=self.first_epoch,
        )

    def run(self, session: Session) -> None:
        """Epochs until the last, then deriving (the checkpoint of an epoch's start stays the resume point)."""
        cfg, store, log = self.cfg, session.store, session.log
        log.info(self.note, event="evaluator", evaluator=cfg.evaluator.name, data=cfg.data.source)
        progress, task = session.progress, None
        if progress is not None:
            task = progress.add_task("controller steps", total=cfg.evaluator.controller_steps, stats="")
        for epoch in range(self.first_epoch, cfg.evaluator.shared_epochs):
            self.epoch = epoch
            log.step(
                f"Epoch {epoch + 1}/{cfg.evaluator.shared_epochs}: shared weights, then the controller",
                event="epoch_start",
                epoch=epoch,
            )
            if progress is not None and task is not None:
                progress.update(task, completed=0, description=f"epoch {epoch + 1}/{cfg.evaluator.shared_epochs}")
            self.run_one_epoch(session, _step_counter(progress, task))
        self.best = derive_and_write(
            self.shared, session.strategy, store, log, cfg.evaluator.derive_samples, objective=session.objective
        )

    def run_one_epoch(self, session: Session, on_step: Any) -> None:
        """One epoch of shared weights and controller steps, stored and checkpointed."""
        cfg, store, epoch = self.cfg, session.store, self.epoch
        stats = run_epoch(self.shared, session.strategy, store, epoch, on_step, session.objective)
        store.record_shared_epoch(epoch, stats.as_dict())
        if session.board is not None:
            session.board.shared_epoch(epoch, stats.as_dict())
        save_shared_checkpoint(store, epoch + 1, self.shared.state_dict(), session.strategy.state_dict())
        store.set_meta(episodes_done=(epoch + 1) * cfg.evaluator.controller_steps, updated=time.time())
        session.log.metric(
            f"Epoch {epoch + 1}: shared loss {stats.train_loss:.4f}, acc {stats.train_acc:.4f}, lr "
            f"{stats.lr:.2e}; controller mean reward {stats.mean_reward:.4f}, entropy {stats.entropy:.3f}; "
            f"{format_seconds(stats.seconds)}",
            event="shared_epoch",
            epoch=epoch,
            **stats.as_dict(),
        )

    def interrupted(self, session: Session) -> str:
        return f"during epoch {self.epoch + 1}: the checkpoint of its start stays"

    def outcome(self, session: Session) -> tuple[int, ChildRecord | None]:
        return len(session.store.shared_epochs()), self.best

    def close(self) -> None:
        pass


def _step_counter(progress: Any, task: Any) -> Any:
    """The controller-steps bar's update, or None without a display."""
    if progress is None or task is None:
        return None
    return lambda step: progress.update(task, completed=step)


def restore_shared(store: RunStore, shared: SharedWeights, strategy: Strategy) -> int:
    """Restore the shared weights, their optimizer and the strategy; the next epoch."""
    state = load_shared_checkpoint(store.checkpoint_path)
    shared.load_state_dict(state["shared"])
    strategy.load_state_dict(state["strategy"])
    return int(state["next_epoch"])


def derive_and_write(
    shared: SharedWeights,
    strategy: Strategy,
    store: RunStore,
    log: RunLog,
    samples: int,
    check: int = 0,
    check_epochs: int = 2,
    objective: Objective | None = None,
) -> ChildRecord:
    """Derive, write best_architecture.json and derived.json (the ranked list), log the top, and with `check` run
    the rank check; the best as a row. With an `objective`, the ranking is by its reward among the samples within
    its limits (the checks still score every sample)."""
    objective = objective or Objective()
    sampled = derive(shared, strategy, samples)
    ranked, rewards = _by_objective(sampled, objective, samples)
    scored_randoms = random_baseline(shared, samples, shared.cfg.run.seed + 1)
    randoms = [d.val_acc for d in scored_randoms]
    entries = [{**_derived_entry(rank, d), "reward": r} for rank, (d, r) in enumerate(zip(ranked, rewards), 1)]
    write_json_atomic(store.run_dir / "derived.json", entries)
    best, costs = ranked[0], objective.judge(ranked[0].architecture).costs
    accs = [d.val_acc for d in ranked]
    baseline = {"samples": len(randoms), "best": randoms[0], "median": _median(randoms)}
    write_json_atomic(
        store.best_path,
        {
            **entries[0],
            **({"params": costs.params, "flops": costs.flops} if objective.active else {}),
            **({"latency_ms": costs.latency_ms} if costs.latency_ms is not None else {}),
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
    table = _table_of(shared.cfg)
    if table is not None:
        _table_check(shared, sampled, scored_randoms, table, store, log)
    if check:
        _rank_check(shared, [*sampled, *scored_randoms], store, log, check, check_epochs)
    return ChildRecord.of(-1, 0, best.architecture, ChildResult(reward=rewards[0], val_acc=best.val_acc))


def _by_objective(sampled: list[Derived], objective: Objective, samples: int) -> tuple[list[Derived], list[float]]:
    """The samples within the objective's limits, best reward first, and their rewards; none within is one
    sentence (the run's checkpoint stays: derive again with more samples)."""
    scored = []
    for d in sampled:
        judged = objective.judge(d.architecture)
        if not judged.over_limit:
            scored.append((d, objective.reward(d.val_acc, judged.costs)))
    if not scored:
        raise UserError(
            f"None of the {samples} architectures sampled from the final policy is within the objective's limits: "
            "derive again with more samples (`nasrl derive RUN_DIR --samples 1000`), or loosen the limits."
        )
    scored.sort(key=lambda pair: -pair[1])
    return [d for d, _ in scored], [r for _, r in scored]


def _table_of(cfg: SearchConfig) -> BenchmarkTable | None:
    """The benchmark table that knows every architecture of the run's space (nb201's, on the data set of
    `--benchmark-dataset`), or None for a space no table covers."""
    settings = cfg.evaluator
    if BENCHMARKS[settings.benchmark].space != cfg.search_space().family.name:
        return None
    return load_table(settings.benchmark, settings.benchmark_dataset, settings.benchmark_table)


def _table_check(
    shared: SharedWeights,
    ranked: list[Derived],
    randoms: list[Derived],
    table: BenchmarkTable,
    store: RunStore,
    log: RunLog,
) -> None:
    """Score random cells until at least `table_check_cells` distinct ones are checked, correlate them with the table
    (`table_check`), write the check into rank_check.json and the derived cell's table figures into
    best_architecture.json, and log both."""
    seen = {d.architecture.hash() for d in [*ranked, *randoms]}
    extra = max(0, shared.cfg.evaluator.table_check_cells - len(seen))
    if extra:
        more = random_baseline(shared, extra + 50, shared.cfg.run.seed + 2)  # a margin for repeats
        randoms = [*randoms, *[d for d in more if d.architecture.hash() not in seen][:extra]]
    check = table_check(ranked, randoms, table)
    result = check.as_dict()
    _merge_json(store.run_dir / "rank_check.json", {"table": result})
    _merge_json(
        store.best_path,
        {"table": {**check.derived, "dataset": table.dataset, "optimum": check.optimum, "median": check.median}},
    )
    derived = check.derived
    log.success(
        f"Table check on {len(check.entries)} cells (no training): Kendall tau {result['kendall_tau']:.3f}, "
        f"Spearman rho {result['spearman_rho']:.3f} between shared-weight accuracy and NAS-Bench-201's 200-epoch "
        f"test accuracy on {table.dataset} (12-epoch validation: tau {result['kendall_tau_valid_12ep']:.3f}). "
        f"The derived cell {derived['cell']} has {derived['test_200ep']:.2f}% after 200 epochs (the table's best "
        f"{check.optimum:.2f}%, its median cell {check.median:.2f}%).",
        event="table_check",
        kendall_tau=result["kendall_tau"],
        spearman_rho=result["spearman_rho"],
        kendall_tau_valid_12ep=result["kendall_tau_valid_12ep"],
        derived_test_200ep=derived["test_200ep"],
        k=len(check.entries),
    )


def _merge_json(path: Path, fields: dict[str, Any]) -> None:
    """`path`'s JSON object with `fields` set (a new file if there is none), written atomically."""
    current = json.loads(path.read_text()) if path.is_file() else {}
    write_json_atomic(path, {**current, **fields})


def _rank_check(
    shared: SharedWeights, candidates: list[Derived], store: RunStore, log: RunLog, k: int, epochs: int
) -> None:
    """Train k candidates stand-alone, write rank_check.json, log the correlations (see `rank_check`)."""
    from nasrl.search.rank_check import rank_check

    log.step(f"Rank check: training {k} architectures stand-alone for {epochs} epochs each", event="rank_check_start")
    check = rank_check(shared, candidates, k, epochs)
    _merge_json(store.run_dir / "rank_check.json", check.as_dict())
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
    if not evaluator_kind(cfg.evaluator.name).shares_weights:
        raise UserError(
            f"{run_dir} is a search with --evaluator {cfg.evaluator.name}: only weight-sharing runs derive."
        )
    cfg = cfg.with_flat(run_dir=str(run_dir))
    data = load_search_data(cfg)
    shared, _ = evaluator_kind(cfg.evaluator.name).build(cfg, data, None)
    strategy = make_strategy(cfg.strategy.name, cfg.search_space(), cfg.run.seed, cfg.strategy_settings())
    store = RunStore(cfg.run.run_dir)
    store.lock()
    log = RunLog(store.run_dir, quiet=quiet)
    try:
        epoch = restore_shared(store, shared, strategy)
        log.step(f"Deriving from the checkpoint after epoch {epoch} of {cfg.evaluator.shared_epochs}", event="derive")
        samples = samples or cfg.evaluator.derive_samples
        objective = make_objective(cfg, shared.geometry)
        return derive_and_write(shared, strategy, store, log, samples, rank_check, rank_epochs, objective)
    finally:
        log.close()
        store.close()
