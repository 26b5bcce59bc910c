"""The search loop: sample an episode of children, evaluate them, store each, update the strategy, checkpoint.

Exact resume rests on three facts. The strategy's state (weights, optimizer,
baseline, sampling generator) is checkpointed as it stood at the start of an
episode, so the resumed run proposes the same children. Each child's training
seed depends only on (seed, episode, child). And a child already in the store
under the same (episode, child) and architecture is reused, never trained again.
So a run killed at any point, even with `kill -9`, and resumed, equals an
uninterrupted run child for child. With children in flight (`--in-flight K`) the
loop is `async_loop.run_in_flight`'s; this module keeps the run around it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nasrl.config import SearchConfig, make_config, read_config, save_config
from nasrl.errors import UserError
from nasrl.run.atomic import load_checkpoint, save_atomic, write_json_atomic
from nasrl.run.log import RunLog, format_seconds
from nasrl.run.records import ChildRecord, ChildResult
from nasrl.run.store import RunStore, rung_checkpoint_path
from nasrl.search.evaluators import Evaluator, SyntheticEvaluator, TrainEvaluator, reward_from_history
from nasrl.search.executors import Executor, make_executor
from nasrl.search.strategies import Strategy, make_strategy
from nasrl.space import Architecture
from nasrl.space.describe import dna_string, layer_table

CHECKPOINT_FORMAT = 1
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


def default_run_dir() -> Path:
    return Path("runs") / f"search-{datetime.now():%Y%m%d-%H%M%S}"


def prepare_run(cfg: SearchConfig, resume_dir: str | Path | None, overrides: dict[str, Any]) -> SearchConfig:
    """The config a run goes with: a new run's as given; a resumed run's from its folder plus allowed overrides."""
    if resume_dir is None:
        run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir()
        if (run_dir / "results.sqlite").exists():
            raise UserError(
                f"{run_dir} already holds a search: continue it with --resume {run_dir}, or pick another --run-dir."
            )
        return cfg.model_copy(update={"run_dir": str(run_dir)})
    run_dir = Path(resume_dir)
    if not (run_dir / "checkpoints" / "latest.pt").is_file():
        raise UserError(f"{run_dir} has no checkpoints/latest.pt: give the folder of a search started by nasrl.")
    saved = read_config(run_dir / "config.yaml")
    asked = make_config(saved.model_dump(), overrides)  # typed: `--seed 0` equals a saved seed of 0
    changed = {k for k in overrides if getattr(asked, k) != getattr(saved, k)} - RESUMABLE_OVERRIDES
    if changed:
        name = sorted(changed)[0]
        raise UserError(
            f"--{name.replace('_', '-')} differs from the run's config.yaml; a resumed run keeps its config "
            f"(only {', '.join(sorted('--' + k.replace('_', '-') for k in RESUMABLE_OVERRIDES))} may change)."
        )
    allowed = {k: v for k, v in overrides.items() if k in RESUMABLE_OVERRIDES}
    return make_config(saved.model_dump(), {**allowed, "run_dir": str(run_dir)})


def build_strategy(cfg: SearchConfig) -> Strategy:
    space = cfg.search_space()
    return make_strategy(cfg.strategy, space, cfg.seed, cfg.strategy_settings())


def build_evaluator(cfg: SearchConfig, progress: Progress | None) -> tuple[Evaluator, str]:
    """The evaluator and a sentence for the log saying what it evaluates on (the data set is loaded here)."""
    space = cfg.search_space()
    if cfg.evaluator == "synthetic":
        note = f"Evaluator: synthetic (hidden target from --synthetic-seed {cfg.synthetic_seed}; no training)"
        return SyntheticEvaluator(space, cfg.synthetic_seed), note
    data = load_search_data(cfg)
    reporter = ChildProgress(progress) if progress is not None else False
    evaluator = TrainEvaluator(cfg, data.train, data.val, data.device, num_classes=data.num_classes, progress=reporter)
    return evaluator, data.note


@dataclass
class SearchData:
    """The splits a search evaluates on, where, and a sentence for the log saying so."""

    train: Any  # data.Split
    val: Any
    num_classes: int
    device: Any  # torch.device
    note: str


def load_search_data(cfg: SearchConfig) -> SearchData:
    """Load and split the data set once per driver (a missing file or bad subset stops the run here)."""
    from nasrl.data import load_dataset, split_train_val
    from nasrl.train.loop import resolve_device

    device = resolve_device(cfg.device)
    start = time.perf_counter()
    data = cfg.data_settings()
    dataset = load_dataset(data.source, data.data_dir, data.resolution)
    train, val = split_train_val(dataset, data.val_size, data.split_seed, data.train_subset, data.val_subset)
    note = (
        f"Data: {dataset.name}: {len(train.y)} training / {len(val.y)} validation images, "
        f"{len(dataset.classes)} classes, {dataset.channels} channel(s) "
        f"(loaded in {format_seconds(time.perf_counter() - start)}); "
        f"children train on {device}"
    )
    return SearchData(train, val, len(dataset.classes), device, note)


class ChildProgress:
    """The child in training as a second bar under the episodes bar (a `train.ProgressReporter`)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("child", total=1, visible=False, stats="")
        self.epochs = self.steps = 1
        self.epoch = 0

    def begin(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs, self.steps = epochs, steps_per_epoch
        self.progress.reset(self.task, total=epochs * steps_per_epoch, visible=True, stats="")

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.progress.update(self.task, description=f"child, epoch {epoch}/{self.epochs}")

    def update(self, step: int, loss: float, acc: float) -> None:
        done = (self.epoch - 1) * self.steps + step
        self.progress.update(self.task, completed=done, stats=f"loss {loss:.3f} acc {acc:.1%}")

    def end_epoch(self, record: dict) -> None:
        if record.get("val_acc") is not None:
            self.progress.update(self.task, stats=f"val acc {record['val_acc']:.1%}")

    def close(self) -> None:
        self.progress.update(self.task, visible=False)


def save_checkpoint(
    store: RunStore, next_episode: int, strategy_state: dict, cfg: SearchConfig, proposed: int | None = None
) -> None:
    """The resume point, written to a temporary file and renamed (a crash never corrupts the last good one).
    `proposed` (children in flight): how many children the strategy had proposed when its state was taken."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "next_episode": next_episode,
        "strategy": strategy_state,
        "config": cfg.model_dump_json(),
        "saved_at": time.time(),
    }
    if proposed is not None:
        state["proposed"] = proposed
    save_atomic(state, store.checkpoint_path)


def load_search_checkpoint(path: Path) -> dict:
    advice = "results.sqlite is intact; start a new run to continue searching"
    return load_checkpoint(path, kind="search", fmt=CHECKPOINT_FORMAT, advice=advice)


class SearchInterrupt(BaseException):
    """SIGTERM, turned into an exception so the loop can checkpoint on the way out. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way (a child's evaluation, a log handler) takes it
    for a failed child."""


def raise_interrupt(signum: int, frame: Any) -> None:
    raise SearchInterrupt(signal.Signals(signum).name)


def run_search(
    cfg: SearchConfig,
    resume: bool = False,
    console: Console | None = None,
    quiet: bool = False,
) -> SearchSummary:
    """Run (or continue) a search to `cfg.episodes` episodes; the run folder is `cfg.run_dir`."""
    assert cfg.run_dir is not None, "prepare_run sets the run folder"
    board = None
    if cfg.tensorboard:  # before the store, so a missing tensorboard package stops us before anything is written
        from nasrl.run.tensorboard import TensorBoardScalars

        board = TensorBoardScalars(Path(cfg.run_dir) / "tensorboard", cfg.children)
    console = console or Console(stderr=True)
    progress = None if quiet else progress_display(console)
    if progress is not None and cfg.evaluator == "train":
        console.print(f"Loading data: {cfg.data} ...", soft_wrap=True, markup=False)
    # Data problems (missing files, bad subset sizes) stop the run here, before its folder holds anything.
    evaluator, evaluator_note = build_evaluator(cfg, progress)
    store = RunStore(cfg.run_dir)
    store.lock()  # the driver is the only writer: a second `--resume` of a live run stops here
    log = RunLog(store.run_dir, console=console, quiet=quiet)
    started = time.perf_counter()
    session = _Session(cfg, store, log, build_strategy(cfg), board, progress)
    first_episode = session.open(resume)
    log.info(evaluator_note, event="evaluator", evaluator=cfg.evaluator, data=cfg.data)
    store.set_meta(status="running", pid=os.getpid(), episodes=cfg.episodes, updated=time.time())
    try:
        episode, status = session.run(evaluator, first_episode)
    except BaseException as e:
        # Anything else is a bug or a user error raised mid-run: the store says so, the log keeps why.
        store.set_meta(status="failed", updated=time.time())
        log.error(f"The search stopped: {type(e).__name__}: {e}", event="failed", episode=session.episode)
        log.close()
        store.close()
        raise
    store.set_meta(status=status, updated=time.time())
    summary = SearchSummary(store.run_dir, status, episode, store.best(), store.counts(), time.perf_counter() - started)
    if status == "finished":
        _log_summary(log, summary)
    log.close()
    store.close()
    return summary


@dataclass
class _Session:
    """One driver session of a search: the strategy, the store and the displays, episode after episode."""

    cfg: SearchConfig
    store: RunStore
    log: RunLog
    strategy: Strategy
    board: Any  # TensorBoardScalars or None
    progress: Progress | None
    best: ChildRecord | None = None
    episode: int = 0

    def open(self, resume: bool) -> int:
        """Restore the strategy from the checkpoint (resume), or write a new run's config; the first episode."""
        cfg, store, log = self.cfg, self.store, self.log
        if resume:
            state = load_search_checkpoint(store.checkpoint_path)
            self.strategy.load_state_dict(state["strategy"])
            first = int(state["next_episode"])
            log.step(
                f"Resuming {store.run_dir} at episode {first + 1} of {cfg.episodes} "
                f"({store.counts()['children']} children already stored)",
                event="resume",
                episode=first,
            )
            return first
        save_config(cfg, store.config_path)
        space = cfg.search_space()
        log.info(
            f"New search in {store.run_dir}: {cfg.strategy} over space '{cfg.space}' "
            f"({cfg.max_layers} layers, {len(space.tokens)} tokens per layer, skips {'on' if space.skips else 'off'}), "
            f"{cfg.episodes} episodes x {cfg.children} children, evaluator {cfg.evaluator}, seed {cfg.seed}",
            event="start",
            config=cfg.model_dump(),
        )
        save_checkpoint(store, 0, self.strategy.state_dict(), cfg)
        return 0

    def run(self, evaluator: Evaluator, first_episode: int) -> tuple[int, str]:
        """Episodes until the last or an interruption (Ctrl-C, SIGTERM: checkpointed at the episode's start);
        returns the next episode and the status. The executor is closed however this ends."""
        cfg = self.cfg
        self.episode = first_episode
        episode_start_state = self.strategy.state_dict()  # a snapshot: Strategy.state_dict copies
        previous_term = signal.signal(signal.SIGTERM, raise_interrupt)
        executor = None
        try:
            task = None
            if self.progress is not None:
                self.progress.start()
                task = self.progress.add_task("episodes", total=cfg.episodes, completed=first_episode, stats="")
            executor = make_executor(cfg, evaluator)
            self.log.info(executor.description, event="executor", executor=cfg.executor)
            session_start = time.perf_counter()
            self.best = self.store.best()
            if self.best is not None:  # a kill may have come after a new best was stored, before its file
                _write_best(self.store, self.best)

            def episode_done() -> None:
                self.log_eta(self.episode - first_episode + 1, time.perf_counter() - session_start)
                if self.progress is not None and task is not None:
                    self.progress.update(task, completed=self.episode + 1)

            if cfg.in_flight is not None:
                from nasrl.search.async_loop import run_in_flight  # it builds on this module's helpers

                run_in_flight(self, executor, first_episode, episode_done)
            else:
                for self.episode in range(first_episode, cfg.episodes):
                    episode_start_state = self.strategy.state_dict()
                    self.run_episode(executor, self.episode)
                    episode_done()
            self.episode = cfg.episodes
            return self.episode, "finished"
        except (KeyboardInterrupt, SearchInterrupt) as e:
            if cfg.in_flight is None:  # in flight, the last update's checkpoint and the pending rows resume
                save_checkpoint(self.store, self.episode, episode_start_state, cfg)
            self.log.error(
                f"Interrupted ({str(e) or 'SIGINT'}) during episode {self.episode + 1}: checkpoint saved; "
                f"continue with `nasrl search --resume {self.store.run_dir}`",
                event="interrupted",
                episode=self.episode,
            )
            return self.episode, "interrupted"
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            if executor is not None:
                executor.close()
            if self.progress is not None:
                self.progress.stop()
            if self.board is not None:
                self.board.close()

    def run_episode(self, executor: Executor, episode: int) -> None:
        """Propose, evaluate and store the children, update the strategy, record the step, checkpoint."""
        cfg, store, log = self.cfg, self.store, self.log
        num_layers = cfg.layers_at(episode * cfg.children)
        self.strategy.set_num_layers(num_layers)
        architectures = self.strategy.propose(cfg.children)
        log.step(
            f"Episode {episode + 1}/{cfg.episodes}: {cfg.children} children of {num_layers} layers",
            event="episode_start",
            episode=episode,
            num_layers=num_layers,
        )
        records = _evaluate_episode(store, executor, log, episode, architectures, cfg)
        self.note_best(records)
        stats = self.strategy.update(architectures, [r.reward for r in records])
        self.record_update(episode, records, stats, num_layers)
        if (episode + 1) % cfg.checkpoint_every == 0 or episode + 1 == cfg.episodes:
            save_checkpoint(store, episode + 1, self.strategy.state_dict(), cfg)
        store.set_meta(episodes_done=episode + 1, updated=time.time())

    def record_update(self, episode: int, records: list[ChildRecord], stats: dict[str, float], num_layers: int) -> None:
        """A strategy update into the store, TensorBoard and the log, then the collapse check (both loops)."""
        self.store.record_step(episode, stats, num_layers)
        if self.board is not None:
            self.board.episode(episode, records, stats, self.best.reward if self.best is not None else None)
        self.log.metric(
            f"Controller: mean reward {stats['mean_reward']:.4f}, baseline {stats['baseline']:.4f}, "
            f"loss {stats['loss']:.4f}, entropy {stats['entropy']:.3f}, lr {stats['lr']:.2e}",
            event="controller_step",
            episode=episode,
            **{k: float(v) for k, v in stats.items()},
        )
        _collapse_check(self.store, self.log, self.cfg, num_layers)

    def note_best(self, records: list[ChildRecord]) -> None:
        """A child better than every earlier one becomes best_architecture.json at once."""
        for rec in records:
            if rec.ok and (self.best is None or rec.reward > self.best.reward):
                self.best = rec
                _write_best(self.store, rec)
                self.log.success(
                    f"New best: reward {rec.reward:.4f} (episode {rec.episode + 1}, child {rec.child + 1})",
                    event="best",
                    reward=rec.reward,
                    episode=rec.episode,
                    child=rec.child,
                )

    def log_eta(self, done: int, elapsed: float) -> None:
        remaining = elapsed / done * (self.cfg.episodes - self.episode - 1)
        self.log.info(
            f"Episode {self.episode + 1} done in {format_seconds(elapsed / done)} on average; "
            f"about {format_seconds(remaining)} left",
            event="eta",
            seconds_left=remaining,
        )


def _evaluate_episode(
    store: RunStore,
    executor: Executor,
    log: RunLog,
    episode: int,
    architectures: list[Architecture],
    cfg: SearchConfig,
) -> list[ChildRecord]:
    """Every child of the episode, stored as soon as it is known: from the store, the cache, or evaluated (in
    rungs of successive halving when the config has them)."""
    records: dict[int, ChildRecord] = {}
    pending: list[tuple[int, Architecture]] = []
    first_of_hash: dict[str, int] = {}
    duplicates: list[tuple[int, Architecture]] = []
    for index, arch in enumerate(architectures):
        arch_hash = arch.hash()
        stored = store.child(episode, index)
        if stored is not None and stored.arch_hash == arch_hash and not cfg.rungs:
            records[index] = stored  # finished before an interruption: never trained again
            log.info(f"  child {index + 1}: already stored (reward {stored.reward:.4f})", event="child_reused")
            continue
        known = store.evaluated(arch_hash)
        # With rungs, this episode's own rows may be half-way (a resumed run): only earlier episodes answer.
        if known is not None and (not cfg.rungs or known.episode < episode):
            records[index] = _store_cached(store, log, episode, index, arch, known)
        elif arch_hash in first_of_hash:
            duplicates.append((index, arch))
        else:
            first_of_hash[arch_hash] = index
            pending.append((index, arch))
    for index, arch in pending:
        log.architecture(
            f"  child {index + 1}: {dna_string(arch)}",
            event="child_start",
            episode=episode,
            child=index,
            arch_hash=arch.hash(),
        )
    if cfg.rungs:
        records.update(_successive_halving(store, executor, log, episode, pending, cfg))
    else:
        for index, arch, result in executor.run(episode, pending):
            records[index] = _store_result(store, log, episode, index, arch, result)
    for index, arch in duplicates:
        known = store.evaluated(arch.hash()) or records[first_of_hash[arch.hash()]]
        records[index] = _store_cached(store, log, episode, index, arch, known)
    return [records[i] for i in range(len(architectures))]


def _successive_halving(
    store: RunStore,
    executor: Executor,
    log: RunLog,
    episode: int,
    pending: list[tuple[int, Architecture]],
    cfg: SearchConfig,
) -> dict[int, ChildRecord]:
    """Synchronous successive halving (Jamieson & Talwalkar 2016; Li et al. 2018's Hyperband inner loop): every
    child trains to the first rung; the best 1/eta of them (at least one) continue from their weights to the next
    rung, and so on. A child's stored row is rewritten at each rung it reaches, so its reward is its accuracy at
    the last rung it reached: biased against the children stopped early, which never saw the longer schedule.
    Rows already stored at a rung (a resumed run) are not trained again; their rung's accuracy comes from their
    stored per-epoch history."""
    records: dict[int, ChildRecord] = {}
    survivors = list(pending)
    for rung, epochs in enumerate(cfg.rung_epochs):
        todo = []
        for index, arch in survivors:
            stored = store.child(episode, index)
            if stored is not None and stored.arch_hash == arch.hash() and (stored.rung or 0) >= rung:
                records[index] = stored
            else:
                todo.append((index, arch))
        if todo:
            log.step(
                f"  rung {rung + 1}/{len(cfg.rung_epochs)}: {len(todo)} children to {epochs} epochs",
                event="rung_start",
                episode=episode,
                rung=rung,
                epochs=epochs,
            )
        for index, arch, result in executor.run(episode, todo, epochs=epochs):
            records[index] = _store_result(store, log, episode, index, arch, result, rung=rung)
        alive = [(i, a) for i, a in survivors if records[i].ok]
        keep = max(1, len(survivors) // cfg.eta)
        ranked = sorted(alive, key=lambda ia: (-_accuracy_at(records[ia[0]], epochs, cfg), ia[0]))
        survivors = ranked[:keep]
    for index, _ in pending:
        # The episode's rows hold every result: the paused weights can go.
        rung_checkpoint_path(store.run_dir, episode, index).unlink(missing_ok=True)
    return records


def _accuracy_at(record: ChildRecord, epochs: int, cfg: SearchConfig) -> float:
    """A child's reward as it stood after `epochs` epochs (its stored history may reach a later rung)."""
    history = json.loads(record.history_json) if record.history_json else []
    return reward_from_history(history[:epochs], cfg.reward_metric) if history else record.reward


def _store_result(
    store: RunStore,
    log: RunLog,
    episode: int,
    index: int,
    arch: Architecture,
    result: ChildResult,
    rung: int | None = None,
    proposal_log_prob: float | None = None,
) -> ChildRecord:
    rec = ChildRecord.of(episode, index, arch, result, rung=rung, proposal_log_prob=proposal_log_prob)
    store.record_child(rec)
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
    else:
        log.error(
            f"  child {index + 1} failed: {result.error} (reward {result.reward})",
            event="child_failed",
            episode=episode,
            child=index,
            error=result.error,
        )
    return rec


def _store_cached(
    store: RunStore,
    log: RunLog,
    episode: int,
    index: int,
    arch: Architecture,
    known: ChildRecord,
    proposal_log_prob: float | None = None,
) -> ChildRecord:
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


def _write_best(store: RunStore, rec: ChildRecord) -> None:
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
        },
    )


def _collapse_check(store: RunStore, log: RunLog, cfg: SearchConfig, num_layers: int) -> None:
    """Warn once per run when the policy stopped exploring while rewards stopped rising."""
    from nasrl.search.strategies import collapse_warning
    from nasrl.space import uniform_entropy

    if cfg.strategy not in ("reinforce", "ppo") or store.meta().get("collapse_warned"):
        return
    steps = store.steps()
    threshold = cfg.collapse_entropy * uniform_entropy(cfg.search_space(num_layers))
    message = collapse_warning([s["entropy"] for s in steps], [s["mean_reward"] for s in steps], threshold)
    if message:
        store.set_meta(collapse_warned=steps[-1]["episode"])
        log.error(message, event="collapse_warning", episode=steps[-1]["episode"])


def _log_summary(log: RunLog, summary: SearchSummary) -> None:
    counts = summary.counts
    log.success(
        f"Search finished: {counts['children']} children ({counts['evaluated']} evaluated, {counts['cached']} "
        f"cached, {counts['failed']} failed) in {format_seconds(summary.seconds)}",
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


def progress_display(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=True,
    )
