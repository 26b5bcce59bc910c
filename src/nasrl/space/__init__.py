"""Search spaces and architectures as plain data: tokens per layer, skips, presets, validation, hashes, JSON.

`search_space` holds the types and presets, `zoo` the named architectures (NASCNN15), `describe` their text
forms, `files` reading them from names, JSON files and run folders.
"""

from nasrl.space.search_space import (
    DEFAULT_LAYERS,
    DNA_ORDER,
    MACRO_CHANNELS,
    OPERATIONS,
    PRESET_TOKENS,
    Architecture,
    ArchitectureError,
    Layer,
    SearchSpace,
    Token,
    Value,
    enas_reductions,
    preset,
    uniform_entropy,
)

__all__ = [
    "DEFAULT_LAYERS",
    "DNA_ORDER",
    "MACRO_CHANNELS",
    "OPERATIONS",
    "PRESET_TOKENS",
    "Architecture",
    "ArchitectureError",
    "Layer",
    "SearchSpace",
    "Token",
    "Value",
    "enas_reductions",
    "preset",
    "uniform_entropy",
]
