"""The child network of Zoph-style architectures (the zoph and dna families): one conv layer per layer.

Zoph & Le (2017, section 3.3): a layer's inputs are concatenated on the channel
axis; inputs of different spatial size are zero-padded to the largest; a layer
with no input takes the image; every layer whose output no later layer reads is
concatenated into the final output, which global average pooling and a linear
classifier turn into logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasrl.space import Architecture, Layer


class ConvLayer(nn.Module):
    """conv (bias-free) -> BatchNorm -> ReLU -> optional max pooling, keeping 'same' size at stride 1."""

    def __init__(self, in_channels: int, layer: Layer) -> None:
        super().__init__()
        kh, kw = layer.kernel
        # Padding per axis keeps asymmetric kernels (e.g. 7x1) from shrinking the map.
        self.conv = nn.Conv2d(in_channels, layer.filters, (kh, kw), layer.stride, (kh // 2, kw // 2), bias=False)
        self.bn = nn.BatchNorm2d(layer.filters)
        self.pool = layer.pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        if self.pool > 1:
            # ceil_mode keeps at least one pixel however deep the stack of strides and pools gets.
            if min(x.shape[-2:]) < self.pool:
                x = F.pad(x, (0, max(0, self.pool - x.shape[-1]), 0, max(0, self.pool - x.shape[-2])), value=-1.0)
            x = F.max_pool2d(x, self.pool, self.pool, ceil_mode=True)
        return x


def concat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate on channels, zero-padding smaller maps (bottom/right) to the largest height and width."""
    if len(tensors) == 1:
        return tensors[0]
    height = max(t.shape[-2] for t in tensors)
    width = max(t.shape[-1] for t in tensors)
    padded = [
        t if t.shape[-2:] == (height, width) else F.pad(t, (0, width - t.shape[-1], 0, height - t.shape[-2]))
        for t in tensors
    ]
    return torch.cat(padded, dim=1)


def loose_ends(arch: Architecture) -> list[int]:
    """Layers whose output no later layer reads; the last layer always counts."""
    used = {j for layer in arch.layers for j in layer.inputs}
    return [i for i in range(arch.num_layers) if i not in used or i == arch.num_layers - 1]


class ChildNetwork(nn.Module):
    """A Zoph-style network (the zoph and dna families) described by an `Architecture`; made by `builder.build`."""

    def __init__(self, arch: Architecture, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.arch = arch
        self.inputs = [list(layer.inputs) for layer in arch.layers]
        self.outputs = loose_ends(arch)
        widths: list[int] = []
        layers = []
        for layer in arch.layers:
            cin = sum(widths[j] for j in layer.inputs) if layer.inputs else in_channels
            layers.append(ConvLayer(cin, layer))
            widths.append(layer.filters)
        self.layers = nn.ModuleList(layers)
        self.out_channels = sum(widths[j] for j in self.outputs)
        self.classifier = nn.Linear(self.out_channels, num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for layer, inputs in zip(self.layers, self.inputs):
            x = concat([outs[j] for j in inputs]) if inputs else image
            outs.append(layer(x))
        features = concat([outs[j] for j in self.outputs])
        return self.classifier(features.mean(dim=(2, 3)))
