"""Synchronous successive halving (Jamieson & Talwalkar 2016; the inner loop of Li et al. 2018's Hyperband).

Every child of a cohort trains to the first rung; once all of them have reported there, the best 1/eta (at least
one) continue from their weights to the next rung, and so on. A child's reward is its accuracy at the last rung it
reached: biased against the children stopped early, which never saw the longer schedule. A cohort is an episode's
children (the episodes driver) or a block of `--children` consecutive proposals (children in flight), so with one
worker and `--in-flight` = `--children` both make the same decisions.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass, field

from nasrl.run.records import ChildRecord
from nasrl.search.evaluators.base import reward_from_history
from nasrl.search.schedulers import Decision, Key, Verdict


def accuracy_at(record: ChildRecord, epochs: int, metric: str) -> float:
    """A child's reward as it stood after `epochs` epochs (its stored history may reach a later rung)."""
    history = json.loads(record.history_json) if record.history_json else []
    return reward_from_history(history[:epochs], metric) if history else record.reward


@dataclass
class _Cohort:
    members: list[Key] = field(default_factory=list)  # in admission order: the tie-break
    sealed: bool = False
    alive: list[list[Key]] = field(default_factory=lambda: [[]])  # per rung: the children sent to it
    scores: list[dict[Key, float | None]] = field(default_factory=lambda: [{}])  # per rung; None: failed


class SuccessiveHalving:
    """Successive halving over `rung_epochs` (shortest first), keeping the best 1/`eta` of each rung."""

    def __init__(self, rung_epochs: list[int], eta: int, metric: str) -> None:
        self.rung_epochs = rung_epochs
        self.eta = eta
        self.metric = metric
        self.first_epochs = rung_epochs[0]
        self.cohorts: dict[Hashable, _Cohort] = {}
        self.cohort_of: dict[Key, Hashable] = {}
        self.rungs: dict[Key, int] = {}

    def admit(self, cohort: Hashable, key: Key) -> None:
        group = self.cohorts.setdefault(cohort, _Cohort())
        group.members.append(key)
        group.alive[0].append(key)
        self.cohort_of[key] = cohort
        self.rungs[key] = 0

    def seal(self, cohort: Hashable) -> list[Verdict]:
        group = self.cohorts.setdefault(cohort, _Cohort())
        if group.sealed:
            return []
        group.sealed = True
        return self._settle(group)

    def rung(self, key: Key) -> int:
        return self.rungs[key]

    def on_result(self, key: Key, record: ChildRecord) -> list[Verdict]:
        group = self.cohorts[self.cohort_of[key]]
        rung = self.rungs[key]
        epochs = self.rung_epochs[rung]
        group.scores[rung][key] = accuracy_at(record, epochs, self.metric) if record.ok else None
        if rung == len(self.rung_epochs) - 1 or not record.ok:
            return [Verdict(key, Decision.STOP)]  # the last rung, or a failure: nothing to wait for
        return self._settle(group) or [Verdict(key, Decision.PAUSE)]

    def forget(self, key: Key) -> None:
        """A child whose decisions are all made (stopped) leaves the bookkeeping of its keys, not its cohort's."""
        self.rungs.pop(key, None)

    def _settle(self, group: _Cohort) -> list[Verdict]:
        """When the cohort is sealed and its highest open rung has every result: that rung's decisions."""
        rung = len(group.alive) - 1
        if not group.sealed or rung == len(self.rung_epochs) - 1 or not group.alive[rung]:
            return []
        if any(key not in group.scores[rung] for key in group.alive[rung]):
            return []
        order = {key: i for i, key in enumerate(group.members)}
        scored = [(key, s) for key, s in group.scores[rung].items() if s is not None]
        ranked = sorted(scored, key=lambda ks: (-ks[1], order[ks[0]]))
        keep = max(1, len(group.alive[rung]) // self.eta)
        survivors = [key for key, _ in ranked[:keep]]
        group.alive.append(survivors)
        group.scores.append({})
        verdicts = []
        for key in survivors:
            self.rungs[key] = rung + 1
            verdicts.append(Verdict(key, Decision.CONTINUE, self.rung_epochs[rung + 1]))
        stopped = [key for key, s in group.scores[rung].items() if s is not None and key not in survivors]
        verdicts += [Verdict(key, Decision.STOP) for key in sorted(stopped, key=order.__getitem__)]
        return verdicts
