"""What every strategy promises the search loop (`Strategy`), and the check that a checkpoint is its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from nasrl.errors import UserError
from nasrl.space import Architecture, SearchSpace


@runtime_checkable
class Strategy(Protocol):
    """What the search loop needs from a strategy; everything else is the strategy's own business."""

    name: str

    def propose(self, n: int) -> list[Architecture]:
        """n architectures for one episode, with the strategy's current depth."""
        ...

    def update(self, architectures: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """Learn from one episode; returns at least loss, baseline, mean_reward, entropy and lr."""
        ...

    def set_num_layers(self, num_layers: int) -> None:
        """The layer schedule: later proposals have this many layers."""
        ...

    def state_dict(self) -> dict:
        """Everything needed to resume exactly, as a snapshot (a copy, unchanged by later steps); loads with
        torch.load(weights_only=True)."""
        ...

    def load_state_dict(self, state: dict) -> None: ...


def check_state(name: str, space: SearchSpace, state: dict) -> None:
    """Refuse a checkpoint of another strategy or space: resuming it would silently search something else."""
    if state.get("strategy") != name:
        raise UserError(f"The checkpoint holds strategy '{state.get('strategy')}', not '{name}': resume with it.")
    saved = dict(state.get("space", {}))
    current = space.to_dict()
    saved.pop("num_layers", None)
    current.pop("num_layers", None)
    if saved != current:
        raise UserError(
            f"The checkpoint was made for search space '{saved.get('name')}' with other choices than "
            f"'{space.name}' has now: resume with the run's own config."
        )


