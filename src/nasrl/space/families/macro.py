"""ENAS's macro space (Pham et al. 2018, section 2.3; melodyguan/enas src/cifar10/general_child.py): every layer has
the same width and one operation (the `op` token), reads the previous output, and may add skips from the outputs
before that one: 0 the stem, j the output of layer j (1-based), as `prev_layers[i]` indexes them. A stride-2
reduction follows each layer in `reductions` (0-based), at ENAS's thirds unless a space file says otherwise.

The architecture carries its width and reductions (`Architecture.channels`, `.reductions`), and the settings of the
operations it uses (`.op_settings`: the groups of a gconv, the reduction ratio of an se3x3), so it builds on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from nasrl.errors import UserError
from nasrl.space.families.layers import LayerFamily, nearest_choice
from nasrl.space.search_space import (
    Architecture,
    ArchitectureError,
    SearchSpace,
    Token,
    Value,
    register_family,
)

#: The operations of macro spaces (section 2.3 and general_child.py): each conv op is a 1x1 conv-BN-ReLU, then the
#: KxK (separable) conv-BN-ReLU; each pool op a 1x1 conv-BN-ReLU, then a stride-1 pool. Beyond ENAS's: gconvKxK, the
#: conv branch with its KxK conv in `groups` groups (ResNeXt's grouped convolution, Xie et al. 2017), and se3x3, the
#: conv3x3 branch followed by squeeze-and-excitation (Hu et al. 2018); `nets.macro.make_operation` says why so.
OPERATIONS = (
    "conv3x3",
    "conv5x5",
    "conv7x7",
    "sep3x3",
    "sep5x5",
    "sep7x7",
    "avgpool3x3",
    "maxpool3x3",
    "gconv3x3",
    "gconv5x5",
    "se3x3",
)
#: The settings operations read (a space file's keys of the same names) and their defaults. groups 4: between a
#: conv (1 group) and a separable conv's depthwise one (a group per channel), and it divides the presets' widths
#: (quick-enas's 16, enas-macro's 36). se_reduction 4, not the paper's 16: 16 was chosen for 64-2048 channels, and
#: at this space's widths (16-36 while searching) it leaves 1-2 squeeze units; 4 leaves 4-9, and is MobileNetV3's
#: and EfficientNet's ratio.
OPERATION_SETTINGS = {"groups": 4, "se_reduction": 4}
#: The operations that read a setting, and which.
SETTING_OF = {"gconv3x3": "groups", "gconv5x5": "groups", "se3x3": "se_reduction"}
#: The six operations of the `enas-macro` preset, in general_child.py's branch order.
ENAS_TOKENS = (Token("op", ("conv3x3", "sep3x3", "conv5x5", "sep5x5", "avgpool3x3", "maxpool3x3")),)
#: The width while searching (ENAS: `child_out_filters` 36 in cifar10_macro_search.sh); a space file's default too.
SEARCH_CHANNELS = 36

COLUMNS = ("layer", "operation", "width", "skips")
#: The baseline's operation, then what stands in for it in a space without it (the nearest convolution first).
PLAIN_OPERATIONS = ("conv3x3", "sep3x3", "conv5x5", "sep5x5", "conv7x7", "sep7x7", "maxpool3x3", "avgpool3x3")


def enas_reductions(num_layers: int) -> tuple[int, ...]:
    """ENAS's reduction layers: after layers L//3 - 1 and 2L//3 - 1 (0-based; general_child.py, `pool_layers`)."""
    third = num_layers // 3
    return tuple(i for i in (third - 1, 2 * third - 1) if i >= 0)


def reductions_at(space: SearchSpace, num_layers: int) -> tuple[int, ...]:
    """`space`'s reductions at another depth: ENAS's thirds move with the depth, others stay where they are."""
    if space.reductions == enas_reductions(space.num_layers):
        return enas_reductions(num_layers)
    return space.reductions


def widths(arch: Architecture | SearchSpace) -> list[int]:
    """Each layer's width in the final form (the one `nasrl show` counts and `nasrl train` retrains): the
    architecture's channels, doubled after each reduction, as `nets.macro.MacroBody` builds it."""
    out, width = [], int(arch.channels or 0)
    for i in range(arch.num_layers):
        out.append(width)
        width *= 2 if i in arch.reductions else 1
    return out


def operation_kind(op: str) -> str:
    """An operation's family, its name without the kernel size: `conv`, `gconv`, `sep`, `se`, `avgpool`, `maxpool`."""
    return op.rstrip("0123456789x")


def op_settings_for(ops: Iterable[str], given: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """The settings that `ops` read, each `given`'s value or its default, as sorted pairs: what an architecture with
    these operations carries (none for ENAS's operations, so their architectures serialise as they always did)."""
    names = {SETTING_OF[op] for op in ops if op in SETTING_OF}
    return tuple(sorted((name, int(given.get(name, OPERATION_SETTINGS[name]))) for name in names))


def operation_label(op: str, settings: Mapping[str, int]) -> str:
    """An operation's name with the setting it reads (`gconv3x3 g=4`, `se3x3 r=4`): the layer table's and the
    drawing's text. An operation without a setting is its name."""
    setting = SETTING_OF.get(op)
    if setting is None:
        return op
    short = {"groups": "g", "se_reduction": "r"}[setting]
    return f"{op} {short}={settings.get(setting, OPERATION_SETTINGS[setting])}"


def check_op_settings(network: Architecture | SearchSpace, settings: Mapping[str, int]) -> None:
    """Raise `UserError` (one sentence) unless every setting fits every width an operation runs at: the channels in
    the shared form (every layer), the final form's widths (doubled after each reduction)."""
    reached = sorted({int(network.channels or 0), *widths(network)})
    for name, value in settings.items():
        if name not in OPERATION_SETTINGS:
            raise UserError(f"unknown operation setting '{name}': use {' or '.join(OPERATION_SETTINGS)}.")
        if value < 1:
            raise UserError(f"'{name}' must be a positive whole number, not {value}.")
        for width in reached:
            if name == "groups" and width % value:
                raise UserError(
                    f"'groups' {value} does not divide {width}, a width the network reaches (its channels while "
                    f"searching, doubled after each reduction in the final form): give groups that divide {width}."
                )
            if name == "se_reduction" and value > width:
                raise UserError(
                    f"'se_reduction' {value} is larger than {width}, a width the network reaches, and would leave "
                    f"the squeeze no units: give at most {width}."
                )


def skip_names(inputs: tuple[int, ...]) -> str:
    """A layer's skips by name: 0 is the stem, j layer j (1-based, `Layer`'s macro indexing); '-' for none."""
    return ",".join("stem" if j == 0 else f"L{j}" for j in inputs) or "-"


def no_skips(i: int) -> tuple[int, ...]:
    """What layer i adds to the previous output in a space without skips: nothing."""
    return ()


@register_family
class MacroFamily(LayerFamily):
    """One operation per layer at a constant width, reductions between; built by `nets.macro`."""

    name = "macro"
    network = "macro"
    unskipped = staticmethod(no_skips)
    columns = COLUMNS
    spaces: tuple[str, ...] = ()

    def recognises(self, channels: int | None) -> bool:
        return channels is not None

    def architecture(
        self, space: SearchSpace, values: Sequence[Mapping[str, Value]], inputs: Sequence[Sequence[int]] | None
    ) -> Architecture:
        arch = Architecture.from_layers(space.name, values, [[] for _ in values] if inputs is None else inputs)
        settings = op_settings_for((layer.op for layer in arch.layers), dict(space.op_settings))
        return Architecture(arch.space, arch.layers, space.channels, reductions_at(space, len(values)), settings)

    def validate(self, arch: Architecture, space: SearchSpace) -> Architecture:
        """The layer family's rules, then the operation settings: exactly those its operations read, at the values
        of `space`, each fitting every width the network reaches."""
        super().validate(arch, space)
        expected = op_settings_for((layer.op for layer in arch.layers), dict(space.op_settings))
        if arch.op_settings != expected:
            raise ArchitectureError(
                f"The architecture carries operation settings {dict(arch.op_settings) or 'none'}, but its "
                f"operations read {dict(expected) or 'none'} in space '{space.name}': give exactly those as "
                '"op_settings".'
            )
        try:
            check_op_settings(arch, dict(arch.op_settings))
        except UserError as e:
            raise ArchitectureError(str(e)) from None
        return arch

    def resize(self, space: SearchSpace, num_layers: int) -> SearchSpace:
        return replace(space, num_layers=num_layers, reductions=reductions_at(space, num_layers))

    def space_of(self, arch: Architecture) -> SearchSpace | None:
        """Every operation and every skip at the architecture's own geometry: validation then checks each name
        and skip, and the architecture builds on its own."""
        every_op = (Token("op", OPERATIONS),)
        return SearchSpace(
            arch.space, arch.num_layers, every_op, True, arch.channels, arch.reductions, arch.op_settings
        )

    def rows(self, arch: Architecture) -> list[tuple[str, ...]]:
        """(layer, operation (with the setting it reads), width, skips), layers numbered L1, L2, ... from 1."""
        settings = dict(arch.op_settings)
        return [
            (f"L{i + 1}", operation_label(layer.op, settings), str(w), skip_names(layer.inputs))
            for i, (layer, w) in enumerate(zip(arch.layers, widths(arch)))
        ]

    def notes(self, arch: Architecture) -> dict[int, str]:
        """A line after each reduction: it halves the maps and doubles the final form's width."""
        width = widths(arch)
        return {
            i: f"-- reduce x2 after layer {i + 1}: half the height and width, {width[i]} -> {2 * width[i]} wide"
            for i in arch.reductions
        }

    def baseline(self, space: SearchSpace) -> Architecture:
        """A ResNet-like network: every layer conv3x3 (or the nearest operation the space offers), and every layer
        from the second on takes a skip from the output two before its own input (layer i+1 reads output i and
        skips from output i-1, 0 the stem), as a residual block joins x and op(x); no skips where the space
        searches none."""
        op = nearest_choice(space.token("op"), PLAIN_OPERATIONS)
        inputs = [[i - 1] if i and space.skips else [] for i in range(space.num_layers)]
        return space.architecture([{"op": op}] * space.num_layers, inputs)

    def summary(self, arch: Architecture) -> str:
        """`sep3x3 | conv5x5+0,1 /2 | ...`: the operation, `+` its skips (0 the stem, j layer j), `/2` a reduction."""
        parts = []
        for i, layer in enumerate(arch.layers):
            skips = "+" + ",".join(str(j) for j in layer.inputs) if layer.inputs else ""
            parts.append(layer.op + skips + (" /2" if i in arch.reductions else ""))
        return " | ".join(parts)
