"""Zoph & Le (2017): every layer is a convolution whose geometry the tokens set (filter height, filter width,
filters; in the paper's second setting the strides too), and anchor points choose its inputs among earlier layers
(section 3.3), concatenated. Without skips the layers form a chain.

Any geometry token of `Layer` (kernel, filters, stride, pool, ...) may appear, so a user's YAML space of geometry
tokens is a Zoph space too; the seed project's DNA form (`dna`) shares these rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from nasrl.space.families.layers import LayerFamily, nearest_choice
from nasrl.space.search_space import (
    Architecture,
    SearchSpace,
    Token,
    Value,
    register_family,
)

KERNELS = (1, 3, 5, 7)
#: The paper's CIFAR-10 tokens (section 4.1): filter height and width in {1, 3, 5, 7}, filters in {24, 36, 48, 64}.
TOKENS = (Token("filter_height", KERNELS), Token("filter_width", KERNELS), Token("filters", (24, 36, 48, 64)))
#: The paper's second setting searches the strides too, in {1, 2, 3}.
STRIDE_TOKENS = (Token("stride_height", (1, 2, 3)), Token("stride_width", (1, 2, 3)))

COLUMNS = ("layer", "kernel", "filters", "stride", "pool", "inputs")


#: What a plain network asks of each geometry token besides `filters`: 3x3 kernels, stride 1, no pooling.
PLAIN_GEOMETRY: dict[str, int] = {
    "kernel": 3,
    "filter_height": 3,
    "filter_width": 3,
    "stride": 1,
    "stride_height": 1,
    "stride_width": 1,
    "pool": 1,
}


def plain_chain(space: SearchSpace, filters: Callable[[Token], Value]) -> Architecture:
    """A chain of `space.num_layers` identical layers: `PLAIN_GEOMETRY` (or the nearest choices), `filters` the
    choice `filters` picks of the space's filter counts; any other token its first choice. No skips."""
    layer: dict[str, Value] = {}
    for token in space.tokens:
        if token.name == "filters":
            layer[token.name] = filters(token)
        else:
            wanted = PLAIN_GEOMETRY.get(token.name)
            layer[token.name] = nearest_choice(token, [] if wanted is None else [wanted])
    return space.architecture([layer] * space.num_layers)


def chained(i: int) -> tuple[int, ...]:
    """What layer i reads in a space without skips: the previous layer (the first reads the image)."""
    return (i - 1,) if i else ()


@register_family
class ZophFamily(LayerFamily):
    """Geometry tokens per layer, inputs concatenated; built by `nets.geometry`."""

    name = "zoph"
    network = "geometry"
    unskipped = staticmethod(chained)
    columns = COLUMNS
    spaces: tuple[str, ...] = ()

    def recognises(self, channels: int | None) -> bool:
        return channels is None  # a width is what a macro architecture carries

    def architecture(
        self, space: SearchSpace, values: Sequence[Mapping[str, Value]], inputs: Sequence[Sequence[int]] | None
    ) -> Architecture:
        return Architecture.from_layers(space.name, values, inputs)  # no inputs: a chain

    def resize(self, space: SearchSpace, num_layers: int) -> SearchSpace:
        return replace(space, num_layers=num_layers)

    def space_of(self, arch: Architecture) -> SearchSpace | None:
        return None  # geometry tokens have no closed list of choices: only the space's file knows them

    def rows(self, arch: Architecture) -> list[tuple[str, ...]]:
        """(layer, kernel, filters, stride, pool, inputs), layers numbered from 1 as in the paper."""
        rows = []
        for i, layer in enumerate(arch.layers):
            kh, kw = layer.kernel
            sh, sw = layer.stride
            inputs = ",".join(f"C{j + 1}" for j in layer.inputs) or "image"
            rows.append((f"C{i + 1}", f"{kh}x{kw}", str(layer.filters), f"{sh}x{sw}", str(layer.pool), inputs))
        return rows

    def notes(self, arch: Architecture) -> dict[int, str]:
        return {}

    def baseline(self, space: SearchSpace) -> Architecture:
        """The plain chain a user would train without searching: every layer 3x3, stride 1, no pooling, with the
        widest filter choice, each reading the previous one, at the space's depth."""
        return plain_chain(space, lambda token: max(token.choices))

    def summary(self, arch: Architecture) -> str:
        """`3x3/36<img | 3x3/48<1 | ...`: kernel/filters, stride and pool when not 1, `<` the inputs (1-based)."""
        parts = []
        for layer in arch.layers:
            kh, kw = layer.kernel
            text = f"{kh}x{kw}/{layer.filters}"
            if layer.stride != (1, 1):
                text += f" s{layer.stride[0]}x{layer.stride[1]}"
            if layer.pool > 1:
                text += f" p{layer.pool}"
            parts.append(text + "<" + (",".join(str(j + 1) for j in layer.inputs) or "img"))
        return " | ".join(parts)
