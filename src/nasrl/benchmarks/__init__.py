"""Tabular NAS benchmarks as shipped data: every architecture of a space, trained once by the benchmark's authors.

`table` reads and checks a table; `BENCHMARKS` names the ones nasrl ships (NAS-Bench-201's, `nb201.csv.gz`, with
its provenance in README.md beside it). `--evaluator benchmark` answers each child from one of them.
"""

from nasrl.benchmarks.table import BENCHMARKS, Benchmark, BenchmarkTable, Entry, load_table, test_outcome

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkTable", "Entry", "load_table", "test_outcome"]
