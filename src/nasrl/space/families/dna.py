"""The seed project's DNA (VC-ARN): a plain chain of conv layers, each `[kernel, filters, stride, pool]`.

Its layers are Zoph-style geometry, so the family keeps the Zoph rules (encoding, validation, text); what it adds
is its tokens and its space, the one `Architecture.from_dna` / `.to_dna` (the list form the seed saved) read and
write. A value outside the choices is an error there, never clipped to the nearest choice as the seed did."""

from __future__ import annotations

from nasrl.space.families.zoph import KERNELS, ZophFamily, plain_chain
from nasrl.space.search_space import DNA_ORDER, DNA_SPACE, Architecture, SearchSpace, Token, register_family

TOKENS = (
    Token("kernel", KERNELS),
    Token("filters", (32, 64, 128, 256, 512)),
    Token("stride", (1, 2)),
    Token("pool", (1, 2, 3)),
)
__all__ = ["DNA_ORDER", "DNA_SPACE", "TOKENS", "DnaFamily", "space"]


def space(num_layers: int) -> SearchSpace:
    """The `dna` space at `num_layers` layers: the seed's tokens, a plain chain (the `dna` preset's choices)."""
    return SearchSpace(DNA_SPACE, num_layers, TOKENS, skips=False)


@register_family
class DnaFamily(ZophFamily):
    """The `dna` preset's family: Zoph geometry with the seed's tokens and no skips, plus the list form."""

    name = "dna"
    spaces = (DNA_SPACE,)

    def recognises(self, channels: int | None) -> bool:
        return False  # only the `dna` space is a DNA one; a user's geometry file is a Zoph space

    def space_of(self, arch: Architecture) -> SearchSpace | None:
        return space(arch.num_layers)

    def baseline(self, space: SearchSpace) -> Architecture:
        """A plain chain: every layer 3x3 at stride 1 without pooling, with the middle filter count of the space
        (128 of the seed's 32-512; the widest, 512, would make the yardstick 16 times as costly per layer)."""
        return plain_chain(space, lambda token: sorted(token.choices)[len(token.choices) // 2])
