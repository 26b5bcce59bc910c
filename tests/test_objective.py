"""Objectives: MnasNet's reward, hard limits checked before a child trains, measured latency on the device asked for,
the best under a limit picked from a stored run, resume, and the mistakes a user can make."""

import json
import random
import sqlite3
import sys
from pathlib import Path

import pytest
import torch

from nasrl.benchmarks.costs import DATASET_GEOMETRY, load_costs
from nasrl.cli import main
from nasrl.config import make_config
from nasrl.nets import builder
from nasrl.run.records import ChildResult
from nasrl.run.store import RunStore
from nasrl.search.costs import Costs
from nasrl.search.objective import make_objective, mnasnet_factor, pareto_front
from nasrl.search.run import prepare_run, run_search
from nasrl.space.families.nb201 import parse_cell

BENCH = ["search", "--evaluator", "benchmark", "--children", "8", "--quiet"]


def rows(run: Path, what: str = "status, reward, val_acc, params, cached") -> list[tuple]:
    with sqlite3.connect(run / "results.sqlite") as db:
        return db.execute(f"SELECT {what} FROM children ORDER BY episode, child").fetchall()


# ----- MnasNet's reward ------------------------------------------------------------------------------------------
def test_mnasnets_soft_reward_is_accuracy_times_the_cost_ratio_to_the_power_w():
    objective = make_objective(make_config({}, {"target_params": "100k"}))  # w = -0.07 both sides
    for params in (50_000, 100_000, 400_000):
        got = objective.reward(0.8, Costs(params=params, flops=1))
        assert got == pytest.approx(0.8 * (params / 100_000) ** -0.07, rel=1e-12)
    assert objective.reward(0.8, Costs(params=400_000, flops=1)) == pytest.approx(0.8 * 0.9075, abs=1e-4)


def test_mnasnets_alpha_beta_form_applies_alpha_under_the_target_and_beta_over_it():
    cfg = make_config({}, {"target_latency_ms": "5", "target_alpha": "0", "target_beta": "-1"})
    objective = make_objective(cfg)
    assert objective.reward(0.9, Costs(1, 1, latency_ms=2.5)) == pytest.approx(0.9)  # alpha 0: no bonus under
    assert objective.reward(0.9, Costs(1, 1, latency_ms=10.0)) == pytest.approx(0.45)  # beta -1: halved at 2x
    assert mnasnet_factor(5.0, 5.0, 0.0, -1.0) == 1.0  # at the target: alpha's side


def test_a_mnasnet_search_stores_each_childs_reward_as_its_accuracy_times_the_factor(tmp_path):
    run = tmp_path / "mnas"
    argv = [*BENCH, "--target-params", "300k", "--target-alpha", "-0.07", "--target-beta", "-0.5"]
    assert main([*argv, "--max-evaluations", "24", "--run-dir", str(run)]) == 0
    stored = [r for r in rows(run) if not r[4]]
    assert len(stored) == 24
    for _, reward, acc, params, _ in stored:
        assert reward == pytest.approx(acc * (params / 3e5) ** (-0.07 if params <= 3e5 else -0.5), rel=1e-9)
    best = json.loads((run / "best_architecture.json").read_text())
    assert best["reward"] == pytest.approx(max(r[1] for r in stored))


# ----- hard limits -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["reinforce", "evolution"])
def test_an_over_limit_child_is_never_trained_never_best_and_costs_no_evaluation(tmp_path, strategy):
    run = tmp_path / strategy
    argv = [*BENCH, "--strategy", strategy, "--max-params", "2e5", "--max-evaluations", "30"]
    assert main([*argv, "--run-dir", str(run)]) == 0
    stored = rows(run)
    over = [r for r in stored if r[0] == "over_limit"]
    ok = [r for r in stored if r[0] == "ok"]
    assert over and all(r[3] > 2e5 and r[1] == 0.0 and r[2] is None for r in over)  # no accuracy: not trained
    assert all(r[3] <= 2e5 for r in ok)
    assert len([r for r in ok if not r[4]]) == 30  # the budget counts evaluations; over-limit children are free
    best = json.loads((run / "best_architecture.json").read_text())
    assert best["params"] <= 2e5 and best["reward"] == max(r[1] for r in ok)
    assert RunStore.open_existing(run).counts()["over_limit"] == len(over)


def test_over_limit_children_in_flight_arrive_at_once_and_the_budget_still_holds(tmp_path):
    run = tmp_path / "flight"
    argv = [*BENCH, "--max-flops", "60M", "--max-evaluations", "20", "--in-flight", "4"]
    assert main([*argv, "--run-dir", str(run)]) == 0
    stored = rows(run, "status, flops, cached")
    assert {s for s, _, _ in stored} == {"ok", "over_limit"}
    assert all((f > 60e6) == (s == "over_limit") for s, f, _ in stored)
    assert sum(s == "ok" and not c for s, _, c in stored) == 20


def test_a_constrained_search_writes_its_fronts_and_its_report_draws_the_limit(tmp_path):
    run = tmp_path / "front"
    assert main([*BENCH, "--max-params", "4e5", "--max-evaluations", "30", "--run-dir", str(run)]) == 0
    fronts = json.loads((run / "pareto.json").read_text())
    assert set(fronts) == {"params", "flops"}
    for cost, front in fronts.items():
        assert all(a[cost] < b[cost] and a["val_acc"] < b["val_acc"] for a, b in zip(front, front[1:]))
    children = RunStore.open_existing(run).children()
    assert [r.arch_hash for r in pareto_front(children, "params")] == [f["hash"] for f in fronts["params"]]
    assert main(["report", str(run)]) == 0
    page = (run / "report" / "report.html").read_text()
    assert "over the limit (not trained)" in page and "at most 400,000 parameters" in page
    assert (run / "report" / "pareto.png").stat().st_size > 10_000


def test_the_shipped_nb201_counts_are_what_the_builder_counts():
    costs = load_costs()
    assert len(costs) == 15625
    for cell in random.Random(5).sample(sorted(costs), 3):
        for dataset, (classes, channels, side) in DATASET_GEOMETRY.items():
            model = builder.build(parse_cell(cell), num_classes=classes, in_channels=channels)
            counted = (builder.count_parameters(model), builder.count_flops(model, side, channels))
            assert costs[cell][dataset] == counted


def test_the_constrained_bench_evaluates_what_nasrl_search_evaluates_under_a_limit(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import nb201

    flags = {"max_params": 3e5}
    evaluated = nb201.search_once("evolution", "cifar10", 3, 40, 6, flags, with_costs=True)
    fields = {"evaluator": "benchmark", "strategy": "evolution", "seed": 3, "children": 6, "max_evaluations": 40}
    cfg = make_config({}, {**fields, **flags, "run_dir": str(tmp_path / "r")})
    run_search(prepare_run(cfg, None, {}), quiet=True)
    stored = [(r, p) for s, r, _, p, c in rows(tmp_path / "r") if s == "ok" and not c]
    assert [(round(r, 9), p) for r, _, p in evaluated] == [(round(r, 9), p) for r, p in stored]
    assert all(p <= 3e5 for _, _, p in evaluated) and len(evaluated) == 40


# ----- latency ---------------------------------------------------------------------------------------------------
def test_latency_is_measured_on_the_device_asked_for_not_the_training_device(tmp_path, monkeypatch):
    """Children train on the CPU; --latency-device cuda:0 times them there (the GPU faked: what reaches the timer
    is the device asked for)."""
    from nasrl.nets.latency import Latency
    from nasrl.search import costs

    timed = []

    def fake_timer(model, device, batch, resolution, in_channels, seconds):
        timed.append((str(device), batch))
        return Latency(str(device), 1, batch, 3.0 + batch / 100, 0.1, 5, 2.9)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(costs, "measure_latency", fake_timer)
    run = tmp_path / "lat"
    argv = [*BENCH, "--device", "cpu", "--latency-device", "cuda:0", "--max-latency-ms", "3.5"]
    assert main([*argv, "--max-evaluations", "6", "--child-batch-size", "64", "--run-dir", str(run)]) == 0
    assert {d for d, _ in timed} == {"cuda:0"} and {b for _, b in timed} == {1, 64}
    stored = rows(run, "latency_ms, latency_json")
    assert all(ms == 3.01 for ms, _ in stored)
    assert json.loads(stored[0][1])["batch_64"] == {
        "device": "cuda:0",
        "threads": 1,
        "batch": 64,
        "median_ms": 3.64,
        "iqr_ms": 0.1,
        "runs": 5,
        "min_ms": 2.9,
    }


def test_a_real_latency_measurement_is_a_positive_median_on_the_cpu():
    from nasrl.nets.latency import measure_latency

    model = builder.build(parse_cell("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"))
    m = measure_latency(model, torch.device("cpu"), batch=2, resolution=16, seconds=0.01)
    assert m.device == "cpu" and m.batch == 2 and m.runs >= 5 and 0 < m.min_ms <= m.median_ms and m.iqr_ms >= 0
    assert next(model.parameters()).device.type == "cpu" and model.training  # the model itself is untouched


def test_show_latency_prints_both_batch_sizes(capsys):
    assert main(["show", "seed-baseline", "--latency", "--batch-size", "4", "--resolution", "16"]) == 0
    out = capsys.readouterr().out
    assert "latency at batch 1, 16x16: median" in out and "latency at batch 4, 16x16: median" in out


# ----- after the fact: the best under a limit ----------------------------------------------------------------------
def test_best_under_a_limit_is_the_most_accurate_stored_child_within_it(tmp_path, capsys):
    run = tmp_path / "plain"
    assert main([*BENCH, "--max-evaluations", "40", "--run-dir", str(run)]) == 0  # no objective: accuracy only
    evaluated = [(acc, p) for s, _, acc, p, c in rows(run) if s == "ok" and not c]
    limit = sorted(p for _, p in evaluated)[len(evaluated) // 3]
    expected = max(acc for acc, p in evaluated if p <= limit)
    out = tmp_path / "pick.json"
    assert main(["best", str(run), "--max-params", str(limit), "-o", str(out)]) == 0
    pick = json.loads(out.read_text())
    assert pick["val_acc"] == expected and pick["params"] <= limit
    assert pick["within"] == sum(p <= limit for _, p in evaluated) and pick["evaluated"] == 40
    assert f"validation accuracy {expected:.4f}" in capsys.readouterr().out
    assert main(["show", str(out)]) == 0  # the pick is an architecture file


# ----- resume ----------------------------------------------------------------------------------------------------
def test_a_resumed_constrained_run_keeps_its_objective_and_equals_the_uninterrupted_one(tmp_path, capsys):
    argv = [*BENCH, "--strategy", "reinforce", "--max-params", "3e5", "--target-params", "2e5", "--seed", "2"]
    assert main([*argv, "--episodes", "6", "--run-dir", str(tmp_path / "whole")]) == 0
    assert main([*argv, "--episodes", "3", "--run-dir", str(tmp_path / "part")]) == 0
    assert main(["search", "--resume", str(tmp_path / "part"), "--episodes", "6", "--quiet"]) == 0
    assert rows(tmp_path / "part") == rows(tmp_path / "whole")
    capsys.readouterr()
    assert main(["search", "--resume", str(tmp_path / "part"), "--max-params", "4e5", "--quiet"]) == 2
    assert "--max-params differs from the run's config.yaml" in capsys.readouterr().err


# ----- mistakes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-params", "-3"], "Bad value '-3' for --max-params: must be a positive count"),
        (["--max-params", "5 parsecs"], "must be a positive count such as 1e6, 500k or 1.5M, not '5 parsecs'"),
        (["--max-flops", "0"], "Bad value '0' for --max-flops"),
        (["--max-latency-ms", "3 hours"], "must be milliseconds such as 5, 0.8 or 5ms"),
        (["--latency-device", "tpu"], "Bad value 'tpu' for --latency-device"),
        (["--objective", "mnasnet"], "give exactly one of --target-params, --target-flops or --target-latency-ms"),
        (["--target-params", "1M", "--target-flops", "1G"], "(given: --target-params, --target-flops)"),
        (["--objective", "accuracy", "--target-params", "1M"], "--target-params is MnasNet's trade-off"),
        (["--target-params", "1M", "--target-weight", "0.5"], "Bad value '0.5' for --target-weight"),
    ],
)
def test_bad_objectives_are_one_sentence_and_exit_2(tmp_path, capsys, flags, message):
    assert main([*BENCH, *flags, "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0 and err.endswith(".")
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU to time on")
def test_latency_on_a_device_that_is_not_there_is_one_sentence_before_anything_is_written(tmp_path, capsys):
    argv = [*BENCH, "--max-latency-ms", "5", "--latency-device", "cuda", "--run-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "--latency-device cuda: this machine has no usable CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert main(["show", "seed-baseline", "--latency", "--latency-device", "cuda"]) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "Give a limit: --max-params, --max-flops or --max-latency-ms"),
        (["--max-params", "ten"], "Bad value for --max-params: must be a positive count"),
        (["--max-params", "10"], "None of the 12 evaluated children"),
    ],
)
def test_best_mistakes_are_one_sentence_and_exit_2(tmp_path, capsys, flags, message):
    run = tmp_path / "r"
    assert main([*BENCH, "--max-evaluations", "12", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["best", str(run), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


def test_a_results_row_keeps_its_latency_through_the_store(tmp_path):
    store = RunStore(tmp_path)
    from nasrl.run.records import ChildRecord
    from nasrl.space import zoo

    timed = {"batch_1": {"device": "cpu", "threads": 1, "batch": 1, "median_ms": 2.0, "iqr_ms": 0.1, "runs": 7}}
    timed["batch_1"]["min_ms"] = 1.9
    result = ChildResult(reward=0.5, val_acc=0.5, params=10, flops=20, latency_ms=2.0, latency=timed)
    store.record_child(ChildRecord.of(0, 0, zoo.get("seed-baseline"), result))
    back = store.child(0, 0)
    assert back.latency_ms == 2.0 and back.result().latency == timed


def test_python_reads_like_the_command_line_for_best_and_latency(tmp_path):
    from nasrl import api
    from nasrl.errors import UserError

    summary = api.search(
        config="default",
        evaluator="benchmark",
        max_evaluations=20,
        max_params="3e5",
        children=5,
        run_dir=str(tmp_path / "py"),
    )
    assert summary.best is not None and summary.best.params <= 3e5
    pick = api.best(summary.run_dir, max_params="2e5")
    assert pick.child.params <= 2e5 and pick.limits == {"params": 2e5}
    with pytest.raises(UserError, match="Give a limit: max_params, max_flops or max_latency_ms"):
        api.best(summary.run_dir)
    measured = api.latency("seed-baseline", batch=2, resolution=16)
    assert measured.device == "cpu" and measured.batch == 2 and measured.median_ms > 0


def test_children_in_flight_under_successive_halving_go_on_when_a_whole_refill_is_over_the_limit(tmp_path):
    """A refill whose proposals are all over the limit arrives at once with nothing running: the driver proposes
    again rather than waiting for a child that was never submitted."""
    run = tmp_path / "halving"
    argv = ["search", "--config", "quick", "--data", "synthetic", "--resolution", "8", "--train-subset", "128"]
    argv += ["--val-subset", "64", "--episodes", "3", "--in-flight", "4", "--max-params", "30k", "--quiet"]
    assert main([*argv, "--run-dir", str(run)]) == 0
    stored = rows(run, "status, params, rung")
    assert len(stored) == 24 and {s for s, _, _ in stored} == {"ok", "over_limit"}
    assert all((p > 30_000) == (s == "over_limit") and (r is None) == (s == "over_limit") for s, p, r in stored)


def test_compare_refuses_runs_that_maximise_different_objectives(tmp_path, capsys):
    for name, flags in (("plain", []), ("limited", ["--max-params", "3e5"])):
        assert main([*BENCH, *flags, "--max-evaluations", "10", "--run-dir", str(tmp_path / name)]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "plain"), str(tmp_path / "limited"), "-o", str(tmp_path / "c")]) == 2
    assert "maximise different objectives (max_params None vs 300000.0)" in capsys.readouterr().err


def test_best_of_a_run_without_counts_says_so_in_one_sentence(tmp_path, capsys):
    run = tmp_path / "syn"
    assert main(["search", "--evaluator", "synthetic", "--episodes", "2", "--run-dir", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["best", str(run), "--max-params", "1e5"]) == 2
    assert "has a stored parameter count (a synthetic run counts none)" in capsys.readouterr().err
