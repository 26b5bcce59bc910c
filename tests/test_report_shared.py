"""`nasrl report` and `nasrl runs` of a weight-sharing (ENAS) run: the shared-weight curves, the derived result
shown instead of the luckiest one-minibatch child, the `nasrl derive` hint when there is none, and old folders."""

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from test_report import assert_valid_report, make_child

from nasrl.cli import main
from nasrl.report.html import write_report
from nasrl.report.runs import list_runs, read_search
from nasrl.run.store import RunStore

SPACE_YAML = """\
layers: 4
tokens: {op: [conv3x3, sep3x3, maxpool3x3, avgpool3x3]}
channels: 8
reductions: [2]
"""


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory) -> Path:
    """A tiny finished weight-sharing search (2 epochs of 3 controller steps of 4 architectures, 4 derived)."""
    root = tmp_path_factory.mktemp("shared")
    (root / "tiny.yaml").write_text(SPACE_YAML)
    run_dir = root / "run"
    args = [
        "search",
        "--config",
        "quick-enas",
        "--space",
        str(root / "tiny.yaml"),
        "--data",
        "synthetic",
        "--resolution",
        "8",
        "--train-subset",
        "96",
        "--val-subset",
        "48",
        "--shared-batch-size",
        "16",
        "--shared-epochs",
        "2",
        "--controller-steps",
        "3",
        "--children",
        "4",
        "--derive-samples",
        "4",
        "--run-dir",
        str(run_dir),
        "--quiet",
    ]
    assert main(args) == 0
    return run_dir


def _section(page: str, title: str) -> str:
    match = re.search(rf"<section><h2>{title}</h2>.*?</section>", page)
    assert match, f"no section {title!r}"
    return match.group(0)


def test_report_of_shared_run_shows_shared_curves_and_the_derived_result(shared_run, tmp_path):
    run = shutil.copytree(shared_run, tmp_path / "run")
    page = assert_valid_report(write_report(run))
    assert {"shared.png", "best_architecture.png"} <= {p.name for p in (run / "report").glob("*.png")}
    assert "one validation minibatch" in _section(page, "Shared weights")
    derived = json.loads((run / "derived.json").read_text())
    rank1 = f"{derived[0]['val_acc']:.4f}"
    table = _section(page, r"Top \d+ derived architectures")
    assert f"<td>1</td><td>{rank1}</td><td><code>{derived[0]['hash']}</code>" in table
    assert table.count("<tr>") == min(len(derived), 10) + 1
    best = _section(page, "Derived architecture")
    assert f"<b>{rank1}</b>" in best and "only roughly" in best and "nasrl train --arch" in best
    assert f"nasrl derive {run}<" not in page and "Best sampled architecture" not in page
    assert [r.best for r in list_runs(run)] == [
        f"{json.loads((run / 'best_architecture.json').read_text())['val_acc']:.4f} (derived)"
    ]


def test_shared_run_without_derived_json_says_how_to_derive(shared_run, tmp_path):
    run = shutil.copytree(shared_run, tmp_path / "interrupted")
    (run / "derived.json").unlink()
    (run / "best_architecture.json").unlink()  # as an interrupted run leaves it: derivation writes both
    page = assert_valid_report(write_report(run))
    assert "shared.png" in {p.name for p in (run / "report").glob("*.png")}
    assert f"nasrl derive {run}" in _section(page, "Best sampled architecture")
    assert "derived architectures" not in page
    best_reward = max(c.reward for c in read_search(run).children if c.ok)
    assert [r.best for r in list_runs(run)] == [f"{best_reward:.4f}"]  # the minibatch maximum, lacking better


def test_run_from_before_shared_epochs_table_reports_without_the_figure(tmp_path):
    store = RunStore(tmp_path / "old")
    store.record_child(make_child(0, 0, 0.4, params=1000))
    store.close()
    with sqlite3.connect(tmp_path / "old" / "results.sqlite") as db:
        db.execute("DROP TABLE shared_epochs")
    page = assert_valid_report(write_report(tmp_path / "old"))
    assert "shared.png" not in page and "Shared weights" not in page
    assert not (tmp_path / "old" / "report" / "shared.png").exists()
