"""What every strategy promises the search loop (`Strategy`), what the loop with children in flight needs on top
(`AsyncStrategy`), the state they all keep (`StrategyBase`), and the check that a checkpoint is a strategy's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from nasrl.errors import UserError
from nasrl.space import Architecture, SearchSpace


@runtime_checkable
class Strategy(Protocol):
    """What the search loop needs from a strategy; everything else is the strategy's own business."""

    name: str

    def propose(self, n: int) -> list[Architecture]:
        """n architectures for one episode, with the strategy's current depth."""
        ...

    def update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """Learn from one episode; returns at least loss, baseline, mean_reward, entropy and lr.
        `proposal_log_probs` (children in flight): log pi(arch) under the policy that proposed each child, None
        (or no list) for a child the current policy proposed; a policy-gradient strategy corrects for the rest."""
        ...

    def set_num_layers(self, num_layers: int) -> None:
        """The layer schedule: later proposals have this many layers."""
        ...

    def state_dict(self) -> dict:
        """Everything needed to resume exactly, as a snapshot (a copy, unchanged by later steps); loads with
        torch.load(weights_only=True)."""
        ...

    def load_state_dict(self, state: dict) -> None: ...


@runtime_checkable
class AsyncStrategy(Strategy, Protocol):
    """A strategy the loop with children in flight can drive: its proposals come with their log-probabilities,
    which an update made after a later policy step needs for its importance correction."""

    def propose_scored(self, n: int) -> list[tuple[Architecture, float | None]]:
        """`propose(n)` (the same draws) with log pi(arch) of each; None where the strategy has no policy."""
        ...

    def reseed(self, seed: int) -> None:
        """Restart the sampling generator: a resumed asynchronous run already spent the draws after its
        checkpoint on children in the store, and must not draw them again."""
        ...


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


class StrategyBase:
    """The state every strategy keeps: the sampling generator (seeded once: the run's randomness is its state), a
    moving-average baseline of the episodes' mean rewards (REINFORCE's; the others keep it for comparable logs
    and plots), the number of updates and the current depth (the layer schedule's)."""

    name: str

    def __init__(self, space: SearchSpace, seed: int, baseline_decay: float) -> None:
        self.space = space
        self.seed = seed
        self.baseline_decay = baseline_decay
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.step = 0
        self.num_layers = space.num_layers

    def set_num_layers(self, num_layers: int) -> None:
        if num_layers < 1:
            raise UserError(f"The number of layers must be at least 1, got {num_layers}.")
        self.num_layers = num_layers

    def propose_scored(self, n: int) -> list[tuple[Architecture, float | None]]:
        """Without a policy there is no probability to correct with: None for each proposal."""
        return [(arch, None) for arch in self.propose(n)]  # type: ignore[attr-defined]

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def advance_baseline(self, mean_reward: float) -> float:
        """The baseline before this episode (its own mean the first time), then the episode joins the average."""
        before = mean_reward if self.baseline is None else self.baseline
        self.baseline = self.baseline_decay * before + (1 - self.baseline_decay) * mean_reward
        self.step += 1
        return before

    def learned_nothing(self, rewards: Sequence[float], entropy: float) -> dict[str, float]:
        """The step's statistics of a strategy without a loss (random, evolution, local search): the episode's mean
        reward joins the baseline (for comparable logs and plots); `entropy` is the strategy's own measure."""
        mean_reward = sum(float(r) for r in rewards) / len(rewards)
        baseline = self.advance_baseline(mean_reward)
        return {
            "loss": 0.0,
            "baseline": float(baseline),
            "mean_reward": mean_reward,
            "entropy": entropy,
            "lr": 0.0,
            "grad_norm": 0.0,
        }

    def base_state(self) -> dict:
        return {
            "strategy": self.name,
            "space": self.space.to_dict(),
            "baseline": self.baseline,
            "generator": self.generator.get_state(),
            "step": self.step,
            "num_layers": self.num_layers,
        }

    def load_base_state(self, state: dict) -> None:
        check_state(self.name, self.space, state)
        self.baseline = state["baseline"]
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.num_layers = int(state["num_layers"])


def check_rewards(architectures: Sequence[Architecture], rewards: Sequence[float]) -> None:
    if len(architectures) != len(rewards) or not architectures:
        raise ValueError(f"update needs one reward per architecture, got {len(architectures)} and {len(rewards)}.")
