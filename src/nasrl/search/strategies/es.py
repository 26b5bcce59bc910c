"""Evolution strategies over the controller's weights (Salimans et al. 2017, "Evolution Strategies as a Scalable
Alternative to Reinforcement Learning"; read against openai/evolution-strategies-starter, es_distributed/es.py).

The policy is the LSTM controller with weights theta; ES needs no gradient of it. Each child comes from its own
perturbed policy theta + sigma * s * eps (eps ~ N(0, I), s = +1 or -1), which proposes it by one draw:

- *antithetic pairs* (section 2.2, "mirrored sampling"): proposals alternate +eps and -eps of one eps, so an
  episode of `--children` evaluates `--children` perturbations, `--children` / 2 pairs (a pair may span two
  episodes when the count is odd, or when children are in flight);
- *fitness shaping* (section 2.2): the rewards are replaced by their centred ranks in [-0.5, 0.5] (the starter's
  `compute_centered_ranks`), so the step does not depend on the reward's scale and an outlier cannot dominate;
  tied rewards share their mean rank (the starter breaks ties by order: with the synthetic target's many ties
  that would add noise);
- the estimate (Algorithm 1): g = 1 / (m sigma) sum_k F_k s_k eps_k, and the step is Adam's on
  -sigma g + l2 theta, as the starter's `optimizer.update(-g + l2coeff * theta)` whose g leaves sigma out
  (`es_weight_decay`, the starter's l2coeff 0.005); `es_lr` is Adam's step size and `es_sigma` the noise (0.03
  and 0.05, tuned; the starter's 0.01 and 0.02 learned less);
- *common random numbers* (not in the paper): the two halves of a pair draw their architectures with the same
  random numbers, so F(+eps) - F(-eps) measures the perturbation rather than the luck of the draw.

The noise of a proposal is kept as a seed (the starter's shared noise table, regenerated instead of looked up), so
the children waiting for an update cost a few numbers each and a checkpoint holds them. A child whose perturbation
is not known (one proposed before a resume of a run with children in flight) counts with eps = 0: it takes part in
the ranking, not in the direction. Weight sharing's training samples and `derive`'s draw from perturbed policies
too; only the proposals still waiting are kept, at most `PENDING_LIMIT`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from nasrl.search.controller import Controller
from nasrl.search.strategies.registry import register_strategy
from nasrl.search.strategies.reinforce import one_thread
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.search.strategies.strategy import StrategyBase, check_rewards
from nasrl.space import Architecture, SearchSpace

#: Proposals kept while they wait for an update; older ones are forgotten (weight sharing's training samples are
#: never updated on, and a run with children in flight has at most a few rounds waiting).
PENDING_LIMIT = 4096


@dataclass(frozen=True)
class Perturbation:
    """Which perturbed policy proposed an architecture: the seed of its eps and the sign it was added with."""

    arch_hash: str
    seed: int
    sign: int


def noise(seed: int, size: int) -> torch.Tensor:
    """eps ~ N(0, I) of `size` from its seed: the same eps every time it is asked for."""
    return torch.randn(size, generator=torch.Generator().manual_seed(seed))


def centered_ranks(values: Sequence[float]) -> torch.Tensor:
    """The values' ranks scaled to [-0.5, 0.5] (the starter's `compute_centered_ranks`), ties at their mean rank;
    0 for a single value."""
    x = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if len(x) < 2:
        return torch.zeros(len(x))
    below = (x.unsqueeze(1) > x.unsqueeze(0)).sum(1).double()
    tied = (x.unsqueeze(1) == x.unsqueeze(0)).sum(1).double()
    ranks = below + (tied - 1) / 2
    return (ranks / (len(x) - 1) - 0.5).float()


def es_gradient(noises: torch.Tensor, signs: torch.Tensor, fitness: torch.Tensor, sigma: float) -> torch.Tensor:
    """Algorithm 1's estimate of grad E[F(theta + sigma eps)]: 1 / (m sigma) sum_k F_k s_k eps_k, eps_k the rows
    of `noises` [m, d] (zero rows for unknown perturbations)."""
    return (fitness * signs).to(noises.dtype) @ noises / (len(fitness) * sigma)


@register_strategy(
    "es",
    summary="evolution strategies over the controller's weights: antithetic noise, ranked fitness, Adam "
    "(Salimans et al. 2017)",
    has_policy=True,
)
class EvolutionStrategies(StrategyBase):
    """ES with the module's estimate; the controller's weights are the mean theta between proposals."""

    name = "es"

    def __init__(self, space: SearchSpace, seed: int, settings: StrategyConfig | None = None, **overrides: Any) -> None:
        self.settings = settings = StrategyConfig.of(settings, **overrides)
        super().__init__(space, seed, settings.baseline_decay)
        self.controller = Controller(space, settings, init_generator=self.generator)
        self.params = list(self.controller.parameters())
        self.size = sum(p.numel() for p in self.params)
        self.optimizer = torch.optim.Adam(
            self.params, lr=settings.es_lr, betas=(settings.adam_beta1, 0.999), eps=settings.adam_eps
        )
        self.pending: list[Perturbation] = []
        self.open_pair: int | None = None  # the seed whose -eps the next proposal takes
        self.pair_draws = self.generator.get_state()  # the generator as the open pair's first half drew

    @classmethod
    def from_settings(cls, space: SearchSpace, seed: int, settings: StrategyConfig) -> EvolutionStrategies:
        return cls(space, seed, settings)

    def propose(self, n: int) -> list[Architecture]:
        """n architectures, each drawn once from its own perturbed policy (antithetic pairs, in order)."""
        architectures = []
        with torch.no_grad(), one_thread():
            theta = parameters_to_vector(self.params)
            try:
                for _ in range(n):
                    seed, sign = self._next_perturbation()
                    vector_to_parameters(theta + self.settings.es_sigma * sign * noise(seed, self.size), self.params)
                    if sign > 0:
                        self.pair_draws = self.generator.get_state()
                    else:  # the pair's second half draws with the first half's numbers (common random numbers)
                        self.generator.set_state(self.pair_draws)
                    arch = self.controller.sample(1, generator=self.generator, num_layers=self.num_layers)
                    architectures.append(arch.architectures[0])
                    self.pending.append(Perturbation(arch.architectures[0].hash(), seed, sign))
            finally:
                vector_to_parameters(theta, self.params)
        del self.pending[:-PENDING_LIMIT]
        return architectures

    def _next_perturbation(self) -> tuple[int, int]:
        """(seed, sign): a fresh eps with +1, then the same eps with -1."""
        if self.open_pair is not None:
            seed, self.open_pair = self.open_pair, None
            return seed, -1
        self.open_pair = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        return self.open_pair, 1

    def claim(self, arch: Architecture) -> Perturbation | None:
        """The latest waiting perturbation that proposed `arch`, no longer waiting; None if none is known."""
        key = arch.hash()
        for k in range(len(self.pending) - 1, -1, -1):
            if self.pending[k].arch_hash == key:
                return self.pending.pop(k)
        return None

    def update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """One Adam step on the ES estimate from one episode's children (their perturbations claimed by
        architecture, so children that arrive in another order still meet their own noise)."""
        check_rewards(architectures, rewards)
        with one_thread():
            perturbations = [self.claim(arch) for arch in architectures]
            noises = torch.stack([self._noise_of(p) for p in perturbations])
            signs = torch.tensor([0.0 if p is None else float(p.sign) for p in perturbations])
            sigma = self.settings.es_sigma
            ascent = es_gradient(noises, signs, centered_ranks(rewards), sigma)
            theta = parameters_to_vector(self.params).detach()
            step = -sigma * ascent + self.settings.es_weight_decay * theta
            self._apply(step)
            with torch.no_grad():
                _, entropies = self.controller.log_prob(architectures)
        stats = self.learned_nothing(rewards, float(entropies.mean()))
        lr = float(self.optimizer.param_groups[0]["lr"])
        return stats | {"lr": lr, "grad_norm": float(ascent.norm()), "unknown_noise": float(signs.eq(0).sum())}

    def _noise_of(self, perturbation: Perturbation | None) -> torch.Tensor:
        return torch.zeros(self.size) if perturbation is None else noise(perturbation.seed, self.size)

    def _apply(self, step: torch.Tensor) -> None:
        """`step` as the parameters' gradient, then Adam's step."""
        self.optimizer.zero_grad(set_to_none=False)
        offset = 0
        for p in self.params:
            p.grad = step[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        self.optimizer.step()

    def state_dict(self) -> dict:
        return copy.deepcopy(
            {
                **self.base_state(),
                "controller": dict(self.controller.state_dict()),
                "optimizer": self.optimizer.state_dict(),
                "pending": [[p.arch_hash, p.seed, p.sign] for p in self.pending],
                "open_pair": self.open_pair,
                "pair_draws": self.pair_draws,
            }
        )

    def load_state_dict(self, state: dict) -> None:
        self.load_base_state(state)
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.pending = [Perturbation(str(h), int(s), int(sign)) for h, s, sign in state["pending"]]
        self.open_pair = state["open_pair"]
        self.pair_draws = state["pair_draws"]
