"""The episodes driver: propose an episode of children, evaluate them, store each, update the strategy, checkpoint.

Exact resume rests on three facts. The strategy's state (weights, optimizer, baseline, sampling generator) is
checkpointed as it stood at the start of an episode, so the resumed run proposes the same children. Each child's
training seed depends only on (seed, episode, child). And a child already in the store under the same
(episode, child) and architecture is reused, never trained again. So a run killed at any point, even with
`kill -9`, and resumed, equals an uninterrupted run child for child. With a scheduler (successive halving), an
episode's children are one cohort, trained rung by rung; rows already stored at a rung are not trained again.
"""

from __future__ import annotations

import time

from nasrl.run.records import ChildRecord, ChildStatus
from nasrl.run.store import RunStore, remove_rung_checkpoint
from nasrl.search.checkpoints import save_search_checkpoint
from nasrl.search.drivers.children import ChildrenDriver
from nasrl.search.schedulers import Decision, Scheduler
from nasrl.search.session import Session
from nasrl.search.storing import store_cached, store_result
from nasrl.space import Architecture
from nasrl.space.describe import dna_string

Pending = list[tuple[int, Architecture]]
OVER = ChildStatus.OVER_LIMIT


class EpisodesDriver(ChildrenDriver):
    """Episode after episode: every child of an episode is known before the strategy learns from them."""

    def run(self, session: Session) -> None:
        self.begin(session)
        for session.episode in range(self.first_episode, self.cfg.run.episodes):
            self.episode_start_state = session.strategy.state_dict()
            if not self.run_episode(session, session.episode):
                self.budget_spent(session)
                return
            self.episode_done(session)
        session.episode = self.cfg.run.episodes

    def interrupted(self, session: Session) -> str:
        """The checkpoint of the episode's start: the resumed run proposes the same children again."""
        if self.episode_start_state is not None:
            save_search_checkpoint(session.store, session.episode, self.episode_start_state, self.cfg)
        return f"during episode {session.episode + 1}: checkpoint saved"

    def run_episode(self, session: Session, episode: int) -> bool:
        """Propose, evaluate and store the children, update the strategy, record the step, checkpoint. False when
        the budget of evaluations ran out inside the episode: its children up to there are stored, and the
        strategy does not learn from a part of an episode (so a resumed run cuts it at the same child)."""
        cfg, store = self.cfg, session.store
        num_layers = cfg.layers_at(episode * cfg.run.children)
        session.strategy.set_num_layers(num_layers)
        architectures = session.strategy.propose(cfg.run.children)
        session.log.step(
            f"Episode {episode + 1}/{cfg.run.episodes}: {cfg.run.children} children of {num_layers} layers",
            event="episode_start",
            episode=episode,
            num_layers=num_layers,
        )
        records = self.evaluate_episode(session, episode, architectures)
        session.note_best(records)
        if len(records) < len(architectures):
            return False
        stats = session.strategy.update(architectures, [r.reward for r in records])
        session.record_update(episode, records, stats, num_layers)
        if (episode + 1) % cfg.run.checkpoint_every == 0 or episode + 1 == cfg.run.episodes:
            save_search_checkpoint(store, episode + 1, session.strategy.state_dict(), cfg)
        store.set_meta(episodes_done=episode + 1, updated=time.time())
        return True

    def evaluate_episode(self, session: Session, episode: int, architectures: list[Architecture]) -> list[ChildRecord]:
        """Every child of the episode, stored as soon as it is known: from the store, the cache, or evaluated (by
        the scheduler's rungs when there is one). With a budget of evaluations, the episode ends before the first
        child that would need one more than is left."""
        store, log, rungs = session.store, session.log, self.scheduler is not None
        records: dict[int, ChildRecord] = {}
        pending: Pending = []
        first_of_hash: dict[str, int] = {}
        duplicates: Pending = []
        left, spent = self.evaluations_left(session, episode), 0  # spent: this episode's evaluations so far
        for index, arch in enumerate(architectures):
            arch_hash = arch.hash()
            stored = store.child(episode, index)
            if stored is not None and stored.arch_hash == arch_hash and (not rungs or stored.status == OVER):
                records[index] = stored  # finished before an interruption: never trained again
                spent += not stored.cached and stored.status != OVER
                log.info(f"  child {index + 1}: already stored (reward {stored.reward:.4f})", event="child_reused")
                continue
            known = store.evaluated(arch_hash)
            # With rungs, this episode's own rows may be half-way (a resumed run): only earlier episodes answer.
            if known is not None and (not rungs or known.episode < episode):
                records[index] = store_cached(store, log, episode, index, arch, known)
            elif (judged := session.objective.judge(arch)).over_limit:  # costs nothing: no budget spent
                over = session.objective.over_limit_result(judged)
                records[index] = store_result(store, log, episode, index, arch, over)
            elif arch_hash in first_of_hash:
                duplicates.append((index, arch))
            elif left is not None and spent == left:
                architectures = architectures[:index]  # the budget is spent: the episode ends here
                break
            else:
                first_of_hash[arch_hash] = index
                pending.append((index, arch))
                spent += 1
        for index, arch in pending:
            log.architecture(
                f"  child {index + 1}: {dna_string(arch)}",
                event="child_start",
                episode=episode,
                child=index,
                arch_hash=arch.hash(),
            )
        if self.scheduler is not None:
            records.update(self.evaluate_in_rungs(session, episode, pending, self.scheduler))
        else:
            assert self.executor is not None, "begin() starts the executor"
            for index, arch, result in self.executor.run(episode, pending):
                scored = session.objective.score(arch, result)
                records[index] = store_result(store, log, episode, index, arch, scored)
        for index, arch in duplicates:
            known = store.evaluated(arch.hash()) or records[first_of_hash[arch.hash()]]
            records[index] = store_cached(store, log, episode, index, arch, known)
        return [records[i] for i in range(len(architectures))]

    def evaluate_in_rungs(
        self, session: Session, episode: int, pending: Pending, scheduler: Scheduler
    ) -> dict[int, ChildRecord]:
        """The episode's new children as one cohort of the scheduler: each rung's children trained (or, stored at
        that rung already, reused), then the scheduler's verdicts say who trains on. A child's row is rewritten at
        each rung it reaches."""
        store, log = session.store, session.log
        arches = dict(pending)
        for index, _ in pending:
            scheduler.admit(episode, (episode, index))
        scheduler.seal(episode)
        records: dict[int, ChildRecord] = {}
        todo, epochs, rung = [index for index, _ in pending], scheduler.first_epochs, 0
        while todo:
            train = []
            for index in todo:
                stored = _stored_at(store, episode, index, arches[index], rung)
                if stored is not None:
                    records[index] = stored
                else:
                    train.append((index, arches[index]))
            if train:
                log.step(
                    f"  rung {rung + 1}: {len(train)} children to {epochs} epochs",
                    event="rung_start",
                    episode=episode,
                    rung=rung,
                    epochs=epochs,
                )
            assert self.executor is not None, "begin() starts the executor"
            for index, arch, result in self.executor.run(episode, train, epochs=epochs):
                scored = session.objective.score(arch, result)
                records[index] = store_result(store, log, episode, index, arch, scored, rung=rung)
            verdicts = [v for i in todo for v in scheduler.on_result((episode, i), records[i])]
            go_on = [v for v in verdicts if v.decision == Decision.CONTINUE]
            todo = [v.key[1] for v in go_on]
            if go_on:
                epochs, rung = go_on[0].epochs or epochs, rung + 1
        for index, _ in pending:  # the episode's rows hold every result: the paused weights can go
            remove_rung_checkpoint(store.run_dir, episode, index)
        return records


def _stored_at(store: RunStore, episode: int, index: int, arch: Architecture, rung: int) -> ChildRecord | None:
    """A row already stored at this rung or a later one (a resumed run): taken as this rung's result."""
    stored = store.child(episode, index)
    if stored is not None and stored.arch_hash == arch.hash() and (stored.rung or 0) >= rung:
        return stored
    return None
