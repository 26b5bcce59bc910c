"""Regularized (aging) evolution, Real et al. 2019 ("Regularized Evolution for Image Classifier Architecture
Search", Algorithm 1): the strong baseline every learned strategy must beat.

    population <- P random architectures, each evaluated
    repeat:
        sample S members of the population at random (without replacement)
        parent <- the sample's best
        child <- mutate(parent): one decision (a token or a skip bit) re-sampled to a different value
        evaluate the child; add it to the population; remove the population's OLDEST member

Removing the oldest rather than the worst is what "regularized" means: an architecture survives only by having
good descendants, so a lucky evaluation cannot dominate forever.

In nasrl's loop an episode is `--children` cycles: `propose(n)` runs n tournaments on the population as it stands
and `update` then adds the n children in order, each pushing out the oldest member (as Real et al.'s many
workers do, where children are proposed before earlier ones have finished). While the population holds fewer
than P members, proposals are uniform random architectures.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch

from nasrl.errors import UserError
from nasrl.search.controller import Decisions, architectures_to_decisions, decisions_to_architectures
from nasrl.search.strategies.random_search import uniform_architectures
from nasrl.search.strategies.registry import register_strategy
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.search.strategies.strategy import StrategyBase, check_rewards
from nasrl.space import Architecture, SearchSpace


@register_strategy(
    "evolution",
    summary="regularized (aging) evolution (Real et al. 2019)",
    has_policy=False,
    proposes_independently=False,
    entropy_label="population diversity (entropy of its decisions)",
)
class RegularizedEvolution(StrategyBase):
    """Aging evolution with a population of `population_size` and tournaments of `tournament_size`."""

    name = "evolution"

    def __init__(
        self, space: SearchSpace, seed: int, population_size: int, tournament_size: int, baseline_decay: float = 0.95
    ) -> None:
        if tournament_size < 1 or population_size < tournament_size:
            raise UserError(
                f"The tournament ({tournament_size}) must hold at least 1 and at most the population "
                f"({population_size}) architectures: lower --tournament-size or raise --population-size."
            )
        super().__init__(space, seed, baseline_decay)
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.population: list[tuple[Architecture, float]] = []  # oldest first

    @classmethod
    def from_settings(cls, space: SearchSpace, seed: int, settings: StrategyConfig) -> RegularizedEvolution:
        return cls(space, seed, settings.population_size, settings.tournament_size, settings.baseline_decay)

    # ----- proposing -------------------------------------------------------------------------------------
    def propose(self, n: int) -> list[Architecture]:
        if n < 1:
            raise ValueError(f"propose needs n >= 1, got {n}.")
        missing = max(0, self.population_size - len(self.population))
        out = []
        for k in range(n):
            if k < missing or not self.population:
                out.append(self._random())
            else:
                out.append(self._mutate(self._tournament()))
        return out

    def _random(self) -> Architecture:
        return uniform_architectures(self.space, 1, self.num_layers, self.generator)[0]

    def _tournament(self) -> Architecture:
        """The best of S members drawn without replacement (ties: the younger one, as the later max wins)."""
        picks = torch.randperm(len(self.population), generator=self.generator)[: self.tournament_size].tolist()
        best = max(sorted(picks), key=lambda i: self.population[i][1])
        return self.population[best][0]

    def _mutate(self, parent: Architecture) -> Architecture:
        """Re-sample one decision, chosen uniformly among all tokens and skip bits, to a different value."""
        decisions = architectures_to_decisions(self.space, [self._at_depth(parent)])
        tokens, skips = decisions.tokens[0], decisions.skips[0] if decisions.skips is not None else None
        depth, num_tokens = tokens.shape
        num_bits = depth * (depth - 1) // 2 if skips is not None else 0
        pick = int(torch.randint(depth * num_tokens + num_bits, (1,), generator=self.generator))
        if pick < depth * num_tokens:
            layer, t = divmod(pick, num_tokens)
            choices = len(self.space.tokens[t].choices)
            if choices > 1:  # a different value: shift by 1..choices-1
                shift = 1 + int(torch.randint(choices - 1, (1,), generator=self.generator))
                tokens[layer, t] = (tokens[layer, t] + shift) % choices
        else:
            rows, cols = torch.tril_indices(depth, depth, offset=-1)
            bit = pick - depth * num_tokens
            skips[rows[bit], cols[bit]] = 1.0 - skips[rows[bit], cols[bit]]
        mutated = Decisions(tokens.unsqueeze(0), skips.unsqueeze(0) if skips is not None else None)
        return decisions_to_architectures(self.space.with_layers(depth), mutated)[0]

    def _at_depth(self, arch: Architecture) -> Architecture:
        """A parent at the current depth (a layer schedule grows it): extra layers random, surplus dropped."""
        if arch.num_layers == self.num_layers:
            return arch
        fresh = self._random()
        layers = list(arch.layers[: self.num_layers]) + list(fresh.layers[arch.num_layers :])
        values = [layer.as_dict for layer in layers]
        inputs = [[j for j in layer.inputs if j < i] for i, layer in enumerate(layers)]
        return self.space.with_layers(self.num_layers).architecture(values, inputs if self.space.skips else None)

    # ----- learning ---------------------------------------------------------------------------------------
    def update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """Each child joins the population in order, each pushing out the oldest member once it is full (with
        children in flight: whichever children arrived; there is no policy to correct, `proposal_log_probs` is
        ignored)."""
        check_rewards(architectures, rewards)
        for arch, reward in zip(architectures, rewards):
            self.population.append((arch, float(reward)))
            if len(self.population) > self.population_size:
                self.population.pop(0)
        stats = self.learned_nothing(rewards, population_entropy([a for a, _ in self.population]))
        return stats | {"population_best": max(r for _, r in self.population)}

    # ----- resuming -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        population = [(arch.to_json(), reward) for arch, reward in self.population]
        return {**self.base_state(), "population": population}

    def load_state_dict(self, state: dict) -> None:
        self.load_base_state(state)
        self.population = [(Architecture.from_json(text), float(reward)) for text, reward in state["population"]]


def population_entropy(architectures: Sequence[Architecture]) -> float:
    """How diverse a population is, in nats: the entropy of each decision's empirical distribution, summed (the
    uniform policy's entropy is the most it approaches; 0 means every member is the same architecture)."""
    if not architectures:
        return 0.0
    total = 0.0
    depth = min(a.num_layers for a in architectures)
    for i in range(depth):
        names = [name for name, _ in architectures[0].layers[i].values]
        columns = [[a.layers[i][name] for a in architectures] for name in names]
        columns += [[j in a.layers[i].inputs for a in architectures] for j in range(i)]
        for column in columns:
            counts = Counter(column).values()
            total -= sum(c / len(column) * math.log(c / len(column)) for c in counts)
    return total
