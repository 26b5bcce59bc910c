"""Search strategies behind one interface (`Strategy`): REINFORCE and PPO on the LSTM controller, regularized
evolution, and uniform random search, the honest baseline. Each proposes an episode's architectures and learns
from their rewards; the loop never asks which one it holds."""

from __future__ import annotations

from typing import Any

from nasrl.config import StrategyConfig
from nasrl.errors import UserError
from nasrl.search.strategies.evolution import RegularizedEvolution
from nasrl.search.strategies.ppo import PPO
from nasrl.search.strategies.random_search import RandomSearch
from nasrl.search.strategies.reinforce import Reinforce, collapse_warning
from nasrl.search.strategies.strategy import Strategy, check_state
from nasrl.space import SearchSpace

__all__ = [
    "PPO",
    "STRATEGIES",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "Strategy",
    "check_state",
    "collapse_warning",
    "make_strategy",
]

STRATEGIES = ("reinforce", "ppo", "evolution", "random")


def make_strategy(
    name: str, space: SearchSpace, seed: int, settings: StrategyConfig | None = None, **overrides: Any
) -> Strategy:
    """The strategy a config names, with `settings` (default: `StrategyConfig()`) changed by `overrides`; each
    strategy reads the settings it uses (one config serves all, so a run can switch strategy by one flag)."""
    if name not in STRATEGIES:
        raise UserError(f"Unknown strategy '{name}': choose one of {', '.join(STRATEGIES)}.")
    settings = StrategyConfig.of(settings, **overrides)
    if name == "random":
        return RandomSearch(space, seed, baseline_decay=settings.baseline_decay)
    if name == "evolution":
        return RegularizedEvolution(
            space, seed, settings.population_size, settings.tournament_size, settings.baseline_decay
        )
    return (PPO if name == "ppo" else Reinforce)(space, seed, settings)
