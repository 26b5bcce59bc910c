"""Child networks: the one builder that turns any `Architecture` into a PyTorch module, whatever its family.

Each space family names the network its architectures build into (`Family.network`); `NETWORKS` maps that name
to the `nets/` module that makes it: `geometry` (Zoph & Le's conv layers, the zoph and dna families), `macro`
(ENAS's macro networks) and `nb201` (NAS-Bench-201's TinyNetwork of one cell). A new family is a family file plus
a network here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nasrl.nets.geometry import ChildNetwork, ConvLayer, concat, loose_ends
from nasrl.nets.macro import Form, MacroNetwork
from nasrl.nets.nb201 import NB201Network
from nasrl.nets.nb201_shared import NB201SharedNetwork
from nasrl.nets.shared import SharedNetwork
from nasrl.space import Architecture, SearchSpace

__all__ = [
    "NETWORKS",
    "SHARED_NETWORKS",
    "ChildNetwork",
    "ConvLayer",
    "Form",
    "Network",
    "build",
    "build_shared",
    "concat",
    "count_flops",
    "count_parameters",
    "loose_ends",
    "shares_weights",
    "takes_dropout",
]


@dataclass(frozen=True)
class Network:
    """How one kind of child network is made, and whether its `dropout` acts (before the classifier)."""

    make: Callable[[Architecture, int, int, Form, float], nn.Module]
    dropout: bool


def _geometry(arch: Architecture, num_classes: int, in_channels: int, form: Form, dropout: float) -> nn.Module:
    return ChildNetwork(arch, num_classes, in_channels)  # one form, no dropout: the paper's network as it is


def _nb201(arch: Architecture, num_classes: int, in_channels: int, form: Form, dropout: float) -> nn.Module:
    return NB201Network(arch, num_classes, in_channels)  # the benchmark's network as it is: one form, no dropout


#: Family.network -> how its architectures build.
NETWORKS: dict[str, Network] = {
    "geometry": Network(_geometry, dropout=False),
    "macro": Network(MacroNetwork, dropout=True),
    "nb201": Network(_nb201, dropout=False),
}


#: Family.network -> the network whose paths are every architecture of a space (weight sharing); a family without
#: one cannot search with `--evaluator shared`.
SHARED_NETWORKS: dict[str, Callable[[SearchSpace, int, int], nn.Module]] = {
    "macro": SharedNetwork,
    "nb201": NB201SharedNetwork,
}


def build(
    arch: Architecture, num_classes: int = 10, in_channels: int = 3, form: Form = "final", dropout: float = 0.0
) -> nn.Module:
    """The child network for `arch`: every architecture of every space builds through here. A macro architecture
    builds in its `final` form (concatenated skips, widths doubling) or the `shared` form it had inside the
    weight-sharing search (`nets.macro`); `dropout` acts before a macro network's classifier."""
    return NETWORKS[arch.family.network].make(arch, num_classes, in_channels, form, dropout)


def shares_weights(space: SearchSpace) -> bool:
    """Whether `space` has a shared network (`build_shared`): a macro space with an 'op' token, or the nb201 cell."""
    network = space.family.network
    return network in SHARED_NETWORKS and (network != "macro" or "op" in space.token_names)


def build_shared(space: SearchSpace, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """The shared network of `space`: `forward(x, arch)` runs one architecture's path, and `child_state_dict(arch)`
    gives the weights with which `build(arch, form="shared")` computes the same."""
    if not shares_weights(space):
        raise ValueError(f"space '{space.name}' has no shared network")
    return SHARED_NETWORKS[space.family.network](space, num_classes, in_channels)


def takes_dropout(arch: Architecture) -> bool:
    """Whether `build(arch, dropout=...)` uses its dropout (a macro network's, before the classifier)."""
    return NETWORKS[arch.family.network].dropout


def count_parameters(model: nn.Module) -> int:
    """Every parameter's element count (the size the objectives trade accuracy against)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, resolution: int = 32, in_channels: int = 3) -> int:
    """Forward FLOPs for one image (PyTorch's counter: a multiply-add counts as 2)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, in_channels, resolution, resolution, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
