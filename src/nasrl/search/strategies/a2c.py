"""Advantage actor-critic on the controller (A2C: the synchronous A3C of Mnih et al. 2016, section 4).

The controller is the actor; a value head on its LSTM output is the critic. An architecture is an episode of D
decision steps with one reward R' at its end (undiscounted, so every step's return is R'), and each step's
baseline is the critic's estimate V(h_t) from the state it decides in:

    A_kt = R'_k - V(h_kt)                                           (the advantage, a constant in the gradient)
    loss = -1/m sum_k [sum_t A_kt log pi(a_kt | h_kt) + w_H H(pi; arch_k) / D_k]
           + c_V 1/m sum_k 1/D_k sum_t (V(h_kt) - R'_k)^2

As in A3C the actor and the critic share the trunk (here the LSTM, its embeddings and position tables): the
critic's regression trains them too. The critic's weight c_V is `value_weight` (0.5, OpenAI baselines' `vf_coef`);
the entropy bonus, the optional cubed reward, Adam, the gradient clip and the truncated importance weights of
children in flight are `Reinforce`'s. The actor's term sums over the decisions, as REINFORCE's does, so the two
take steps of the same size and share lr and entropy weight; the critic's term is a mean over the decisions.

Where it differs from `Reinforce`: REINFORCE's baseline is one moving average per episode, the same for every
decision; A2C's depends on the state, so after a few good early choices the later decisions are judged against
what the critic expects from there. A layer's skip bits are one decision step (one LSTM state, one value). The
logged `baseline` is the critic's mean V over the episode's decisions.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nasrl.search.strategies.registry import register_strategy
from nasrl.search.strategies.reinforce import Reinforce, importance_weights
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.space import Architecture, SearchSpace


@register_strategy(
    "a2c",
    summary="advantage actor-critic: the controller with a value head on its LSTM state (Mnih et al. 2016)",
    has_policy=True,
    loss_label="actor-critic loss",
)
class A2C(Reinforce):
    """`Reinforce`'s controller and update, with the advantage R' - V(h_t) of a learned critic per decision."""

    name = "a2c"

    def __init__(self, space: SearchSpace, seed: int, settings: StrategyConfig | None = None, **overrides: Any) -> None:
        super().__init__(space, seed, settings, **overrides)
        self.value_head = nn.Linear(self.controller.hidden_size, 1)
        for p in self.value_head.parameters():  # as every controller weight, from the run's generator
            nn.init.uniform_(p, -self.settings.init_range, self.settings.init_range, generator=self.generator)
        self.make_optimizer()  # over the controller and the critic

    @classmethod
    def from_settings(cls, space: SearchSpace, seed: int, settings: StrategyConfig) -> A2C:
        return cls(space, seed, settings)

    def trainable(self) -> list[nn.Parameter]:
        value_head = getattr(self, "value_head", None)  # Reinforce builds its optimizer before the head exists
        return super().trainable() + ([] if value_head is None else list(value_head.parameters()))

    def _update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """One actor-critic step on one episode's children (the module's loss); `Reinforce.update` checks the
        arguments and runs it on one thread."""
        returns = torch.tensor([self.transform(float(r)) for r in rewards])
        self.controller.train()
        lr = self.optimizer.param_groups[0]["lr"]
        terms = self.terms(architectures, returns)
        actor = terms.actor
        if proposal_log_probs is not None:  # stale children: truncated importance weights (Reinforce's)
            ratios = importance_weights(terms.log_probs, proposal_log_probs, cap=float("inf"))
            self.last_ratios = ratios.tolist()
            actor = actor * ratios.clamp(max=self.importance_cap)
        loss = self.loss(architectures, actor, terms.entropies, terms.skip_kls)
        loss = loss + self.settings.value_weight * terms.critic.mean()
        grad_norm = self._step(loss)
        if self.scheduler is not None:
            self.scheduler.step()
        self.advance_baseline(float(returns.mean()))  # counts the step; the critic is the baseline
        stats = {
            "loss": float(loss.detach()),
            "baseline": float(terms.values.mean()),
            "mean_reward": float(sum(rewards)) / len(rewards),
            "entropy": float(terms.entropies.detach().mean()),
            "lr": float(lr),
            "grad_norm": grad_norm,
            "value_loss": float(terms.critic.detach().mean()),
        }
        return stats | self.importance_stats(proposal_log_probs)

    def terms(self, architectures: Sequence[Architecture], returns: torch.Tensor) -> ActorCriticTerms:
        """Per architecture: sum_t A_t log pi(a_t), the critic's mean squared error, log pi(arch), entropy and skip
        KL, and the critic's mean value, from one teacher-forced pass per depth (`Controller.steps`)."""
        n = len(architectures)
        parts = {name: torch.zeros(n) for name in ("actor", "critic", "log_probs", "entropies", "skip_kls", "values")}
        by_depth: dict[int, list[int]] = {}
        for k, arch in enumerate(architectures):
            by_depth.setdefault(arch.num_layers, []).append(k)
        for idx in by_depth.values():
            steps = self.controller.steps([architectures[k] for k in idx])
            values = self.value_head(steps.hidden).squeeze(-1)  # [n, S]: V(h_t)
            target = returns[idx].unsqueeze(1)
            advantage = (target - values).detach()
            group = {
                "actor": (advantage * steps.log_probs).sum(1),
                "critic": (values - target).pow(2).mean(1),
                "log_probs": steps.log_prob,
                "entropies": steps.entropies,
                "skip_kls": steps.skip_kls,
                "values": values.detach().mean(1),
            }
            where = (torch.tensor(idx),)
            parts = {name: parts[name].index_put(where, group[name]) for name in parts}
        return ActorCriticTerms(**parts)

    def state_dict(self) -> dict:
        return super().state_dict() | {"value_head": copy.deepcopy(dict(self.value_head.state_dict()))}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.value_head.load_state_dict(state["value_head"])


@dataclass
class ActorCriticTerms:
    """An update's per-architecture tensors, [m] each (`A2C.terms`)."""

    actor: torch.Tensor  # sum_t A_t log pi(a_t | h_t)
    critic: torch.Tensor  # mean_t (V(h_t) - R')^2
    log_probs: torch.Tensor  # log pi(arch)
    entropies: torch.Tensor
    skip_kls: torch.Tensor
    values: torch.Tensor  # mean_t V(h_t), no gradient
