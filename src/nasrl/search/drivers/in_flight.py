"""Children in flight (`--in-flight K`): K children run at all times, and the strategy learns from every
`--children` results in the order they arrive, so no worker waits for an episode's slowest child.

Numbering. Update k is episode k (its `controller_steps` row). A child's (episode, child) is (the number of
updates done when it was proposed, its place among that round's proposals): a round holds as many children
as were proposed between two updates, so with K > --children a child index can exceed --children - 1.

The executor says when to propose (`free_slots`): Ray frees a slot per finished child; the local executor,
one worker, frees all K once its queue is empty. So with the local executor and K = --children every round is
one batch of --children proposals from the current policy, evaluated in order, and the run stores the same
children and controller steps as the episodes driver.

Stale proposals. An update may learn from children an older policy proposed; each child's log-probability
under the proposing policy is stored with it, and REINFORCE and PPO correct for the difference (truncated
importance weights; the strategies' docstrings). A child of the current round has none to correct.

Resume. Every child is a row from the moment it is submitted (status `pending`), and every result is
numbered by arrival; update k learns from arrivals k*m .. k*m + m - 1 (m = --children) in (episode, child)
order. A resumed driver loads the last checkpoint (strategy state after update k), learns again from the
arrivals after it, submits the pending rows again and goes on: no finished child is lost, none is stored
twice, and children already proposed are never proposed again (the generator is reseeded when proposals
after the checkpoint were already spent). Only with the local executor is the order, and so the run, fixed.

Successive halving (a scheduler). Blocks of --children consecutive proposals are the scheduler's cohorts; a child
arrives (for the strategy to learn from) once the scheduler stops it. Between rungs its row stays pending with its
rung's result, and a resumed driver replays every cohort's stored results to the same decisions. With the local
executor and K = --children a block is an episode, and the run equals the synchronous one with the same rungs.

Drawing ahead. With a concurrent executor (Ray) the driver draws the next `PROPOSE_AHEAD` proposals while the
children run and refills freed slots before it updates (`InFlightDriver.run`). A proposal drawn ahead becomes a
child, numbered in the round it was drawn in, only when it is submitted; a crash forgets the ones not yet
submitted, and the resumed driver draws new ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from nasrl.config import SearchConfig
from nasrl.run.records import ChildRecord, ChildResult, ChildStatus
from nasrl.run.store import remove_rung_checkpoint
from nasrl.search.checkpoints import load_search_checkpoint, save_search_checkpoint
from nasrl.search.drivers.children import ChildrenDriver
from nasrl.search.evaluators.base import Evaluator, child_seed
from nasrl.search.schedulers import Decision, Key, Verdict
from nasrl.search.session import Session
from nasrl.search.storing import store_cached, store_result
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

    @property
    def key(self) -> Key:
        return (self.episode, self.index)


@dataclass
class Flight:
    """What runs, what waits for a running twin, what waits between rungs, what arrived unlearned."""

    updates: int = 0  # updates done: the round new proposals belong to
    proposed: int = 0  # children proposed over the run, finished or in flight
    evaluating: int = 0  # children the executor holds now
    arrived: list[ChildRecord] = field(default_factory=list)  # finished, not yet learned from, in arrival order
    running: dict[str, Proposal] = field(default_factory=dict)  # arch hash -> the child evaluating it
    twins: dict[str, list[Proposal]] = field(default_factory=dict)  # arch hash -> children waiting for it
    ahead: list[Proposal] = field(default_factory=list)  # drawn ahead, not yet submitted (a crash forgets them)
    rung_results: dict[Key, ChildRecord] = field(default_factory=dict)  # each child's last rung result
    paused: set[Key] = field(default_factory=set)  # children whose row is pending with a rung result
    over_budget: bool = False  # --max-evaluations reached: nothing more is proposed or admitted


class InFlightDriver(ChildrenDriver):
    """The search to `--episodes` updates with `--in-flight` children running (the module docstring)."""

    def __init__(self, cfg: SearchConfig, evaluator: Evaluator, note: str) -> None:
        super().__init__(cfg, evaluator, note)
        self.flight = Flight()
        self.session: Session | None = None

    @property
    def strategy(self) -> AsyncStrategy:
        assert self.session is not None
        return self.session.strategy  # type: ignore[return-value]  # every StrategyBase is one

    def interrupted(self, session: Session) -> str:
        """Nothing to save: the last update's checkpoint and the pending rows are the resume point."""
        return f"during round {session.episode + 1}: the last update's checkpoint and the pending children stay"

    def run(self, session: Session) -> None:
        """Update whenever --children results are in, keep the executor's slots full, collect what finishes.

        With a concurrent executor, freed slots are refilled before the update and the next proposals are drawn
        while children run (`prefetch`), so a worker never waits for the driver's controller pass or update; its
        child may then come from the policy before the update, which the importance correction accounts for."""
        self.session = session
        self.begin(session)
        assert self.executor is not None
        self.restore(self.first_episode)
        cfg, flight, concurrent = self.cfg, self.flight, self.executor.concurrent
        total = cfg.run.episodes * cfg.run.children
        while flight.updates < cfg.run.episodes:
            if concurrent:
                self.refill(total)
            if len(flight.arrived) >= cfg.run.children:
                self.update()
                self.episode_done(session)
                continue
            self.refill(total)
            answered_at_once = not flight.evaluating and flight.proposed < total and not flight.over_budget
            if len(flight.arrived) >= cfg.run.children or answered_at_once:
                continue  # every proposal was answered at once (by the cache, or over a limit): propose again
            if flight.over_budget and not flight.evaluating:
                self.budget_spent(session)  # the last results, fewer than --children, are stored, not learned from
                return
            if concurrent:
                self.prefetch(total)
            assert flight.evaluating, "fewer than --children results can come only while children run"
            for episode, index, arch, result in self.executor.wait_any():
                flight.evaluating -= 1
                self.finish(episode, index, arch, result)
        session.episode = cfg.run.episodes

    # ----- resuming ------------------------------------------------------------------------------------------
    def restore(self, first_update: int) -> None:
        """Pick up where the store and the checkpoint left off (nothing to do in a new run): the arrivals not yet
        learned from, the pending children submitted again, and with a scheduler its decisions replayed."""
        session, flight, cfg = self.session, self.flight, self.cfg
        assert session is not None
        store = session.store
        flight.updates = first_update
        flight.arrived = store.arrived_since(first_update * cfg.run.children)
        flight.proposed = store.proposed()
        saved = load_search_checkpoint(store.checkpoint_path).get("proposed", 0)
        if flight.proposed > saved:  # the draws after the checkpoint went into children already in the store
            self.strategy.reseed(child_seed(cfg.run.seed, -1, flight.proposed))
        rows = sorted([*store.children(), *store.pending()], key=lambda r: (r.episode, r.child))
        for serial, rec in enumerate(rows):
            child = Proposal(rec.episode, rec.child, Architecture.from_json(rec.arch_json), rec.proposal_log_prob)
            if rec.status == ChildStatus.PENDING and (rec.rung is None or self.scheduler is None):
                self.admit(child, serial)  # never reported: submitted again
            elif self.scheduler is not None and not rec.cached and rec.rung is not None:
                self.scheduler.admit(self.cohort(serial), child.key)
                if rec.status == ChildStatus.PENDING:  # between rungs: it waits, or trains on once replayed
                    flight.running[child.arch.hash()] = child
                    flight.rung_results[child.key] = replace(rec, status=ChildStatus.OK)
                    flight.paused.add(child.key)
        if self.scheduler is not None:
            self.replay(rows)

    def replay(self, rows: list[ChildRecord]) -> None:
        """Give the scheduler every stored rung result again, rung by rung, so it makes the decisions it made before
        the kill; act on those of the children still between rungs."""
        assert self.scheduler is not None
        scheduler, flight = self.scheduler, self.flight
        verdicts = [v for c in range(self.cohort(len(rows) - 1) + 1) if self.sealed(c) for v in scheduler.seal(c)]
        members = [r for r in rows if not r.cached and r.rung is not None]
        for rung in range(max((r.rung or 0 for r in members), default=-1) + 1):
            for rec in members:
                key = (rec.episode, rec.child)
                if (rec.rung or 0) >= rung and scheduler.rung(key) == rung:
                    verdicts += scheduler.on_result(key, flight.rung_results.get(key, rec))
        self.act([v for v in verdicts if v.key in flight.paused])

    # ----- proposing ------------------------------------------------------------------------------------------
    def cohort(self, serial: int) -> int:
        """The scheduler's cohort of the `serial`-th proposal of the run: blocks of --children proposals."""
        return serial // self.cfg.run.children

    def sealed(self, cohort: int) -> bool:
        """No more proposals join the cohort: its block of rows is full, or the run holds all it will."""
        assert self.session is not None
        total = self.cfg.run.episodes * self.cfg.run.children
        return self.session.store.proposed() >= min(total, (cohort + 1) * self.cfg.run.children)

    def refill(self, total: int) -> None:
        """Fill the executor's free slots: proposals drawn ahead first, then new ones (never beyond the total)."""
        assert self.executor is not None
        flight = self.flight
        free = self.executor.free_slots(self.cfg.executor.in_flight or 1)
        if flight.over_budget:
            return
        ahead, flight.ahead = flight.ahead[:free], flight.ahead[free:]
        for child in ahead:
            self.admit(child)
        for child in self.propose(min(free - len(ahead), total - flight.proposed)):
            self.admit(child)

    def prefetch(self, total: int) -> None:
        """Once the proposals drawn ahead run out, draw the next few while the children run, in one batched
        controller pass (a pass costs about the same for 1 child or 8)."""
        if not self.flight.ahead:
            self.flight.ahead = self.propose(min(PROPOSE_AHEAD, total - self.flight.proposed))

    def propose(self, n: int) -> list[Proposal]:
        """n children from the current policy, numbered in the current round after every one proposed before."""
        if n <= 0:
            return []
        assert self.session is not None
        cfg, flight = self.cfg, self.flight
        num_layers = cfg.layers_at(flight.updates * cfg.run.children)
        self.strategy.set_num_layers(num_layers)
        first = self.session.store.proposed(flight.updates) + sum(p.episode == flight.updates for p in flight.ahead)
        self.session.log.info(
            f"Round {flight.updates + 1}: {n} children of {num_layers} layers proposed ({len(flight.running)} running)",
            event="proposed",
            episode=flight.updates,
            children=n,
            num_layers=num_layers,
        )
        flight.proposed += n
        scored = self.strategy.propose_scored(n)
        return [Proposal(flight.updates, first + k, arch, log_prob) for k, (arch, log_prob) in enumerate(scored)]

    def admit(self, child: Proposal, serial: int | None = None) -> None:
        """A proposal's answer from the cache at once; else a pending row, then the executor (or, when its
        architecture is being evaluated already, a wait for that twin: nothing is trained twice). `serial`: the
        place of a resumed child's row among the run's; a new proposal's row is the next."""
        assert self.session is not None
        store, log, flight = self.session.store, self.session.log, self.flight
        new, serial = serial is None, store.proposed() if serial is None else serial
        arch_hash = child.arch.hash()
        known = store.evaluated(arch_hash)
        if new and (flight.over_budget or (known is None and arch_hash not in flight.running and self.budget_full())):
            flight.over_budget = True  # this proposal and every later one are dropped, never stored
            return
        judged = self.session.objective.judge(child.arch) if known is None else None
        if known is not None:
            self.arrive(store_cached(store, log, child.episode, child.index, child.arch, known, child.log_prob))
        elif judged is not None and judged.over_limit:  # never trained: it arrives at once, as a cached child does
            over = self.session.objective.over_limit_result(judged)
            self.arrive(store_result(store, log, *child.key, child.arch, over, proposal_log_prob=child.log_prob))
        else:
            store.record_child(ChildRecord.pending(child.episode, child.index, child.arch, child.log_prob))
            if arch_hash in flight.running:
                flight.twins.setdefault(arch_hash, []).append(child)
            else:
                flight.running[arch_hash] = child
                log.architecture(
                    f"  child {child.index + 1} of round {child.episode + 1}: {dna_string(child.arch)}",
                    event="child_start",
                    episode=child.episode,
                    child=child.index,
                    arch_hash=arch_hash,
                )
                if self.scheduler is not None:
                    self.scheduler.admit(self.cohort(serial), child.key)
                self.submit(child, self.scheduler.first_epochs if self.scheduler is not None else None)
        if new and self.scheduler is not None and self.sealed(self.cohort(serial)):
            self.act(self.scheduler.seal(self.cohort(serial)))

    def budget_full(self) -> bool:
        """Whether --max-evaluations distinct architectures are evaluated or being evaluated."""
        budget = self.cfg.run.max_evaluations
        assert self.session is not None
        return budget is not None and self.session.store.distinct_evaluated() + len(self.flight.running) >= budget

    def submit(self, child: Proposal, epochs: int | None) -> None:
        assert self.executor is not None
        self.flight.evaluating += 1
        self.executor.submit(child.episode, child.index, child.arch, epochs)

    # ----- results ----------------------------------------------------------------------------------------
    def finish(self, episode: int, index: int, arch: Architecture, result: ChildResult) -> None:
        """Store a result (replacing its pending row); without a scheduler, or once it stops the child, that is
        its final row and the twins that waited for it are answered."""
        assert self.session is not None
        store, log, flight = self.session.store, self.session.log, self.flight
        child = flight.running[arch.hash()]
        result = self.session.objective.score(arch, result)
        if self.scheduler is None:
            self.conclude(
                child, store_result(store, log, episode, index, arch, result, proposal_log_prob=child.log_prob)
            )
            return
        rung = self.scheduler.rung(child.key)
        verdicts = self.scheduler.on_result(child.key, ChildRecord.of(episode, index, arch, result, rung=rung))
        own = next(v for v in verdicts if v.key == child.key)
        paused = own.decision != Decision.STOP
        rec = store_result(store, log, episode, index, arch, result, rung, child.log_prob, paused=paused)
        flight.rung_results[child.key] = rec
        if paused:
            flight.paused.add(child.key)
        else:  # stored as final just now, whatever an earlier rung left
            flight.paused.discard(child.key)
        self.act(verdicts)

    def act(self, verdicts: list[Verdict]) -> None:
        """A scheduler's verdicts: train on (submitted again, to the next rung), or final (stored, arrived)."""
        assert self.session is not None
        flight = self.flight
        by_key = {p.key: p for p in flight.running.values()}
        for verdict in verdicts:
            child = by_key[verdict.key]
            if verdict.decision == Decision.CONTINUE:
                self.submit(child, verdict.epochs)
            elif verdict.decision == Decision.STOP:
                rec = flight.rung_results.pop(child.key)
                if child.key in flight.paused:  # its row, pending until now, becomes final: an arrival number
                    flight.paused.discard(child.key)
                    self.session.store.record_child(rec)
                    self.session.log.reward(
                        f"  child {child.index + 1} of round {child.episode + 1}: stopped after rung "
                        f"{(rec.rung or 0) + 1}, reward {rec.reward:.4f}",
                        event="child_stopped",
                        episode=child.episode,
                        child=child.index,
                        reward=rec.reward,
                    )
                self.scheduler.forget(child.key)  # type: ignore[union-attr]
                remove_rung_checkpoint(self.session.store.run_dir, *child.key)
                self.conclude(child, rec)

    def conclude(self, child: Proposal, rec: ChildRecord) -> None:
        """A child's final row is stored: it arrives, and so do the twins that waited for its architecture."""
        assert self.session is not None
        store, log, flight = self.session.store, self.session.log, self.flight
        flight.running.pop(child.arch.hash(), None)
        self.arrive(rec)
        for twin in flight.twins.pop(child.arch.hash(), []):
            known = store.evaluated(child.arch.hash()) or rec
            self.arrive(store_cached(store, log, twin.episode, twin.index, twin.arch, known, twin.log_prob))

    def arrive(self, rec: ChildRecord) -> None:
        assert self.session is not None
        self.flight.arrived.append(rec)
        self.session.note_best([rec])

    # ----- learning -------------------------------------------------------------------------------------------
    def update(self) -> None:
        """Learn from the first --children arrivals (in key order, so a run's update never depends on which of
        them came first), record the step, checkpoint."""
        assert self.session is not None
        session, cfg, flight = self.session, self.cfg, self.flight
        batch = sorted(flight.arrived[: cfg.run.children], key=lambda r: (r.episode, r.child))
        del flight.arrived[: cfg.run.children]
        episode = session.episode = flight.updates
        architectures = [Architecture.from_json(r.arch_json) for r in batch]
        # A child of this round was proposed by the current policy: nothing to correct (None).
        log_probs = [r.proposal_log_prob if r.episode < episode else None for r in batch]
        stats = self.strategy.update(architectures, [r.reward for r in batch], log_probs)
        num_layers = cfg.layers_at(episode * cfg.run.children)
        session.record_update(episode, batch, stats, num_layers)
        flight.updates += 1
        if flight.updates % cfg.run.checkpoint_every == 0 or flight.updates == cfg.run.episodes:
            state = self.strategy.state_dict()
            save_search_checkpoint(session.store, flight.updates, state, cfg, proposed=flight.proposed)
        session.store.set_meta(episodes_done=flight.updates, updated=time.time())
