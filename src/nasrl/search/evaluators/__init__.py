"""Evaluators, one module each, registered by name (`registry`): each turns an architecture into a reward (trained,
scored with shared weights, or a known synthetic answer). `base` holds what they all share."""

from nasrl.search.evaluators.base import Evaluator, child_seed, evaluate_safely, reward_from_history
from nasrl.search.evaluators.registry import evaluator_kind, evaluator_names

__all__ = ["Evaluator", "child_seed", "evaluate_safely", "evaluator_kind", "evaluator_names", "reward_from_history"]
