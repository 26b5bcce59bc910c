"""The synthetic evaluator: a known answer, so a strategy's learning can be checked in seconds."""

from __future__ import annotations

from typing import Any

from nasrl.config import SearchConfig
from nasrl.run.records import ChildResult
from nasrl.search.evaluators.base import AnySpace
from nasrl.search.evaluators.data import SearchData
from nasrl.search.evaluators.registry import register_evaluator
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import Architecture, SearchSpace


@register_evaluator
class SyntheticEvaluator(AnySpace):
    """Reward = fraction of decisions equal to a hidden target (`search.synthetic`); trains nothing."""

    name = "synthetic"
    summary = "a hidden target architecture, no training (checks that a strategy learns)"
    needs_data = False
    trains_children = False
    shares_weights = False
    reward_fields = {"synthetic_seed": "search for different synthetic targets"}

    @staticmethod
    def describe(cfg: dict[str, Any]) -> str:
        return "synthetic (a hidden target architecture; no networks trained)"

    def __init__(self, space: SearchSpace, target_seed: int) -> None:
        self.space = space
        self.target_seed = target_seed
        self._targets: dict[int, Architecture] = {}

    @classmethod
    def build(cls, cfg: SearchConfig, data: SearchData | None, progress: Any) -> tuple[SyntheticEvaluator, str]:
        """The evaluator and the log's sentence on what it evaluates."""
        note = f"Evaluator: synthetic (hidden target from --synthetic-seed {cfg.evaluator.synthetic_seed}; no training)"
        return cls(cfg.search_space(), cfg.evaluator.synthetic_seed), note

    def target(self, num_layers: int) -> Architecture:
        if num_layers not in self._targets:
            self._targets[num_layers] = synthetic_target(self.space.with_layers(num_layers), self.target_seed)
        return self._targets[num_layers]

    def evaluate(self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None) -> ChildResult:
        reward = synthetic_reward(arch, self.target(arch.num_layers), skips=self.space.skips)
        return ChildResult(reward=reward, val_acc=reward)
