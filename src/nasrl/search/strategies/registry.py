"""The strategies nasrl knows, each registered by its own module (as timm's `@register_model`), with what it can do.

A strategy module decorates its class with `@register_strategy(...)`; the registry finds every module of this
package the first time a name is looked up, so a new strategy is one new file here plus its tests. The search
asks a strategy's capabilities (`has_policy`, `proposes_independently`), never its name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from nasrl.errors import UserError
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.search.strategies.strategy import Strategy
from nasrl.space import SearchSpace

StrategyT = TypeVar("StrategyT")


@dataclass(frozen=True)
class StrategyKind:
    """A registered strategy: how to build it from the settings, and what the search may rely on.

    `has_policy`: it samples from a learned distribution whose entropy can collapse (the collapse warning watches
    it). `proposes_independently`: its proposals need no evaluation of earlier ones (weight sharing samples many
    architectures per step from it, and derives from its final state)."""

    name: str
    build: Callable[[SearchSpace, int, StrategyConfig], Strategy]
    summary: str
    has_policy: bool
    proposes_independently: bool
    entropy_label: str = "policy entropy"  # what its steps' `entropy` measures, for plots
    loss_label: str = "no loss"  # what its steps' `loss` is, for plots


_discovered = False  # every module of the package imported (a module imported directly registers only itself)
_KINDS: dict[str, StrategyKind] = {}


def register_strategy(
    name: str,
    *,
    summary: str,
    has_policy: bool,
    proposes_independently: bool = True,
    entropy_label: str = "policy entropy",
    loss_label: str = "no loss",
) -> Callable[[StrategyT], StrategyT]:
    """Class decorator: the class's `from_settings(space, seed, settings)` builds it under `name`."""

    def register(cls: StrategyT) -> StrategyT:
        if name in _KINDS:
            raise ValueError(f"Two strategies are registered as '{name}'.")
        build = cls.from_settings  # type: ignore[attr-defined]
        _KINDS[name] = StrategyKind(name, build, summary, has_policy, proposes_independently, entropy_label, loss_label)
        return cls

    return register


def _discover() -> None:
    """Import every module of this package once, so each registers what it defines."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("nasrl.search.strategies")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def strategy_names() -> tuple[str, ...]:
    """The registered strategies, in the order their modules register them (sorted by module name)."""
    _discover()
    return tuple(_KINDS)


def strategy_kind(name: str) -> StrategyKind:
    """The registered strategy called `name`; an unknown name is one sentence listing the known ones."""
    _discover()
    if name not in _KINDS:
        raise UserError(f"Unknown strategy '{name}': choose one of {', '.join(_KINDS)}.")
    return _KINDS[name]


def known_strategy(name: object) -> StrategyKind | None:
    """The registered strategy called `name`, or None (a run folder from elsewhere, a missing field)."""
    _discover()
    return _KINDS.get(name) if isinstance(name, str) else None


def strategies_help() -> str:
    """Each registered strategy with its one-line summary, for help texts."""
    return "; ".join(f"{kind.name}: {kind.summary}" for kind in (strategy_kind(n) for n in strategy_names()))


def make_strategy(
    name: str, space: SearchSpace, seed: int, settings: StrategyConfig | None = None, **overrides: Any
) -> Strategy:
    """The strategy called `name`, with `settings` (default: `StrategyConfig()`) changed by `overrides`; each
    strategy reads the settings it uses (one config serves all, so a run can switch strategy by one flag)."""
    kind = strategy_kind(name)
    return kind.build(space, seed, StrategyConfig.of(settings, **overrides))
