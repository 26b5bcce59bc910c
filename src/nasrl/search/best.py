"""The best child under limits, picked after the fact from any run's store (`nasrl best RUN_DIR --max-params 5e5`).

A run searched with one objective still holds every child it evaluated with its accuracy and costs, so "the most
accurate network under 500k parameters" needs no new search. A latency limit reads each child's stored latency; a
run that measured none has its candidates timed now, most accurate first, until one is within the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasrl.errors import UserError
from nasrl.report.runs import read_search
from nasrl.run.atomic import write_json_atomic
from nasrl.run.records import ChildRecord
from nasrl.search.costs import CostMeter, Geometry
from nasrl.search.evaluators.registry import known_evaluator
from nasrl.search.objective import accuracy_of, format_cost
from nasrl.space import Architecture


def read_limits(given: dict[str, Any], names: dict[str, str], example: str) -> dict[str, float]:
    """Limits as a user gave them (cost -> text or number, None when not given) as numbers; `names` says how the
    user wrote each (`--max-params`, or `max_params` from Python), for the one sentence on a bad or missing one."""
    from nasrl.config import parse_milliseconds, parse_size

    limits = {}
    for cost, value in given.items():
        if value is not None:
            try:
                limits[cost] = parse_milliseconds(value) if cost == "latency_ms" else parse_size(value)
            except ValueError as e:
                raise UserError(f"Bad value for {names[cost]}: {e}.") from None
    if not limits:
        *first, last = names.values()
        raise UserError(f"Give a limit: {', '.join(first)} or {last} (for example {example}).")
    return limits


#: How each cost reads as a stored figure.
STORED_AS = {"params": "parameter count", "flops": "FLOP count", "latency_ms": "latency"}


@dataclass(frozen=True)
class Pick:
    """The most accurate child within the limits, its costs, and how many evaluated children were within."""

    limits: dict[str, float]
    child: ChildRecord
    costs: dict[str, float | None]
    within: int
    evaluated: int
    timed_now: int  # candidates whose latency was measured by this call


def best_under(
    run_dir: str | Path, limits: dict[str, float], latency_device: str | None = None, seconds: float = 0.2
) -> Pick:
    """The most accurate evaluated child of a run within `limits` (cost name -> most it may be)."""
    run = read_search(run_dir)
    evaluated = sorted(
        (c for c in run.children if c.ok and not c.cached), key=lambda c: (-accuracy_of(c), c.episode, c.child)
    )
    if not evaluated:
        raise UserError(f"{run_dir} holds no evaluated child yet: let the search run, then ask again.")
    meter = _meter(run.config, latency_device, seconds) if "latency_ms" in limits else None
    within, first, timed, measured = 0, None, 0, 0
    for rec in evaluated:
        costs: dict[str, float | None] = {"params": rec.params, "flops": rec.flops, "latency_ms": rec.latency_ms}
        if meter is not None and rec.latency_ms is None and first is None:
            costs["latency_ms"] = meter.costs(Architecture.from_json(rec.arch_json)).latency_ms
            timed += 1
        if any(costs[c] is None for c in limits):
            continue  # a cost this child never had measured, found after the pick: not counted either way
        measured += 1
        if all(costs[c] <= v for c, v in limits.items()):  # type: ignore[operator]
            within += 1
            first = first or (rec, costs)
    said = " and ".join(f"at most {format_cost(c, v)}" for c, v in limits.items())
    if not measured:
        what = " or ".join(
            {"params": "parameter count", "flops": "FLOP count", "latency_ms": "latency"}[c] for c in limits
        )
        raise UserError(f"No child of {run_dir} has a stored {what} (a synthetic run counts none): pick another run.")
    if first is None:
        raise UserError(f"None of the {len(evaluated)} evaluated children of {run_dir} has {said}: loosen the limit.")
    return Pick(limits, first[0], first[1], within, len(evaluated), timed)


def _meter(config: dict[str, Any], device_name: str | None, seconds: float) -> CostMeter:
    """Times a run's children at batch 1 as it would have built them: its benchmark's network, or its data's
    resolution."""
    from nasrl.nets.latency import latency_device

    kind = known_evaluator(config.get("evaluator"))
    geometry = (kind.geometry_of(config) if kind is not None else None) or Geometry(
        resolution=config.get("resolution", 32)
    )
    return CostMeter(geometry, latency_device(device_name or "cpu"), (1,), seconds)  # limits read batch 1


def write_pick(pick: Pick, path: Path) -> None:
    """The pick in best_architecture.json's form (`nasrl train --arch PATH` retrains it), with its limits."""
    rec = pick.child
    write_json_atomic(
        path,
        {
            "architecture": Architecture.from_json(rec.arch_json).to_dict(),
            "hash": rec.arch_hash,
            "reward": rec.reward,
            "val_acc": rec.val_acc,
            "episode": rec.episode,
            "child": rec.child,
            **{k: v for k, v in pick.costs.items() if v is not None},
            **({"test_acc": rec.test_acc} if rec.test_acc is not None else {}),
            "limits": pick.limits,
            "within": pick.within,
            "evaluated": pick.evaluated,
        },
    )
