"""The benchmarks `bench/device.sh` runs on a GPU machine, run tiny on the CPU.

Device time is minutes per session: a benchmark that broke since it last ran (a config that became a pydantic
model, a split already on the device) costs a whole call there. Here each runs its smallest form and its JSON
is checked for figures a measurement produces."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run_bench(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_pipeline_bench_measures_the_loop_the_compute_limit_and_torchvision(tmp_path):
    out = tmp_path / "pipeline.json"
    _run_bench("pipeline.py", "--steps", "2", "--rounds", "1", "--threads", "1", "--json", str(out))
    figures = json.loads(out.read_text())
    assert all(figures[k] > 0 for k in "abc")
    assert figures["a_over_b"] == figures["a"] / figures["b"]  # one round: its ratio is the ratio of its rates
    assert figures["device"] == "cpu" and figures["batch_size"] == 128


def test_packing_bench_trains_every_child_at_each_level_through_processes(tmp_path):
    out = tmp_path / "packing.json"
    _run_bench(
        "packing.py",
        "--launcher",
        "processes",
        "--children",
        "2",
        "--train",
        "128",
        "--val",
        "64",
        "--epochs",
        "1",
        "--levels",
        "1,2",
        "--json",
        str(out),
    )
    levels = json.loads(out.read_text())["levels"]
    assert sorted(levels) == ["1", "2"]
    for figures in levels.values():
        assert figures["failed"] == 0
        assert figures["wall_seconds"] > 0 and figures["child_seconds"] > 0
        assert figures["children_per_hour"] == 2 / figures["wall_seconds"] * 3600


# ----- bench/nb201_proxy.py --------------------------------------------------------------------------------


def _proxy_module():
    sys.path.insert(0, str(REPO / "bench"))
    import nb201_proxy

    return nb201_proxy


def test_nb201_proxy_draws_one_cell_per_stratum_of_the_ranking_the_same_for_the_same_seed():
    from nasrl.benchmarks import load_table

    proxy, table = _proxy_module(), load_table("nb201", "cifar10")
    ranked = proxy.ranked_cells(table)
    assert [table.entries[c].test_acc for c in ranked] == sorted(
        (e.test_acc for e in table.entries.values()), reverse=True
    )
    cells = proxy.stratified_cells(table, 7, seed=3)
    assert cells == proxy.stratified_cells(table, 7, seed=3) != proxy.stratified_cells(table, 7, seed=4)
    position = {c: i for i, c in enumerate(ranked)}
    n = len(ranked)
    assert all(i * n // 7 <= position[c] < (i + 1) * n // 7 for i, c in enumerate(cells))
    order = proxy.spread_order(30)
    assert sorted(order) == list(range(30)) and order[:4] == [0, 15, 7, 22]  # any prefix spans the table


def test_nb201_proxy_resumes_and_prints_the_hand_computed_agreement(tmp_path, monkeypatch, capsys):
    """A rerun trains nothing; the printed row is tau, rho and the top-10% overlap of the stored accuracies."""
    stats = pytest.importorskip("scipy.stats")
    from nasrl.benchmarks import load_table

    proxy, table, out = _proxy_module(), load_table("nb201", "cifar10"), tmp_path / "proxy.json"
    argv = ["nb201_proxy.py", "--data", "synthetic", "--cells", "4", "--budgets", "8:256:2", "--val-images", "60"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(out)])
    proxy.main()
    first, stored = capsys.readouterr().out, out.read_text()
    proxy.main()
    second = capsys.readouterr().out
    assert "4 trainings" in first and "0 trainings" in second and out.read_text() == stored
    cells = proxy.stratified_cells(table, 4, seed=0)
    done = json.loads(stored)["budgets"]["8:256:2"]
    assert sorted(done) == sorted(cells)
    acc = [done[c]["val_acc"] for c in cells]
    valid = [table.entries[c].reward_acc for c in cells]
    test = [table.entries[c].test_acc for c in cells]  # best first: the strata's order
    row = next(line for line in second.splitlines() if line.startswith("| 8:256:2"))
    fields = [f.strip() for f in row.strip("|").split("|")]
    assert fields[:2] == ["8:256:2", "4"]
    assert float(fields[2]) == pytest.approx(sum(d["seconds"] for d in done.values()) / 60, abs=0.05)
    expected = [
        sum(acc) / 4,
        stats.kendalltau(acc, valid).statistic,
        stats.spearmanr(acc, valid).statistic,
        stats.kendalltau(acc, test).statistic,
        stats.spearmanr(acc, test).statistic,
    ]
    for printed, value in zip(fields[3:8], expected):
        assert printed == "nan" if value != value else float(printed) == pytest.approx(value, abs=5e-4)
    upper = stats.kendalltau(acc[:2], test[:2]).statistic  # 4 strata: the first 2 are the table's top half
    assert fields[8] == (f"{upper:.3f} (2)" if upper == upper else "nan (2)")
    best_by_proxy = max(range(4), key=lambda i: (acc[i], -i))  # top 10% of 4 cells: 1 cell; the table's is cells[0]
    assert float(fields[9]) == (1.0 if best_by_proxy == 0 else 0.0)
    reference = next(line for line in second.splitlines() if line.startswith("| NB201 valid-12ep"))
    assert [f.strip() for f in reference.strip("|").split("|")][4:6] == ["1.000", "1.000"]


def test_nb201_constrained_bench_prints_regret_and_no_best_over_the_limit():
    out = _run_bench(
        "nb201_constrained.py",
        "--strategies",
        "random",
        "local:1",
        "--seeds",
        "0-1",
        "--budgets",
        "20",
        "--shares",
        "0.25",
        "--workers",
        "1",
    )
    assert "at most 382,886 parameters (25% of the largest cell; 9604 cells within): constrained optimum 93.60" in out
    lines = [line for line in out.splitlines() if "20 archs" in line]
    assert len(lines) == 2 and all("over the limit 0/2" in line and "regret" in line for line in lines)


def test_latency_bench_ranks_the_cells_it_times():
    out = _run_bench("latency.py", "--cells", "3", "--repeats", "2", "--batch", "1", "--seconds", "0.01")
    assert "3 cells x 2 repeats on CPU, 1 thread(s)" in out and "Kendall tau between repeats" in out
