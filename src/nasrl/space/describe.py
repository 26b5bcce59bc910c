"""Architectures as text a person reads: the layer table used by `show`, the log and the summary.

What a row holds is the family's (`Family.columns`, `.rows`, `.notes`, `.summary`): Zoph-style layers show their
geometry (kernel, filters, stride, pool, inputs); macro layers (ENAS) their operation, the width the final form
gives the layer (doubling after each reduction) and the skips, with a line wherever a reduction halves the maps.
This module lays the family's rows out, the same way for every family."""

from __future__ import annotations

from nasrl.space.families.macro import COLUMNS as MACRO_COLUMNS
from nasrl.space.families.macro import skip_names
from nasrl.space.families.macro import widths as macro_widths
from nasrl.space.families.zoph import COLUMNS as ZOPH_COLUMNS
from nasrl.space.search_space import Architecture

__all__ = [
    "MACRO_COLUMNS",
    "ZOPH_COLUMNS",
    "dna_string",
    "layer_columns",
    "layer_rows",
    "layer_table",
    "macro_widths",
    "skip_names",
]


def layer_columns(arch: Architecture) -> tuple[str, ...]:
    """The header of `layer_rows(arch)`: each family has its own columns."""
    return arch.family.columns


def layer_rows(arch: Architecture) -> list[tuple[str, ...]]:
    """One row per layer, layers numbered from 1 as in the paper: (layer, kernel, filters, stride, pool, inputs) for
    a Zoph-style architecture, (layer, operation, width, skips) for a macro one."""
    return arch.family.rows(arch)


def layer_table(arch: Architecture) -> str:
    """The rows of `layer_rows` aligned under their header, with the family's notes (a macro table's reductions)
    after their layers."""
    header = layer_columns(arch)
    rows = [header, *layer_rows(arch)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    # Layer i's row is line i + 2; insert from the last so earlier positions stay put.
    for i, note in sorted(arch.family.notes(arch).items(), reverse=True):
        lines.insert(i + 3, note)
    return "\n".join(lines)


def dna_string(arch: Architecture) -> str:
    """A one-line summary such as `3x3/36<img | 3x3/48<1 | ...` for logs and tables; a macro architecture's reads
    `sep3x3 | conv5x5+0,1 /2 | ...`: the operation, `+` its skips (0 the stem, j layer j), `/2` a reduction after."""
    return arch.family.summary(arch)
