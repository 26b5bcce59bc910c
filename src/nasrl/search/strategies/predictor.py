"""A learned predictor that ranks a strategy's proposals before any is evaluated: BANANAS' selection step
(White, Neiswanger and Savani 2021, "BANANAS: Bayesian Optimization with Neural Architectures for Neural
Architecture Search", Algorithm 1; naszilla/naszilla `nas_algorithms.py` `bananas`, `acquisition_functions.py`).

    each episode of n children:
        candidates <- K x n proposals of the strategy, minus architectures already evaluated
        fit an ensemble of M feedforward networks to every evaluated (architecture, reward)
        score each candidate by independent Thompson sampling: a draw from N(mean, sd) of the ensemble's predictions
        evaluate the n best-scored candidates; the strategy learns from them as from its own proposals

BANANAS draws its candidates by mutating its best architectures; here the wrapped strategy proposes them (REINFORCE's
policy, evolution's mutations, or uniform draws with `--strategy random`), so the strategy keeps learning and the
predictor only chooses among what it proposes. A policy-gradient strategy then learns from children that the
predictor picked rather than from samples of its policy: the estimate is biased towards what the predictor favours,
which is the point (evaluations are the cost). The ensemble follows BANANAS' defaults (5 networks, Adam at lr
0.01, 200 epochs, a mean absolute error loss) with full-batch steps (`Ensemble.fit`), on a one-hot encoding of each
decision (a token's choice, a skip bit) instead of the path encoding, and 3 hidden layers of 32 instead of 10 of 20
(a smaller network for at most a few thousand points; the two were not compared). Until 10 architectures are
evaluated (BANANAS' num_init) the strategy's first n proposals are taken as they come.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from nasrl.search.strategies.strategy import Strategy
from nasrl.space import Architecture, SearchSpace
from nasrl.space.families import architectures_to_decisions

MEMBERS = 5  # BANANAS: num_ensemble
EPOCHS = 200  # meta_neural_net.fit: epochs
LR = 0.01  # meta_neural_net.fit: lr
WIDTH, DEPTH = 32, 3  # hidden units per layer, layers (a deviation, see the module docstring)
FIRST_FIT = 10  # BANANAS: num_init, the evaluations before the predictor chooses


def encode(space: SearchSpace, architectures: Sequence[Architecture]) -> torch.Tensor:
    """One row per architecture: the one-hot choice of every token of every layer, then every skip bit."""
    decisions = architectures_to_decisions(space, architectures)
    parts = [F.one_hot(decisions.tokens[..., t], len(tok.choices)).flatten(1) for t, tok in enumerate(space.tokens)]
    if decisions.skips is not None:
        rows, cols = torch.tril_indices(decisions.skips.shape[1], decisions.skips.shape[1], offset=-1)
        parts.append(decisions.skips[:, rows, cols])
    return torch.cat(parts, dim=1).float()


class Ensemble:
    """M feedforward regressors trained at once as batched weights ([M, in, out] per layer)."""

    def __init__(self, inputs: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        sizes = [inputs] + [WIDTH] * DEPTH + [1]
        self.weights = [
            (torch.randn(MEMBERS, a, b, generator=generator) * (2 / a) ** 0.5).requires_grad_()
            for a, b in zip(sizes[:-1], sizes[1:])
        ]
        self.biases = [torch.zeros(MEMBERS, 1, b, requires_grad=True) for b in sizes[1:]]
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """[M, n] predictions for inputs [n, in] (or [M, n, in], one batch per member)."""
        h = x.expand(MEMBERS, *x.shape) if x.dim() == 2 else x
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            h = F.relu(h) if k < len(self.weights) - 1 else h
        return h.squeeze(-1)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """EPOCHS full-batch steps of Adam on the mean absolute error (BANANAS takes batches of 32: a fit would then
        cost a step per 32 evaluations and epoch, which a 1,000-evaluation benchmark run cannot afford)."""
        optimizer = torch.optim.Adam([*self.weights, *self.biases], lr=LR)
        for _ in range(EPOCHS):
            loss = (self(x) - y).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


class PredictorSelection:
    """Any strategy whose episodes are chosen by an ensemble from `candidates` x n of its own proposals (the module
    docstring). Everything else (learning, depth, resume) is the wrapped strategy's, plus the evaluated data."""

    def __init__(self, inner: Strategy, space: SearchSpace, seed: int, candidates: int) -> None:
        self.inner, self.space, self.candidates = inner, space, candidates
        self.name = inner.name
        self.generator = torch.Generator().manual_seed(seed + 1)  # Thompson draws and each fit's seed
        self.data: dict[str, float] = {}  # every evaluated architecture's JSON -> its reward
        self.fit_seed: int | None = None
        self.ensemble: Ensemble | None = None

    def __getattr__(self, name: str):  # the wrapped strategy's own attributes (controller, settings, ...)
        return getattr(self.inner, name)

    def propose(self, n: int) -> list[Architecture]:
        return [arch for arch, _ in self.propose_scored(n)]

    def propose_scored(self, n: int) -> list[tuple[Architecture, float | None]]:
        scored = self.inner.propose_scored(self.candidates * n)  # type: ignore[attr-defined]
        fresh: dict[str, tuple[Architecture, float | None]] = {}
        for arch, log_prob in scored:
            if arch.to_json() not in self.data:
                fresh.setdefault(arch.to_json(), (arch, log_prob))
        pool = list(fresh.values())
        if self.ensemble is None or len(pool) <= n:
            return (pool + scored)[:n]
        with torch.no_grad():
            predictions = self.ensemble(encode(self.space, [arch for arch, _ in pool]))
        draws = predictions.mean(0) + predictions.std(0) * torch.randn(len(pool), generator=self.generator)
        return [pool[i] for i in torch.argsort(draws, descending=True)[:n].tolist()]

    def update(
        self,
        architectures: Sequence[Architecture],
        rewards: Sequence[float],
        proposal_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """The strategy learns from the episode; the ensemble is fitted again to every result so far."""
        stats = self.inner.update(architectures, rewards, proposal_log_probs)
        for arch, reward in zip(architectures, rewards):
            self.data[arch.to_json()] = float(reward)
        if len(self.data) >= FIRST_FIT:
            self.fit_seed = int(torch.randint(2**31, (1,), generator=self.generator))
            self._fit()
        return stats

    def _fit(self) -> None:
        """A new ensemble from `fit_seed` on the data, targets standardised (the fit is deterministic on a CPU)."""
        assert self.fit_seed is not None
        archs = [Architecture.from_json(text) for text in self.data]
        x, y = encode(self.space, archs), torch.tensor(list(self.data.values()))
        self.ensemble = Ensemble(x.shape[1], self.fit_seed)
        with torch.enable_grad():
            self.ensemble.fit(x, (y - y.mean()) / (y.std() + 1e-8))

    def set_num_layers(self, num_layers: int) -> None:
        self.inner.set_num_layers(num_layers)

    def reseed(self, seed: int) -> None:
        self.inner.reseed(seed)  # type: ignore[attr-defined]
        self.generator.manual_seed(seed + 1)

    def state_dict(self) -> dict:
        return {
            **self.inner.state_dict(),
            "predictor": {
                "data": list(self.data.items()),
                "fit_seed": self.fit_seed,
                "generator": self.generator.get_state(),
            },
        }

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict({k: v for k, v in state.items() if k != "predictor"})
        saved = state["predictor"]
        self.data = {text: float(reward) for text, reward in saved["data"]}
        self.generator.set_state(saved["generator"])
        self.fit_seed, self.ensemble = saved["fit_seed"], None
        if self.fit_seed is not None:
            self._fit()  # the same ensemble as before the checkpoint: same data, same seed
