"""Children in flight (`--in-flight K`): K children run at all times, and the strategy learns from every
`--children` results in the order they arrive, so no worker waits for an episode's slowest child.

Numbering. Update k is episode k (its `controller_steps` row). A child's (episode, child) is (the number of
updates done when it was proposed, its place among that round's proposals): a round holds as many children
as were proposed between two updates, so with K > --children a child index can exceed --children - 1.

The executor says when to propose (`free_slots`): Ray frees a slot per finished child; the local executor,
one worker, frees all K once its queue is empty. So with the local executor and K = --children every round is
one batch of --children proposals from the current policy, evaluated in order, and the run stores the same
children and controller steps as the synchronous loop.

Stale proposals. An update may learn from children an older policy proposed; each child's log-probability
under the proposing policy is stored with it, and REINFORCE and PPO correct for the difference (truncated
importance weights; the strategies' docstrings). A child of the current round has none to correct.

Resume. Every child is a row from the moment it is submitted (status `pending`), and every result is
numbered by arrival; update k learns from arrivals k*m .. k*m + m - 1 (m = --children) in (episode, child)
order. A resumed driver loads the last checkpoint (strategy state after update k), learns again from the
arrivals after it, submits the pending rows again and goes on: no finished child is lost, none is stored
twice, and children already proposed are never proposed again (the generator is reseeded when proposals
after the checkpoint were already spent). Only with the local executor is the order, and so the run, fixed.

Drawing ahead. With a concurrent executor (Ray) the driver draws the next `PROPOSE_AHEAD` proposals while the
children run and refills freed slots before it updates (`InFlightDriver.run`). A proposal drawn ahead becomes a
child, numbered in the round it was drawn in, only when it is submitted; a crash forgets the ones not yet
submitted, and the resumed driver draws new ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nasrl.run.records import ChildRecord, ChildResult
from nasrl.search.evaluators import child_seed
from nasrl.search.executors import AsyncExecutor
from nasrl.search.loop import (
    _Session,
    _store_cached,
    _store_result,
    load_search_checkpoint,
    save_checkpoint,
)
from nasrl.search.strategies.strategy import AsyncStrategy
from nasrl.space import Architecture
from nasrl.space.describe import dna_string

#: Proposals a concurrent executor's driver draws ahead at a time: one batched controller pass costs about the same
#: for 1 child or 8, and 4 keep most of them from the current policy when updates come every 8 or more results.
PROPOSE_AHEAD = 4


@dataclass
class Proposal:
    """A child submitted and not yet stored as finished: its key, architecture and proposal log-probability."""

    episode: int
    index: int
    arch: Architecture
    log_prob: float | None


@dataclass
class InFlightDriver:
    """The asynchronous loop's state: what runs, what waits for a running twin, what arrived unlearned."""

    session: _Session
    executor: AsyncExecutor
    updates: int = 0  # updates done: the round new proposals belong to
    proposed: int = 0  # children proposed over the run, finished or in flight
    arrived: list[ChildRecord] = field(default_factory=list)  # finished, not yet learned from, in arrival order
    running: dict[str, Proposal] = field(default_factory=dict)  # arch hash -> the child evaluating it
    twins: dict[str, list[Proposal]] = field(default_factory=dict)  # arch hash -> children waiting for it
    ahead: list[Proposal] = field(default_factory=list)  # drawn ahead, not yet submitted (a crash forgets them)

    @property
    def strategy(self) -> AsyncStrategy:
        return self.session.strategy  # type: ignore[return-value]  # every StrategyBase is one

    def restore(self, first_update: int) -> None:
        """Pick up where the store and the checkpoint left off (nothing to do in a new run)."""
        store, cfg = self.session.store, self.session.cfg
        self.updates = first_update
        self.arrived = store.arrived_since(first_update * cfg.children)
        self.proposed = store.proposed()
        saved = load_search_checkpoint(store.checkpoint_path).get("proposed", 0)
        if self.proposed > saved:  # the draws after the checkpoint went into children already in the store
            self.strategy.reseed(child_seed(cfg.seed, -1, self.proposed))
        for rec in store.pending():
            arch = Architecture.from_json(rec.arch_json)
            self.admit(Proposal(rec.episode, rec.child, arch, rec.proposal_log_prob))

    def run(self, episode_done: Callable[[], None]) -> None:
        """Update whenever --children results are in, keep the executor's slots full, collect what finishes.

        With a concurrent executor, freed slots are refilled before the update and the next proposals are drawn
        while children run (`prefetch`), so a worker never waits for the driver's controller pass or update; its
        child may then come from the policy before the update, which the importance correction accounts for."""
        cfg, concurrent = self.session.cfg, self.executor.concurrent
        total = cfg.episodes * cfg.children
        while self.updates < cfg.episodes:
            if concurrent:
                self.refill(total)
            if len(self.arrived) >= cfg.children:
                self.update()
                episode_done()
                continue
            self.refill(total)
            if len(self.arrived) >= cfg.children:  # every proposal was answered by the cache
                continue
            if concurrent:
                self.prefetch(total)
            assert self.running, "fewer than --children results can come only while children run"
            for episode, index, arch, result in self.executor.wait_any():
                self.finish(episode, index, arch, result)

    def refill(self, total: int) -> None:
        """Fill the executor's free slots: proposals drawn ahead first, then new ones (never beyond the total)."""
        free = self.executor.free_slots(self.session.cfg.in_flight or 1)
        ahead, self.ahead = self.ahead[:free], self.ahead[free:]
        for child in ahead:
            self.admit(child)
        for child in self.propose(min(free - len(ahead), total - self.proposed)):
            self.admit(child)

    def prefetch(self, total: int) -> None:
        """Once the proposals drawn ahead run out, draw the next few while the children run, in one batched
        controller pass (a pass costs about the same for 1 child or 8)."""
        if not self.ahead:
            self.ahead = self.propose(min(PROPOSE_AHEAD, total - self.proposed))

    def propose(self, n: int) -> list[Proposal]:
        """n children from the current policy, numbered in the current round after every one proposed before."""
        if n <= 0:
            return []
        cfg = self.session.cfg
        num_layers = cfg.layers_at(self.updates * cfg.children)
        self.strategy.set_num_layers(num_layers)
        first = self.session.store.proposed(self.updates) + sum(p.episode == self.updates for p in self.ahead)
        self.session.log.info(
            f"Round {self.updates + 1}: {n} children of {num_layers} layers proposed ({len(self.running)} running)",
            event="proposed",
            episode=self.updates,
            children=n,
            num_layers=num_layers,
        )
        self.proposed += n
        scored = self.strategy.propose_scored(n)
        return [Proposal(self.updates, first + k, arch, log_prob) for k, (arch, log_prob) in enumerate(scored)]

    def admit(self, child: Proposal) -> None:
        """A proposal's answer from the cache at once; else a pending row, then the executor (or, when its
        architecture is being evaluated already, a wait for that twin: nothing is trained twice)."""
        store, log = self.session.store, self.session.log
        arch_hash = child.arch.hash()
        known = store.evaluated(arch_hash)
        if known is not None:
            self.arrive(_store_cached(store, log, child.episode, child.index, child.arch, known, child.log_prob))
            return
        store.record_child(ChildRecord.pending(child.episode, child.index, child.arch, child.log_prob))
        if arch_hash in self.running:
            self.twins.setdefault(arch_hash, []).append(child)
            return
        self.running[arch_hash] = child
        log.architecture(
            f"  child {child.index + 1} of round {child.episode + 1}: {dna_string(child.arch)}",
            event="child_start",
            episode=child.episode,
            child=child.index,
            arch_hash=arch_hash,
        )
        self.executor.submit(child.episode, child.index, child.arch)

    def finish(self, episode: int, index: int, arch: Architecture, result: ChildResult) -> None:
        """Store a result (replacing its pending row), then answer the twins that waited for it."""
        store, log = self.session.store, self.session.log
        child = self.running.pop(arch.hash())
        rec = _store_result(store, log, episode, index, arch, result, proposal_log_prob=child.log_prob)
        self.arrive(rec)
        for twin in self.twins.pop(arch.hash(), []):
            known = store.evaluated(arch.hash()) or rec
            self.arrive(_store_cached(store, log, twin.episode, twin.index, twin.arch, known, twin.log_prob))

    def arrive(self, rec: ChildRecord) -> None:
        self.arrived.append(rec)
        self.session.note_best([rec])

    def update(self) -> None:
        """Learn from the first --children arrivals (in key order, so a run's update never depends on which of
        them came first), record the step, checkpoint."""
        session, cfg = self.session, self.session.cfg
        batch = sorted(self.arrived[: cfg.children], key=lambda r: (r.episode, r.child))
        del self.arrived[: cfg.children]
        episode = session.episode = self.updates
        architectures = [Architecture.from_json(r.arch_json) for r in batch]
        # A child of this round was proposed by the current policy: nothing to correct (None).
        log_probs = [r.proposal_log_prob if r.episode < episode else None for r in batch]
        stats = self.strategy.update(architectures, [r.reward for r in batch], log_probs)
        num_layers = cfg.layers_at(episode * cfg.children)
        session.record_update(episode, batch, stats, num_layers)
        self.updates += 1
        if self.updates % cfg.checkpoint_every == 0 or self.updates == cfg.episodes:
            save_checkpoint(session.store, self.updates, self.strategy.state_dict(), cfg, proposed=self.proposed)
        session.store.set_meta(episodes_done=self.updates, updated=time.time())


def run_in_flight(
    session: _Session, executor: AsyncExecutor, first_update: int, episode_done: Callable[[], None]
) -> None:
    """The search to `--episodes` updates with `--in-flight` children running (the module docstring)."""
    driver = InFlightDriver(session, executor)
    driver.restore(first_update)
    driver.run(episode_done)
