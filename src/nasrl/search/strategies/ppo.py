"""PPO on the same controller: the clipped surrogate (Schulman et al. 2017), as Zoph et al. 2018 trained theirs.

    L(theta) = -1/m sum_k min(r_k A_k, clip(r_k, 1 - eps, 1 + eps) A_k) - w H,   r_k = pi(arch_k) / pi_old(arch_k)

with A_k = R'_k - b, the baseline and entropy bonus of `Reinforce`, and pi_old the policy before this episode's
update. Each episode takes `ppo_epochs` gradient steps over its children; on the first the ratio is 1, so its
gradient is exactly REINFORCE's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nasrl.search.strategies.reinforce import Reinforce
from nasrl.space import Architecture


class PPO(Reinforce):
    """`Reinforce` whose optimisation step is `ppo_epochs` steps of the clipped surrogate (clip `ppo_clip`)."""

    name = "ppo"

    def _optimise(
        self, architectures: Sequence[Architecture], advantage: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Returns the first epoch's loss, entropies and gradient norm: the policy before this update, as
        `Reinforce` reports it."""
        with torch.no_grad():
            old_log_probs, _ = self.controller.log_prob(architectures)
        first: tuple[torch.Tensor, torch.Tensor, float] | None = None
        for _ in range(self.settings.ppo_epochs):
            log_probs, entropies = self.controller.log_prob(architectures)
            surrogate = clipped_surrogate(log_probs, old_log_probs, advantage, self.settings.ppo_clip)
            loss = self.loss(architectures, surrogate, entropies)
            grad_norm = self._step(loss)
            if first is None:
                first = (loss, entropies, grad_norm)
        assert first is not None
        return first


def clipped_surrogate(
    log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantage: torch.Tensor, clip: float
) -> torch.Tensor:
    """min(r A, clip(r, 1 - eps, 1 + eps) A) per child, r = exp(log pi - log pi_old) (Schulman et al. 2017, eq. 7):
    no gradient once a child's ratio has moved past the clip in its advantage's direction."""
    ratio = torch.exp(log_probs - old_log_probs)
    return torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - clip, 1 + clip) * advantage)
