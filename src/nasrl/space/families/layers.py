"""The codec of layer-by-layer families: architectures to and from the token sequence the strategies see.

Zoph & Le (2017, section 3) emit an architecture layer by layer: one choice per token, then (when the space
searches skips) one anchor step of a bit per earlier layer. The zoph, dna and macro families all read their layers
this way, so they share `encode_layers` and `decode_layers`; what differs (a chain or no wiring without skips, the
geometry a macro architecture carries) is the family's `architecture` and `validate`, which the codec calls.

torch is imported only when encoding, so reading spaces and architectures (config, `show --json`, reports) stays
free of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nasrl.space.search_space import Decisions, check_geometry, check_layers

if TYPE_CHECKING:
    from nasrl.space.search_space import Architecture, SearchSpace, Token, Value


class LayerFamily:
    """What the layer-by-layer families share: this codec, and validation of each layer's choices and skips with
    the family's own wiring of a layer in a space without skips (`unskipped`)."""

    unskipped: Callable[[int], tuple[int, ...]]

    def encode(self, space: SearchSpace, architectures: Sequence[Architecture]) -> Decisions:
        return encode_layers(space, architectures)

    def decode(self, space: SearchSpace, decisions: Decisions) -> list[Architecture]:
        return decode_layers(space, decisions)

    def json_extra(self, arch: Architecture) -> dict:
        return {}

    def validate(self, arch: Architecture, space: SearchSpace) -> Architecture:
        check_layers(arch, space, unskipped=type(self).unskipped)
        return check_geometry(arch, space)


def decode_layers(space: SearchSpace, decisions: Decisions) -> list[Architecture]:
    """Index tensors -> `Architecture` values (inputs sorted; without skips the family's default wiring)."""
    tokens = decisions.tokens.tolist()
    skips = decisions.skips.tolist() if decisions.skips is not None else None
    archs = []
    for b, layers in enumerate(tokens):
        values = [{tok.name: tok.choices[idx] for tok, idx in zip(space.tokens, layer)} for layer in layers]
        inputs = None
        if skips is not None:
            inputs = [[j for j in range(i) if skips[b][i][j] > 0.5] for i in range(len(layers))]
        archs.append(space.architecture(values, inputs))
    return archs


def encode_layers(space: SearchSpace, architectures: Sequence[Architecture]) -> Decisions:
    """`Architecture` values of one depth -> index tensors (the inverse of `decode_layers`), each validated against
    the space at that depth first."""
    import torch

    num_layers = architectures[0].num_layers
    depth_space = space.with_layers(num_layers)
    skips = torch.zeros(len(architectures), num_layers, num_layers) if space.skips else None
    rows = []
    for b, arch in enumerate(architectures):
        arch.validate(depth_space)
        rows.append([[tok.index(layer[tok.name]) for tok in space.tokens] for layer in arch.layers])
        if skips is not None:
            for i, layer in enumerate(arch.layers):
                for j in layer.inputs:
                    skips[b, i, j] = 1.0
    tokens = torch.tensor(rows, dtype=torch.long).view(len(architectures), num_layers, len(space.tokens))
    return Decisions(tokens, skips)


def nearest_choice(token: Token, wanted: Sequence[Value]) -> Value:
    """The first of `wanted` (most preferred first) that the token offers; for numbers, else the choice nearest to
    the first one (the smaller on a tie); for names, else the token's first choice. A family's `baseline` asks for
    3x3 kernels and a space may offer only 1 and 5: it gets the nearest rather than an invalid architecture."""
    for value in wanted:
        if value in token.choices:
            return value
    numbers = [c for c in token.choices if isinstance(c, int)]
    if wanted and isinstance(wanted[0], int) and numbers:
        return min(numbers, key=lambda c: (abs(c - wanted[0]), c))
    return token.choices[0]
