"""NAS-Bench-201's cells as nasrl builds them: each cell's parameter and FLOP counts, for each data set's network
(its classes and image size), shipped as `nb201_costs.csv.gz` beside the table.

`bench/nb201_constrained.py --write-costs` made the file (the command and its check are in README.md here): with
them a constrained search of the benchmark answers in microseconds, and the exact best cell under any limit is a
lookup (`bench/nb201_constrained.py`).
"""

from __future__ import annotations

import csv
import gzip
import io
from functools import lru_cache
from importlib import resources

from nasrl.errors import UserError

COSTS_FILE = "nb201_costs.csv.gz"
#: Each data set's network: (classes, input channels, image side). ImageNet16-120 is 16 px, 120 classes.
DATASET_GEOMETRY: dict[str, tuple[int, int, int]] = {
    "cifar10": (10, 3, 32),
    "cifar100": (100, 3, 32),
    "imagenet16": (120, 3, 16),
}


@lru_cache(maxsize=1)
def load_costs() -> dict[str, dict[str, tuple[int, int]]]:
    """cell string -> data set -> (parameters, FLOPs per image) of nasrl's network for that cell."""
    path = resources.files("nasrl").joinpath("benchmarks", COSTS_FILE)
    try:
        text = gzip.decompress(path.read_bytes()).decode()
    except (OSError, EOFError) as e:
        raise UserError(f"The shipped {COSTS_FILE} cannot be read ({e}): reinstall nasrl.") from None
    costs: dict[str, dict[str, tuple[int, int]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        costs[row["arch"]] = {d: (int(row[f"{d}_params"]), int(row[f"{d}_flops"])) for d in DATASET_GEOMETRY}
    return costs
