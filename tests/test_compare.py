"""`nasrl compare`: groups of seeds, numbers that match the stores, pictures, and one-sentence refusals."""

import shutil
import sqlite3
import statistics
from pathlib import Path

import numpy as np
import pytest

from nasrl.cli import main
from nasrl.config import make_config
from nasrl.report.compare import compare, group_runs, load_runs, run_curve
from nasrl.report.runs import read_search
from nasrl.search.run import prepare_run, run_search

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYNTH = {"evaluator": "synthetic", "space": "zoph", "layers": 3, "episodes": 5, "children": 4}


def search(run_dir: Path, **fields) -> Path:
    cfg = make_config({}, {**SYNTH, **fields, "run_dir": str(run_dir)})
    run_search(prepare_run(cfg, None, {}), quiet=True)
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Two strategies x two seeds."""
    root = tmp_path_factory.mktemp("runs")
    return [search(root / f"{s}-{seed}", strategy=s, seed=seed) for s in ("reinforce", "random") for seed in (0, 1)]


def stored_rewards(run_dir: Path) -> list[float]:
    """The run's rewards in finishing order, read straight from the store (not through the report code)."""
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        rows = db.execute("SELECT reward FROM children ORDER BY finished_at, episode, child").fetchall()
    return [r for (r,) in rows]


def stored_best(run_dir: Path) -> float:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return db.execute("SELECT MAX(reward) FROM children WHERE status = 'ok'").fetchone()[0]


def test_two_strategies_two_seeds_make_two_groups_whose_final_best_is_the_mean_of_the_runs_best(runs, tmp_path):
    result = compare(runs, tmp_path / "out")
    assert [(g.label, len(g.runs), sorted(r.seed for r in g.runs)) for g in result.groups] == [
        ("random / synthetic", 2, [0, 1]),
        ("reinforce / synthetic", 2, [0, 1]),
    ]
    for row, strategy in zip(result.rows, ("random", "reinforce")):
        bests = [stored_best(p) for p in runs if p.name.startswith(strategy)]
        assert row.seeds == [0, 1]
        assert row.best_mean == pytest.approx(statistics.fmean(bests))
        assert row.best_sd == pytest.approx(statistics.stdev(bests))
        # the normalised area: the mean of the running maximum over the common 20 children, averaged over seeds
        areas = [np.maximum.accumulate(stored_rewards(p)).mean() for p in runs if p.name.startswith(strategy)]
        assert row.auc_mean == pytest.approx(statistics.fmean(areas))
        assert 0 <= row.auc_mean <= row.best_mean <= 1
    assert result.budget == 20
    assert result.target == pytest.approx(statistics.median(stored_best(p) for p in runs))


def test_best_so_far_is_monotone_and_ends_at_the_runs_best(runs):
    for path in runs:
        curve = run_curve(read_search(path), window=3)
        assert len(curve.best) == 20
        assert np.all(np.diff(curve.best) >= 0)
        assert curve.final_best == stored_best(path)
        rewards = stored_rewards(path)
        assert curve.mean[0] == pytest.approx(rewards[0])  # fewer than the window at the start
        assert curve.mean[-1] == pytest.approx(statistics.fmean(rewards[-3:]))


def test_children_to_reach_a_target_is_the_first_child_at_it_and_says_when_seeds_never_do(runs, tmp_path):
    target = stored_best(runs[0])  # reinforce, seed 0 reaches it; seed 1 may or may not
    needs = [1 + next((i for i, r in enumerate(stored_rewards(p)) if r >= target), float("inf")) for p in runs[:2]]
    row = compare(runs[:2], tmp_path / "a", target=target).rows[0]
    assert row.needed == statistics.median(needs)
    assert row.reached == sum(n < float("inf") for n in needs) >= 1
    never = compare(runs, tmp_path / "b", target=1.5)
    assert all(r.reached == 0 for r in never.rows)
    assert all("not reached (0/2 seeds did)" in cells[-1] for cells in never.cells)
    at_once = compare(runs, tmp_path / "c", target=0.0)
    assert [r.needed for r in at_once.rows] == [1.0, 1.0]


def test_compare_command_prints_the_table_and_writes_the_page_with_its_pictures(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, runs), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "children to reach" in printed and "reinforce / synthetic" in printed and "random / synthetic" in printed
    assert f"wrote {out / 'compare.html'}" in printed
    page = (out / "compare.html").read_text()
    assert (out / "compare_children.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "data:image/png;base64," in page and "mean best-so-far" in page.lower()
    # synthetic children train nothing: no time axis to draw, and the page says so instead of an empty plot
    assert not (out / "compare_seconds.png").exists()
    assert "No run recorded training time" in page


def test_seconds_axis_adds_up_the_childrens_training_seconds(runs, tmp_path, capsys):
    timed = []
    for path in runs:
        copy = Path(shutil.copytree(path, tmp_path / path.name))
        with sqlite3.connect(copy / "results.sqlite") as db:
            db.execute("UPDATE children SET train_seconds = 2.0 + child")  # 2, 3, 4, 5 seconds per episode
        timed.append(copy)
    curve = run_curve(read_search(timed[0]))
    assert curve.seconds[:5].tolist() == [2.0, 5.0, 9.0, 14.0, 16.0]
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, timed), "-o", str(out), "--by", "seconds", "--target", "0"]) == 0
    assert "train seconds to reach 0 (median)" in capsys.readouterr().out
    assert (out / "compare_seconds.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (out / "compare_children.png").read_bytes().startswith(PNG_SIGNATURE)
    assert [r.needed for r in compare(timed, tmp_path / "again", "seconds", target=0.0).rows] == [2.0, 2.0]


def test_missing_rungs_group_with_none_and_given_rungs_make_their_own_group(runs):
    loaded = load_runs(runs)
    loaded[0].config["rungs"] = "1,3,9"
    labels = [(g.label, len(g.runs)) for g in group_runs(loaded)]
    assert labels == [
        ("random / synthetic", 2),
        ("reinforce / synthetic", 1),
        ("reinforce / synthetic / rungs 1,3,9", 1),
    ]


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (None, "compare needs at least two runs"),
        ({"layers": 4}, "search different spaces (layers 3 vs 4)"),
        ({"space": "zoph-stride"}, "search different spaces (space zoph vs zoph-stride)"),
        ({"synthetic_seed": 1}, "different synthetic targets (synthetic_seed 0 vs 1)"),
        ({"train_subset": 100}, "use different data (train_subset None vs 100)"),
        ("not-a-run", "is not a nasrl search run"),
    ],
)
def test_refusals_are_one_sentence_and_exit_2(runs, tmp_path, capsys, other, message):
    if other is None:
        given = [runs[0]]
    elif other == "not-a-run":
        (tmp_path / "plain").mkdir()
        given = [runs[0], tmp_path / "plain"]
    else:
        given = [runs[0], search(tmp_path / "other", episodes=1, **other)]
    assert main(["compare", *map(str, given), "-o", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasrl: error: ") and message in lines[0]
    assert not (tmp_path / "out" / "compare.html").exists()


def test_the_table_shows_the_default_network_and_how_many_seeds_beat_it_once_runs_have_a_baseline(runs, tmp_path):
    assert "searching paid off" not in compare(runs, tmp_path / "none").header  # no baseline.json: no columns
    copies = [Path(shutil.copytree(r, tmp_path / r.name)) for r in runs]
    for run in copies[:2]:  # the reinforce seeds only
        assert main(["baseline", str(run), "--quiet"]) == 0
    result = compare(copies, tmp_path / "cmp")
    records = [read_search(run).baseline for run in copies[:2]]
    row = next(r for r in result.rows if r.label.startswith("reinforce"))
    assert row.baseline_mean == pytest.approx(statistics.fmean(b["baseline_value"] for b in records))
    assert row.paid_off == (sum(b["paid_off"] for b in records), 2)
    cells = dict(zip(result.header, next(c for c in result.cells if c[0].startswith("reinforce"))))
    assert cells["searching paid off"] == f"{row.paid_off[0]}/2 seeds"
    assert cells["default network (mean)"] == f"{row.baseline_mean:.4f} val"
    other = dict(zip(result.header, next(c for c in result.cells if c[0].startswith("random"))))
    assert other["default network (mean)"] == other["searching paid off"] == "-"
    assert "nasrl baseline RUN_DIR" in (tmp_path / "cmp" / "compare.html").read_text()
