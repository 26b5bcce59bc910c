"""One driver session of a search: the config, the store, the log, the strategy and the displays, and what every
driver does with them after an evaluation or an update (the best so far, the step's record, the ETA)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.progress import Progress

from nasrl.config import SearchConfig
from nasrl.run.log import RunLog, format_seconds
from nasrl.run.records import ChildRecord
from nasrl.run.store import RunStore
from nasrl.search.objective import Objective
from nasrl.search.storing import write_best
from nasrl.search.strategies import Strategy, strategy_kind
from nasrl.search.strategies.collapse import collapse_warning
from nasrl.space import uniform_entropy


@dataclass
class Session:
    """What a driver works with; `best` is the best child so far (within the objective's limits), `episode` the
    episode (or epoch) under way, `objective` what the children's rewards mean."""

    cfg: SearchConfig
    store: RunStore
    log: RunLog
    strategy: Strategy
    board: Any  # TensorBoardScalars or None
    progress: Progress | None
    best: ChildRecord | None = None
    episode: int = 0
    objective: Objective = field(default_factory=Objective)

    def note_best(self, records: list[ChildRecord]) -> None:
        """A child better than every earlier one becomes best_architecture.json at once."""
        for rec in records:
            if rec.ok and (self.best is None or rec.reward > self.best.reward):
                self.best = rec
                write_best(self.store, rec)
                self.log.success(
                    f"New best: reward {rec.reward:.4f} (episode {rec.episode + 1}, child {rec.child + 1})",
                    event="best",
                    reward=rec.reward,
                    episode=rec.episode,
                    child=rec.child,
                )

    def restore_best(self) -> None:
        """The store's best, its file rewritten: a kill may have come after a new best was stored, before its file."""
        self.best = self.store.best()
        if self.best is not None:
            write_best(self.store, self.best)

    def record_update(self, episode: int, records: list[ChildRecord], stats: dict[str, float], num_layers: int) -> None:
        """A strategy update into the store, TensorBoard and the log, then the collapse check."""
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
        self.collapse_check(num_layers)

    def collapse_check(self, num_layers: int) -> None:
        """Warn once per run when a learned policy stopped exploring while rewards stopped rising."""
        if not strategy_kind(self.cfg.strategy.name).has_policy or self.store.meta().get("collapse_warned"):
            return
        steps = self.store.steps()
        threshold = self.cfg.run.collapse_entropy * uniform_entropy(self.cfg.search_space(num_layers))
        message = collapse_warning([s["entropy"] for s in steps], [s["mean_reward"] for s in steps], threshold)
        if message:
            self.store.set_meta(collapse_warned=steps[-1]["episode"])
            self.log.error(message, event="collapse_warning", episode=steps[-1]["episode"])

    def log_eta(self, done: int, elapsed: float, total: int) -> None:
        """After `done` of this session's episodes in `elapsed` seconds: the average and what is left of `total`."""
        remaining = elapsed / done * (total - self.episode - 1)
        self.log.info(
            f"Episode {self.episode + 1} done in {format_seconds(elapsed / done)} on average; "
            f"about {format_seconds(remaining)} left",
            event="eta",
            seconds_left=remaining,
        )
