"""The named search spaces, one record each: what `--space zoph` (and the others) means, in one table.

A preset names its family (`space.families`), which says how its architectures are encoded, checked and shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasrl.errors import UserError
from nasrl.space.families import dna, macro, nb201, zoph
from nasrl.space.search_space import SearchSpace, Token


@dataclass(frozen=True)
class Preset:
    """One named search space: its family, the choices per layer, and the depth and width it searches by default.

    `reductions` are at the default depth (0-based); ENAS's thirds move with the depth (`SearchSpace.with_layers`)."""

    name: str
    family: str
    tokens: tuple[Token, ...]
    layers: int
    skips: bool
    description: str
    channels: int | None = None
    reductions: tuple[int, ...] = ()

    def space(self, num_layers: int | None = None) -> SearchSpace:
        """The preset as a `SearchSpace`, at `num_layers` (default: its usual depth)."""
        space = SearchSpace(self.name, self.layers, self.tokens, self.skips, self.channels, self.reductions)
        return space if num_layers is None else space.with_layers(num_layers)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("zoph", "zoph", zoph.TOKENS, 15, True, "Zoph & Le 2017, CIFAR-10: strides fixed to 1, skips searched."),
        Preset(
            "zoph-stride",
            "zoph",
            zoph.TOKENS + zoph.STRIDE_TOKENS,
            15,
            True,
            "The paper's second setting: strides searched too.",
        ),
        Preset("dna", "dna", dna.TOKENS, 6, False, "The seed project's per-layer DNA, a plain chain without skips."),
        Preset(
            "enas-macro",
            "macro",
            macro.ENAS_TOKENS,
            12,
            True,
            "ENAS's macro space (Pham et al. 2018, section 2.3): one of six operations per layer and one skip bit "
            "per earlier output; 36 channels while searching, reductions at the thirds.",
            channels=macro.SEARCH_CHANNELS,
            reductions=macro.enas_reductions(12),
        ),
        Preset(
            "nb201",
            "nb201",
            nb201.TOKENS,
            len(nb201.EDGES),
            False,
            "NAS-Bench-201's cell (Dong & Yang 2020): one of five operations on each of six edges, 15,625 cells, "
            "in the benchmark's network of 3 stages of 5 cells.",
        ),
    )
}

# The views of the records that modules outside space/ import (config.py reads the first two).
#: Preset name -> (tokens, whether skips are searched).
PRESET_TOKENS: dict[str, tuple[tuple[Token, ...], bool]] = {p.name: (p.tokens, p.skips) for p in PRESETS.values()}
#: Preset name -> its usual depth.
DEFAULT_LAYERS: dict[str, int] = {p.name: p.layers for p in PRESETS.values()}
#: Macro preset name -> its width while searching.
MACRO_CHANNELS: dict[str, int] = {p.name: p.channels for p in PRESETS.values() if p.channels is not None}


def preset(name: str, num_layers: int | None = None) -> SearchSpace:
    """A named search space; `num_layers` defaults to the preset's usual depth."""
    if name not in PRESETS:
        raise UserError(f"Unknown search space '{name}': choose one of {', '.join(PRESETS)}.")
    return PRESETS[name].space(num_layers or None)


def _check_families(presets: dict[str, Preset]) -> None:
    """Each record's family is the one its space finds (`SearchSpace.family`), so the table cannot drift from the
    families' own claims."""
    for p in presets.values():
        found = p.space().family.name
        if found != p.family:
            raise ValueError(f"preset {p.name!r} names family {p.family!r}, but its space is family {found!r}")


_check_families(PRESETS)
