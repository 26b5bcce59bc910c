"""Weight sharing checked against ground truth, with no training: NAS-Bench-201's table ranks every cell.

On the nb201 space, `nasrl derive` (and the end of a weight-sharing search) scores at least `--table-check-cells`
(200) distinct cells with the shared weights (the final policy's samples, then uniformly random cells) and correlates
those accuracies with the table's: the 12-epoch validation accuracy (what a benchmark search is rewarded with) and
the 200-epoch test accuracy (what full training makes of a cell). The same hand-written Kendall tau-b and
Spearman rho as the stand-alone rank check (`rank_check`). The published figures it is read against: on
NAS-Bench-201's CIFAR-10, weight-sharing searches derive cells of 54.30 (ENAS, DARTS) and 87.66 +- 1.69 (random
sampling with shared weights), where the median cell is about 90.7 (Dong & Yang 2020, table 5).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nasrl.benchmarks.table import BenchmarkTable
from nasrl.search.rank_check import kendall_tau, spearman_rho
from nasrl.search.sharing import Derived
from nasrl.space.families.nb201 import cell_string


@dataclass
class TableCheck:
    """Shared-weight accuracy of each checked cell beside the table's, their agreement, and the derived cell."""

    dataset: str
    entries: list[dict[str, Any]]  # hash, cell, source, shared_acc, valid_12ep, test_200ep (percent)
    derived: dict[str, Any]
    optimum: float
    median: float

    def correlation(self, column: str) -> tuple[float, float]:
        """Kendall tau and Spearman rho between the shared-weight accuracy and the table's `column`."""
        shared = [e["shared_acc"] for e in self.entries]
        table = [e[column] for e in self.entries]
        return kendall_tau(shared, table), spearman_rho(shared, table)

    def as_dict(self) -> dict[str, Any]:
        tau, rho = self.correlation("test_200ep")
        tau_valid, rho_valid = self.correlation("valid_12ep")
        return {
            "benchmark": "nb201",
            "dataset": self.dataset,
            "kendall_tau": tau,
            "spearman_rho": rho,
            "kendall_tau_valid_12ep": tau_valid,
            "spearman_rho_valid_12ep": rho_valid,
            "derived": self.derived,
            "optimum": self.optimum,
            "median": self.median,
            "architectures": self.entries,
        }


def table_check(policy: Sequence[Derived], randoms: Sequence[Derived], table: BenchmarkTable) -> TableCheck:
    """Every distinct cell of `policy` (best first, as `derive` ranks them) and `randoms`, looked up in `table`;
    the derived cell is `policy[0]`."""
    entries: dict[str, dict[str, Any]] = {}
    for source, scored in (("policy", policy), ("random", randoms)):
        for d in scored:
            cell = cell_string(d.architecture)
            if cell in entries:
                continue
            entry = table.lookup(cell)
            entries[cell] = {
                "hash": d.architecture.hash(),
                "cell": cell,
                "source": source,
                "shared_acc": d.val_acc,
                "valid_12ep": entry.reward_acc,
                "test_200ep": entry.test_acc,
            }
    best = entries[cell_string(policy[0].architecture)]
    derived = {k: best[k] for k in ("cell", "shared_acc", "valid_12ep", "test_200ep")}
    median = statistics.median(e.test_acc for e in table.entries.values())
    return TableCheck(table.dataset, list(entries.values()), derived, table.optimum, median)
