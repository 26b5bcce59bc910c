"""What every evaluator promises (`Evaluator`), the one place an evaluator's exception becomes a failed child
(`evaluate_safely`), and the per-child seed that makes evaluation order irrelevant.

A child that fails (bad shapes, out of memory, any exception) raises; `evaluate_safely`, which every executor
calls, turns that into a failed `ChildResult` (reward 0 and its error), so one bad child never stops a search. A
diverged training is not an exception: it is a failed result too.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar, Protocol

import torch

from nasrl.run.records import FAILED_REWARD, ChildResult
from nasrl.space import Architecture


class Evaluator(Protocol):
    """Turns an architecture into a reward; `episode` and `child_index` seed its training reproducibly.
    `epochs` is a rung of successive halving: train (or continue training) the child up to that many epochs.

    Capabilities, read by the search instead of the evaluator's name: `needs_data` (the data set is loaded for
    it), `trains_children` (each child is trained, so successive halving and per-child training settings apply),
    `shares_weights` (one shared network is trained instead: the weight-sharing driver runs the search).
    `reward_fields`: the config fields that decide what a reward means, each with what runs that differ in it do
    (runs compared side by side must agree on them). `describe(cfg)`: the report's sentence on how a run's
    children were rewarded. `fixed_space(flat)`: the one space it can answer (a benchmark's), else None;
    `geometry_of(flat)`: the classes, channels and image side its children are sized on when the config alone
    says (a benchmark's data set), else None.
    `test_optimum`: the best held-out accuracy of any architecture (a benchmark's), stored so reports give the
    found child's regret; None for evaluators without held-out figures."""

    name: ClassVar[str]
    summary: ClassVar[str]
    needs_data: ClassVar[bool]
    trains_children: ClassVar[bool]
    shares_weights: ClassVar[bool]
    reward_fields: ClassVar[dict[str, str]]
    test_optimum: float | None

    @staticmethod
    def fixed_space(flat: dict[str, Any]) -> str | None: ...

    @staticmethod
    def geometry_of(flat: dict[str, Any]) -> Any: ...

    def evaluate(
        self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None
    ) -> ChildResult: ...


class AnySpace:
    """What an evaluator that answers any space of its kind, with no held-out figures, says of both."""

    test_optimum: float | None = None

    @staticmethod
    def fixed_space(flat: dict[str, Any]) -> str | None:
        return None

    @staticmethod
    def geometry_of(flat: dict[str, Any]) -> Any:
        """The network a run's children are sized on, when the config alone says (a benchmark's); else None."""
        return None


def evaluate_safely(
    evaluator: Evaluator, arch: Architecture, episode: int, index: int, epochs: int | None = None
) -> ChildResult:
    """Any exception of an evaluator becomes a failed child: one bad child never stops a search."""
    start = time.perf_counter()
    try:
        return evaluator.evaluate(arch, episode, index, epochs)
    except Exception as e:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # an out-of-memory child must not starve the next one
        return ChildResult.from_exception(e, time.perf_counter() - start)


def child_seed(run_seed: int, episode: int, child_index: int) -> int:
    """A per-child training seed: independent of evaluation order, so resumed runs and parallel workers agree."""
    digest = hashlib.sha256(f"{run_seed}:{episode}:{child_index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def reward_from_history(history: list[dict[str, Any]], metric: str) -> float:
    """`best`: the best validation accuracy; `last5`: the paper's max over the last 5 epochs."""
    accs = [h["val_acc"] for h in history if h.get("val_acc") is not None]
    if not accs:
        return FAILED_REWARD
    return float(max(accs[-5:] if metric == "last5" else accs))
