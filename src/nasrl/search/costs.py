"""A child's costs, known before it trains: its parameters, its forward FLOPs per image and, when asked for, its
measured latency (`nets.latency`), each architecture measured once per run.

The counts are those of the network `nasrl train` builds (a macro architecture's final form). NAS-Bench-201's
cells are read from the counts shipped beside its table (`benchmarks/nb201_costs.csv.gz`, made by
`bench/nb201_constrained.py --write-costs`): the same numbers, without building 15,625 networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from nasrl.nets import builder
from nasrl.nets.latency import measure_latency
from nasrl.space import Architecture


@dataclass(frozen=True)
class Geometry:
    """What a child's network is built for: its classes, its input channels and the images' side in pixels."""

    num_classes: int = 10
    in_channels: int = 3
    resolution: int = 32


@dataclass(frozen=True)
class Costs:
    """A child's costs. `latency_ms`: the median batch-1 forward (what limits and targets read), or None when not
    measured; `latency`: every batch size's measurement (`Latency.as_dict()`), keyed `batch_N`."""

    params: int
    flops: int
    latency_ms: float | None = None
    latency: dict[str, dict[str, Any]] | None = None

    def value(self, cost: str) -> float | None:
        """The cost an objective names: `params`, `flops` or `latency_ms`."""
        return getattr(self, cost)


@dataclass
class CostMeter:
    """Counts (and with `latency_device`, times) each architecture once; `batches` are the batch sizes timed (batch
    1 first: limits and targets read it), `seconds` the timed seconds per batch size."""

    geometry: Geometry = field(default_factory=Geometry)
    latency_device: torch.device | None = None
    batches: tuple[int, ...] = (1,)
    seconds: float = 0.2
    _known: dict[str, Costs] = field(default_factory=dict)

    def costs(self, arch: Architecture) -> Costs:
        key = arch.hash()
        if key not in self._known:
            self._known[key] = self._measure(arch)
        return self._known[key]

    def _measure(self, arch: Architecture) -> Costs:
        g = self.geometry
        counted = shipped_counts(arch, g)
        if counted is not None and self.latency_device is None:
            return Costs(*counted)
        model = builder.build(arch, num_classes=g.num_classes, in_channels=g.in_channels)
        params, flops = counted or (
            builder.count_parameters(model),
            builder.count_flops(model, resolution=g.resolution, in_channels=g.in_channels),
        )
        if self.latency_device is None:
            return Costs(params, flops)
        timed = {
            f"batch_{batch}": measure_latency(
                model, self.latency_device, batch, g.resolution, g.in_channels, self.seconds
            ).as_dict()
            for batch in dict.fromkeys(self.batches)
        }
        return Costs(params, flops, float(timed["batch_1"]["median_ms"]), timed)


def shipped_counts(arch: Architecture, geometry: Geometry) -> tuple[int, int] | None:
    """A NAS-Bench-201 cell's (params, flops) from the shipped counts, when it is built for one of the benchmark's
    data sets; None for any other architecture or geometry."""
    if arch.family.network != "nb201":
        return None
    from nasrl.benchmarks.costs import DATASET_GEOMETRY, load_costs
    from nasrl.space.families.nb201 import cell_string

    shape = (geometry.num_classes, geometry.in_channels, geometry.resolution)
    dataset = next((d for d, g in DATASET_GEOMETRY.items() if g == shape), None)
    if dataset is None:
        return None
    return load_costs()[cell_string(arch)][dataset]
