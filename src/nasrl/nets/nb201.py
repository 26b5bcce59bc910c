"""NAS-Bench-201's network (Dong & Yang, ICLR 2020), as the benchmark's code builds it for a trained cell.

Read against D-X-Y/AutoDL-Projects (lib/ and, after the package rename, xautodl/):

- `models/cell_infers/tiny_network.py` `TinyNetwork`: a 3x3 conv stem to 16 channels with BN; 3 stages of
  N=5 cells at 16, 32, 64 channels, a `ResNetBasicblock` at stride 2 between stages; BN-ReLU (`lastact`),
  global average pooling, a linear classifier (with bias).
- `models/cell_infers/cells.py` `InferCell`: node i is the sum over j < i of op_{i<-j}(node j), the output is
  node 3. A `none` edge is *not* dropped: it is a `Zero` module whose output (the input times 0) enters the
  sum, so a node whose inputs are all `none` is zeros (and so is the cell's output when node 3's are).
- `models/cell_operations.py`: `ReLUConvBN`, `Zero`, `ResNetBasicblock` and `OPS` (affine=True,
  track_running_stats=True, the inferred networks' setting). Inside a cell every edge keeps the width at
  stride 1, so `skip_connect` is the identity and `avg_pool_3x3` a plain AvgPool2d(3, 1, 1,
  count_include_pad=False) (`POOLING` adds its 1x1 ReLUConvBN only when the widths differ).

Module names follow the original (`stem.0`, `cells.3.layers.4.op.1`, `cells.5.conv_a.op.1`, `lastact.0`,
`classifier`), so the original's state_dict keys are these (meant for the benchmark's trained weights,
`api.get_net_param`; not yet checked against a downloaded checkpoint). The one difference: `forward` returns the
logits alone (TinyNetwork returns the pooled features too). Weights keep PyTorch's default initialisation, as the
original does.

Costs match the benchmark's tables. Parameters: exactly its "params" x 1e6 (all-`nor_conv_3x3` on CIFAR-10:
1,531,546; a cell without a convolution: 73,306; each 3x3 conv edge adds 243,040, each 1x1 conv edge 28,000,
each extra class 65). FLOPs: the benchmark's MFLOPs (`utils/flop_benchmark.py`) count one multiply-add of
every convolution and linear layer plus the classifier's bias additions, and nothing else (no BN, pooling,
ReLU or sums); `count_flops` counts a multiply-add as 2 and skips the bias, so for every cell
`count_flops == 2 * (benchmark MFLOPs * 1e6 - num_classes)`: 440,239,360 for the all-`nor_conv_3x3` cell on
CIFAR-10 (the benchmark's 220.11969 MFLOPs).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nasrl.space import Architecture
from nasrl.space.families.nb201 import EDGES

#: TinyNetwork's settings for every cell of the benchmark: stem width C and N cells per stage.
STEM_CHANNELS = 16
CELLS_PER_STAGE = 5


class ReLUConvBN(nn.Module):
    """ReLU -> conv (no bias) -> BN, as `cell_operations.py` `ReLUConvBN` (its `op` holds the three); `affine`
    False is the search cells' BN."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout, affine=affine, track_running_stats=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The `none` edge (`cell_operations.py` `Zero` at equal widths and stride 1): the input times 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ResNetBasicblock(nn.Module):
    """The reduction between stages (`cell_operations.py` `ResNetBasicblock`, stride 2): two 3x3 ReLUConvBN on
    the main path; a 2x2 average pool and a 1x1 conv (no BN) on the residual path; their sum."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def make_edge(op: str, channels: int, affine: bool = True) -> nn.Module:
    """One edge's module (`cell_operations.py` `OPS` at equal widths, stride 1; `affine` for its convs' BN)."""
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        return ReLUConvBN(channels, channels, int(op[-1]), 1, affine)
    raise ValueError(f"unknown nb201 operation {op!r}")


class InferCell(nn.Module):
    """One cell (`cells.py` `InferCell`): `layers[k]` is edge k of `EDGES`; node i sums its edges' outputs."""

    def __init__(self, ops: list[str], channels: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(make_edge(op, channels) for op in ops)
        self.sources = [src for _, src in EDGES]
        self.node_edges = [[k for k, (to, _) in enumerate(EDGES) if to == node] for node in (1, 2, 3)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for edges in self.node_edges:
            nodes.append(sum(self.layers[k](nodes[self.sources[k]]) for k in edges))
        return nodes[-1]


def build_tiny_network(
    net: nn.Module, make_cell: Callable[[int], nn.Module], num_classes: int, in_channels: int
) -> None:
    """TinyNetwork's parts on `net`, around cells from `make_cell(width)`: the 3x3 stem to 16 channels with BN, 3
    stages of N=5 cells at 16, 32, 64 channels with a `ResNetBasicblock` between them, then `lastact`, the pooling
    and the classifier (the stand-alone network's and the shared one's, so both keep the original's names)."""
    c = STEM_CHANNELS
    net.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
    cells: list[nn.Module] = []
    for stage, width in enumerate((c, 2 * c, 4 * c)):
        if stage > 0:
            cells.append(ResNetBasicblock(width // 2, width))
        cells += [make_cell(width) for _ in range(CELLS_PER_STAGE)]
    net.cells = nn.ModuleList(cells)
    net.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=True))
    net.global_pooling = nn.AdaptiveAvgPool2d(1)
    net.classifier = nn.Linear(4 * c, num_classes)


def classify(net: nn.Module, feature: torch.Tensor) -> torch.Tensor:
    """TinyNetwork's head on the last cell's output: BN-ReLU, global average pooling, the classifier."""
    out = net.global_pooling(net.lastact(feature))
    return net.classifier(out.view(out.size(0), -1))


class NB201Network(nn.Module):
    """The benchmark's `TinyNetwork` for one nb201 cell; made by `builder.build`."""

    def __init__(self, arch: Architecture, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.arch = arch
        ops = [layer.op for layer in arch.layers]
        if len(ops) != len(EDGES):
            raise ValueError(f"an nb201 cell has {len(EDGES)} edges, not {len(ops)}")
        build_tiny_network(self, lambda width: InferCell(ops, width), num_classes, in_channels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        feature = self.stem(image)
        for cell in self.cells:
            feature = cell(feature)
        return classify(self, feature)
