"""The shared evaluator: one network whose paths are every architecture of a macro space (ENAS, Pham et al. 2018).

A search with it is run by the weight-sharing driver (`shares_weights`): the shared weights train between the
controller's steps (`search.sharing`), and an architecture's reward is its path's accuracy with those weights.
"""

from __future__ import annotations

from typing import Any

from nasrl.config import SearchConfig
from nasrl.run.records import ChildResult
from nasrl.search.evaluators.base import AnySpace
from nasrl.search.evaluators.data import SearchData
from nasrl.search.evaluators.registry import register_evaluator
from nasrl.search.sharing import SharedWeights
from nasrl.space import Architecture


@register_evaluator
class SharedEvaluator(SharedWeights, AnySpace):
    """`SharedWeights` as an evaluator: a child's reward is its path's accuracy on the whole validation split."""

    name = "shared"
    summary = "ENAS weight sharing: one network trained for every path of a macro space"
    needs_data = True
    trains_children = False
    shares_weights = True
    reward_fields: dict[str, str] = {}

    @staticmethod
    def describe(cfg: dict[str, Any]) -> str:
        return (
            f"weight sharing on {cfg.get('data', '?')}: {cfg.get('shared_epochs', '?')} epochs, each followed by "
            f"{cfg.get('controller_steps', '?')} controller steps of {cfg.get('children', '?')} architectures "
            "rewarded by one validation minibatch"
        )

    @classmethod
    def build(cls, cfg: SearchConfig, data: SearchData | None, progress: Any) -> tuple[SharedEvaluator, str]:
        assert data is not None, "the shared evaluator needs data"
        return cls(cfg, data.train, data.val, data.num_classes, data.device), data.note

    def evaluate(self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None) -> ChildResult:
        accuracy = self.accuracy(arch, self.val_batches)
        return ChildResult(reward=accuracy, val_acc=accuracy)
