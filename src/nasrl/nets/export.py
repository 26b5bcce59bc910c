"""Export: an architecture, with or without its trained weights, as files that run without nasrl.

Three forms, each checked against the network `builder.build` makes before it is reported as written:

- `export_code`: a readable PyTorch file (only `torch` imported) with named layers and a `forward` written out
  line by line, so a reader sees the found network the way the paper draws it; nasrl's saved weights load into it.
- `export_onnx`: an ONNX graph (torch.export-based exporter, which needs `onnxscript`), run once in onnxruntime.
- `export_torchscript`: the generated code compiled by `torch.jit.script`, so it runs at any input size.

A macro architecture (ENAS) exports in its final form, the network `nasrl train` retrains: its file names the stem,
each layer's operation (`op3`), its skip join (`join3`) and each reduction (`reduce2_stem`) after the paper's layers.
An nb201 cell exports as NAS-Bench-201's TinyNetwork with the cell's `forward` written node by node, under the
original code's module names (`cells.0.layers.0.op.1`), which are also nasrl's.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from nasrl.errors import UserError
from nasrl.nets import builder
from nasrl.nets.macro import MacroNetwork, read_after
from nasrl.nets.nb201 import NB201Network
from nasrl.space import Architecture
from nasrl.space.describe import layer_table
from nasrl.space.families.macro import OPERATION_SETTINGS, operation_kind, skip_names
from nasrl.space.families.macro import widths as macro_widths
from nasrl.space.families.nb201 import EDGES, cell_string

#: Inputs each check runs through both networks (a small random batch at CIFAR-10's size).
CHECK_BATCH = 2
CHECK_RESOLUTION = 32
ONNX_INSTALL_HINT = "pip install 'nasrl[export]'  (or: pip install onnx onnxscript onnxruntime)"


# ----- the readable PyTorch file ----------------------------------------------------------------------------------
_PREAMBLE = '''
import torch
import torch.nn.functional as F
from torch import nn


def max_pool(x: torch.Tensor, size: int) -> torch.Tensor:
    """Max pooling (window = stride = size) that keeps at least one pixel however small the map gets.

    ceil_mode keeps the partial window at the border; a map smaller than the window is first padded
    with -1, below any ReLU output, so padding never wins the max."""
    height, width = x.shape[-2], x.shape[-1]
    if height < size or width < size:
        x = F.pad(x, [0, max(0, size - width), 0, max(0, size - height)], value=-1.0)
    return F.max_pool2d(x, size, size, ceil_mode=True)


def pad_cat(maps: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate on channels maps of different sizes: smaller ones are zero-padded (bottom, right) to the largest."""
    height = max([m.shape[-2] for m in maps])
    width = max([m.shape[-1] for m in maps])
    return torch.cat([F.pad(m, [0, width - m.shape[-1], 0, height - m.shape[-2]]) for m in maps], dim=1)


def from_nasrl_name(key: str) -> str:
    """nasrl calls layer i's parts `layers.{i}.conv` and `layers.{i}.bn` (from 0); this file `conv{i+1}`, `bn{i+1}`."""
    parts = key.split(".")
    if len(parts) > 3 and parts[0] == "layers" and parts[1].isdigit() and parts[2] in ("conv", "bn"):
        return f"{parts[2]}{int(parts[1]) + 1}." + ".".join(parts[3:])
    return key
'''

_LOAD_STATE_DICT = '''
    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load weights saved from this class or from nasrl (`layers.0.conv.weight` becomes `conv1.weight`)."""
        renamed = {from_nasrl_name(key): value for key, value in state_dict.items()}
        return super().load_state_dict(renamed, strict=strict, assign=assign)
'''

_MAIN = """

if __name__ == "__main__":
    model = {name}().eval()
    print(f"{name}: {{sum(p.numel() for p in model.parameters()):,}} parameters")
    print("logits for 2 random 32x32 images:", tuple(model(torch.randn(2, {in_channels}, 32, 32)).shape))
"""


def _scales(arch: Architecture) -> list[tuple[int, int]]:
    """Each layer's downsampling factor (height, width) from the image.

    A 'same'-padded odd kernel at stride s and a ceil-mode pool of size p both map a side n to ceil(n / factor),
    and ceil(ceil(n / a) / b) == ceil(n / (a * b)), so maps with equal factors have equal sizes at any input
    size: their concatenation needs no padding. The padded concatenation takes the largest map, the smallest factor."""
    scales: list[tuple[int, int]] = []
    for layer in arch.layers:
        fh, fw = (
            (min(scales[j][0] for j in layer.inputs), min(scales[j][1] for j in layer.inputs))
            if layer.inputs
            else (1, 1)
        )
        sh, sw = layer.stride
        scales.append((fh * sh * layer.pool, fw * sw * layer.pool))
    return scales


def _joined(arch: Architecture, scales: list[tuple[int, int]], indices: list[int]) -> str:
    names = ", ".join(f"c{j + 1}" for j in indices)
    if len(indices) == 1:
        return names
    if len({scales[j] for j in indices}) == 1:
        return f"torch.cat([{names}], dim=1)"
    return f"pad_cat([{names}])"


def generate_code(arch: Architecture, class_name: str = "Network", num_classes: int = 10, in_channels: int = 3) -> str:
    """The source of a standalone module for `arch`: what `export_code` writes (tests compile it directly)."""
    if not class_name.isidentifier():
        raise UserError(f"'{class_name}' is not a valid Python class name: use letters, digits and _.")
    params = builder.count_parameters(builder.build(arch, num_classes, in_channels))
    network = arch.family.network
    if network not in _CODE_WRITERS:
        raise UserError(f"Space '{arch.space}' builds {network} networks, which have no code export yet.")
    return _CODE_WRITERS[network](arch, class_name, num_classes, in_channels, params)


def _geometry_code(arch: Architecture, class_name: str, num_classes: int, in_channels: int, params: int) -> str:
    """`generate_code` for a Zoph-style architecture: `nets.geometry.ChildNetwork`, written out."""
    scales = _scales(arch)
    widths = [layer.filters for layer in arch.layers]
    outputs = builder.loose_ends(arch)

    header = [
        f"{class_name}: a network found by neural architecture search (nasrl), as plain PyTorch.",
        "",
        f"Written by `nasrl export`: space '{arch.space}', {arch.num_layers} layers, hash {arch.hash()},",
        f"{params:,} parameters ({num_classes} classes, {in_channels} input channels).",
        "Each layer is conv (no bias) -> BatchNorm -> ReLU (-> max pooling); a layer's inputs are concatenated",
        "on channels, zero-padding smaller maps to the largest; layers that no later layer reads are concatenated",
        "into the features, which global average pooling and a linear classifier turn into logits.",
        "",
        "Weights saved from nasrl (`builder.build(arch).state_dict()`, `nasrl train`) load directly: this class's",
        "`load_state_dict` accepts nasrl's names (layers.0.conv.weight) as well as its own (conv1.weight).",
        "",
        *layer_table(arch).splitlines(),
    ]
    lines = [
        '"""' + header[0],
        *header[1:],
        '"""',
        "",
        "# DNA (canonical JSON; save it as a .json file for `nasrl show` or `nasrl export`):",
    ]
    lines.append("# " + arch.to_json())
    lines.append(_PREAMBLE.rstrip("\n"))
    lines += [
        "",
        "",
        f"class {class_name}(nn.Module):",
        f"    def __init__(self, num_classes: int = {num_classes}, in_channels: int = {in_channels}) -> None:",
        "        super().__init__()",
    ]
    for i, layer in enumerate(arch.layers):
        n = i + 1
        kh, kw = layer.kernel
        sh, sw = layer.stride
        cin = str(sum(widths[j] for j in layer.inputs)) if layer.inputs else "in_channels"
        reads = ", ".join(f"C{j + 1}" for j in layer.inputs) if layer.inputs else "the image"
        extra = f", stride {sh}x{sw}" if (sh, sw) != (1, 1) else ""
        extra += f", max pool {layer.pool}" if layer.pool > 1 else ""
        lines.append(f"        # C{n}: {kh}x{kw} conv, {layer.filters} filters{extra}; reads {reads}")
        lines.append(
            f"        self.conv{n} = nn.Conv2d({cin}, {layer.filters}, ({kh}, {kw}), stride=({sh}, {sw}), "
            f"padding=({kh // 2}, {kw // 2}), bias=False)"
        )
        lines.append(f"        self.bn{n} = nn.BatchNorm2d({layer.filters})")
    features = " + ".join(str(widths[j]) for j in outputs)
    lines.append(f"        # the classifier reads {', '.join(f'C{j + 1}' for j in outputs)} (global average pooled)")
    lines.append(f"        self.classifier = nn.Linear({features}, num_classes)")
    lines += ["", "    def forward(self, image: torch.Tensor) -> torch.Tensor:"]
    for i, layer in enumerate(arch.layers):
        n = i + 1
        x = _joined(arch, scales, list(layer.inputs)) if layer.inputs else "image"
        lines.append(f"        c{n} = F.relu(self.bn{n}(self.conv{n}({x})))")
        if layer.pool > 1:
            lines.append(f"        c{n} = max_pool(c{n}, {layer.pool})")
    if len(outputs) == 1:
        lines.append(f"        return self.classifier(c{outputs[0] + 1}.mean(dim=(2, 3)))")
    else:
        lines.append(f"        features = {_joined(arch, scales, outputs)}")
        lines.append("        return self.classifier(features.mean(dim=(2, 3)))")
    lines.append(_LOAD_STATE_DICT.rstrip("\n"))
    lines.append(_MAIN.format(name=class_name, in_channels=in_channels).rstrip("\n"))
    return "\n".join(lines) + "\n"


# ----- the readable PyTorch file of a macro architecture ----------------------------------------------------------
_MACRO_PREAMBLE = '''
import torch
import torch.nn.functional as F
from torch import nn


def bn(channels: int) -> nn.BatchNorm2d:
    """BatchNorm as ENAS sets it: epsilon 1e-3, moving-average decay 0.9 (momentum 0.1)."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.1)


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """The 1x1 conv-BN-ReLU every operation starts with."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), bn(cout), nn.ReLU())


class Join(nn.Module):
    """A layer's skips and its operation's output: concatenated, ReLU, a 1x1 conv back to the width, BN."""

    def __init__(self, num_inputs: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_inputs * channels, channels, 1, bias=False)
        self.bn = bn(channels)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        return self.bn(self.conv(F.relu(torch.cat(maps, dim=1))))


class Reduction(nn.Module):
    """Halve height and width without dropping pixels: a 1x1 conv on the even pixels and one on the odd
    (shifted) pixels, each to half the channels, concatenated, BN."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.path1 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.path2 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.bn = bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = F.pad(x, [0, 1, 0, 1])[:, :, 1:, 1:]
        return self.bn(torch.cat([self.path1(x[:, :, ::2, ::2]), self.path2(shifted[:, :, ::2, ::2])], dim=1))


def from_nasrl_name(key: str) -> str:
    """nasrl numbers layers from 0, this file from 1: ops.2.* is op3.*, skips.2.* join3.*, reductions.1.0.*
    reduce2_stem.* and reductions.1.2.* reduce2_l2.* (the reduction after layer 2 of layer 2's output)."""
    parts = key.split(".")
    if len(parts) > 2 and parts[0] in ("ops", "skips") and parts[1].isdigit():
        name = "op" if parts[0] == "ops" else "join"
        return f"{name}{int(parts[1]) + 1}." + ".".join(parts[2:])
    if len(parts) > 3 and parts[0] == "reductions" and parts[1].isdigit() and parts[2].isdigit():
        source = "stem" if parts[2] == "0" else f"l{parts[2]}"
        return f"reduce{int(parts[1]) + 1}_{source}." + ".".join(parts[3:])
    return key
'''


#: Appended to the preamble when a layer is se3x3 (`nets.macro.SqueezeExcite`, the same parameter names).
_SQUEEZE_EXCITE_CLASS = '''

class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): global average pool, FC to `hidden`, ReLU, FC back, sigmoid, and
    each channel of the input scaled by its gate."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]
'''


def _macro_operation(name: str, width: int, settings: Mapping[str, int]) -> list[str]:
    """The source of one operation's parts, one a line, as `nets.macro.make_operation` builds it (so the keys match)."""
    size, c, kind = int(name[-1]), width, operation_kind(name)
    parts = [f"conv_bn_relu({c}, {c}),"]
    if kind in ("conv", "se"):
        parts += [f"nn.Conv2d({c}, {c}, {size}, padding={size // 2}, bias=False),", f"bn({c}),", "nn.ReLU(),"]
        if kind == "se":
            reduction = settings.get("se_reduction", OPERATION_SETTINGS["se_reduction"])
            parts.append(f"SqueezeExcite({c}, {c // reduction}),  # reduction ratio {reduction}")
    elif kind == "gconv":
        groups = settings.get("groups", OPERATION_SETTINGS["groups"])
        grouped = f"nn.Conv2d({c}, {c}, {size}, padding={size // 2}, groups={groups}, bias=False),  # grouped"
        parts += [grouped, f"bn({c}),", "nn.ReLU(),"]
    elif kind == "sep":
        depthwise = f"nn.Conv2d({c}, {c}, {size}, padding={size // 2}, groups={c}, bias=False),  # depthwise"
        parts += [depthwise, f"nn.Conv2d({c}, {c}, 1, bias=False),  # pointwise", f"bn({c}),", "nn.ReLU(),"]
    elif kind == "avgpool":
        parts.append(f"nn.AvgPool2d({size}, 1, {size // 2}, count_include_pad=False),")
    else:
        parts.append(f"nn.MaxPool2d({size}, 1, {size // 2}),")
    return parts


def _read_after(arch: Architecture, i: int) -> list[int]:
    """The outputs that exist after layer i and that later layers read: those the reduction after layer i halves."""
    return sorted(j for j in read_after(arch, i) if j <= i + 1)


def _output_name(j: int) -> str:
    return "stem" if j == 0 else f"l{j}"


def _macro_init(arch: Architecture) -> list[str]:
    """`__init__`'s body: stem, then per layer its operation, its join and the reductions after it."""
    widths = macro_widths(arch)
    c = widths[0]
    lines = [f"        self.stem = nn.Sequential(nn.Conv2d(in_channels, {c}, 3, padding=1, bias=False), bn({c}))"]
    for i, (layer, width) in enumerate(zip(arch.layers, widths)):
        n = i + 1
        reads = f"L{i}" if i else "the stem"
        lines.append(f"        # L{n}: {layer.op} on {reads}, {width} channels; skips: {skip_names(layer.inputs)}")
        parts = _macro_operation(layer.op, width, dict(arch.op_settings))
        lines += [f"        self.op{n} = nn.Sequential(", *(" " * 12 + p for p in parts)]
        lines.append("        )")
        if i:
            lines.append(f"        self.join{n} = Join({len(layer.inputs) + 1}, {width})")
        if i in arch.reductions:
            lines.append(f"        # reduce x2 after L{n}: the outputs read later, to {2 * width} channels")
            for j in _read_after(arch, i):
                lines.append(f"        self.reduce{n}_{_output_name(j)} = Reduction({width}, {2 * width})")
    last = widths[-1] * (2 if arch.num_layers - 1 in arch.reductions else 1)
    lines.append("        self.dropout = nn.Dropout(dropout)")
    lines.append(f"        self.classifier = nn.Linear({last}, num_classes, bias=False)")
    return lines


def _macro_forward(arch: Architecture) -> list[str]:
    """`forward`'s body: each layer's operation on the previous output, joined with its skips (listed first)."""
    lines = ["        stem = self.stem(image)"]
    for i, layer in enumerate(arch.layers):
        n = i + 1
        if i == 0:
            lines.append("        l1 = self.op1(stem)")
        else:
            maps = [_output_name(j) for j in layer.inputs] + [f"self.op{n}(l{i})"]
            lines.append(f"        l{n} = self.join{n}([{', '.join(maps)}])")
        if i in arch.reductions:
            lines.append(f"        # reduce x2 after L{n}: half the height and width, twice the channels")
        for j in _read_after(arch, i) if i in arch.reductions else []:
            lines.append(f"        {_output_name(j)} = self.reduce{n}_{_output_name(j)}({_output_name(j)})")
    lines.append(f"        return self.classifier(self.dropout(l{arch.num_layers}.mean(dim=(2, 3))))")
    return lines


def _settings_lines(arch: Architecture) -> list[str]:
    """The header's note on the operations that read a setting, when the architecture has any."""
    settings = dict(arch.op_settings)
    lines = []
    if "groups" in settings:
        lines.append(f"gconvKxK: the conv operation with its KxK conv in {settings['groups']} groups.")
    if "se_reduction" in settings:
        lines.append(
            "se3x3: the conv3x3 operation, then squeeze-and-excitation (pool, FC, ReLU, FC, sigmoid gate), "
            f"reduction ratio {settings['se_reduction']}."
        )
    return lines


def _macro_code(arch: Architecture, class_name: str, num_classes: int, in_channels: int, params: int) -> str:
    """`generate_code` for a macro architecture: the final form of `nets.macro.MacroNetwork`, written out."""
    header = [
        f"{class_name}: a network found by neural architecture search (nasrl, ENAS macro space), as plain PyTorch.",
        "",
        f"Written by `nasrl export`: space '{arch.space}', {arch.num_layers} layers, hash {arch.hash()},",
        f"{params:,} parameters ({num_classes} classes, {in_channels} input channels).",
        "A 3x3 conv-BN stem; each layer runs one operation (a 1x1 conv-BN-ReLU, then a KxK conv or separable conv",
        "with BN-ReLU, or a stride-1 3x3 pool) on the previous output, then concatenates its skips with it, ReLU,",
        "1x1 conv, BN. After each reduction the outputs read later halve in size and double in width; the last",
        "output, global average pooled, feeds a linear classifier without bias.",
        *_settings_lines(arch),
        "",
        "Weights saved from nasrl (`builder.build(arch).state_dict()`, `nasrl train`) load directly: this class's",
        "`load_state_dict` accepts nasrl's names (ops.0.1.weight) as well as its own (op1.1.weight).",
        "",
        *layer_table(arch).splitlines(),
    ]
    lines = ['"""' + header[0], *header[1:], '"""', ""]
    lines += [
        "# DNA (canonical JSON; save it as a .json file for `nasrl show` or `nasrl export`):",
        "# " + arch.to_json(),
    ]
    preamble = _MACRO_PREAMBLE.rstrip("\n")
    if any(operation_kind(layer.op) == "se" for layer in arch.layers):
        preamble += _SQUEEZE_EXCITE_CLASS.rstrip("\n")
    lines += [preamble, "", "", f"class {class_name}(nn.Module):"]
    lines.append(
        f"    def __init__(self, num_classes: int = {num_classes}, in_channels: int = {in_channels}, "
        "dropout: float = 0.0) -> None:"
    )
    lines += ["        super().__init__()", *_macro_init(arch), ""]
    lines += ["    def forward(self, image: torch.Tensor) -> torch.Tensor:", *_macro_forward(arch)]
    example = "`ops.0.1.weight` becomes `op1.1.weight`"
    lines.append(_LOAD_STATE_DICT.replace("`layers.0.conv.weight` becomes `conv1.weight`", example).rstrip("\n"))
    lines.append(_MAIN.format(name=class_name, in_channels=in_channels).rstrip("\n"))
    return "\n".join(lines) + "\n"


# ----- the readable PyTorch file of an nb201 cell (NAS-Bench-201) -------------------------------------------------
_NB201_PREAMBLE = '''
import torch
from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU -> conv (no bias) -> BN, the benchmark's convolution."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.op = nn.Sequential(nn.ReLU(), conv, nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The `none` edge: the input times 0 (zeros that still enter the node's sum, as in the benchmark)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ResNetBasicblock(nn.Module):
    """The reduction between stages: two 3x3 ReLUConvBN (the first at stride 2) plus a residual path of a 2x2
    average pool and a 1x1 conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))
'''

#: Each operation's module in the written cell, `{c}` its width.
_NB201_MODULES = {
    "none": "Zero()",
    "skip_connect": "nn.Identity()",
    "nor_conv_1x1": "ReLUConvBN({c}, {c}, 1, 1)",
    "nor_conv_3x3": "ReLUConvBN({c}, {c}, 3, 1)",
    "avg_pool_3x3": "nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)",
}


def _nb201_cell(arch: Architecture) -> list[str]:
    """The `Cell` class: `layers[k]` is edge k (the benchmark's names), `forward` sums each node's edges."""
    ops = [layer.op for layer in arch.layers]
    lines = [
        "class Cell(nn.Module):",
        '    """The found cell: node i sums one operation per earlier node; it outputs node 3."""',
        "",
    ]
    lines += [
        "    def __init__(self, c: int) -> None:",
        "        super().__init__()",
        "        self.layers = nn.ModuleList([",
    ]
    for (to, src), op in zip(EDGES, ops):
        lines.append(f"            {_NB201_MODULES[op].format(c='c')},  # {to}<-{src}: {op}")
    lines += ["        ])", "", "    def forward(self, x0: torch.Tensor) -> torch.Tensor:"]
    for node in (1, 2, 3):
        edges = [k for k, (to, _) in enumerate(EDGES) if to == node]
        terms = " + ".join(f"self.layers[{k}](x{EDGES[k][1]})" for k in edges)
        lines.append(f"        x{node} = {terms}  # " + " + ".join(f"{ops[k]}(x{EDGES[k][1]})" for k in edges))
    return [*lines, "        return x3"]


def _nb201_network(class_name: str, num_classes: int, in_channels: int) -> list[str]:
    """The network class: the benchmark's TinyNetwork (C=16, N=5) around `Cell`."""
    return [
        f"class {class_name}(nn.Module):",
        f"    def __init__(self, num_classes: int = {num_classes}, in_channels: int = {in_channels}) -> None:",
        "        super().__init__()",
        "        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))",
        "        # 3 stages of 5 cells at 16, 32 and 64 channels, a stride-2 ResNetBasicblock between stages",
        "        cells: list[nn.Module] = [Cell(16) for _ in range(5)] + [ResNetBasicblock(16, 32)]",
        "        cells += [Cell(32) for _ in range(5)] + [ResNetBasicblock(32, 64)] + [Cell(64) for _ in range(5)]",
        "        self.cells = nn.ModuleList(cells)",
        "        self.lastact = nn.Sequential(nn.BatchNorm2d(64), nn.ReLU())",
        "        self.classifier = nn.Linear(64, num_classes)",
        "",
        "    def forward(self, image: torch.Tensor) -> torch.Tensor:",
        "        x = self.stem(image)",
        "        for cell in self.cells:",
        "            x = cell(x)",
        "        return self.classifier(self.lastact(x).mean(dim=(2, 3)))",
    ]


def _nb201_code(arch: Architecture, class_name: str, num_classes: int, in_channels: int, params: int) -> str:
    """`generate_code` for an nb201 cell: `nets.nb201.NB201Network` (the benchmark's TinyNetwork), written out."""
    if class_name in ("Cell", "ReLUConvBN", "Zero", "ResNetBasicblock"):
        raise UserError(f"'{class_name}' names a part of the exported file: choose another class name.")
    header = [
        f"{class_name}: a NAS-Bench-201 cell found by neural architecture search (nasrl), as plain PyTorch.",
        "",
        f"Written by `nasrl export`: space '{arch.space}', cell {cell_string(arch)},",
        f"hash {arch.hash()}, {params:,} parameters ({num_classes} classes, {in_channels} input channels).",
        "The benchmark's network (D-X-Y/AutoDL-Projects TinyNetwork, InferCell): a 3x3 conv-BN stem; 3 stages of 5",
        "cells at 16, 32, 64 channels with a stride-2 ResNetBasicblock between them; BN-ReLU, global average",
        "pooling, a linear classifier. nasrl's weights load directly; the module names are the original code's.",
        "",
        *layer_table(arch).splitlines(),
    ]
    lines = ['"""' + header[0], *header[1:], '"""', ""]
    lines += [
        "# DNA (canonical JSON; save it as a .json file for `nasrl show` or `nasrl export`):",
        "# " + arch.to_json(),
    ]
    lines += [
        _NB201_PREAMBLE.rstrip("\n"),
        "",
        "",
        *_nb201_cell(arch),
        "",
        "",
        *_nb201_network(class_name, num_classes, in_channels),
    ]
    lines.append(_MAIN.format(name=class_name, in_channels=in_channels).rstrip("\n"))
    return "\n".join(lines) + "\n"


#: Family.network -> the writer of its readable PyTorch file.
_CODE_WRITERS = {"geometry": _geometry_code, "macro": _macro_code, "nb201": _nb201_code}


def load_code(path: str | Path, class_name: str) -> type[nn.Module]:
    """Import the class from a file `export_code` wrote (kept in sys.modules so `torch.jit.script` finds its source)."""
    path = Path(path)
    name = f"nasrl_exported_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}_{abs(hash(str(path.resolve())))}"
    # An explicit loader: `--output` may name the file with any suffix, and it is still Python source.
    spec = importlib.util.spec_from_file_location(
        name, path, loader=importlib.machinery.SourceFileLoader(name, str(path))
    )
    if spec is None or spec.loader is None:
        raise UserError(f"Cannot import {path}: is it a Python file written by `nasrl export`?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, class_name)


# ----- weights ----------------------------------------------------------------------------------------------------
def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from `torch.save`, loaded with weights_only=True: never unpickle what a user hands us.

    Also accepts a checkpoint dict holding the state_dict under "model" or "state_dict", and strips the prefixes
    `torch.compile` ("_orig_mod.") and DataParallel ("module.") add."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"No weights file at {path}: give the state_dict a `nasrl train` run saved.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for foreign or unsafe files; all mean the same to a user.
        raise UserError(
            f"{path} is not a weights file torch.load can read safely ({type(e).__name__}): "
            "save one with torch.save(model.state_dict(), path)."
        ) from None
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no state_dict (a dict of parameter names to tensors).")
    weights = {}
    for key, value in obj.items():
        for prefix in ("_orig_mod.", "module."):
            key = key.removeprefix(prefix)
        weights[str(key)] = value
    return weights


def build_with_weights(arch: Architecture, weights: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """`builder.build(arch)` in eval mode (a macro architecture in its final form), with `weights` loaded when given
    (classes and input channels read from them).

    Mismatching weights are a user error naming the first difference, not a stack of RuntimeError lines."""
    if weights is None:
        return builder.build(arch).eval()
    num_classes = weights["classifier.weight"].shape[0] if "classifier.weight" in weights else 10
    # The input channels are the first convolution's, whatever the family calls it.
    first_conv = next((k for k, v in builder.build(arch).state_dict().items() if v.dim() == 4), "")
    first = weights.get(first_conv)
    in_channels = first.shape[1] if first is not None and first.dim() == 4 else 3
    model = builder.build(arch, num_classes, in_channels)
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        if shapes:
            k = shapes[0]
            first_issue = f"{k} is {tuple(weights[k].shape)}, the architecture needs {tuple(expected[k].shape)}"
        else:
            first_issue = f"{'missing ' + missing[0] if missing else 'unexpected ' + unexpected[0]}"
        raise UserError(
            f"The weights do not fit this architecture ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(shapes)} of another shape; first: {first_issue}): were they trained for it?"
        )
    model.load_state_dict(weights)
    return model.eval()


# ----- ONNX and TorchScript ---------------------------------------------------------------------------------------
def _require_onnx() -> None:
    missing = []
    for package in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(package)
        except ImportError:
            missing.append(package)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise UserError(f"ONNX export needs {', '.join(missing)}, which {verb} not installed: {ONNX_INSTALL_HINT}.")


def _as_model(arch_or_model: Architecture | nn.Module, weights: Mapping[str, torch.Tensor] | None) -> nn.Module:
    if isinstance(arch_or_model, Architecture):
        return build_with_weights(arch_or_model, weights)
    if weights is not None:
        arch_or_model.load_state_dict(weights)
    return arch_or_model.eval()


def _in_channels(model: nn.Module) -> int:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.in_channels if conv is not None else 3


def _check_input(in_channels: int, resolution: int = CHECK_RESOLUTION) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(CHECK_BATCH, in_channels, resolution, resolution, generator=generator)


@torch.no_grad()
def _max_difference(reference: nn.Module, other, in_channels: int) -> float:
    x = _check_input(in_channels)
    return float((reference(x) - other(x)).abs().max())


def export_code(
    arch: Architecture,
    path: str | Path,
    class_name: str = "Network",
    weights: Mapping[str, torch.Tensor] | None = None,
) -> float:
    """Write `arch` as a readable PyTorch file; return the largest output difference from `builder.build(arch)`.

    The check loads the builder network's weights (`weights`, or a random init) into the written class, so the
    file is known to compute the same function as the network nasrl trains, and those weights to load into it.
    Classes and input channels follow `weights` when given."""
    reference = build_with_weights(arch, weights)
    in_channels, num_classes = _in_channels(reference), reference.classifier.out_features
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate_code(arch, class_name, num_classes, in_channels))
    exported = load_code(path, class_name)(num_classes, in_channels)
    exported.load_state_dict(reference.state_dict())
    return _max_difference(reference, exported.eval(), in_channels)


def export_onnx(
    arch_or_model: Architecture | nn.Module,
    path: str | Path,
    weights: Mapping[str, torch.Tensor] | None = None,
    resolution: int = CHECK_RESOLUTION,
) -> float:
    """Write an ONNX graph (batch size free, `resolution` fixed) and return the largest difference between
    onnxruntime's and PyTorch's outputs, so a broken export never passes silently.

    torch >= 2.9 exports through torch.export (the TorchScript-based exporter is deprecated), which needs onnxscript.
    The spatial size is fixed because the padding of concatenated maps depends on it."""
    _require_onnx()
    import onnxruntime

    model = _as_model(arch_or_model, weights)
    in_channels = _in_channels(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = _check_input(in_channels, resolution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress notes and deprecations are not the user's concern.
        torch.onnx.export(
            model,
            (x,),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            external_data=False,  # one self-contained file; these networks are far below protobuf's 2 GB limit.
            dynamo=True,
            verbose=False,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"image": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    return float((torch.from_numpy(logits) - expected).abs().max())


def export_torchscript(
    arch_or_model: Architecture | builder.ChildNetwork | MacroNetwork | NB201Network,
    path: str | Path,
    weights: Mapping[str, torch.Tensor] | None = None,
) -> float:
    """Compile the generated code with `torch.jit.script` and save it; return the largest difference between the
    saved file, loaded back, and the builder's network.

    Scripting the generated code (rather than tracing the builder) keeps the shape logic of pooling and padding,
    so the saved module runs at any input size."""
    model = _as_model(arch_or_model, weights)
    if not isinstance(model, (builder.ChildNetwork, MacroNetwork, NB201Network)):
        raise UserError("TorchScript export takes an architecture or a network made by nasrl's builder.build.")
    if isinstance(model, MacroNetwork) and model.form != "final":
        raise UserError("TorchScript export takes a macro network in its final form, the one `nasrl train` trains.")
    in_channels, num_classes = _in_channels(model), model.classifier.out_features
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "exported_network.py"
        source.write_text(generate_code(model.arch, "Network", num_classes, in_channels))
        exported = load_code(source, "Network")(num_classes, in_channels)
        exported.load_state_dict(model.state_dict())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export; it still works.
            torch.jit.save(torch.jit.script(exported.eval()), str(path))
            loaded = torch.jit.load(str(path), map_location="cpu")
        sys.modules.pop(exported.__module__, None)
    return _max_difference(model, loaded, in_channels)


# ----- the command line's helpers ---------------------------------------------------------------------------------
#: Each format and the file suffix `nasrl export` gives it when no --output is named.
FORMATS = {"code": ".py", "onnx": ".onnx", "torchscript": ".pt"}


def class_name_for(name: str) -> str:
    """A CamelCase class name from an architecture's name (`seed-baseline` -> `SeedBaseline`)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts)
    return text if text[:1].isalpha() else f"Network{text}"


def export(
    arch: Architecture,
    fmt: str,
    path: str | Path,
    weights: Mapping[str, torch.Tensor] | None = None,
    class_name: str = "Network",
) -> float:
    """One entry point for the three formats (what `nasrl export` calls); returns the checked output difference."""
    if fmt == "code":
        return export_code(arch, path, class_name, weights)
    if fmt == "onnx":
        return export_onnx(arch, path, weights)
    if fmt == "torchscript":
        return export_torchscript(arch, path, weights)
    raise UserError(f"Unknown export format '{fmt}': use one of {', '.join(FORMATS)}.")
