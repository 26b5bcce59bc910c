"""Schedulers decide how long each child trains (in the style of Ray Tune's: a result in, continue / pause / stop
out), for any driver whose evaluator trains children. One algorithm per module; `make_scheduler` picks the one a
config asks for (none: every child trains its full schedule once)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from nasrl.config import SearchConfig
from nasrl.run.records import ChildRecord

#: A child's key in the store: (episode, child).
Key = tuple[int, int]


class Decision(str, Enum):
    CONTINUE = "continue"  # train on, now, to `Verdict.epochs`
    PAUSE = "pause"  # wait: the child's cohort has not yet all reported at this rung
    STOP = "stop"  # final: the child's last result is its reward


@dataclass(frozen=True)
class Verdict:
    key: Key
    decision: Decision
    epochs: int | None = None  # CONTINUE: train up to this many epochs


class Scheduler(Protocol):
    """Children join a cohort (`admit`), which is sealed once no more will join (`seal`); each result of a child
    (`on_result`) settles the decisions it can: the reporting child's, and with a rung complete every paused one's."""

    first_epochs: int  # what a child first trains to

    def admit(self, cohort: Hashable, key: Key) -> None: ...

    def seal(self, cohort: Hashable) -> list[Verdict]: ...

    def rung(self, key: Key) -> int: ...

    def on_result(self, key: Key, record: ChildRecord) -> list[Verdict]: ...

    def forget(self, key: Key) -> None: ...


def make_scheduler(cfg: SearchConfig) -> Scheduler | None:
    """Successive halving when the config has rungs, else none."""
    from nasrl.search.schedulers.halving import SuccessiveHalving

    return (
        SuccessiveHalving(cfg.scheduler.rung_epochs, cfg.scheduler.eta, cfg.evaluator.reward_metric)
        if cfg.scheduler.rungs
        else None
    )
