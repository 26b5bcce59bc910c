"""`nasrl report`, `nasrl runs` and `--tensorboard`: valid pictures, an honest page, read-only on a live run."""

import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pytest
from PIL import Image

from nasrl.cli import main
from nasrl.config import make_config, save_config
from nasrl.errors import UserError
from nasrl.report.html import write_report
from nasrl.report.runs import list_runs, read_search
from nasrl.run.store import ChildRecord, RunStore
from nasrl.search.run import prepare_run, run_search
from nasrl.space import Architecture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYNTH = {"evaluator": "synthetic", "space": "zoph", "layers": 3, "children": 3, "controller_lr": 0.01}


def search(run_dir: Path, **fields) -> Path:
    cfg = make_config({**SYNTH, **fields, "run_dir": str(run_dir)})
    run_search(prepare_run(cfg, None, {}), quiet=True)
    return run_dir


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    return search(tmp_path_factory.mktemp("runs") / "finished", episodes=6)


def assert_valid_report(html_path: Path) -> str:
    """Every PNG in report/ opens, and every src/href of the page is inline data or a file that exists."""
    out = html_path.parent
    pictures = sorted(out.glob("*.png"))
    for png in pictures:
        assert png.read_bytes()[:8] == PNG_SIGNATURE, png
        with Image.open(png) as image:
            image.verify()
        assert matplotlib.image.imread(png).ndim == 3
    page = html_path.read_text()
    for ref in re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page):
        assert ref.startswith("data:image/png;base64,") or (out / ref).is_file(), ref
    linked = set(re.findall(r"""href=['"]([^'"]+\.png)['"]""", page))
    assert linked == {p.name for p in pictures}, "every picture is shown and nothing stale is left"
    return page


def make_child(episode: int, child: int, reward: float, params: int | None = None) -> ChildRecord:
    arch = Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 5, "filters": 36}] * 3)
    return ChildRecord(
        episode,
        child,
        arch.to_json(),
        arch.hash(),
        3,
        reward,
        val_acc=reward,
        params=params,
        flops=None if params is None else params * 1000,
        train_seconds=1.5,
    )


def test_report_of_finished_search_has_every_picture_and_valid_html(finished_run):
    before = hashlib.sha256((finished_run / "results.sqlite").read_bytes()).hexdigest()
    page = assert_valid_report(write_report(finished_run))
    names = {p.name for p in (finished_run / "report").glob("*.png")}
    assert names == {"rewards.png", "controller.png", "policy.png", "best_architecture.png"}
    assert "synthetic evaluator" in page and "no parameter" in page  # said in words, not an empty plot
    assert re.search(r"Top \d+ children", page) and re.search(r"<code>\dx\d/\d+&lt;", page)  # DNA in the table
    # Read-only: the database is untouched and no -wal/-shm files are left beside it.
    assert hashlib.sha256((finished_run / "results.sqlite").read_bytes()).hexdigest() == before
    assert not list(finished_run.glob("results.sqlite-*"))


def test_report_of_empty_run_says_what_is_missing(tmp_path):
    RunStore(tmp_path / "empty").close()
    page = assert_valid_report(write_report(tmp_path / "empty"))
    assert "No children yet" in page and "No controller steps yet" in page
    assert not list((tmp_path / "empty" / "report").glob("*.png"))


def test_report_of_one_child_run_draws_it(tmp_path):
    store = RunStore(tmp_path / "one")
    store.record_child(make_child(0, 0, 0.42, params=12345))
    store.close()
    page = assert_valid_report(write_report(tmp_path / "one"))
    assert {"rewards.png", "policy.png", "pareto.png", "best_architecture.png"} <= {
        p.name for p in (tmp_path / "one" / "report").glob("*.png")
    }
    assert "0.4200" in page and "No controller steps yet" in page


def test_report_marks_failures_and_collapse(tmp_path):
    store = RunStore(tmp_path / "run")
    store.record_child(make_child(0, 0, 0.3, params=1000))
    store.record_child(ChildRecord(**{**make_child(0, 1, 0.0).__dict__, "status": "failed", "error": "NaN loss"}))
    store.record_step(0, {"loss": 0.1, "baseline": 0.15, "mean_reward": 0.15, "entropy": 0.01, "lr": 1e-3}, 3)
    store.set_meta(collapse_warned=0)
    store.close()
    page = assert_valid_report(write_report(tmp_path / "run"))
    assert "Collapse warning" in page and "NaN loss" in page


@pytest.mark.parametrize(
    ("fields", "said", "not_said"),
    [
        (
            {"rungs": "1,3,9", "eta": 3},
            "successive halving over rungs of 1, 3 and 9 epochs, the best 1/3 of each rung",
            "per child",
        ),
        ({"child_epochs": 7}, "train on synthetic: 7 epochs per child", "successive halving"),
    ],
)
def test_report_says_how_long_children_trained_rungs_or_child_epochs(tmp_path, fields, said, not_said):
    cfg = make_config({"evaluator": "train", "data": "synthetic", "space": "zoph", "layers": 3, **fields})
    store = RunStore(tmp_path / "run")
    store.record_child(make_child(0, 0, 0.42, params=12345))
    store.close()
    save_config(cfg, tmp_path / "run" / "config.yaml")
    page = assert_valid_report(write_report(tmp_path / "run"))
    assert said in page and not_said not in page
    assert "20 epochs" not in page  # the unused default child_epochs is not reported as what the children trained


def test_report_of_train_run_shows_curves_confusion_and_missing_predictions(tmp_path):
    run = tmp_path / "train-run"
    run.mkdir()
    history = [
        {"epoch": e, "train_loss": 2 - e / 2, "val_loss": 2.1 - e / 3, "train_acc": 0.2 * e, "val_acc": 0.15 * e}
        for e in (1, 2, 3)
    ]
    (run / "history.json").write_text(json.dumps(history))
    metrics = {
        "architecture": "nascnn15",
        "parameters": 4_200_000,
        "test_acc": 0.5,
        "classes": ["a", "b"],
        "confusion_matrix": [[5, 1], [4, 0]],
        "per_class_acc": {"a": 0.83, "b": 0.0},
        "training": {"best_val_acc": 0.45, "epochs": 3},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = assert_valid_report(write_report(run))
    assert {p.name for p in (run / "report").glob("*.png")} == {"training_curves.png", "confusion_matrix.png"}
    assert "Per-class test accuracy" in page and "No test evaluation yet" in page  # predictions.png was not made


def test_report_while_search_runs_does_not_disturb_it(tmp_path):
    run = tmp_path / "live"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nasrl.cli",
            "search",
            "--evaluator",
            "synthetic",
            "--layers",
            "3",
            "--children",
            "3",
            "--episodes",
            "500",
            "--quiet",
            "--run-dir",
            str(run),
        ]
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (run / "results.sqlite").exists():
            time.sleep(0.05)
        while time.time() < deadline and len(read_search(run).steps) < 2:
            time.sleep(0.1)
        page = assert_valid_report(write_report(run))
        assert "still running" in page
        assert [r.status for r in list_runs(tmp_path)] == ["running"]
        seen = len(read_search(run).children)
        while time.time() < deadline and len(read_search(run).children) <= seen + 3:
            time.sleep(0.1)
        assert proc.poll() is None, "the search went on after the report"
        assert len(read_search(run).children) > seen + 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert [r.status for r in list_runs(tmp_path)] == ["interrupted"]


def test_runs_lists_status_and_a_dead_process_as_interrupted(tmp_path, finished_run, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = RunStore(tmp_path / "crashed")
    store.record_child(make_child(0, 0, 0.25))
    store.set_meta(status="running", pid=dead.pid, episodes=10, episodes_done=0, updated=time.time())
    store.close()
    (tmp_path / "not-a-run").mkdir()
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "crashed" in out and "interrupted (process gone)" in out and "0.2500" in out
    assert "not-a-run" not in out
    assert main(["runs", str(finished_run)]) == 0  # a run folder itself lists that run
    assert "finished" in capsys.readouterr().out


def test_tensorboard_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = search(tmp_path / "tb", episodes=3, tensorboard=True)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"search/reward", "search/baseline", "search/best", "controller/entropy", "controller/loss"} <= tags
    assert "controller/lr" in tags and len(events.Scalars("search/reward")) == 9


def test_tensorboard_missing_says_how_to_install(tmp_path, monkeypatch):
    from nasrl.run.tensorboard import TensorBoardScalars

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as without the package
    with pytest.raises(UserError, match="pip install"):
        TensorBoardScalars(tmp_path / "tb", 3)


def test_user_errors_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    assert main(["runs", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.sqlite").write_text("not a database")
    assert main(["report", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("nasrl: error:") == 4 and "Traceback" not in err


def test_report_and_runs_show_the_default_network_beside_the_best_or_how_to_get_it(tmp_path, finished_run, capsys):
    page = write_report(finished_run).read_text()
    assert f"not trained yet: `nasrl baseline {finished_run}`" in page  # one line on how to get it
    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    assert main(["baseline", str(run), "--quiet"]) == 0  # the synthetic evaluator answers at once
    record = json.loads((run / "baseline.json").read_text())
    capsys.readouterr()
    page = write_report(run).read_text()
    said = "searching paid off" if record["paid_off"] else "searching did not pay off"
    assert "did searching pay off?" in page and f"the search&#x27;s best {record['search_value']:.3f} val acc" in page
    assert f"{record['baseline_value']:.3f} val acc" in page and said in page and "not trained yet" not in page
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "vs default network" in out and f"{record['difference']:+.3f} ({said.removeprefix('searching ')})" in out


def test_a_benchmark_runs_report_looks_its_default_network_up_in_the_table_without_training(tmp_path):
    from nasrl.benchmarks import load_table
    from nasrl.space.families.nb201 import RESNET_CELL

    run = search(
        tmp_path / "bench", evaluator="benchmark", space="nb201", layers=6, strategy="random", max_evaluations=6
    )
    page = write_report(run).read_text()
    resnet = load_table("nb201", "cifar10").lookup(RESNET_CELL).test_acc
    assert f"looked up as the search&#x27;s children were: {resnet:.2f}% test acc" in page
    assert not (run / "baseline.json").exists()  # the report writes nothing outside report/
