"""`nasrl baseline`: each space's default network, trained to match a search (its time or its child-epochs) or
looked up in a benchmark's table, and the verdict of whether searching paid off; bench/budget.py's arithmetic."""

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from nasrl.benchmarks import load_table
from nasrl.cli import main
from nasrl.config import make_config
from nasrl.run.store import RunStore
from nasrl.search.baseline import (
    SearchSide,
    Trained,
    baseline_record,
    epochs_within,
    read_baseline,
    search_seconds,
    verdict,
)
from nasrl.search.run import prepare_run, run_search
from nasrl.space import PRESETS, Architecture, SearchSpace, Token, preset
from nasrl.space.families.macro import ENAS_TOKENS
from nasrl.space.families.nb201 import RESNET_CELL, cell_string

REPO = Path(__file__).resolve().parents[1]
#: A search that trains its children on tiny synthetic data in seconds: 2 episodes of 2 children, 2 epochs each.
TINY_TRAIN = {
    "evaluator": "train",
    "data": "synthetic",
    "space": "zoph",
    "layers": 2,
    "episodes": 2,
    "children": 2,
    "child_epochs": 2,
    "resolution": 8,
    "train_subset": 128,
    "val_subset": 64,
    "controller_lr": 0.01,
}


def search(run_dir: Path, **fields) -> Path:
    cfg = make_config({**fields, "run_dir": str(run_dir)})
    run_search(prepare_run(cfg, None, {}), quiet=True)
    return run_dir


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    return search(tmp_path_factory.mktemp("runs") / "train", data_dir=str(data_dir), **TINY_TRAIN)


# ----- each family's default network ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("layers", [None, 1, 4])
def test_each_familys_baseline_is_valid_in_its_space(name, layers):
    if name == "nb201" and layers is not None:
        pytest.skip("the nb201 cell has six edges at any depth")
    space = preset(name, layers)
    arch = space.family.baseline(space)
    assert arch.validate(space) is arch
    assert Architecture.from_json(arch.to_json()) == arch


def test_the_zoph_baseline_is_a_plain_chain_of_3x3_convolutions_at_the_widest_filters():
    space = preset("zoph", 3)
    arch = space.family.baseline(space)
    assert [(layer.kernel, layer.filters, layer.inputs) for layer in arch.layers] == [
        ((3, 3), 64, ()),
        ((3, 3), 64, (0,)),
        ((3, 3), 64, (1,)),
    ]
    strided = preset("zoph-stride", 2)
    assert all(layer.stride == (1, 1) for layer in strided.family.baseline(strided).layers)


def test_the_dna_baseline_is_3x3_at_the_middle_filter_count_without_pooling():
    space = preset("dna")
    arch = space.family.baseline(space)
    assert arch.to_dna() == [[3, 128, 1, 1]] * space.num_layers


def test_the_macro_baseline_is_resnet_like_each_layer_adding_the_output_two_before():
    space = preset("enas-macro", 4)
    arch = space.family.baseline(space)
    assert [layer.op for layer in arch.layers] == ["conv3x3"] * 4
    assert [layer.inputs for layer in arch.layers] == [(), (0,), (1,), (2,)]  # 0 the stem, j layer j
    plain = SearchSpace("mine", 3, (Token("op", ("sep5x5", "sep3x3", "maxpool3x3")),), False, 16, ())
    arch = plain.family.baseline(plain)
    assert [(layer.op, layer.inputs) for layer in arch.layers] == [("sep3x3", ())] * 3  # nearest, no skips


def test_the_nb201_baseline_is_the_benchmarks_resnet_cell():
    space = preset("nb201")
    arch = space.family.baseline(space)
    assert cell_string(arch) == RESNET_CELL
    assert RESNET_CELL == "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_a_space_without_3x3_kernels_gets_the_nearest_allowed_choice():
    tokens = (Token("filter_height", (1, 5, 7)), Token("filter_width", (5, 7)), Token("filters", (8, 16)))
    space = SearchSpace("mine", 2, tokens, True)
    arch = space.family.baseline(space).validate(space)
    assert {(layer.kernel, layer.filters) for layer in arch.layers} == {((1, 5), 16)}  # a tie goes to the smaller
    assert ENAS_TOKENS[0].choices[0] == "conv3x3"


# ----- the arithmetic ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "epoch", "expected"), [(100, 10, 9), (25, 10, 1), (10, 10, 0), (5, 10, 0)])
def test_epochs_within_a_time_leave_room_for_the_timing_epoch(seconds, epoch, expected):
    assert epochs_within(seconds, epoch) == expected


def test_search_seconds_add_up_its_sessions_and_leave_out_the_gaps_and_later_commands(tmp_path):
    events = [
        (100.0, "start"),
        (110.0, "child_done"),
        (130.0, "interrupted"),
        (1000.0, "resume"),  # 870 s lying interrupted: not the search's
        (1040.0, "finished"),
        (2000.0, "derive"),  # a later `nasrl derive`: not the search's either
        (2500.0, "derived"),
    ]
    (tmp_path / "events.jsonl").write_text(
        "".join(json.dumps({"time": t, "event": e}) + "\n" for t, e in events) + '{"time": 25'
    )
    assert search_seconds(tmp_path) == pytest.approx(30 + 40)
    assert search_seconds(tmp_path / "nowhere") is None


def test_the_verdict_says_whether_searching_paid_off():
    assert verdict(0.0123) == "searching paid off, by +0.012"
    assert verdict(-0.1) == verdict(0.0) == "searching did not pay off"


# ----- the command -----------------------------------------------------------------------------------------


def _store_child_epochs(run: Path) -> int:
    with sqlite3.connect(run / "results.sqlite") as db:
        rows = db.execute("SELECT history_json FROM children WHERE cached=0 AND status!='pending'").fetchall()
    return sum(len(json.loads(h or "[]")) for (h,) in rows)


def test_match_epochs_trains_as_many_epochs_as_the_search_trained_children(trained_run, capsys):
    assert main(["baseline", str(trained_run), "--match", "epochs", "--quiet"]) == 0
    record = json.loads((trained_run / "baseline.json").read_text())
    assert record["match"] == "epochs"
    assert record["epochs"] == record["epochs_trained"] == record["search"]["child_epochs"]
    assert record["search"]["child_epochs"] == _store_child_epochs(trained_run) == 8
    assert record["summary"] == "3x3/64<img | 3x3/64<1"
    assert record["test_acc"] is not None  # the synthetic data set has a test split
    best = RunStore.open_existing(trained_run).best()
    assert record["search_value"] == best.val_acc and record["baseline_value"] == record["val_acc"]
    assert record["paid_off"] == (best.val_acc > record["val_acc"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("The search's best child: ") and record["sentence"] in out
    assert ("did not pay off" in out) != record["paid_off"]
    assert read_baseline(trained_run) == record


def test_match_time_times_one_epoch_and_fits_the_rest_in_the_searchs_time(trained_run, capsys):
    assert main(["baseline", str(trained_run), "--quiet"]) == 0
    record = json.loads((trained_run / "baseline.json").read_text())
    search = record["search"]
    assert record["match"] == "time" and search["seconds_from"] == "events.jsonl"
    assert 0 < search["seconds"] == pytest.approx(search_seconds(trained_run))
    fits = epochs_within(search["seconds"], record["timing_seconds"])
    assert record["epochs"] == max(1, fits)
    assert f"for the same {search['seconds']:.0f} s" in capsys.readouterr().out


def _record(search_value: float | None, baseline_value: float) -> dict:
    side = SearchSide("finished", 200.0, "events.jsonl", 40, 0.5, search_value, None, "0" * 16)
    space = preset("zoph", 3)
    trained = Trained(24, 24, 61.0, baseline_value, None, 2.5)
    return baseline_record(space.family.baseline(space), "time", trained, side, search_value, Path("runs/x"))


def test_the_sentence_and_sign_of_the_verdict_follow_the_difference():
    behind, ahead = _record(0.486, 0.58), _record(0.62, 0.58)
    assert behind["paid_off"] is False and behind["difference"] == pytest.approx(-0.094)
    assert behind["sentence"] == (
        "The search's best child: 0.486 val acc in 200 s; the default network trained for the same 200 s "
        "(24 epochs): 0.580 val acc. Searching did not pay off here."
    )
    assert ahead["paid_off"] is True and ahead["sentence"].endswith("Searching paid off here, by +0.040.")


def test_a_weight_sharing_search_without_a_retrained_architecture_is_told_to_retrain_it_first():
    record = _record(None, 0.58)
    assert record["paid_off"] is None and record["difference"] is None
    assert "retrain it first (`nasrl train --arch runs/x`)" in record["sentence"]
    assert "0.580 val acc" in record["sentence"]


def test_a_benchmark_runs_baseline_is_the_tables_resnet_cell(tmp_path, capsys):
    run = search(
        tmp_path / "bench", evaluator="benchmark", space="nb201", strategy="random", children=5, max_evaluations=10
    )
    assert main(["baseline", str(run)]) == 0
    record = json.loads((run / "baseline.json").read_text())
    entry = load_table("nb201", "cifar10").lookup(RESNET_CELL)
    assert record["match"] == "lookup" and record["seconds"] == 0
    assert record["val_acc"] == pytest.approx(entry.reward_acc / 100)
    assert record["test_acc"] == pytest.approx(entry.test_acc / 100)
    best = RunStore.open_existing(run).best()
    assert record["compared_on"] == "test_acc" and record["search_value"] == best.test_acc
    assert record["paid_off"] == (best.test_acc > entry.test_acc / 100)
    assert "% test acc" in capsys.readouterr().out


def test_a_synthetic_runs_verdict_has_the_sign_of_its_best_reward_minus_the_baselines(tmp_path):
    run = search(tmp_path / "synth", evaluator="synthetic", space="zoph", layers=3, episodes=3, children=3)
    assert main(["baseline", str(run), "--quiet"]) == 0
    record = json.loads((run / "baseline.json").read_text())
    best = RunStore.open_existing(run).best()
    assert record["difference"] == pytest.approx(best.reward - record["val_acc"])
    assert record["paid_off"] == (best.reward > record["val_acc"])


def _train_folder(tmp_path: Path) -> Path:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "run.json").write_text("{}")
    return tmp_path / "train"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "is not a search run folder"),
        (lambda tmp: tmp, "is not a search run folder"),
        (_train_folder, "is not a search run folder"),
    ],
)
def test_a_folder_that_is_no_search_is_one_sentence_and_exit_2(tmp_path, capsys, make, message):
    assert main(["baseline", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("nasrl: error: ")


def test_a_search_still_running_is_one_sentence_and_exit_2(tmp_path, capsys):
    run = search(tmp_path / "live", evaluator="synthetic", space="zoph", layers=2, episodes=1, children=2)
    live = RunStore(run)
    live.lock()  # as the driver of a running search holds it
    try:
        assert main(["baseline", str(run)]) == 2
    finally:
        live.close()
    err = capsys.readouterr().err
    assert "is still being written by another nasrl process" in err and err.count("\n") == 1
    assert not (run / "baseline.json").exists()


# ----- bench/budget.py's arithmetic ------------------------------------------------------------------------


def _budget_module():
    spec = importlib.util.spec_from_file_location("budget_bench", REPO / "bench" / "budget.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["budget_bench"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("budget", "episode", "expected"), [(300, 60, 2), (300, 40, 3), (300, 200, 1), (600, 60, 5), (60, 1, 30)]
)
def test_the_bench_gives_the_search_about_half_the_budget_in_whole_episodes(budget, episode, expected):
    assert _budget_module().episodes_within(budget, episode) == expected


def test_the_bench_retrains_for_what_the_search_left_of_the_budget():
    budget = _budget_module()
    assert budget.retrain_seconds(300, 140.0) == 160.0
    assert budget.retrain_seconds(300, 400.0) == 0.0
