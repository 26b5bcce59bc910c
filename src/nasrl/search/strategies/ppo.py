"""PPO on the same controller: the clipped surrogate (Schulman et al. 2017), as Zoph et al. 2018 trained theirs.

    L(theta) = -1/m sum_k min(r_k A_k, clip(r_k, 1 - eps, 1 + eps) A_k) - w H,   r_k = pi(arch_k) / pi_old(arch_k)

with A_k = R'_k - b, the baseline and entropy bonus of `Reinforce`, and pi_old the policy before this episode's
update. Each episode takes up to `ppo_epochs` gradient steps over its children; on the first the ratio is 1, so its
gradient is exactly REINFORCE's.

Early stopping on the KL (OpenAI Spinning Up's PPO, `target_kl`; stable-baselines3's PPO, whose check and
estimator we follow): before each later epoch, the approximate KL(pi_old || pi) over the episode's children is
compared with 1.5 x `target_kl`, and the remaining epochs are skipped once it is above. Why: the clip removes a
child's surrogate gradient once its ratio left [1 - eps, 1 + eps], but not the entropy bonus, and Adam scales any
gradient to a step of about lr. Once the policy is sharp, a later epoch can find most children clipped and then
climbs the entropy alone (BENCHMARKS.md, "Strategies on the synthetic target"). The first epoch never stops (its
KL is 0), so REINFORCE's gradient is kept.

Children in flight (`--in-flight`): pi_old of a child proposed before the last update is the policy that proposed
it (its log-probability stored at proposal time), as in asynchronous PPO (IMPALA-style actors with PPO's surrogate):
the ratio then starts away from 1 and the clip bounds how far this update follows such a child. The KL check
still measures this update's own move (from the policy before it), so stale children do not stop it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from nasrl.search.strategies.registry import register_strategy
from nasrl.search.strategies.reinforce import Reinforce, importance_weights, proposing_log_probs
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.space import Architecture, SearchSpace


@register_strategy(
    "ppo",
    summary="PPO's clipped surrogate on the same controller (Zoph et al. 2018)",
    has_policy=True,
    loss_label="PPO loss (first epoch)",
)
class PPO(Reinforce):
    """`Reinforce` whose optimisation step is up to `ppo_epochs` steps of the clipped surrogate (clip `ppo_clip`),
    stopped early once the policy moved more than the KL target from the one that sampled the episode."""

    name = "ppo"

    def __init__(self, space: SearchSpace, seed: int, settings: StrategyConfig | None = None, **overrides: Any) -> None:
        super().__init__(space, seed, settings, **overrides)
        self.target_kl: float | None = self.settings.ppo_target_kl  # None: every epoch runs
        self.epochs_taken = 0
        self.approx_kl = 0.0

    def _update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """`Reinforce`'s statistics plus how many epochs ran and the KL at the last check (0 with one epoch)."""
        stats = super()._update(architectures, rewards, proposal_log_probs)
        return stats | {"epochs": float(self.epochs_taken), "approx_kl": self.approx_kl}

    def _optimise(
        self,
        architectures: Sequence[Architecture],
        advantage: torch.Tensor,
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Returns the first epoch's loss, entropies and gradient norm: the policy before this update, as
        `Reinforce` reports it."""
        with torch.no_grad():
            before, _ = self.controller.log_prob(architectures)
        old_log_probs = before
        if proposal_log_probs is not None:  # stale children: pi_old is the policy that proposed them
            old_log_probs = proposing_log_probs(before, proposal_log_probs)
            self.last_ratios = importance_weights(before, proposal_log_probs, cap=float("inf")).tolist()
        first: tuple[torch.Tensor, torch.Tensor, float] | None = None
        self.epochs_taken, self.approx_kl = 0, 0.0
        for epoch in range(self.settings.ppo_epochs):
            log_probs, entropies, skip_kls = self.controller.score(architectures)
            if epoch > 0 and self._moved_too_far(log_probs, before):
                break
            surrogate = clipped_surrogate(log_probs, old_log_probs, advantage, self.settings.ppo_clip)
            loss = self.loss(architectures, surrogate, entropies, skip_kls)
            grad_norm = self._step(loss)
            self.epochs_taken += 1
            if first is None:
                first = (loss, entropies, grad_norm)
        assert first is not None
        return first

    def _moved_too_far(self, log_probs: torch.Tensor, old_log_probs: torch.Tensor) -> bool:
        """Records the approximate KL and says whether it is above 1.5 x the target (Spinning Up's margin)."""
        self.approx_kl = approx_kl(log_probs.detach(), old_log_probs)
        return self.target_kl is not None and self.approx_kl > 1.5 * self.target_kl


def approx_kl(log_probs: torch.Tensor, old_log_probs: torch.Tensor) -> float:
    """KL(pi_old || pi) estimated on children drawn from pi_old as mean((r - 1) - log r), r = pi / pi_old: unbiased
    and never negative (Schulman 2020, "Approximating KL Divergence"; stable-baselines3's PPO). With 10 children the
    plain mean(log pi_old - log pi) is often negative, which would hide a large move."""
    log_ratio = log_probs - old_log_probs
    return float(torch.mean(torch.expm1(log_ratio) - log_ratio))


def clipped_surrogate(
    log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantage: torch.Tensor, clip: float
) -> torch.Tensor:
    """min(r A, clip(r, 1 - eps, 1 + eps) A) per child, r = exp(log pi - log pi_old) (Schulman et al. 2017, eq. 7):
    no gradient once a child's ratio has moved past the clip in its advantage's direction."""
    ratio = torch.exp(log_probs - old_log_probs)
    return torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - clip, 1 + clip) * advantage)
