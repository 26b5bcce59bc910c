"""NAS-Bench-201's cell space (Dong & Yang, ICLR 2020; NATS-Bench's topology space, Dong et al. 2021).

A cell is a DAG of 4 nodes: node i (1-3) sums one operation per earlier node, so the cell has 6 edges, each one of
5 operations (`OPERATIONS`): 5^6 = 15,625 cells. nasrl reads the 6 edges as 6 one-token "layers" in the benchmark's
string order, (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2), so every strategy proposes a cell as it proposes any
other architecture. The benchmark's cell string (`|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...|`, as
D-X-Y/AutoDL-Projects `lib/models/cell_searchs/genotypes.py` `Structure.tostr` writes it) is the architecture's
name: `parse_cell` reads it, `cell_string` writes it, and the JSON form carries it. The network is `nets.nb201`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from nasrl.space.families.layers import LayerFamily
from nasrl.space.search_space import Architecture, ArchitectureError, SearchSpace, Token, Value, register_family

#: The benchmark's operations (cell_operations.py `NAS_BENCH_201`), in its order.
OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
TOKENS = (Token("op", OPERATIONS),)
#: (to node, from node) of each edge, in the cell string's order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
SPACE = "nb201"
COLUMNS = ("edge", "operation")
#: The benchmark's ResNet cell (Dong & Yang 2020, section 3): node 3 = x + conv3x3(conv3x3(x)), a residual block.
RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def no_wiring(i: int) -> tuple[int, ...]:
    """An edge reads no other edge: the cell's wiring is fixed by `EDGES`."""
    return ()


def cell_string(arch: Architecture) -> str:
    """The benchmark's string of a cell of the nb201 space (edges in `EDGES` order)."""
    ops = [layer.op for layer in arch.layers]
    nodes, k = [], 0
    for node in range(1, 4):
        nodes.append("|" + "|".join(f"{ops[k + j]}~{j}" for j in range(node)) + "|")
        k += node
    return "+".join(nodes)


def parse_cell(text: str) -> Architecture:
    """A cell string -> an architecture of the nb201 space; anything else is one sentence naming what is wrong."""
    example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise ArchitectureError(f"A cell string has 3 nodes joined by '+', not {len(nodes)}: write it as {example}")
    ops = []
    for node, part in enumerate(nodes, start=1):
        if not (part.startswith("|") and part.endswith("|")):
            raise ArchitectureError(f"Node {node} of the cell string must start and end with '|', as in {example}")
        entries = part[1:-1].split("|")
        if len(entries) != node:
            raise ArchitectureError(
                f"Node {node} of the cell string needs {node} edges (one per earlier node), not {len(entries)}."
            )
        for j, entry in enumerate(entries):
            op, _, source = entry.partition("~")
            if op not in OPERATIONS:
                raise ArchitectureError(f"Node {node}: unknown operation '{op}'; use one of {', '.join(OPERATIONS)}.")
            if source != str(j):
                raise ArchitectureError(
                    f"Node {node}, edge {j + 1} reads node '{source}'; it must read node {j} (write '{op}~{j}')."
                )
            ops.append(op)
    return Architecture.from_layers(SPACE, [{"op": op} for op in ops], [[] for _ in ops])


def reaches_output(arch: Architecture) -> bool:
    """Whether some path of edges other than `none` leads from the cell's input to its output: without one the
    network's output ignores its image (the benchmark's cells that score 10%)."""
    reached = {0}
    for (to, src), layer in zip(EDGES, arch.layers):  # EDGES is in topological order
        if src in reached and layer.op != "none":
            reached.add(to)
    return 3 in reached


def looks_like_cell(text: str) -> bool:
    """Whether a command-line argument is meant as a cell string (rather than a file or a zoo name)."""
    return text.strip().startswith("|")


@register_family
class NB201Family(LayerFamily):
    """Six edges of one operation each, in the benchmark's order; built by `nets.nb201`."""

    name = "nb201"
    network = "nb201"
    unskipped = staticmethod(no_wiring)
    columns = COLUMNS
    spaces: tuple[str, ...] = (SPACE,)

    def recognises(self, channels: int | None) -> bool:
        return False  # only the space by name

    def architecture(
        self, space: SearchSpace, values: Sequence[Mapping[str, Value]], inputs: Sequence[Sequence[int]] | None
    ) -> Architecture:
        return Architecture.from_layers(space.name, values, [[] for _ in values] if inputs is None else inputs)

    def resize(self, space: SearchSpace, num_layers: int) -> SearchSpace:
        if num_layers != len(EDGES):
            raise ArchitectureError(f"The nb201 cell has {len(EDGES)} edges; it cannot be searched at {num_layers}.")
        return replace(space, num_layers=num_layers)

    def space_of(self, arch: Architecture) -> SearchSpace | None:
        return SearchSpace(SPACE, len(EDGES), TOKENS, False)

    def rows(self, arch: Architecture) -> list[tuple[str, ...]]:
        """(edge, operation), edges named `node<-node` as the benchmark's string orders them."""
        return [(f"{to}<-{src}", layer.op) for (to, src), layer in zip(EDGES, arch.layers)]

    def notes(self, arch: Architecture) -> dict[int, str]:
        return {}

    def summary(self, arch: Architecture) -> str:
        return cell_string(arch)

    def baseline(self, space: SearchSpace) -> Architecture:
        """The benchmark's own ResNet cell (`RESNET_CELL`), the hand-designed network its paper compares with."""
        cell = parse_cell(RESNET_CELL)
        return space.architecture([layer.as_dict for layer in cell.layers], [[] for _ in cell.layers])

    def json_extra(self, arch: Architecture) -> dict:
        """The JSON form carries the cell string, so a reader (and the benchmark's tools) can use it as it is."""
        return {"cell": cell_string(arch)}
