"""The benchmark evaluator: each child's reward read from a tabular benchmark (NAS-Bench-201), no training.

NATS-Bench's protocol (Dong et al. 2021, section 5; D-X-Y/AutoDL-Projects `exps/NATS-algos/`): a search sees each
cell's 12-epoch validation accuracy (its reward here), and is judged by the 200-epoch test accuracy of the cell it
finds, which the child's row stores (`test_acc`) and no strategy ever reads. A study of strategies on real
accuracies then takes seconds; `--max-evaluations` gives its budget in distinct architectures.
"""

from __future__ import annotations

from typing import Any

from nasrl.benchmarks import BENCHMARKS, BenchmarkTable, load_table
from nasrl.benchmarks.costs import DATASET_GEOMETRY
from nasrl.config import SearchConfig
from nasrl.run.records import ChildResult
from nasrl.search.costs import Geometry, shipped_counts
from nasrl.search.evaluators.data import SearchData
from nasrl.search.evaluators.registry import register_evaluator
from nasrl.space import Architecture


@register_evaluator
class BenchmarkEvaluator:
    """Reward = the table's 12-epoch validation accuracy of the cell; its 200-epoch test accuracy stored beside."""

    name = "benchmark"
    summary = "look each child up in a tabular benchmark (--benchmark nb201): real accuracies, no training"
    needs_data = False
    trains_children = False
    shares_weights = False
    reward_fields = {
        "benchmark": "search different benchmarks",
        "benchmark_dataset": "are rewarded on different data sets",
        "benchmark_table": "read different tables",
    }

    @staticmethod
    def describe(cfg: dict[str, Any]) -> str:
        table = f", table {cfg['benchmark_table']}" if cfg.get("benchmark_table") else ""
        return (
            f"the {cfg.get('benchmark', '?')} benchmark on {cfg.get('benchmark_dataset', '?')}{table}: reward = the "
            "12-epoch validation accuracy; the 200-epoch test accuracy is stored, never seen by the strategy"
        )

    @staticmethod
    def fixed_space(flat: dict[str, Any]) -> str | None:
        """The space every architecture of the benchmark belongs to (a search of it searches that space)."""
        name = flat.get("benchmark", "nb201")
        return BENCHMARKS[name].space if name in BENCHMARKS else None

    @staticmethod
    def geometry_of(flat: dict[str, Any]) -> Geometry:
        """The network of the data set whose accuracies answer (its classes and image side)."""
        return Geometry(*DATASET_GEOMETRY[flat.get("benchmark_dataset", "cifar10")])

    def __init__(self, table: BenchmarkTable) -> None:
        self.table = table
        self.key = BENCHMARKS[table.benchmark].key
        #: The best held-out accuracy any architecture has: a run's regret is measured against it.
        self.test_optimum = table.optimum / 100
        #: The network the table's figures are of: its data set's classes and image side (costs are counted on it).
        self.geometry = Geometry(*DATASET_GEOMETRY[table.dataset])

    @classmethod
    def build(cls, cfg: SearchConfig, data: SearchData | None, progress: Any) -> tuple[BenchmarkEvaluator, str]:
        """The evaluator and the log's sentence on what it answers from."""
        settings = cfg.evaluator
        table = load_table(settings.benchmark, settings.benchmark_dataset, settings.benchmark_table)
        note = (
            f"Evaluator: benchmark {table.benchmark} on {table.dataset} ({len(table.entries)} architectures from "
            f"{table.source}; reward = 12-epoch validation accuracy, optimum test accuracy {table.optimum:.2f})"
        )
        return cls(table), note

    def evaluate(self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None) -> ChildResult:
        entry = self.table.lookup(self.key(arch))
        reward = entry.reward_acc / 100
        counts = shipped_counts(arch, self.geometry)  # nasrl's network's size, for the front and `nasrl best`
        params, flops = counts if counts is not None else (None, None)
        return ChildResult(reward=reward, val_acc=reward, params=params, flops=flops, test_acc=entry.test_acc / 100)
