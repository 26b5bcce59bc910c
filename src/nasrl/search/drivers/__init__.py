"""The ways a search runs inside the one lifecycle of `search.run`: episodes of children (`episodes`), children
kept in flight (`in_flight`), and weight sharing (`weight_sharing`). `make_driver` picks one from the config and
the evaluator's capabilities, never from names."""

from __future__ import annotations

from typing import Protocol

from nasrl.config import SearchConfig
from nasrl.run.records import ChildRecord
from nasrl.search.evaluators.base import Evaluator
from nasrl.search.session import Session


class Driver(Protocol):
    """One way of running a search. `run.run_search` opens the store, the log and the strategy around it, turns
    Ctrl-C and SIGTERM into `interrupted`, and records the outcome; the driver does the rest."""

    #: What the run's meta counts as its total (episodes, or epochs x controller steps).
    total_steps: int

    def start(self, session: Session) -> None:
        """A new run: announce it and write its first checkpoint (config.yaml is already written)."""
        ...

    def resume(self, session: Session) -> None:
        """Continue from the run's checkpoint."""
        ...

    def run(self, session: Session) -> None:
        """To the end; Ctrl-C and SIGTERM propagate (as KeyboardInterrupt and `run.SearchInterrupt`)."""
        ...

    def interrupted(self, session: Session) -> str:
        """Keep the resume point after an interruption; the words for the log ("during episode 3")."""
        ...

    def outcome(self, session: Session) -> tuple[int, ChildRecord | None]:
        """The episodes (or epochs) done and the best child."""
        ...

    def close(self) -> None:
        """Release what the driver started (an executor), however the run ended."""
        ...


def make_driver(cfg: SearchConfig, evaluator: Evaluator, note: str) -> Driver:
    """Weight sharing when the evaluator shares weights, children in flight with `--in-flight`, else episodes."""
    if evaluator.shares_weights:
        from nasrl.search.drivers.weight_sharing import WeightSharingDriver

        return WeightSharingDriver(cfg, evaluator, note)  # type: ignore[arg-type]
    if cfg.executor.in_flight is not None:
        from nasrl.search.drivers.in_flight import InFlightDriver

        return InFlightDriver(cfg, evaluator, note)
    from nasrl.search.drivers.episodes import EpisodesDriver

    return EpisodesDriver(cfg, evaluator, note)
