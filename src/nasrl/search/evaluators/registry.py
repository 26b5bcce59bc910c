"""The evaluators nasrl knows, each registered by its own module of this package (`search.registry`).

An evaluator module decorates its class with `@register_evaluator`; the class carries its name, a summary, its
capabilities (`base.Evaluator`) and `build(cfg, data, progress)`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from nasrl.search.registry import Registry

EvaluatorT = TypeVar("EvaluatorT", bound=type)

EVALUATORS: Registry[Any] = Registry("evaluator", "nasrl.search.evaluators")


def register_evaluator(cls: EvaluatorT) -> EvaluatorT:
    """Class decorator: register an evaluator class under its `name`."""
    EVALUATORS.add(cls.name, cls)  # type: ignore[attr-defined]
    return cls


def evaluator_names() -> tuple[str, ...]:
    return EVALUATORS.names()


def evaluator_kind(name: str) -> Any:
    """The registered evaluator class called `name` (its capabilities are class attributes)."""
    return EVALUATORS.get(name)


def known_evaluator(name: object) -> Any | None:
    """The registered evaluator called `name`, or None (a run folder from elsewhere, a missing field)."""
    return EVALUATORS.find(name)


def evaluators_help() -> str:
    return EVALUATORS.help(lambda kind: kind.summary)
