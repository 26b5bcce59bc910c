"""What a search maximises, for every strategy and driver: accuracy, accuracy under hard limits on a child's costs,
or MnasNet's trade-off of accuracy against one cost.

MnasNet (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture Search for Mobile", section 3, eq. 2):

    reward(m) = ACC(m) x [COST(m) / T]^w,   w = alpha if COST(m) <= T else beta

with alpha = beta = -0.07 for its soft trade-off, and alpha = 0, beta = -1 for a hard-edged one. ACC is the reward
the evaluator gives (validation accuracy); COST is the latency there, and here also parameters or FLOPs.

A hard limit (`--max-params`, `--max-flops`, `--max-latency-ms`) is checked before a child trains: its costs are
known from its architecture alone (`search.costs`). A child over a limit is never trained. It is stored as over the
limit (status `over_limit`), with `--over-limit-reward` as its reward for the strategy to learn from. It is never
the run's best, and it does not count against `--max-evaluations`, since it cost no evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from nasrl.config import COSTS, FLAT_FIELDS, ObjectiveSettings, SearchConfig
from nasrl.run.records import ChildRecord, ChildResult, ChildStatus
from nasrl.search.costs import CostMeter, Costs, Geometry
from nasrl.space import Architecture

#: How each cost reads in a sentence.
COST_WORDS = {"params": "parameters", "flops": "FLOPs", "latency_ms": "ms latency"}


def mnasnet_factor(cost: float, target: float, alpha: float, beta: float) -> float:
    """MnasNet's eq. 2 multiplier [COST / T]^w, w = alpha at or under the target, beta over it."""
    return (cost / target) ** (alpha if cost <= target else beta)


def format_cost(cost: str, value: float) -> str:
    if cost == "latency_ms":
        return f"{value:.3g} ms"
    return f"{value:,.0f} {COST_WORDS[cost]}"


def violations(costs: Costs, limits: dict[str, float]) -> list[str]:
    """Each limit `costs` exceeds, as `'1,234,567 parameters > 1,000,000'`."""
    over = []
    for cost, limit in limits.items():
        value = costs.value(cost)
        if value is not None and value > limit:
            over.append(f"{format_cost(cost, value)} > {format_cost(cost, limit)}")
    return over


@dataclass(frozen=True)
class Judgement:
    """A child's costs and the limits it exceeds (none: it may be evaluated)."""

    costs: Costs
    over: tuple[str, ...] = ()

    @property
    def over_limit(self) -> bool:
        return bool(self.over)


@dataclass
class Objective:
    """The settings' objective over one run's children; `meter` measures each architecture once."""

    settings: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    meter: CostMeter = field(default_factory=CostMeter)

    @property
    def active(self) -> bool:
        """Whether anything beyond plain accuracy is asked for (costs are then measured before training)."""
        s = self.settings
        return bool(s.limits) or s.name != "accuracy" or s.needs_latency

    def judge(self, arch: Architecture) -> Judgement:
        if not self.active:
            return Judgement(Costs(0, 0))
        costs = self.meter.costs(arch)
        return Judgement(costs, tuple(violations(costs, self.settings.limits)))

    def reward(self, accuracy: float, costs: Costs) -> float:
        """The strategy's reward of a child within the limits whose evaluator gave `accuracy`."""
        s, target = self.settings, self.settings.target
        if s.name != "mnasnet" or target is None:
            return accuracy
        cost, value = target
        measured = costs.value(cost)
        assert measured is not None, "a latency target measures latency"
        return accuracy * mnasnet_factor(measured, value, *self.exponents)

    @property
    def exponents(self) -> tuple[float, float]:
        """MnasNet's (alpha, beta): each the given one, else --target-weight."""
        s = self.settings
        return (
            s.target_weight if s.target_alpha is None else s.target_alpha,
            s.target_weight if s.target_beta is None else s.target_beta,
        )

    def score(self, arch: Architecture, result: ChildResult) -> ChildResult:
        """An evaluated child's result with its costs, and the objective's reward for an ok one."""
        if not self.active:
            return result
        costs = self.judge(arch).costs
        scored = replace(result, params=costs.params, flops=costs.flops)
        scored.latency_ms, scored.latency = costs.latency_ms, costs.latency
        if result.ok:
            scored.reward = self.reward(result.reward, costs)
        return scored

    def over_limit_result(self, judgement: Judgement) -> ChildResult:
        """A child over a limit: not trained, its costs and the limits it exceeds, the penalty reward."""
        costs = judgement.costs
        return ChildResult(
            reward=self.settings.over_limit_reward,
            params=costs.params,
            flops=costs.flops,
            status=ChildStatus.OVER_LIMIT,
            error="over the limit: " + "; ".join(judgement.over),
            latency_ms=costs.latency_ms,
            latency=costs.latency,
        )

    def describe(self) -> str:
        """The log's sentence on what the search maximises."""
        s = self.settings
        limits = ", ".join(f"at most {format_cost(c, v)}" for c, v in s.limits.items())
        if s.name == "mnasnet" and s.target is not None:
            cost, value = s.target
            alpha, beta = self.exponents
            what = (
                f"MnasNet's reward ACC x ({COST_WORDS[cost].split()[-1]} / {format_cost(cost, value)})^w, w = "
                f"{alpha:g} at or under the target, {beta:g} over it"
            )
        else:
            what = "the evaluator's accuracy"
        if limits:
            what += f", children {limits} (one over a limit is not trained; reward {s.over_limit_reward:g})"
        if self.meter.latency_device is not None:
            what += f"; latency timed on {self.meter.latency_device} at batch {', '.join(map(str, self.meter.batches))}"
        return f"Objective: {what}"


def make_objective(cfg: SearchConfig, geometry: Geometry | None = None) -> Objective:
    """The run's objective; latency is measured only when it is asked for, on `--latency-device` or else the
    search's device (a device that is not there is one sentence here, before anything is written)."""
    settings = cfg.objective
    device = None
    if settings.needs_latency:
        from nasrl.nets.latency import latency_device
        from nasrl.train.loop import resolve_device

        name = settings.latency_device or str(resolve_device(cfg.executor.device))
        device = latency_device(name)
    batches = (1, cfg.child.batch_size) if cfg.child.batch_size != 1 else (1,)
    meter = CostMeter(geometry or Geometry(resolution=cfg.data.resolution), device, batches, settings.latency_seconds)
    return Objective(settings, meter)


def pareto_front(children: list[ChildRecord], cost: str) -> list[ChildRecord]:
    """The evaluated children that no other beats on both `cost` (lower) and validation accuracy (higher), by
    rising cost: what each step down in size or latency costs in accuracy."""
    points = [c for c in children if c.ok and not c.cached and getattr(c, cost) is not None]
    front: list[ChildRecord] = []
    for rec in sorted(points, key=lambda c: (getattr(c, cost), -accuracy_of(c), c.episode, c.child)):
        if not front or accuracy_of(rec) > accuracy_of(front[-1]):
            front.append(rec)
    return front


def accuracy_of(rec: ChildRecord) -> float:
    """A child's validation accuracy (its reward where the evaluator gave no accuracy apart)."""
    return rec.val_acc if rec.val_acc is not None else rec.reward


def pareto_fronts(children: list[ChildRecord]) -> dict[str, list[dict[str, Any]]]:
    """`pareto.json`: per cost that the run's children have, its front as rows (identity, accuracy, costs)."""
    fronts = {}
    for cost in COSTS:
        front = pareto_front(children, cost)
        if front:
            fronts[cost] = [
                {
                    "episode": r.episode,
                    "child": r.child,
                    "hash": r.arch_hash,
                    "val_acc": accuracy_of(r),
                    "reward": r.reward,
                    "params": r.params,
                    "flops": r.flops,
                    "latency_ms": r.latency_ms,
                }
                for r in front
            ]
    return fronts


def _settings_of(flat: dict[str, Any]) -> ObjectiveSettings:
    """A run's objective from its flat config (an older run's has none: plain accuracy)."""
    fields = {f: flat[k] for k, (section, f) in FLAT_FIELDS.items() if section == "objective" and k in flat}
    return ObjectiveSettings(**fields)


def objective_limits(flat: dict[str, Any]) -> dict[str, float]:
    """A run's hard limits, from its flat config."""
    return _settings_of(flat).limits


def objective_text(flat: dict[str, Any]) -> str | None:
    """The report's sentence on a run's objective; None for plain accuracy."""
    settings = _settings_of(flat)
    objective = Objective(settings)
    if not objective.active:
        return None
    return objective.describe().removeprefix("Objective: ")


__all__ = [
    "COSTS",
    "Judgement",
    "Objective",
    "format_cost",
    "make_objective",
    "objective_limits",
    "objective_text",
    "mnasnet_factor",
    "pareto_front",
    "pareto_fronts",
    "violations",
]
