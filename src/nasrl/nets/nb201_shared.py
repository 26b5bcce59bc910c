"""NAS-Bench-201's shared network: every operation of every edge, one set of weights per (edge, operation).

Read against D-X-Y/AutoDL-Projects, `models/cell_searchs/search_cells.py` `NAS201SearchCell` and
`search_model_enas.py` / `search_model_random.py` (`TinyNetworkENAS`, `TinyNetworkRANDOM`): the benchmark's
TinyNetwork with each `InferCell` replaced by a search cell whose `edges["{i}<-{j}"]` holds one module per
operation, in the space's order. A forward runs one sampled cell (`forward_dynamic`): node i sums, over j < i, the
chosen operation of edge i<-j on node j, so each minibatch trains the weights of the path it sampled. The stem, the
reductions between stages (`ResNetBasicblock`), `lastact` and the classifier are shared by every path.

The search cells' BN is `affine=False, track_running_stats=True`, the search cells' defaults and the benchmark's
search setting; everything outside the cells keeps TinyNetwork's affine BN. `child_state_dict` is the contract
with the stand-alone cell: `NB201Network(arch)` loaded with it (each cell BN's scale 1 and shift 0, which is what
a BN without affine computes) computes exactly what `NB201SharedNetwork(x, arch)` computes, so a derived cell
starts from the weights it was scored with.
"""

from __future__ import annotations

import torch
from torch import nn

from nasrl.nets.nb201 import build_tiny_network, classify, make_edge
from nasrl.space import Architecture, SearchSpace
from nasrl.space.families.nb201 import EDGES


def edge_name(edge: tuple[int, int]) -> str:
    """The search cell's key of an edge, as the original's `'{:}<-{:}'.format(i, j)`."""
    return f"{edge[0]}<-{edge[1]}"


class NB201SearchCell(nn.Module):
    """`NAS201SearchCell` at stride 1: `edges["i<-j"][k]` is operation k of the space on edge i<-j."""

    def __init__(self, op_names: list[str], channels: int) -> None:
        super().__init__()
        self.op_names = list(op_names)
        self.edges = nn.ModuleDict(
            {edge_name(e): nn.ModuleList(make_edge(op, channels, affine=False) for op in op_names) for e in EDGES}
        )

    def forward(self, x: torch.Tensor, ops: list[str]) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            nodes.append(
                sum(
                    self.edges[edge_name(e)][self.op_names.index(ops[k])](nodes[e[1]])
                    for k, e in enumerate(EDGES)
                    if e[0] == node
                )
            )
        return nodes[-1]


class NB201SharedNetwork(nn.Module):
    """Every cell of an nb201 `space` in one network (`TinyNetworkENAS`'s layout); `forward(x, arch)` runs one."""

    def __init__(self, space: SearchSpace, num_classes: int, in_channels: int) -> None:
        super().__init__()
        if space.family.network != "nb201":
            raise ValueError(f"the nb201 shared network needs an nb201 space, not '{space.name}'")
        self.space = space
        op_names = [str(op) for op in space.token("op").choices]
        build_tiny_network(self, lambda width: NB201SearchCell(op_names, width), num_classes, in_channels)

    def forward(self, image: torch.Tensor, arch: Architecture) -> torch.Tensor:
        ops = [str(layer.op) for layer in arch.layers]
        feature = self.stem(image)
        for cell in self.cells:
            feature = cell(feature, ops) if isinstance(cell, NB201SearchCell) else cell(feature)
        return classify(self, feature)

    def child_state_dict(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """The weights and BN statistics `NB201Network(arch)` needs, copied from this network: edge k's chosen
        operation becomes `cells.n.layers.k`, and its BN gets the scale 1 and shift 0 it computes with here."""
        ops = [str(layer.op) for layer in arch.layers]
        chosen = {f"edges.{edge_name(e)}.{self._op_index(ops[k])}.": f"layers.{k}." for k, e in enumerate(EDGES)}
        state: dict[str, torch.Tensor] = {}
        for key, value in self.state_dict().items():
            if ".edges." not in key:
                state[key] = value.clone()
                continue
            head, rest = key.split(".edges.", 1)
            prefix = next((p for p in chosen if ("edges." + rest).startswith(p)), None)
            if prefix is None:
                continue  # another operation of this edge
            new_key = f"{head}.{chosen[prefix]}{('edges.' + rest)[len(prefix) :]}"
            state[new_key] = value.clone()
            if new_key.endswith(".running_mean"):
                bn = new_key.removesuffix("running_mean")
                state[bn + "weight"] = torch.ones_like(value)
                state[bn + "bias"] = torch.zeros_like(value)
        return state

    def _op_index(self, op: str) -> int:
        return [str(o) for o in self.space.token("op").choices].index(op)
