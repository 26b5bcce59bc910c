"""The benchmark evaluator on NAS-Bench-201's table: lookups, the hidden test column, the budget in distinct
architectures, resume after kill -9, reports, and the errors a user can make."""

import csv
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from stored import rows

from nasrl.benchmarks import load_table
from nasrl.cli import main
from nasrl.config import make_config
from nasrl.run.store import RunStore
from nasrl.search.run import prepare_run, run_search
from nasrl.space import Architecture
from nasrl.space.families.nb201 import cell_string

TABLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nb201.csv.gz"
BENCH = {"evaluator": "benchmark", "children": 8}


def search(tmp_path: Path, name: str, **fields):
    cfg = make_config({}, {**BENCH, **fields, "run_dir": str(tmp_path / name)})
    return run_search(prepare_run(cfg, None, {}), quiet=True)


def table_rows() -> dict[str, dict[str, str]]:
    """The shipped table read with the csv module, independently of nasrl's reader."""
    with gzip.open(Path(__file__).resolve().parents[1] / "src/nasrl/benchmarks/nb201.csv.gz", "rt") as f:
        return {row["arch"]: row for row in csv.DictReader(f)}


def stored(run_dir: Path, what: str = "arch_json, reward, val_acc, test_acc, cached") -> list[tuple]:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return db.execute(f"SELECT {what} FROM children ORDER BY episode, child").fetchall()


def test_shipped_table_is_the_shared_copy_with_the_published_optima():
    if TABLE.is_file():
        shipped = Path(__file__).resolve().parents[1] / "src/nasrl/benchmarks/nb201.csv.gz"
        assert shipped.read_bytes() == TABLE.read_bytes()
    optima = {d: load_table("nb201", d).optimum for d in ("cifar10", "cifar100", "imagenet16")}
    assert optima == pytest.approx({"cifar10": 94.37, "cifar100": 73.51, "imagenet16": 47.31}, abs=0.005)
    assert len(load_table("nb201", "cifar10").entries) == 15625


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet16"])
def test_each_child_is_rewarded_by_its_12_epoch_valid_accuracy_and_stores_its_hidden_test_accuracy(tmp_path, dataset):
    run = search(tmp_path, "run", max_evaluations=20, benchmark_dataset=dataset, strategy="random").run_dir
    table = table_rows()
    for arch_json, reward, val_acc, test_acc, _ in stored(run):
        row = table[cell_string(Architecture.from_json(arch_json))]
        assert reward == val_acc == pytest.approx(float(row[f"{dataset}_valid_12ep"]) / 100, abs=1e-12)
        assert test_acc == pytest.approx(float(row[f"{dataset}_test_200ep"]) / 100, abs=1e-12)


def test_the_strategy_learns_from_the_reward_column_never_the_test_column(tmp_path):
    """The controller's mean reward per episode is the mean of the stored rewards, not of the test accuracies."""
    run = search(tmp_path, "run", max_evaluations=24, strategy="reinforce").run_dir
    with sqlite3.connect(run / "results.sqlite") as db:
        per_episode = db.execute("SELECT episode, AVG(reward), AVG(test_acc) FROM children GROUP BY episode").fetchall()
        steps = dict(db.execute("SELECT episode, mean_reward FROM controller_steps").fetchall())
    for episode, mean_reward, mean_test in per_episode:
        if episode in steps:
            assert steps[episode] == pytest.approx(mean_reward) and steps[episode] != pytest.approx(mean_test)


@pytest.mark.parametrize("strategy", ["evolution", "reinforce", "local"])
def test_budget_counts_distinct_architectures_and_answers_repeats_for_free(tmp_path, strategy):
    run = search(tmp_path, "run", max_evaluations=30, strategy=strategy, episodes=200).run_dir
    children = stored(run, "arch_hash, cached")
    distinct = {h for h, cached in children if not cached}
    assert len([1 for _, cached in children if not cached]) == 30 == len(distinct)
    assert {h for h, _ in children} == distinct  # a repeat is answered from the store, never evaluated again
    assert RunStore.open_existing(run).meta()["status"] == "finished"


def test_max_evaluations_without_episodes_is_not_cut_short_by_the_presets_episodes(tmp_path):
    cfg = make_config({}, {"evaluator": "benchmark", "max_evaluations": 100})
    assert cfg.run.episodes * cfg.run.children >= 100 * 100
    assert cfg.space.name == "nb201" and cfg.scheduler.rungs is None  # the quick preset's rungs train nothing here
    run = search(tmp_path, "run", max_evaluations=100, strategy="random").run_dir
    assert len({h for h, c in stored(run, "arch_hash, cached") if not c}) == 100


# Kills its own process (kill -9) at the N-th lookup, inside an episode.
KILL_AT_LOOKUP = """
import os, signal, sys
from nasrl.search.evaluators.benchmark import BenchmarkEvaluator

original, calls = BenchmarkEvaluator.evaluate, [0]

def evaluate(self, *args, **kwargs):
    calls[0] += 1
    if calls[0] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args, **kwargs)

BenchmarkEvaluator.evaluate = evaluate
from nasrl.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("in_flight", [None, "8"])
@pytest.mark.parametrize("kill_at", [13, 28])
def test_kill_9_and_resume_equals_an_uninterrupted_budgeted_run(tmp_path, in_flight, kill_at):
    """Killed mid-episode (13) or inside the episode the budget cuts short (28 of 30), then resumed: the same rows
    and controller steps as a run never killed. In flight, a resumed round draws new proposals (its generator is
    reseeded, `drivers.in_flight`), so there: every row kept, none twice, and exactly the budget evaluated."""
    argv = ["search", "--evaluator", "benchmark", "--strategy", "reinforce", "--children", "8", "--seed", "4"]
    argv += ["--max-evaluations", "30", "--quiet", *(["--in-flight", in_flight] if in_flight else [])]
    assert main([*argv, "--run-dir", str(tmp_path / "whole")]) == 0
    run = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT_LOOKUP, str(kill_at), *argv, "--run-dir", str(run)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
    )
    assert proc.returncode == -signal.SIGKILL
    before = rows(run)
    finished_before = [r for r in before if r[4] != "pending"]  # in flight, a child's row exists once submitted
    assert 0 < len(finished_before) < len(rows(tmp_path / "whole"))
    assert main(["search", "--resume", str(run), "--quiet"]) == 0
    evaluated = [h for h, cached in stored(run, "arch_hash, cached") if not cached]
    assert len(evaluated) == len(set(evaluated)) == 30
    if in_flight:
        assert set(finished_before) <= set(rows(run))
        return
    assert rows(run) == rows(tmp_path / "whole")
    assert rows(run, "steps") == rows(tmp_path / "whole", "steps")
    assert main(["search", "--resume", str(run), "--quiet"]) == 0  # a finished budget stays spent
    assert rows(run) == rows(tmp_path / "whole")


def test_runs_report_and_compare_show_the_best_childs_test_accuracy_and_regret(tmp_path, capsys):
    first = search(tmp_path, "a", max_evaluations=20, seed=1).run_dir
    search(tmp_path, "b", max_evaluations=20, seed=2)
    best = RunStore.open_existing(first).best()
    regret = f"{94.3733 - 100 * best.test_acc:.2f}"
    assert main(["runs", str(tmp_path)]) == 0
    assert f"test {100 * best.test_acc:.2f}, regret {regret} to the optimum 94.37" in capsys.readouterr().out
    assert main(["report", str(first)]) == 0
    page = (first / "report" / "report.html").read_text()
    assert "benchmark test accuracy of the best" in page and f"regret {regret}" in page
    assert main(["compare", str(first), str(tmp_path / "b"), "-o", str(tmp_path / "cmp")]) == 0
    assert "benchmark test acc of best" in capsys.readouterr().out


def test_a_users_own_table_is_read_in_the_same_columns(tmp_path):
    table = table_rows()
    own = tmp_path / "own.csv"
    with own.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["arch", "cifar10_valid_12ep", "cifar10_test_200ep"])
        writer.writeheader()
        for arch, row in table.items():  # every cell's figures halved
            writer.writerow(
                {
                    "arch": arch,
                    "cifar10_valid_12ep": float(row["cifar10_valid_12ep"]) / 2,
                    "cifar10_test_200ep": float(row["cifar10_test_200ep"]) / 2,
                }
            )
    run = search(tmp_path, "run", max_evaluations=5, benchmark_table=str(own)).run_dir
    for arch_json, reward, _, test_acc, _ in stored(run):
        row = table[cell_string(Architecture.from_json(arch_json))]
        assert reward == pytest.approx(float(row["cifar10_valid_12ep"]) / 200)
        assert test_acc == pytest.approx(float(row["cifar10_test_200ep"]) / 200)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--space", "zoph"], "answers architectures of --space nb201 only"),
        (["--benchmark-dataset", "svhn"], "--benchmark-dataset"),
        (["--max-evaluations", "0"], "--max-evaluations"),
        (["--benchmark-table", "/nonexistent/table.csv"], "No benchmark table at"),
    ],
)
def test_benchmark_mistakes_are_one_sentence_and_exit_2(tmp_path, capsys, argv, message):
    code = main(["search", "--evaluator", "benchmark", "--run-dir", str(tmp_path / "r"), "--quiet", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_a_table_without_the_columns_is_refused_in_one_sentence(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,accuracy\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10\n")
    code = main(
        [
            "search",
            "--evaluator",
            "benchmark",
            "--benchmark-table",
            str(bad),
            "--run-dir",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "has no column 'cifar10_valid_12ep'" in err


def test_max_evaluations_with_weight_sharing_is_refused(capsys, tmp_path):
    code = main(["search", "--config", "quick-enas", "--max-evaluations", "10", "--run-dir", str(tmp_path / "r")])
    assert code == 2 and "--max-evaluations counts evaluated children" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["reinforce", "evolution", "local"])
def test_the_nb201_bench_evaluates_what_nasrl_search_evaluates(tmp_path, strategy):
    """bench/nb201.py runs strategies through their propose/update for speed: it must evaluate the same distinct
    architectures, in the same order, as `nasrl search --evaluator benchmark --max-evaluations N`."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import nb201

    evaluated = nb201.search_once(strategy, "cifar100", seed=7, budget=40, children=6)
    run = search(
        tmp_path, "run", strategy=strategy, seed=7, children=6, max_evaluations=40, benchmark_dataset="cifar100"
    ).run_dir
    stored_order = [(round(r, 9), round(t, 9)) for _, r, _, t, cached in stored(run) if not cached]
    assert [(round(r, 9), round(t, 9)) for r, t in evaluated] == stored_order and len(evaluated) == 40


def test_a_trained_nb201_search_ends_with_its_best_cells_table_figures(tmp_path):
    """A train-evaluator search of the nb201 space says what its best cell is worth in full training: the table's
    figures for that cell, in best_architecture.json and the log, on the table's own data set (not the user's)."""
    fields = {"evaluator": "train", "space": "nb201", "data": "synthetic", "resolution": 8, "train_subset": 64}
    fields |= {"val_subset": 32, "child_epochs": 1, "episodes": 1, "children": 2, "benchmark_dataset": "cifar100"}
    run = search(tmp_path, "run", **fields).run_dir
    best = json.loads((run / "best_architecture.json").read_text())
    entry = table_rows()[best["architecture"]["cell"]]
    medians = sorted(float(row["cifar100_test_200ep"]) for row in table_rows().values())
    assert best["table"] == {
        "dataset": "cifar100",
        "test_200ep": float(entry["cifar100_test_200ep"]),
        "valid_12ep": float(entry["cifar100_valid_12ep"]),
        "optimum": pytest.approx(73.51, abs=0.005),
        "median": medians[len(medians) // 2],  # 15,625 cells: the middle one
    }
    line = next(e for e in map(json.loads, (run / "events.jsonl").open()) if e.get("event") == "best_table")
    assert f"{best['table']['test_200ep']:.2f}% (12-epoch valid" in line["message"]
    assert "on CIFAR-100" in line["message"] and "trained on synthetic" in line["message"]


def test_the_benchmark_evaluators_best_carries_no_table_field(tmp_path):
    run = search(tmp_path, "run", max_evaluations=10, strategy="random").run_dir
    assert "table" not in json.loads((run / "best_architecture.json").read_text())
