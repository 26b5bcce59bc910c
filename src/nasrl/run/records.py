"""A child's outcome and its stored row: `ChildResult` (what an evaluation produced) and `ChildRecord` (that
result with the child's identity, as `results.sqlite` keeps it), with the one status enum both use."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nasrl.space import Architecture

#: The reward of a failed child: the lowest an accuracy can be, so a strategy learns to avoid what fails.
FAILED_REWARD = 0.0


class ChildStatus(str, Enum):
    """How a child's evaluation ended; the values are what the store's `status` column holds."""

    OK = "ok"
    FAILED = "failed"
    PENDING = "pending"  # submitted, result not yet known (children in flight); never a finished child
    OVER_LIMIT = "over_limit"  # over a hard limit of the objective: never trained, never best


@dataclass
class ChildResult:
    """What one evaluation produced; `reward` is what the strategy learns from (before its transform)."""

    reward: float
    val_acc: float | None = None
    params: int | None = None
    flops: int | None = None
    train_seconds: float = 0.0
    status: ChildStatus = ChildStatus.OK
    error: str | None = None
    history: list[dict[str, Any]] | None = None
    #: A benchmark's held-out accuracy (NAS-Bench-201's 200-epoch test accuracy): stored, never a reward.
    test_acc: float | None = None
    #: The median batch-1 forward time, and every batch size's measurement (`nets.latency.Latency.as_dict()`).
    latency_ms: float | None = None
    latency: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == ChildStatus.OK

    @classmethod
    def failure(cls, error: str, seconds: float = 0.0, **known: Any) -> ChildResult:
        """A failed child: reward `FAILED_REWARD`, its error, and whatever was known before it failed."""
        return cls(reward=FAILED_REWARD, status=ChildStatus.FAILED, error=error, train_seconds=seconds, **known)

    @classmethod
    def from_exception(cls, error: BaseException, seconds: float = 0.0) -> ChildResult:
        """The one place an evaluator's exception becomes a failed child (its last traceback line as the error)."""
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return cls.failure(detail, seconds)


@dataclass
class ChildRecord:
    """One evaluated child as stored: its key (episode, child), architecture and `ChildResult`'s fields."""

    episode: int
    child: int
    arch_json: str
    arch_hash: str
    num_layers: int
    reward: float
    val_acc: float | None = None
    params: int | None = None
    flops: int | None = None
    train_seconds: float = 0.0
    status: ChildStatus = ChildStatus.OK
    error: str | None = None
    cached: bool = False  # answered from an earlier child with the same architecture, not trained again
    history_json: str | None = None  # per-epoch metrics of the child's training
    finished_at: float = field(default_factory=time.time)
    rung: int | None = None  # successive halving: the last rung reached (0-based), its accuracy is `reward`
    arrival: int | None = None  # the store numbers finished rows 0, 1, 2, ... in the order their results came
    proposal_log_prob: float | None = None  # log pi(arch) of the policy that proposed it (children in flight)
    test_acc: float | None = None  # a benchmark's held-out accuracy of the child, never seen by a strategy
    latency_ms: float | None = None  # the median batch-1 forward time, when the run measured latency
    latency_json: str | None = None  # every batch size's latency measurement

    def __post_init__(self) -> None:
        self.status = ChildStatus(self.status)  # rows read back from SQLite hold the plain string

    @property
    def ok(self) -> bool:
        return self.status == ChildStatus.OK

    @classmethod
    def of(
        cls,
        episode: int,
        child: int,
        arch: Architecture,
        result: ChildResult,
        cached: bool = False,
        rung: int | None = None,
        proposal_log_prob: float | None = None,
    ) -> ChildRecord:
        """The one builder of stored rows, for trained and cached children alike."""
        return cls(
            episode=episode,
            child=child,
            arch_json=arch.to_json(),
            arch_hash=arch.hash(),
            num_layers=arch.num_layers,
            reward=result.reward,
            val_acc=result.val_acc,
            params=result.params,
            flops=result.flops,
            train_seconds=result.train_seconds,
            status=result.status,
            error=result.error,
            cached=cached,
            history_json=json.dumps(result.history) if result.history is not None else None,
            rung=rung,
            proposal_log_prob=proposal_log_prob,
            test_acc=result.test_acc,
            latency_ms=result.latency_ms,
            latency_json=json.dumps(result.latency) if result.latency is not None else None,
        )

    @classmethod
    def pending(cls, episode: int, child: int, arch: Architecture, proposal_log_prob: float | None) -> ChildRecord:
        """The row of a child in flight: what a driver killed before its result needs to submit it again."""
        return cls(
            episode,
            child,
            arch.to_json(),
            arch.hash(),
            arch.num_layers,
            reward=FAILED_REWARD,
            status=ChildStatus.PENDING,
            proposal_log_prob=proposal_log_prob,
        )

    def result(self) -> ChildResult:
        """This row's outcome, as an evaluation would return it (the cache answers with it)."""
        history = json.loads(self.history_json) if self.history_json else None
        return ChildResult(
            self.reward,
            self.val_acc,
            self.params,
            self.flops,
            self.train_seconds,
            self.status,
            self.error,
            history,
            self.test_acc,
            self.latency_ms,
            json.loads(self.latency_json) if self.latency_json else None,
        )
