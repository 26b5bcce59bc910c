"""Search spaces and architectures as plain data: tokens per layer, skips, presets, validation, hashes, JSON.

`search_space` holds the types, `families` the kinds of space (zoph, dna, macro: encoding, validation, text),
`presets` the named spaces, `zoo` the named architectures (NASCNN15), `describe` their text forms, `files` reading
them from names, JSON files and run folders.
"""

from nasrl.space.families import dna, macro, nb201, zoph  # noqa: F401  (each registers its family)
from nasrl.space.families.macro import OPERATIONS, enas_reductions
from nasrl.space.presets import DEFAULT_LAYERS, MACRO_CHANNELS, PRESET_TOKENS, PRESETS, Preset, preset
from nasrl.space.search_space import (
    DNA_ORDER,
    FAMILIES,
    Architecture,
    ArchitectureError,
    Decisions,
    Family,
    Layer,
    SearchSpace,
    Token,
    Value,
    family_of,
    register_family,
    uniform_entropy,
)

__all__ = [
    "DEFAULT_LAYERS",
    "DNA_ORDER",
    "FAMILIES",
    "MACRO_CHANNELS",
    "OPERATIONS",
    "PRESETS",
    "PRESET_TOKENS",
    "Architecture",
    "ArchitectureError",
    "Decisions",
    "Family",
    "Layer",
    "Preset",
    "SearchSpace",
    "Token",
    "Value",
    "enas_reductions",
    "family_of",
    "preset",
    "register_family",
    "uniform_entropy",
]
