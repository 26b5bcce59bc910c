"""Uniform random search through the same loop, store and reports: the honest baseline for every claim."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nasrl.errors import UserError
from nasrl.search.controller import Decisions, decisions_to_architectures
from nasrl.search.strategies.strategy import check_state
from nasrl.space import Architecture, SearchSpace, uniform_entropy


class RandomSearch:
    """Uniform sampling from the same space: each token uniform over its choices, each skip bit 1/2.

    It keeps the same moving-average baseline as REINFORCE (for comparable logs and plots) but learns nothing."""

    name = "random"

    def __init__(self, space: SearchSpace, seed: int, baseline_decay: float = 0.95) -> None:
        self.space = space
        self.seed = seed
        self.baseline_decay = baseline_decay
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.step = 0
        self.num_layers = space.num_layers

    def propose(self, n: int) -> list[Architecture]:
        if n < 1:
            raise ValueError(f"propose needs n >= 1, got {n}.")
        num_layers = self.num_layers
        tokens = torch.stack(
            [torch.randint(len(t.choices), (n, num_layers), generator=self.generator) for t in self.space.tokens],
            dim=-1,
        )
        skips = None
        if self.space.skips:
            bits = torch.randint(2, (n, num_layers, num_layers), generator=self.generator).float()
            skips = torch.tril(bits, diagonal=-1)
        return decisions_to_architectures(self.space.with_layers(num_layers), Decisions(tokens, skips))

    def update(self, architectures: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        if len(architectures) != len(rewards) or not architectures:
            raise ValueError(f"update needs one reward per architecture, got {len(architectures)} and {len(rewards)}.")
        mean_reward = sum(float(r) for r in rewards) / len(rewards)
        baseline = mean_reward if self.baseline is None else self.baseline
        self.baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * mean_reward
        self.step += 1
        depth = architectures[0].num_layers
        return {
            "loss": 0.0,
            "baseline": float(baseline),
            "mean_reward": mean_reward,
            "entropy": uniform_entropy(self.space, depth),
            "lr": 0.0,
            "grad_norm": 0.0,
        }

    def set_num_layers(self, num_layers: int) -> None:
        if num_layers < 1:
            raise UserError(f"The number of layers must be at least 1, got {num_layers}.")
        self.num_layers = num_layers

    def state_dict(self) -> dict:
        return {
            "strategy": self.name,
            "space": self.space.to_dict(),
            "baseline": self.baseline,
            "generator": self.generator.get_state(),
            "step": self.step,
            "num_layers": self.num_layers,
        }

    def load_state_dict(self, state: dict) -> None:
        check_state(self.name, self.space, state)
        self.baseline = state["baseline"]
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.num_layers = int(state["num_layers"])


