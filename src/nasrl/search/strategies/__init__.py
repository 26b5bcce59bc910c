"""Search strategies behind one interface (`Strategy`), one module each, registered by name (`registry`): the loop
never asks which one it holds, only what it can do."""

from nasrl.search.strategies.registry import make_strategy, strategy_kind, strategy_names
from nasrl.search.strategies.strategy import Strategy

__all__ = ["Strategy", "make_strategy", "strategy_kind", "strategy_names"]
