"""The strategies nasrl knows, each registered by its own module (as timm's `@register_model`), with what it can do.

A strategy module decorates its class with `@register_strategy(...)`; the registry (`search.registry`) finds every
module of this package, so a new strategy is one new file here plus its tests. The search asks a strategy's
capabilities (`has_policy`, `proposes_independently`), never its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from nasrl.search.registry import Registry
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


STRATEGIES: Registry[StrategyKind] = Registry("strategy", "nasrl.search.strategies")


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
        build = cls.from_settings  # type: ignore[attr-defined]
        kind = StrategyKind(name, build, summary, has_policy, proposes_independently, entropy_label, loss_label)
        STRATEGIES.add(name, kind)
        return cls

    return register


def strategy_names() -> tuple[str, ...]:
    """The registered strategies, in the order their modules register them (sorted by module name)."""
    return STRATEGIES.names()


def strategy_kind(name: str) -> StrategyKind:
    """The registered strategy called `name`; an unknown name is one sentence listing the known ones."""
    return STRATEGIES.get(name)


def known_strategy(name: object) -> StrategyKind | None:
    """The registered strategy called `name`, or None (a run folder from elsewhere, a missing field)."""
    return STRATEGIES.find(name)


def strategies_help() -> str:
    return STRATEGIES.help(lambda kind: kind.summary)


def make_strategy(
    name: str, space: SearchSpace, seed: int, settings: StrategyConfig | None = None, **overrides: Any
) -> Strategy:
    """The strategy called `name`, with `settings` (default: `StrategyConfig()`) changed by `overrides`; each
    strategy reads the settings it uses (one config serves all, so a run can switch strategy by one flag)."""
    kind = strategy_kind(name)
    settings = StrategyConfig.of(settings, **overrides)
    strategy = kind.build(space, seed, settings)
    if settings.predictor_candidates:  # BANANAS' selection among the strategy's proposals
        from nasrl.search.strategies.predictor import PredictorSelection

        return PredictorSelection(strategy, space, seed, settings.predictor_candidates)  # type: ignore[return-value]
    return strategy
