"""Architectures as text a person reads: the layer table used by `show`, the log and the summary."""

from __future__ import annotations

from nasrl.space.search_space import Architecture


def layer_rows(arch: Architecture) -> list[tuple[str, str, str, str, str, str]]:
    """(layer, kernel, filters, stride, pool, inputs) per layer, layers numbered from 1 as in the paper."""
    rows = []
    for i, layer in enumerate(arch.layers):
        kh, kw = layer.kernel
        sh, sw = layer.stride
        inputs = ",".join(f"C{j + 1}" for j in layer.inputs) or "image"
        rows.append((f"C{i + 1}", f"{kh}x{kw}", str(layer.filters), f"{sh}x{sw}", str(layer.pool), inputs))
    return rows


def layer_table(arch: Architecture) -> str:
    header = ("layer", "kernel", "filters", "stride", "pool", "inputs")
    rows = [header, *layer_rows(arch)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def dna_string(arch: Architecture) -> str:
    """A one-line summary such as `3x3/36<img | 3x3/48<1 | ...` for logs and tables."""
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
