"""Uniform random search through the same loop, store and reports: the honest baseline for every claim."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nasrl.search.controller import Decisions, decisions_to_architectures
from nasrl.search.strategies.registry import register_strategy
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.search.strategies.strategy import StrategyBase, check_rewards
from nasrl.space import Architecture, SearchSpace, uniform_entropy


def uniform_architectures(
    space: SearchSpace, n: int, num_layers: int, generator: torch.Generator
) -> list[Architecture]:
    """n architectures of `num_layers` layers: each token uniform over its choices, each skip bit 1/2."""
    tokens = torch.stack(
        [torch.randint(len(t.choices), (n, num_layers), generator=generator) for t in space.tokens], dim=-1
    )
    skips = None
    if space.skips:
        bits = torch.randint(2, (n, num_layers, num_layers), generator=generator).float()
        skips = torch.tril(bits, diagonal=-1)
    return decisions_to_architectures(space.with_layers(num_layers), Decisions(tokens, skips))


@register_strategy("random", summary="uniform random search, the honest baseline", has_policy=False)
class RandomSearch(StrategyBase):
    """Uniform sampling from the same space; it keeps the baseline for comparable logs and plots, learns nothing."""

    name = "random"

    def __init__(self, space: SearchSpace, seed: int, baseline_decay: float = 0.95) -> None:
        super().__init__(space, seed, baseline_decay)

    @classmethod
    def from_settings(cls, space: SearchSpace, seed: int, settings: StrategyConfig) -> RandomSearch:
        return cls(space, seed, baseline_decay=settings.baseline_decay)

    def propose(self, n: int) -> list[Architecture]:
        if n < 1:
            raise ValueError(f"propose needs n >= 1, got {n}.")
        return uniform_architectures(self.space, n, self.num_layers, self.generator)

    def update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """Nothing to learn (`proposal_log_probs` ignored): the baseline moves for comparable logs."""
        check_rewards(architectures, rewards)
        return self.learned_nothing(rewards, uniform_entropy(self.space, architectures[0].num_layers))

    def state_dict(self) -> dict:
        return self.base_state()

    def load_state_dict(self, state: dict) -> None:
        self.load_base_state(state)
