"""Local search, as White, Nolen, Thomas and Herrmann (2020, "Local Search is State of the Art for Neural
Architecture Search Benchmarks", Algorithm 1) run it; naszilla/naszilla `naszilla/nas_algorithms.py`
`local_search` with its defaults (num_init 10, query_full_nbhd False, stop_at_minimum True):

    repeat:
        evaluate `local_init` random architectures not evaluated before; centre <- the best of them
        repeat:
            for each neighbour of the centre (one decision changed), in random order, not evaluated before:
                evaluate it; stop at the first that beats the centre
            if one did: centre <- the best neighbour evaluated; else: a local optimum, start again

A neighbour differs from the centre in one decision: one token of one layer set to another of its choices, or one
skip bit flipped (NAS-Bench-201's cell: one edge's operation, 6 x 4 = 24 neighbours; naszilla `cell_201.py`
`get_neighborhood`). In nasrl's loop `propose(n)` hands out the next n neighbours (or random architectures while a
climb starts), and `update` moves the centre to the best neighbour that beat it, as the paper's loop does after
its first improvement; with `--children 1` the two are the same step for step, with larger episodes the neighbours
proposed after the first improvement are evaluated too. An architecture already evaluated is never proposed again
(evaluations are the budget, `--max-evaluations`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nasrl.search.controller import Decisions, architectures_to_decisions, decisions_to_architectures
from nasrl.search.strategies.evolution import population_entropy
from nasrl.search.strategies.random_search import uniform_architectures
from nasrl.search.strategies.registry import register_strategy
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.search.strategies.strategy import StrategyBase, check_rewards
from nasrl.space import Architecture, SearchSpace

#: Random draws tried for an architecture not evaluated before, before one is taken anyway (a tiny space).
FRESH_TRIES = 100


@register_strategy(
    "local",
    summary="local search (White et al. 2020): climb one-decision neighbours from the best of 10 random",
    has_policy=False,
    proposes_independently=False,
    entropy_label="diversity of the evaluated architectures (entropy of their decisions)",
)
class LocalSearch(StrategyBase):
    """Hill climbing over one-decision neighbours, restarted from `local_init` random architectures at each local
    optimum (the module docstring)."""

    name = "local"

    def __init__(self, space: SearchSpace, seed: int, local_init: int = 10, baseline_decay: float = 0.95) -> None:
        super().__init__(space, seed, baseline_decay)
        self.local_init = local_init
        self.known: dict[str, float] = {}  # every evaluated architecture's JSON -> its reward
        self.starts: list[str] = []  # the random architectures evaluated since the last restart
        self.centre: str | None = None  # None: a climb is starting (random architectures are proposed)
        self.queue: list[str] = []  # the centre's neighbours not yet proposed, in their random order
        self.proposed: set[str] = set()  # proposed and not yet answered
        self.random: set[str] = set()  # of those, the random ones (their results start the next climb)

    @classmethod
    def from_settings(cls, space: SearchSpace, seed: int, settings: StrategyConfig) -> LocalSearch:
        return cls(space, seed, settings.local_init, settings.baseline_decay)

    # ----- proposing -------------------------------------------------------------------------------------
    def propose(self, n: int) -> list[Architecture]:
        """The centre's next n neighbours not evaluated before; random architectures while a climb starts (or
        once the neighbours run out, for the restart that follows)."""
        if n < 1:
            raise ValueError(f"propose needs n >= 1, got {n}.")
        if self.centre is not None and Architecture.from_json(self.centre).num_layers != self.num_layers:
            self.centre, self.queue = None, []  # the layer schedule grew the depth: climb again from there
        out = []
        while len(out) < n:
            while self.centre is not None and self.queue and self._seen(self.queue[0]):
                self.queue.pop(0)
            if self.centre is not None and self.queue:
                text = self.queue.pop(0)
            else:
                text = self._fresh()
                self.random.add(text)
            self.proposed.add(text)
            out.append(Architecture.from_json(text))
        return out

    def _seen(self, text: str) -> bool:
        return text in self.known or text in self.proposed

    def _fresh(self) -> str:
        """A uniform random architecture not evaluated or proposed before (after `FRESH_TRIES`, any)."""
        for _ in range(FRESH_TRIES):
            text = uniform_architectures(self.space, 1, self.num_layers, self.generator)[0].to_json()
            if not self._seen(text):
                return text
        return text

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """Every architecture one decision away (a token set to another of its choices, or a skip bit flipped),
        in a random order drawn from the strategy's generator."""
        decisions = architectures_to_decisions(self.space, [arch])
        tokens, skips = decisions.tokens[0], decisions.skips[0] if decisions.skips is not None else None
        variants = []
        depth = tokens.shape[0]
        for layer in range(depth):
            for t, token in enumerate(self.space.tokens):
                for value in range(len(token.choices)):
                    if value != tokens[layer, t]:
                        changed = tokens.clone()
                        changed[layer, t] = value
                        variants.append((changed, skips))
        if skips is not None:
            for i in range(depth):
                for j in range(i):
                    flipped = skips.clone()
                    flipped[i, j] = 1.0 - flipped[i, j]
                    variants.append((tokens, flipped))
        order = torch.randperm(len(variants), generator=self.generator).tolist()
        batch = Decisions(
            torch.stack([variants[k][0] for k in order]),
            torch.stack([variants[k][1] for k in order]) if skips is not None else None,
        )
        return decisions_to_architectures(self.space.with_layers(depth), batch)

    # ----- learning ---------------------------------------------------------------------------------------
    def update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """Record the results; move the centre to the best one of its neighbours that beat it; at a local optimum
        (no neighbour left) start again; start a climb from the best random start once `local_init` are in."""
        check_rewards(architectures, rewards)
        centre, answered = self.centre, [a.to_json() for a in architectures]
        for text, reward in zip(answered, rewards):
            self.proposed.discard(text)
            if text in self.random:
                self.random.discard(text)
                self.starts.append(text)
            self.known[text] = float(reward)
        if centre is not None:
            best = max((t for t in answered if self._neighbours_of(centre, t)), key=self.known.get, default=None)
            if best is not None and self.known[best] > self.known[centre]:
                self._climb_from(best)
            elif all(self._seen(t) for t in self.queue):
                self.centre, self.queue = None, []  # a local optimum: the next proposals start again
        if self.centre is None and len(self.starts) >= self.local_init:
            self._climb_from(max(self.starts, key=lambda t: self.known[t]))
        return self._stats(rewards)

    def _climb_from(self, text: str) -> None:
        self.centre = text
        self.queue = [a.to_json() for a in self.neighbours(Architecture.from_json(text))]
        self.starts = []

    def _neighbours_of(self, centre: str, text: str) -> bool:
        """Whether `text` is one decision away from `centre`."""
        first, second = Architecture.from_json(centre), Architecture.from_json(text)
        if first.num_layers != second.num_layers:
            return False
        a, b = (architectures_to_decisions(self.space, [arch]) for arch in (first, second))
        changed = int((a.tokens != b.tokens).sum())
        if a.skips is not None and b.skips is not None:
            changed += int((a.skips != b.skips).sum())
        return changed == 1

    def _stats(self, rewards: Sequence[float]) -> dict[str, float]:
        evaluated = [Architecture.from_json(t) for t in list(self.known)[-50:]]
        stats = self.learned_nothing(rewards, population_entropy(evaluated))
        return stats | {"centre_reward": self.known[self.centre] if self.centre is not None else 0.0}

    # ----- resuming -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            **self.base_state(),
            "known": list(self.known.items()),
            "starts": list(self.starts),
            "centre": self.centre,
            "queue": list(self.queue),
            "proposed": sorted(self.proposed),
            "random": sorted(self.random),
        }

    def load_state_dict(self, state: dict) -> None:
        self.load_base_state(state)
        self.known = {text: float(reward) for text, reward in state["known"]}
        self.starts = list(state["starts"])
        self.centre = state["centre"]
        self.queue = list(state["queue"])
        self.proposed = set(state["proposed"])
        self.random = set(state["random"])
