"""The controller: an autoregressive LSTM policy over a `SearchSpace` (Zoph & Le 2017, section 3).

Read it against the paper:

- Section 3.1: the controller is a recurrent network that emits an architecture as a sequence of tokens. Each
  token (filter height, filter width, number of filters, ...) is chosen by a softmax classifier on the LSTM's
  output, and the embedding of the chosen value is the LSTM's next input. Per layer we emit the tokens in the
  space's order, then (when the space searches skips) one anchor step.
- Section 3.3: skip connections by anchor points. At layer i's anchor step the LSTM output h_i is compared with
  every earlier anchor h_j (j < i):

      P(layer j is an input to layer i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i))        (paper, section 3.3)

  one Bernoulli decision per earlier layer. The next input is the mean of the chosen anchors' outputs
  (sum_j skip_j h_j / (1 + sum_j skip_j), as in ENAS's macro controller, Pham et al. 2018).
- The log-probability of an architecture is the sum of the log-probabilities of all its decisions (the
  log pi(a_t | a_(t-1):1) summed in the paper's eq. 2), and its entropy is the sum of the decisions' entropies.

In the paper every parameter is shared across layers (one LSTM, one softmax head and one embedding table per token
type, one anchor attention); the `paper` preset keeps that. nasrl's default adds two position-specific parts:

- `position_embedding`: a learned embedding per (layer position, step within the layer) added to each step's input;
- `skip_bias`: a learned logit per (layer i, earlier layer j) added to the anchor attention's logit.

Why: with everything shared, the only thing that tells layer 7's filter-height step from layer 3's is the LSTM
state, which is driven by the (random) earlier choices; a policy whose best choices differ from layer to layer
(they do: the synthetic target is random per layer) then has to be carried through 35 units over 75-150 steps, and
the skip attention, which sees only h_i and h_j, has no handle on the particular pair (i, j). On the synthetic
benchmark the shared controller stalls near chance at 10-15 layers, the position-specific one does not
(BENCHMARKS.md, "Controller"). The tables have `MIN_POSITION_ROWS` rows (or the space's depth if larger), so the
parameter shapes do not depend on the depth; layers beyond them reuse the last row, so any depth can be sampled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasrl.config import StrategyConfig
from nasrl.space import Architecture, SearchSpace
from nasrl.space.families import Decisions, architectures_to_decisions, decisions_to_architectures

__all__ = [
    "MIN_POSITION_ROWS",
    "Controller",
    "ControllerSample",
    "ControllerSteps",
    "Decisions",  # the token encoding lives with the space families; strategies import it from here too
    "architectures_to_decisions",
    "decisions_to_architectures",
]


@dataclass
class ControllerSample:
    """n architectures drawn in one pass, with the summed log-probability and entropy of each one's decisions."""

    architectures: list[Architecture]
    log_probs: torch.Tensor  # [n], sum over all decisions of log p(decision)
    entropies: torch.Tensor  # [n], sum over all decisions of the entropy of its distribution


#: Position tables have at least this many rows, so parameter shapes do not depend on the search's depth (a
#: checkpoint of a 6-layer schedule loads at 20 layers); deeper layers share the last row.
MIN_POSITION_ROWS = 32


class Controller(nn.Module):
    """The policy pi(architecture; theta): samples architectures and scores given ones (teacher forcing).

    Its settings are a `StrategyConfig`'s (`settings`, changed by keyword `overrides`): the LSTM's size and init
    range (the paper's: 2 layers of 35 units, every weight uniform in [-0.08, 0.08]); `temperature` and
    `tanh_constant`, which reshape every logit as c * tanh(logits / T) (ENAS, Pham et al. 2018) and so keep the
    policy from collapsing early; and the position-specific `position_embedding` and `skip_bias`."""

    def __init__(
        self,
        space: SearchSpace,
        settings: StrategyConfig | None = None,
        init_generator: torch.Generator | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        settings = StrategyConfig.of(settings, **overrides)
        hidden_size = settings.hidden_size
        self.space = space
        self.hidden_size = hidden_size
        self.temperature = settings.temperature
        self.tanh_constant = settings.tanh_constant
        self.position_embedding = settings.position_embedding
        self.skip_bias = settings.skip_bias and space.skips
        self.skip_target = settings.skip_target
        self.position_rows = max(MIN_POSITION_ROWS, space.num_layers)
        steps = len(space.tokens) + (1 if space.skips else 0)
        # nn.LSTMCell and nn.Linear draw their default init from the global RNG; fork it so that building a
        # controller leaves the caller's RNG untouched (we re-initialise everything below anyway, from
        # `init_generator` when given, else from the global RNG as any nn.Module does).
        with torch.random.fork_rng(devices=[]):
            # A stack of LSTM cells stepped by hand: per step it costs a third of nn.LSTM with seq_len 1.
            self.lstm = nn.ModuleList(nn.LSTMCell(hidden_size, hidden_size) for _ in range(settings.num_lstm_layers))
            # The first input of the sequence (no decision precedes it).
            self.start = nn.Parameter(torch.empty(1, hidden_size))
            # Per token type: a softmax classifier on the LSTM output and an embedding of the chosen value.
            self.heads = nn.ModuleList(nn.Linear(hidden_size, len(t.choices)) for t in space.tokens)
            self.embeddings = nn.ModuleList(nn.Embedding(len(t.choices), hidden_size) for t in space.tokens)
            if self.position_embedding:
                # A learned embedding of (layer position, step within the layer), added to each step's input.
                self.pos = nn.Parameter(torch.empty(self.position_rows, steps, hidden_size))
            if self.skip_bias:
                # A learned logit per (layer i, earlier layer j) pair, added to the anchor attention's.
                self.skip_b = nn.Parameter(torch.empty(self.position_rows, self.position_rows))
            if space.skips:
                # Section 3.3: sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).
                self.w_prev = nn.Linear(hidden_size, hidden_size, bias=False)
                self.w_curr = nn.Linear(hidden_size, hidden_size, bias=False)
                self.v = nn.Linear(hidden_size, 1, bias=False)
        for p in self.parameters():
            nn.init.uniform_(p, -settings.init_range, settings.init_range, generator=init_generator)

    # ----- the shared forward pass ------------------------------------------------------------------
    def _shape_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """logits -> c * tanh(logits / T), each part only when set (ENAS's temperature and tanh constant)."""
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _run(
        self,
        n: int,
        num_layers: int,
        forced: Decisions | None = None,
        generator: torch.Generator | None = None,
        trace: Trace | None = None,
    ) -> tuple[Decisions, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One batched pass over the whole decision sequence: sample (forced=None) or teacher-force `forced`.
        Returns the decisions, their log-probabilities and entropies, and the skip KL (see `skip_kl`); `trace`,
        when given, receives each decision step's LSTM output and log-probability (`steps`).

        Both modes run exactly the same computation, so sample's log-probabilities equal log_prob's: the only
        difference is where a choice comes from (`_pick_token`, `_pick_skips`)."""
        device = self.start.device
        num_tokens = len(self.space.tokens)
        tokens = torch.empty(n, num_layers, num_tokens, dtype=torch.long, device=device)
        skips = torch.zeros(n, num_layers, num_layers, device=device) if self.space.skips else None
        totals = _Totals(*(torch.zeros(n, device=device) for _ in range(3)))
        anchors = _Anchors([], [])
        zeros = torch.zeros(n, self.hidden_size, device=device)
        state = [(zeros, zeros) for _ in self.lstm]
        x = self.start.expand(n, -1)
        for i in range(num_layers):
            for t in range(num_tokens):
                h, state = self._lstm_step(self._with_position(x, i, t), state)
                before = totals.log_prob
                choice = self._pick_token(h, t, None if forced is None else forced.tokens[:, i, t], generator, totals)
                if trace is not None:
                    trace.add(h, totals.log_prob - before)
                tokens[:, i, t] = choice
                x = self.embeddings[t](choice)
            if skips is None:
                continue
            # Anchor step of layer i (section 3.3).
            h, state = self._lstm_step(self._with_position(x, i, num_tokens), state)
            if i > 0:
                query = self._anchor_logits(h, i, anchors)
                forced_bits = None if forced is None else forced.skips[:, i, :i]
                before = totals.log_prob
                bits = self._pick_skips(query, forced_bits, generator, totals, max(1, num_layers - 1))
                if trace is not None:  # the anchor step's bits are one decision step: one state, one value
                    trace.add(h, totals.log_prob - before)
                skips[:, i, :i] = bits
                x = anchors.mean_of(bits)
            else:
                x = torch.zeros_like(h)
            anchors.add(h, self.w_prev(h))
        return Decisions(tokens, skips), totals.log_prob, totals.entropy, totals.skip_kl

    def _lstm_step(
        self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One step of the stacked LSTM cells: the top cell's output h and every cell's new (h, c)."""
        new_state = []
        for cell, hc in zip(self.lstm, state):
            h, c = cell(x, hc)
            new_state.append((h, c))
            x = h
        return x, new_state

    def _with_position(self, x: torch.Tensor, i: int, step: int) -> torch.Tensor:
        """The step's input plus the learned embedding of (layer i, step within the layer), when enabled."""
        if not self.position_embedding:
            return x
        return x + self.pos[min(i, self.position_rows - 1), step]

    def _pick_token(
        self,
        h: torch.Tensor,
        t: int,
        forced: torch.Tensor | None,
        generator: torch.Generator | None,
        totals: _Totals,
    ) -> torch.Tensor:
        """Token t's choice from its softmax classifier on h (drawn, or `forced`); adds log pi(a_t | a_(t-1):1) of
        eq. 2 and the categorical's entropy -sum p log p to `totals`."""
        log_p = F.log_softmax(self._shape_logits(self.heads[t](h)), dim=-1)
        if forced is None:
            choice = torch.multinomial(log_p.detach().exp(), 1, generator=generator).squeeze(1)
        else:
            choice = forced.to(h.device)
        totals.log_prob = totals.log_prob + log_p.gather(1, choice.unsqueeze(1)).squeeze(1)
        totals.entropy = totals.entropy - (log_p.exp() * log_p).sum(dim=-1)
        return choice

    def _anchor_logits(self, h: torch.Tensor, i: int, anchors: _Anchors) -> torch.Tensor:
        """Layer i's skip logits over the earlier layers j < i, [n, i]: v^T tanh(W_prev h_j + W_curr h_i) (section
        3.3), plus the learned (i, j) bias when enabled, shaped as every logit is."""
        prev = torch.stack(anchors.projected, dim=1)  # [n, i, H]
        query = self.v(torch.tanh(prev + self.w_curr(h).unsqueeze(1))).squeeze(-1)  # [n, i]
        if self.skip_bias:
            last = self.position_rows - 1
            cols = torch.arange(i, device=h.device).clamp(max=last)
            query = query + self.skip_b[min(i, last), cols]
        return self._shape_logits(query)

    def _pick_skips(
        self,
        query: torch.Tensor,
        forced: torch.Tensor | None,
        generator: torch.Generator | None,
        totals: _Totals,
        skip_layers: int,
    ) -> torch.Tensor:
        """One Bernoulli bit per earlier layer from the skip logits (drawn, or `forced`); adds the bits'
        log-probabilities and entropies to `totals`, and their KL from `skip_target` averaged over the
        `skip_layers` layers that have skips (`skip_kl`)."""
        if forced is None:
            bits = torch.bernoulli(torch.sigmoid(query.detach()), generator=generator)
        else:
            bits = forced.to(device=query.device, dtype=query.dtype)
        log_on, log_off = F.logsigmoid(query), F.logsigmoid(-query)
        totals.log_prob = totals.log_prob + (bits * log_on + (1 - bits) * log_off).sum(dim=-1)
        totals.entropy = totals.entropy - (torch.sigmoid(query) * log_on + torch.sigmoid(-query) * log_off).sum(dim=-1)
        totals.skip_kl = totals.skip_kl + _bernoulli_kl(query, self.skip_target).sum(dim=-1) / skip_layers
        return bits

    # ----- public API ---------------------------------------------------------------------------------
    def sample(
        self, n: int, generator: torch.Generator | None = None, num_layers: int | None = None
    ) -> ControllerSample:
        """Draw n architectures in one batched pass; randomness comes only from `generator` (reproducible).

        `num_layers` defaults to the space's depth; any other depth works with the same weights. The returned
        log-probabilities carry a graph unless called under `torch.no_grad()`."""
        if n < 1:
            raise ValueError(f"sample needs n >= 1, got {n}.")
        num_layers = self.space.num_layers if num_layers is None else num_layers
        if num_layers < 1:
            raise ValueError(f"sample needs num_layers >= 1, got {num_layers}.")
        decisions, log_prob, entropy, _ = self._run(n, num_layers, generator=generator)
        space = self.space.with_layers(num_layers)
        return ControllerSample(decisions_to_architectures(space, decisions), log_prob, entropy)

    def log_prob(self, architectures: Sequence[Architecture]) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: the summed log-probability and entropy of each given architecture, differentiable.

        This is what REINFORCE differentiates, so proposals need no graph and a resumed run can update from
        stored architectures."""
        log_probs, entropies, _ = self.score(architectures)
        return log_probs, entropies

    def skip_kl(self, architectures: Sequence[Architecture]) -> torch.Tensor:
        """ENAS's skip penalty per architecture (general_controller.py, `skip_penaltys`): the KL divergence of each
        skip's Bernoulli from one with probability `skip_target`, summed over a layer's skips and averaged over
        the layers that have any. It keeps the policy from connecting everything (or nothing) early."""
        return self.score(architectures)[2]

    def score(self, architectures: Sequence[Architecture]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`log_prob` and `skip_kl` of each architecture from one teacher-forced pass (an update needs both).
        Architectures of different depths are scored in one pass per depth."""
        if not architectures:
            raise ValueError("log_prob needs at least one architecture.")
        by_depth: dict[int, list[int]] = {}
        for k, arch in enumerate(architectures):
            by_depth.setdefault(arch.num_layers, []).append(k)
        device = self.start.device
        scores = [torch.zeros(len(architectures), device=device) for _ in range(3)]
        for depth, idx in by_depth.items():
            forced = architectures_to_decisions(self.space, [architectures[k] for k in idx])
            where = torch.tensor(idx, device=device)
            parts = self._run(len(idx), depth, forced=forced)[1:]  # log-probabilities, entropies, skip KLs
            scores = [total.index_put((where,), part) for total, part in zip(scores, parts)]
        log_probs, entropies, skip_kls = scores
        return log_probs, entropies, skip_kls

    def steps(self, architectures: Sequence[Architecture]) -> ControllerSteps:
        """Teacher forcing step by step, for architectures of one depth: `ControllerSteps`. Its log-probabilities
        sum to `score`'s, from the same computation."""
        depths = {arch.num_layers for arch in architectures}
        if len(depths) != 1:
            raise ValueError(f"steps needs architectures of one depth, got depths {sorted(depths)}.")
        forced = architectures_to_decisions(self.space, list(architectures))
        trace = Trace([], [])
        _, total, entropies, skip_kls = self._run(len(architectures), depths.pop(), forced=forced, trace=trace)
        hidden, log_probs = torch.stack(trace.hidden, 1), torch.stack(trace.log_probs, 1)
        return ControllerSteps(hidden, log_probs, total, entropies, skip_kls)


@dataclass
class ControllerSteps:
    """A teacher-forced pass over architectures of one depth, step by step (what an actor-critic needs): the
    LSTM output h_t before each decision step, its log-probability (a layer's skip bits together form one step),
    and per architecture the summed entropy and skip KL, as `Controller.score` gives them."""

    hidden: torch.Tensor  # [n, S, H], differentiable
    log_probs: torch.Tensor  # [n, S]
    log_prob: torch.Tensor  # [n], their sum as `score` and `sample` add it up (bit for bit)
    entropies: torch.Tensor  # [n]
    skip_kls: torch.Tensor  # [n]


@dataclass
class Trace:
    """What `Controller._run` records per decision step when asked: h_t and log pi(a_t | a_(t-1):1)."""

    hidden: list[torch.Tensor]
    log_probs: list[torch.Tensor]

    def add(self, h: torch.Tensor, log_prob: torch.Tensor) -> None:
        self.hidden.append(h)
        self.log_probs.append(log_prob)


@dataclass
class _Totals:
    """A pass's running sums per architecture, [n] each: log-probability, entropy, skip KL."""

    log_prob: torch.Tensor
    entropy: torch.Tensor
    skip_kl: torch.Tensor


@dataclass
class _Anchors:
    """The anchor outputs h_j of the layers so far, [n, H] each, and W_prev h_j (computed once per layer)."""

    outputs: list[torch.Tensor]
    projected: list[torch.Tensor]

    def add(self, h: torch.Tensor, projected: torch.Tensor) -> None:
        self.outputs.append(h)
        self.projected.append(projected)

    def mean_of(self, bits: torch.Tensor) -> torch.Tensor:
        """The next input: the sum of the chosen anchors / (1 + their count), as ENAS (no skips: zeros)."""
        return (bits.unsqueeze(1) @ torch.stack(self.outputs, dim=1)).squeeze(1) / (1 + bits.sum(-1, keepdim=True))


def _bernoulli_kl(logits: torch.Tensor, target: float) -> torch.Tensor:
    """KL(Bernoulli(sigmoid(logits)) || Bernoulli(target)), elementwise."""
    p, log_p, log_q = torch.sigmoid(logits), F.logsigmoid(logits), F.logsigmoid(-logits)
    return p * (log_p - math.log(target)) + (1 - p) * (log_q - math.log(1 - target))
