"""Architectures as text a person reads: the layer table used by `show`, the log and the summary.

Zoph-style layers show their geometry (kernel, filters, stride, pool, inputs). Macro layers (ENAS) have one
operation each, so they show the operation, the width the final form gives the layer (doubling after each
reduction) and the skips, with a line wherever a reduction halves the maps."""

from __future__ import annotations

from nasrl.space.search_space import Architecture

ZOPH_COLUMNS = ("layer", "kernel", "filters", "stride", "pool", "inputs")
MACRO_COLUMNS = ("layer", "operation", "width", "skips")


def layer_columns(arch: Architecture) -> tuple[str, ...]:
    """The header of `layer_rows(arch)`: macro and Zoph architectures have different columns."""
    return MACRO_COLUMNS if arch.macro else ZOPH_COLUMNS


def layer_rows(arch: Architecture) -> list[tuple[str, ...]]:
    """(layer, kernel, filters, stride, pool, inputs) per layer, layers numbered from 1 as in the paper; for a
    macro architecture (layer, operation, width, skips), see `macro_rows`."""
    if arch.macro:
        return macro_rows(arch)
    rows = []
    for i, layer in enumerate(arch.layers):
        kh, kw = layer.kernel
        sh, sw = layer.stride
        inputs = ",".join(f"C{j + 1}" for j in layer.inputs) or "image"
        rows.append((f"C{i + 1}", f"{kh}x{kw}", str(layer.filters), f"{sh}x{sw}", str(layer.pool), inputs))
    return rows


def macro_widths(arch: Architecture) -> list[int]:
    """Each macro layer's width in the final form (the one `nasrl show` counts and `nasrl train` retrains): the
    architecture's channels, doubled after each reduction, as `nets.macro.MacroBody` builds it."""
    widths, width = [], int(arch.channels or 0)
    for i in range(arch.num_layers):
        widths.append(width)
        width *= 2 if i in arch.reductions else 1
    return widths


def skip_names(inputs: tuple[int, ...]) -> str:
    """A macro layer's skips by name: 0 is the stem, j layer j (1-based, `Layer`'s macro indexing); '-' for none."""
    return ",".join("stem" if j == 0 else f"L{j}" for j in inputs) or "-"


def macro_rows(arch: Architecture) -> list[tuple[str, ...]]:
    """(layer, operation, width, skips) per macro layer, layers numbered L1, L2, ... from 1."""
    widths = macro_widths(arch)
    return [
        (f"L{i + 1}", layer.op, str(w), skip_names(layer.inputs))
        for i, (layer, w) in enumerate(zip(arch.layers, widths))
    ]


def layer_table(arch: Architecture) -> str:
    """The rows of `layer_rows` aligned under their header; a macro table gets a line after each reduction."""
    header = layer_columns(arch)
    rows = [header, *layer_rows(arch)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if arch.macro:
        # The table's rows start at line 2; insert from the last so earlier positions stay put.
        width = macro_widths(arch)
        for i in sorted(arch.reductions, reverse=True):
            lines.insert(
                i + 3, f"-- reduce x2 after layer {i + 1}: half the height and width, {width[i]} -> {2 * width[i]} wide"
            )
    return "\n".join(lines)


def dna_string(arch: Architecture) -> str:
    """A one-line summary such as `3x3/36<img | 3x3/48<1 | ...` for logs and tables; a macro architecture's reads
    `sep3x3 | conv5x5+0,1 /2 | ...`: the operation, `+` its skips (0 the stem, j layer j), `/2` a reduction after."""
    if arch.macro:
        return " | ".join(_macro_part(arch, i) for i in range(arch.num_layers))
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


def _macro_part(arch: Architecture, i: int) -> str:
    layer = arch.layers[i]
    skips = "+" + ",".join(str(j) for j in layer.inputs) if layer.inputs else ""
    return layer.op + skips + (" /2" if i in arch.reductions else "")
