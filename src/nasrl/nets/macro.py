"""Macro-space networks (ENAS, Pham et al. 2018, section 2.3), read against melodyguan/enas
src/cifar10/general_child.py:

- stem: 3x3 conv to C channels, BN (`stem_conv`);
- layer i: one operation on the previous output (`_enas_layer`'s branches: a 1x1 conv-BN-ReLU, then a KxK conv or
  separable conv with BN-ReLU, or a stride-1 3x3 pool; beyond the original, the same branch with a grouped KxK
  conv, or the 3x3 branch followed by squeeze-and-excitation), then its skips, which index the outputs *before*
  the previous one: 0 the stem, j layer j (1-based), as `prev_layers[i]` does in the original;
- after each layer in `reductions` a factorized reduction (`_factorized_reduction`: two 1x1 convs on
  pixel-shifted stride-2 paths, concatenated, BN) of every output so far, so later skips stay shape-compatible;
- global average pooling, dropout, a linear classifier without bias (`fc`).

Two forms of the same architecture. `shared`, the form every child takes inside the weight-sharing search: the
skips are summed with the operation's output, then BN (`_enas_layer`), and the width stays C. `final`, the form a
derived architecture is retrained in: the skips and the output are concatenated, ReLU, a 1x1 conv back to the
width, BN (`_fixed_layer`), and the width doubles at each reduction. Batch norms use the original's epsilon 1e-3
and moving-average decay 0.9 (momentum 0.1). The stem, skip, reduction and classifier weights start He-normal
(`create_weight`), and so do the shared network's operations; a stand-alone child's operations keep PyTorch's default.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nasrl.space import Architecture
from nasrl.space.families.macro import OPERATION_SETTINGS, OPERATIONS, operation_kind
from nasrl.space.families.macro import widths as macro_widths

Form = Literal["shared", "final"]


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.1)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout), nn.ReLU())


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation as Hu et al. (2018, fig. 2) define it: global average pool, FC C -> `hidden`, ReLU,
    FC `hidden` -> C, sigmoid, and each channel of the input scaled by its gate. The FCs keep their biases, as the
    original's do (and timm's `SEModule`)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]


def make_operation(
    name: str,
    cin: int,
    channels: int,
    groups: int = OPERATION_SETTINGS["groups"],
    se_reduction: int = OPERATION_SETTINGS["se_reduction"],
) -> nn.Module:
    """One of `OPERATIONS`: `conv5x5` -> 1x1 conv-BN-ReLU, 5x5 conv-BN-ReLU (`_conv_branch`); `sep3x3` the same with
    a depthwise 3x3 and a pointwise 1x1 conv; `maxpool3x3` -> 1x1 conv-BN-ReLU, 3x3 max pool, stride 1
    (`_pool_branch`; the average pool leaves the padding out of its mean, as TensorFlow's SAME pooling does).

    `gconv3x3` is the conv branch with its 3x3 conv in `groups` groups: ENAS's branch form (the 1x1 conv-BN-ReLU
    every operation starts with, then the grouped KxK), not ResNeXt's 1x1-grouped-1x1 bottleneck (Xie et al. 2017),
    because the branch's 1x1 already mixes the groups and the layer's join adds its own 1x1; a bottleneck would add
    a third 1x1 and make gconv differ from conv in more than the grouping. `se3x3` is the conv3x3 branch, then
    squeeze-and-excitation with C // `se_reduction` units: SE recalibrates what a spatial conv computed, as Hu et al.
    place it after a block's convolutions; after the 1x1 alone it would be a channel gate with no spatial context."""
    if name not in OPERATIONS:
        raise ValueError(f"unknown operation {name!r}")
    size, kind = int(name[-1]), operation_kind(name)
    pre = _conv_bn_relu(cin, channels)
    if kind in ("conv", "gconv", "se"):
        grouped = groups if kind == "gconv" else 1
        conv = nn.Conv2d(channels, channels, size, padding=size // 2, groups=grouped, bias=False)
        excite = [SqueezeExcite(channels, channels // se_reduction)] if kind == "se" else []
        return nn.Sequential(pre, conv, _bn(channels), nn.ReLU(), *excite)
    if kind == "sep":
        depthwise = nn.Conv2d(channels, channels, size, padding=size // 2, groups=channels, bias=False)
        return nn.Sequential(pre, depthwise, nn.Conv2d(channels, channels, 1, bias=False), _bn(channels), nn.ReLU())
    if kind == "avgpool":
        return nn.Sequential(pre, nn.AvgPool2d(size, 1, size // 2, count_include_pad=False))
    return nn.Sequential(pre, nn.MaxPool2d(size, 1, size // 2))


class FactorizedReduction(nn.Module):
    """Halve height and width without dropping pixels: a 1x1 conv on the even pixels and one on the odd (shifted)
    pixels, each to half the channels, concatenated, BN (general_child.py, `_factorized_reduction`)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        if cout % 2:
            raise ValueError(f"a factorized reduction needs an even width, got {cout}")
        self.path1 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.path2 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.bn = _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.path1(x[:, :, ::2, ::2]), self.path2(shifted[:, :, ::2, ::2])], dim=1))


class ConcatSkip(nn.Module):
    """The final form's skip: concatenated inputs, ReLU, 1x1 conv back to the width, BN (`_fixed_layer`)."""

    def __init__(self, num_inputs: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_inputs * channels, channels, 1, bias=False)
        self.bn = _bn(channels)

    def forward(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return self.bn(self.conv(F.relu(torch.cat(tensors, dim=1))))


class MacroBody(nn.Module):
    """The parts every macro network has (stem, per-layer skip modules, reductions, classifier) and the forward
    pass they share; the subclass says which operation module runs at each layer."""

    def __init__(
        self, arch: Architecture, num_classes: int, in_channels: int, form: Form, dropout: float, every_output: bool
    ) -> None:
        super().__init__()
        assert arch.channels is not None, "a macro architecture carries its channels"
        self.form = form
        self.reduction_layers = arch.reductions
        self.stem = nn.Sequential(nn.Conv2d(in_channels, arch.channels, 3, padding=1, bias=False), _bn(arch.channels))
        self.widths = self._widths(arch)
        self.skips = nn.ModuleList(
            nn.Identity() if i == 0 else _bn(c) if form == "shared" else ConcatSkip(len(layer.inputs) + 1, c)
            for i, (layer, c) in enumerate(zip(arch.layers, self.widths))
        )
        # A stand-alone child reduces only the outputs it reads later; the shared network has them all.
        self.reductions = nn.ModuleDict(
            {
                str(i): nn.ModuleDict(
                    {
                        str(j): FactorizedReduction(self.widths[i], self._after(i))
                        for j in range(i + 2)
                        if every_output or j in read_after(arch, i)
                    }
                )
                for i in arch.reductions
            }
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self._after(arch.num_layers - 1), num_classes, bias=False)
        self.apply(he_normal)

    def _widths(self, arch: Architecture) -> list[int]:
        """Each layer's width: C throughout while searching; doubled after each reduction in the final form."""
        return macro_widths(arch) if self.form == "final" else [int(arch.channels or 0)] * arch.num_layers

    def _after(self, i: int) -> int:
        """The width of the outputs after layer i (and its reduction)."""
        return self.widths[i] * (2 if i in self.reduction_layers and self.form == "final" else 1)

    def run(self, image: torch.Tensor, arch: Architecture, operation: list[nn.Module]) -> torch.Tensor:
        """Logits of `arch` with `operation[i]` at layer i. An output that no later layer reads is not reduced."""
        outs: list[torch.Tensor | None] = [self.stem(image)]
        for i, layer in enumerate(arch.layers):
            out = operation[i](outs[-1])
            if i > 0:
                inputs = [outs[j] for j in layer.inputs] + [out]
                out = self.skips[i](sum(inputs[1:], inputs[0]) if self.form == "shared" else inputs)
            outs.append(out)
            if str(i) in self.reductions:
                reductions, read = self.reductions[str(i)], read_after(arch, i)
                outs = [reductions[str(j)](o) if j in read and o is not None else None for j, o in enumerate(outs)]
        features = outs[-1].mean(dim=(2, 3))
        return self.classifier(self.dropout(features))


class MacroNetwork(MacroBody):
    """A stand-alone macro child: one operation module per layer, in either form."""

    def __init__(
        self, arch: Architecture, num_classes: int, in_channels: int, form: Form = "final", dropout: float = 0.0
    ) -> None:
        super().__init__(arch, num_classes, in_channels, form, dropout, every_output=False)
        self.arch = arch
        settings = dict(arch.op_settings)
        self.ops = nn.ModuleList(
            make_operation(layer.op, c, c, **settings) for layer, c in zip(arch.layers, self.widths)
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.run(image, self.arch, list(self.ops))


def read_after(arch: Architecture, i: int) -> set[int]:
    """The outputs (0 the stem, j layer j) that layers after layer i read: their skips, and layer i's output."""
    return {j for later in arch.layers[i + 1 :] for j in later.inputs} | {i + 1}


def he_normal(module: nn.Module) -> None:
    """ENAS's `create_weight` initialiser for convolutions and the classifier."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
