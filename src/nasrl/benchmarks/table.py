"""One tabular benchmark's figures in memory: a cell's search reward and its held-out accuracy, by its key.

A table is a gzipped (or plain) CSV with one row per architecture: a key column (NAS-Bench-201's `arch`, the cell
string) and, per data set, the accuracy a search may see (`<dataset>_valid_12ep`: NATS-Bench's reward, the 12-epoch
validation accuracy) and the one it never sees (`<dataset>_test_200ep`: the 200-epoch test accuracy papers report).
The shipped table's sha256 is checked on every load, so a damaged install never answers a search with wrong figures.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from nasrl.errors import UserError
from nasrl.space import Architecture
from nasrl.space.families.nb201 import cell_string


@dataclass(frozen=True)
class Entry:
    """One architecture's figures on one data set, in percent as the benchmark publishes them."""

    reward_acc: float
    test_acc: float


@dataclass(frozen=True)
class Benchmark:
    """A shipped benchmark: its space, its file in this package with the sha256 it must have, its data sets, and
    how an architecture becomes the table's key."""

    name: str
    space: str
    file: str
    sha256: str
    datasets: tuple[str, ...]
    key: Callable[[Architecture], str]
    key_column: str = "arch"
    reward_column: str = "{dataset}_valid_12ep"
    test_column: str = "{dataset}_test_200ep"


BENCHMARKS: dict[str, Benchmark] = {
    "nb201": Benchmark(
        name="nb201",
        space="nb201",
        file="nb201.csv.gz",
        sha256="f0328016a5e05100e47169d769391ece1bb9080eef857e80added5313477cb8a",
        datasets=("cifar10", "cifar100", "imagenet16"),
        key=cell_string,
    )
}


@dataclass(frozen=True)
class BenchmarkTable:
    """A benchmark's figures on one data set: `entries[key]`, and the best test accuracy any architecture has."""

    benchmark: str
    dataset: str
    entries: dict[str, Entry]
    source: str

    @property
    def optimum(self) -> float:
        """The highest held-out accuracy in the table (NAS-Bench-201's CIFAR-10: 94.37)."""
        return max(e.test_acc for e in self.entries.values())

    def lookup(self, key: str) -> Entry:
        if key not in self.entries:
            raise UserError(f"{key} is not in the {self.benchmark} table ({self.source}): check the table's rows.")
        return self.entries[key]


def test_outcome(test_acc: float, optimum: float | None) -> str:
    """`94.37, regret 0.00 to the optimum 94.37`: a found child's held-out accuracy and regret (fractions in,
    percent out, as benchmarks publish them)."""
    text = f"{100 * test_acc:.2f}"
    if optimum is not None:
        text += f", regret {100 * (optimum - test_acc):.2f} to the optimum {100 * optimum:.2f}"
    return text


def table_summary(cell: str, dataset: str = "cifar10") -> dict[str, float | str]:
    """What full training makes of an NAS-Bench-201 cell found some other way (a train-evaluator search): its
    200-epoch test and 12-epoch validation accuracy on `dataset`, beside the table's best and median cell, so a
    figure from a cheap proxy can be read against the whole space. Percent, as the table publishes them."""
    table = load_table("nb201", dataset)
    entry = table.lookup(cell)
    return {
        "dataset": dataset,
        "test_200ep": entry.test_acc,
        "valid_12ep": entry.reward_acc,
        "optimum": table.optimum,
        "median": statistics.median(e.test_acc for e in table.entries.values()),
    }


def load_table(benchmark: str, dataset: str, path: str | None = None) -> BenchmarkTable:
    """The shipped table of `benchmark` (its sha256 checked), or a user's own at `path` in the same columns."""
    if benchmark not in BENCHMARKS:
        raise UserError(f"Unknown benchmark '{benchmark}': choose one of {', '.join(BENCHMARKS)}.")
    spec = BENCHMARKS[benchmark]
    if dataset not in spec.datasets:
        raise UserError(f"{benchmark} has no data set '{dataset}': choose one of {', '.join(spec.datasets)}.")
    return _load(benchmark, dataset, str(Path(path).expanduser().resolve()) if path else None)


@lru_cache(maxsize=8)
def _load(benchmark: str, dataset: str, path: str | None) -> BenchmarkTable:
    spec = BENCHMARKS[benchmark]
    if path is None:
        raw = resources.files("nasrl.benchmarks").joinpath(spec.file).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != spec.sha256:
            raise UserError(
                f"nasrl's copy of the {benchmark} table has sha256 {digest[:12]}..., not {spec.sha256[:12]}...: "
                "reinstall nasrl (pip install --force-reinstall nasrl)."
            )
        source = f"nasrl's {spec.file}"
    else:
        if not Path(path).is_file():
            raise UserError(f"No benchmark table at {path}: check --benchmark-table.")
        raw, source = Path(path).read_bytes(), path
    return BenchmarkTable(benchmark, dataset, _entries(spec, dataset, raw, source), source)


def _entries(spec: Benchmark, dataset: str, raw: bytes, source: str) -> dict[str, Entry]:
    """The table's rows for `dataset`; a missing column or an unreadable number is one sentence naming it."""
    try:
        text = gzip.decompress(raw).decode("utf-8") if raw[:2] == b"\x1f\x8b" else raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise UserError(f"{source} is not a readable CSV table ({e}): give a .csv or .csv.gz file.") from None
    reader = csv.DictReader(io.StringIO(text))
    reward, test = spec.reward_column.format(dataset=dataset), spec.test_column.format(dataset=dataset)
    missing = [c for c in (spec.key_column, reward, test) if c not in (reader.fieldnames or [])]
    if missing:
        raise UserError(
            f"{source} has no column '{missing[0]}': a {spec.name} table needs {spec.key_column}, {reward} and {test}."
        )
    entries = {}
    for line, row in enumerate(reader, start=2):
        try:
            entries[row[spec.key_column]] = Entry(float(row[reward]), float(row[test]))
        except (TypeError, ValueError):
            raise UserError(f"{source}, line {line}: '{row[reward]}' or '{row[test]}' is not a number.") from None
    if not entries:
        raise UserError(f"{source} holds no rows: give a table with one row per architecture.")
    return entries
