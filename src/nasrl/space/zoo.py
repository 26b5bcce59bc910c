"""Named architectures, as data: `builder.build` makes every one of them (timm's registry idea)."""

from __future__ import annotations

from nasrl.errors import UserError
from nasrl.space.search_space import Architecture

# Zoph & Le (2017), appendix: the 15-layer CIFAR-10 network found without strides or pooling.
# Rows are (filter height, filter width, filters, inputs as 1-based layer numbers; empty = the image).
_NASCNN15 = [
    (3, 3, 36, []),
    (3, 3, 48, [1]),
    (3, 3, 36, [1, 2]),
    (5, 5, 36, [1, 2, 3]),
    (3, 7, 48, [3, 4]),
    (7, 7, 48, [2, 3, 4, 5]),
    (7, 7, 48, [2, 3, 4, 5, 6]),
    (7, 3, 36, [1, 6, 7]),
    (7, 1, 36, [1, 5, 6, 8]),
    (7, 7, 36, [1, 3, 4, 5, 6, 7, 8, 9]),
    (5, 7, 36, [1, 2, 5, 6, 7, 8, 9, 10]),
    (7, 7, 48, [1, 2, 3, 4, 6, 11]),
    (7, 5, 48, [1, 3, 6, 7, 8, 9, 10, 11, 12]),
    (7, 5, 48, [3, 7, 12, 13]),
    (7, 5, 48, [6, 7, 11, 12, 13, 14]),
]


def _zoph(rows: list[tuple[int, int, int, list[int]]]) -> Architecture:
    values = [{"filter_height": h, "filter_width": w, "filters": f} for h, w, f, _ in rows]
    inputs = [[j - 1 for j in ins] for *_, ins in rows]
    return Architecture.from_layers("zoph", values, inputs)


NASCNN15 = _zoph(_NASCNN15)

# The seed project's default DNA: a small plain chain, useful as a quick baseline.
SEED_BASELINE = Architecture.from_dna([[3, 64, 1, 1], [3, 64, 1, 2], [5, 128, 1, 1], [3, 128, 1, 2]])

ZOO: dict[str, Architecture] = {"nascnn15": NASCNN15, "seed-baseline": SEED_BASELINE}


def get(name: str) -> Architecture:
    """A named architecture; the name is case-insensitive."""
    key = name.lower()
    if key not in ZOO:
        raise UserError(f"Unknown architecture '{name}': use one of {', '.join(ZOO)} or a path to a JSON file.")
    return ZOO[key]
