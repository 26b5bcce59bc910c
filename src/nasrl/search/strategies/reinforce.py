"""REINFORCE on the LSTM controller: the policy gradient of Zoph & Le 2017.

REINFORCE (Williams 1992), as Zoph & Le 2017 use it (section 3.2, eq. 2 with a baseline):

    grad J(theta) ~= 1/m sum_k sum_t grad log pi(a_t | a_(t-1):1; theta) (R_k - b)

which we minimise as the loss

    loss = -1/m sum_k [(R'_k - b) * log pi(arch_k) + entropy_weight * H(pi; arch_k) / D_k]

with R' the (optionally cubed) reward, b an exponential moving average of earlier episodes' mean rewards, and
D_k the number of decisions of arch_k (`entropy_per_decision`; 1 for the paper's bonus on the summed entropy).

Children in flight (`--in-flight`): a child proposed before the last update was drawn from an older policy mu,
so its term is weighted by the truncated importance ratio w_k = min(pi(arch_k) / mu(arch_k), rho_bar), a
constant in the gradient: V-trace's policy gradient (Espeholt et al. 2018, IMPALA, section 4.2) with rho_bar = 1
(`IMPORTANCE_CAP`, their default), which keeps a child the policy has since become much likelier to propose from
dominating the step, at the price of a bias towards the proposing policy. A child the current policy proposed has
w_k = 1 exactly, so an update on such children equals the synchronous one bit for bit.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from nasrl.search.controller import Controller
from nasrl.search.strategies.registry import register_strategy
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.search.strategies.strategy import StrategyBase, check_rewards
from nasrl.space import Architecture, SearchSpace


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the controller's tiny matrix products on one intra-op thread, then restore the caller's setting.

    Its tensors are [n, 35]: thread hand-offs cost more than the arithmetic. Measured on a shared 2-core box
    (zoph 15 layers, 100 children in episodes of 10): 0.42 s on one thread vs 4-19 s on two while other
    processes compete for the cores (idle spin-waits of the second thread)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: V-trace's rho-bar: the largest importance weight a stale child's term gets (Espeholt et al. 2018 use 1).
IMPORTANCE_CAP = 1.0


def proposing_log_probs(log_probs: torch.Tensor, proposal_log_probs: Sequence[float | None]) -> torch.Tensor:
    """log mu(a_k) per child, no gradient: the stored log-probability of the policy that proposed it, or log pi
    itself where that is None (the current policy proposed the child)."""
    now = log_probs.detach()
    proposing = [pi if mu is None else mu for pi, mu in zip(now.tolist(), proposal_log_probs)]
    return torch.tensor(proposing, dtype=now.dtype, device=now.device)


def importance_weights(
    log_probs: torch.Tensor, proposal_log_probs: Sequence[float | None], cap: float = IMPORTANCE_CAP
) -> torch.Tensor:
    """min(pi(a_k) / mu(a_k), cap) per child from log pi (current policy) and log mu (the proposing one), no
    gradient; 1 exactly where mu is None (the current policy proposed the child)."""
    return torch.exp(log_probs.detach() - proposing_log_probs(log_probs, proposal_log_probs)).clamp(max=cap)


def stale(proposal_log_probs: Sequence[float | None] | None) -> bool:
    """Whether any child came from an older policy (else the update is exactly the synchronous one)."""
    return proposal_log_probs is not None and any(lp is not None for lp in proposal_log_probs)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


@register_strategy(
    "reinforce",
    summary="REINFORCE on the LSTM controller (Zoph & Le 2017)",
    has_policy=True,
    loss_label="REINFORCE loss",
)
class Reinforce(StrategyBase):
    """REINFORCE with a moving-average baseline, an entropy bonus, Adam, gradient clipping and optional LR decay.

    Its settings are a `StrategyConfig`'s (the defaults' reasons are there and in BENCHMARKS.md, "Controller").
    Baseline: the advantage R' - b uses the baseline *before* this episode's rewards enter it (the paper's "moving
    average of the previous architecture accuracies"), so b does not depend on the samples it judges. The first
    episode has no history; b starts at that episode's mean reward, so the first update only ranks the children
    against each other instead of taking a large step towards all of them."""

    name = "reinforce"

    def __init__(self, space: SearchSpace, seed: int, settings: StrategyConfig | None = None, **overrides: Any) -> None:
        self.settings = settings = StrategyConfig.of(settings, **overrides)
        super().__init__(space, seed, settings.baseline_decay)
        # The generator draws the initial weights, then every sample.
        self.controller = Controller(space, settings, init_generator=self.generator)
        self.importance_cap = IMPORTANCE_CAP
        self.last_ratios: list[float] = []  # the last stale update's importance ratios, before the cap
        self.make_optimizer()

    def trainable(self) -> list[torch.nn.Parameter]:
        """The parameters the update trains (a subclass with a head of its own adds it)."""
        return list(self.controller.parameters())

    def make_optimizer(self) -> None:
        """Adam over `trainable()`, with the LR decay when set. ENAS's controller uses beta1 0 and epsilon 1e-3
        (`adam_beta1`, `adam_eps`); the defaults are Adam's."""
        settings = self.settings
        self.optimizer = torch.optim.Adam(
            self.trainable(), lr=settings.lr, betas=(settings.adam_beta1, 0.999), eps=settings.adam_eps
        )
        self.scheduler = None
        if settings.lr_decay is not None:
            self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=settings.lr_decay)

    @classmethod
    def from_settings(cls, space: SearchSpace, seed: int, settings: StrategyConfig) -> Reinforce:
        return cls(space, seed, settings)

    def transform(self, reward: float) -> float:
        """R' from R: the paper cubes the validation accuracy to sharpen differences near the top."""
        return reward**3 if self.settings.reward_transform == "cube" else reward

    def propose(self, n: int) -> list[Architecture]:
        return [arch for arch, _ in self.propose_scored(n)]

    def propose_scored(self, n: int) -> list[tuple[Architecture, float | None]]:
        """The sampled architectures with the log-probability the sampling pass computed for each."""
        with torch.no_grad(), one_thread():
            sample = self.controller.sample(n, generator=self.generator, num_layers=self.num_layers)
        return list(zip(sample.architectures, [float(lp) for lp in sample.log_probs]))

    def update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """One policy-gradient update on one episode's children (eq. 2 with baseline, averaged over the m children),
        each stale child's term weighted by its truncated importance ratio (the module's docstring)."""
        check_rewards(architectures, rewards)
        if proposal_log_probs is not None and len(proposal_log_probs) != len(architectures):
            raise ValueError(f"update needs one proposal log-prob per architecture, got {len(proposal_log_probs)}.")
        with one_thread():
            return self._update(architectures, rewards, proposal_log_probs if stale(proposal_log_probs) else None)

    def _update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        transformed = [self.transform(float(r)) for r in rewards]
        mean_transformed = _mean(transformed)
        baseline = mean_transformed if self.baseline is None else self.baseline
        advantage = torch.tensor(transformed) - baseline  # (R'_k - b)
        self.controller.train()
        lr = self.optimizer.param_groups[0]["lr"]
        loss, entropies, grad_norm = self._optimise(architectures, advantage, proposal_log_probs)
        if self.scheduler is not None:
            self.scheduler.step()
        self.advance_baseline(mean_transformed)  # the episode joins the baseline only after it was judged
        stats = {
            "loss": float(loss.detach()),
            "baseline": float(baseline),
            "mean_reward": _mean([float(r) for r in rewards]),
            "entropy": float(entropies.detach().mean()),
            "lr": float(lr),
            "grad_norm": grad_norm,
        }
        return stats | self.importance_stats(proposal_log_probs)

    def importance_stats(self, proposal_log_probs: Sequence[float | None] | None) -> dict[str, float]:
        """How stale this update's children were: the stale share and the mean of their weights before the
        cap (the log's evidence that the correction acts; nothing for a synchronous update)."""
        if proposal_log_probs is None:
            return {}
        stale_at = [k for k, lp in enumerate(proposal_log_probs) if lp is not None]
        ratios = [self.last_ratios[k] for k in stale_at]
        return {
            "stale_share": len(stale_at) / len(proposal_log_probs),
            "importance_ratio": _mean(ratios),
            "capped_share": sum(r > self.importance_cap for r in ratios) / len(ratios),
        }

    def _optimise(
        self,
        architectures: Sequence[Architecture],
        advantage: torch.Tensor,
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """One gradient step of the REINFORCE loss; returns (loss, the children's entropies, gradient norm)."""
        log_probs, entropies, skip_kls = self.controller.score(architectures)
        if proposal_log_probs is not None:  # stale children: truncated importance weights (module docstring)
            ratios = importance_weights(log_probs, proposal_log_probs, cap=float("inf"))
            self.last_ratios = ratios.tolist()
            advantage = advantage * ratios.clamp(max=self.importance_cap)
        loss = self.loss(architectures, advantage * log_probs, entropies, skip_kls)
        return loss, entropies, self._step(loss)

    def loss(
        self,
        architectures: Sequence[Architecture],
        surrogate: torch.Tensor,
        entropies: torch.Tensor,
        skip_kls: torch.Tensor,
    ) -> torch.Tensor:
        """-surrogate.mean() - w * H.mean(), H per decision when `entropy_per_decision`: the reward is a share of
        the decisions, so each decision's pull shrinks as 1 / decisions while a bonus on the summed entropy would
        pull each with the full weight and hold a deep policy near uniform."""
        if self.settings.entropy_per_decision:
            counts = [num_decisions(self.space, a.num_layers) for a in architectures]
            entropies = entropies / torch.tensor(counts, dtype=entropies.dtype)
        loss = -surrogate.mean() - self.settings.entropy_weight * entropies.mean()
        if self.settings.skip_weight > 0 and self.space.skips:  # ENAS: loss += skip_weight * skip_penaltys
            loss = loss + self.settings.skip_weight * skip_kls.mean()
        return loss

    def _step(self, loss: torch.Tensor) -> float:
        """Backward, clip the global gradient norm (ENAS's bound), Adam step; returns the norm before clipping."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = self.trainable()
        # Parameters without a gradient (the anchor attention of a 1-layer space) do not count.
        clip = self.settings.grad_clip if self.settings.grad_clip is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        self.optimizer.step()
        return grad_norm

    def state_dict(self) -> dict:
        """A snapshot (deep copy): the module's and Adam's state_dicts alias live tensors that the next step
        overwrites in place, and a checkpoint taken at an episode's start must not change afterwards."""
        return copy.deepcopy(
            {
                **self.base_state(),
                "controller": dict(self.controller.state_dict()),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            }
        )

    def load_state_dict(self, state: dict) -> None:
        self.load_base_state(state)
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def num_decisions(space: SearchSpace, num_layers: int) -> int:
    """How many decisions an architecture of this depth takes: its tokens, plus one skip bit per layer pair."""
    return num_layers * len(space.tokens) + (num_layers * (num_layers - 1) // 2 if space.skips else 0)
