"""The evaluators nasrl knows, each registered by its own module (as timm's `@register_model`).

An evaluator module decorates its class with `@register_evaluator`; the class carries its name, a summary, its
capabilities (`base.Evaluator`) and `build(cfg, data, progress)`. The registry imports every module of this
package the first time a name is looked up, so a new evaluator is one new file here plus its tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

from nasrl.errors import UserError

EvaluatorT = TypeVar("EvaluatorT", bound=type)

_discovered = False  # every module of the package imported (a module imported directly registers only itself)
_KINDS: dict[str, Any] = {}


def register_evaluator(cls: EvaluatorT) -> EvaluatorT:
    """Class decorator: register an evaluator class under its `name`."""
    name = cls.name  # type: ignore[attr-defined]
    if name in _KINDS:
        raise ValueError(f"Two evaluators are registered as '{name}'.")
    _KINDS[name] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("nasrl.search.evaluators")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def evaluator_names() -> tuple[str, ...]:
    _discover()
    return tuple(_KINDS)


def evaluator_kind(name: str) -> Any:
    """The registered evaluator class called `name` (its capabilities are class attributes)."""
    _discover()
    if name not in _KINDS:
        raise UserError(f"Unknown evaluator '{name}': choose one of {', '.join(_KINDS)}.")
    return _KINDS[name]


def known_evaluator(name: object) -> Any | None:
    """The registered evaluator called `name`, or None (a run folder from elsewhere, a missing field)."""
    _discover()
    return _KINDS.get(name) if isinstance(name, str) else None


def evaluators_help() -> str:
    """Each registered evaluator with its one-line summary, for help texts."""
    return "; ".join(f"{name}: {evaluator_kind(name).summary}" for name in evaluator_names())
