"""Where children are evaluated: in this process, one at a time (`local`), or as Ray tasks (`ray`).

An executor takes one episode's pending children and yields each result as soon
as it is known, so the driver, the only writer of the run store, stores and logs
every child the moment it finishes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from nasrl.config import SearchConfig
from nasrl.evaluate import ChildResult, Evaluator
from nasrl.space import Architecture


def evaluate_safely(evaluator: Evaluator, arch: Architecture, episode: int, index: int) -> ChildResult:
    """Any exception of an evaluator becomes a failed child: one bad child never stops a search."""
    start = time.perf_counter()
    try:
        return evaluator.evaluate(arch, episode, index)
    except Exception as e:
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        return ChildResult.failure(detail, time.perf_counter() - start)


class LocalExecutor:
    """One child after another in the driver's process (the default, and the reference for the others)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def run(
        self, episode: int, children: Sequence[tuple[int, Architecture]]
    ) -> Iterator[tuple[int, Architecture, ChildResult]]:
        for index, arch in children:
            yield index, arch, evaluate_safely(self.evaluator, arch, episode, index)

    def close(self) -> None:
        pass


def make_executor(cfg: SearchConfig, evaluator: Evaluator) -> Any:
    if cfg.executor == "ray":
        from nasrl.errors import UserError

        raise UserError("--executor ray is not available in this version: use --executor local.")
    return LocalExecutor(evaluator)
