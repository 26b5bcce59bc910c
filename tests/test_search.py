"""The search loop end to end with the synthetic evaluator: store, artifacts, resume, errors."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from stored import rows

from nasrl.cli import main
from nasrl.config import make_config
from nasrl.run.store import RunStore
from nasrl.search.evaluators.synthetic import SyntheticEvaluator
from nasrl.search.run import prepare_run, run_search

SYNTH = {"evaluator": "synthetic", "space": "zoph", "layers": 4, "children": 5, "controller_lr": 0.01}


def search(tmp_path: Path, name: str, **fields):
    cfg = make_config({**SYNTH, **fields, "run_dir": str(tmp_path / name)})
    return run_search(prepare_run(cfg, None, {}), quiet=True)


def test_search_writes_every_artifact_and_one_row_per_child(tmp_path):
    summary = search(tmp_path, "run", episodes=4)
    run = summary.run_dir
    assert summary.status == "finished"
    for name in ("config.yaml", "results.sqlite", "checkpoints/latest.pt", "best_architecture.json", "search.log"):
        assert (run / name).is_file(), name
    children = rows(run)
    assert [(e, c) for e, c, *_ in children] == [(e, c) for e in range(4) for c in range(5)]
    assert len(rows(run, "steps")) == 4
    best = json.loads((run / "best_architecture.json").read_text())
    assert best["reward"] == max(r[3] for r in children)
    log = (run / "search.log").read_text()
    for level in ("INFO", "STEP", "METRIC", "ARCHITECTURE", "REWARD", "SUCCESS"):
        assert level in log, level
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "child_done" for e in events) + sum(e["event"] == "child_cached" for e in events) == 20
    state = torch.load(run / "checkpoints/latest.pt", weights_only=True)
    assert state["next_episode"] == 4


def test_train_evaluator_search_logs_every_epoch_and_stores_history(tmp_path):
    summary = search(
        tmp_path,
        "train",
        evaluator="train",
        data="synthetic",
        data_dir=str(tmp_path / "data"),
        layers=2,
        episodes=1,
        children=2,
        child_epochs=2,
        child_max_steps=4,
        train_subset=200,
        val_subset=100,
    )
    store = RunStore(summary.run_dir)
    children = store.children()
    assert [c.status for c in children] == ["ok", "ok"]
    assert all(c.params > 0 and c.flops > 0 and c.val_acc == c.reward for c in children)
    assert all(len(json.loads(c.history_json)) == 2 for c in children)
    log = (summary.run_dir / "search.log").read_text()
    assert log.count("TRAINING") == 4 and "child 2, epoch 2" in log
    assert "Data: synthetic" in log


def test_same_seed_same_children_different_seed_different(tmp_path):
    a, b, c = (search(tmp_path, n, episodes=3, seed=s) for n, s in (("a", 1), ("b", 1), ("c", 2)))
    assert rows(a.run_dir) == rows(b.run_dir)
    assert rows(a.run_dir) != rows(c.run_dir)


def test_repeated_architecture_is_cached_not_evaluated_again(tmp_path):
    # One layer of a 3-token space: 64 architectures, so 30 children must repeat some.
    summary = search(tmp_path, "run", episodes=6, layers=1)
    children = rows(summary.run_dir)
    seen = set()
    for _, _, arch_hash, _, _, cached in children:
        assert bool(cached) == (arch_hash in seen)
        seen.add(arch_hash)
    assert summary.counts["cached"] > 0


def test_failing_child_is_recorded_and_search_goes_on(tmp_path, monkeypatch):
    original = SyntheticEvaluator.evaluate

    def flaky(self, arch, episode, child, epochs=None):
        if child == 1:
            raise RuntimeError("out of memory (simulated)")
        return original(self, arch, episode, child)

    monkeypatch.setattr(SyntheticEvaluator, "evaluate", flaky)
    summary = search(tmp_path, "run", episodes=3)
    assert summary.status == "finished"
    failed = [r for r in rows(summary.run_dir) if r[1] == 1 and not r[5]]
    assert failed and all(r[4] == "failed" and r[3] == 0.0 for r in failed)
    store = RunStore(summary.run_dir)
    assert "out of memory (simulated)" in store.child(0, 1).error


@pytest.mark.parametrize("strategy", ["reinforce", "ppo", "evolution", "a2c", "es"])
def test_interrupted_run_resumes_to_the_same_children(tmp_path, monkeypatch, strategy):
    fields = {"strategy": strategy, "population_size": 8, "tournament_size": 3}
    full = search(tmp_path, "full", episodes=6, **fields)
    calls = {"n": 0}
    original = SyntheticEvaluator.evaluate

    def interrupt_midway(self, arch, episode, child, epochs=None):
        calls["n"] += 1
        if calls["n"] == 13:  # episode 3, child 3: mid-episode
            raise KeyboardInterrupt
        return original(self, arch, episode, child)

    monkeypatch.setattr(SyntheticEvaluator, "evaluate", interrupt_midway)
    part = search(tmp_path, "part", episodes=6, **fields)
    assert part.status == "interrupted"
    assert len([r for r in rows(part.run_dir) if not r[5]]) == 12  # evaluated; a cached twin costs no call
    monkeypatch.setattr(SyntheticEvaluator, "evaluate", original)
    resumed = run_search(prepare_run(make_config({}), part.run_dir, {}), resume=True, quiet=True)
    assert resumed.status == "finished"
    assert rows(resumed.run_dir) == rows(full.run_dir)
    assert rows(resumed.run_dir, "steps") == rows(full.run_dir, "steps")


def _nasrl(*args: str) -> list[str]:
    return [sys.executable, "-m", "nasrl.cli", *args]


def test_kill_9_and_resume_equals_uninterrupted_run(tmp_path):
    """A run of 20 episodes equals a run killed with SIGKILL after about 10 and resumed, child for child."""
    common = [
        "search",
        "--evaluator",
        "synthetic",
        "--space",
        "zoph",
        "--layers",
        "4",
        "--children",
        "5",
        "--episodes",
        "20",
        "--seed",
        "3",
        "--quiet",
    ]
    full = tmp_path / "full"
    subprocess.run(_nasrl(*common, "--run-dir", str(full)), check=True, timeout=300)
    part = tmp_path / "part"
    proc = subprocess.Popen(_nasrl(*common, "--run-dir", str(part)))
    deadline = time.time() + 120
    while time.time() < deadline and _count(part) < 52:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = len(rows(part))
    assert 52 <= stored < 100, "the kill came too late to test resume"
    subprocess.run(_nasrl("search", "--resume", str(part), "--quiet"), check=True, timeout=300)
    assert rows(part) == rows(full)
    assert rows(part, "steps") == rows(full, "steps")


def test_sigterm_checkpoints_and_resume_finishes(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        _nasrl(
            "search",
            "--evaluator",
            "synthetic",
            "--layers",
            "4",
            "--children",
            "4",
            "--rungs",
            "none",
            "--episodes",
            "400",
            "--quiet",
            "--run-dir",
            str(run),
        ),
    )
    deadline = time.time() + 120
    while time.time() < deadline and _count(run) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    store = RunStore(run)
    assert store.meta()["status"] == "interrupted"
    assert "Interrupted (SIGTERM)" in (run / "search.log").read_text()
    next_episode = torch.load(run / "checkpoints/latest.pt", weights_only=True)["next_episode"]
    assert main(["search", "--resume", str(run), "--episodes", str(next_episode + 2), "--quiet"]) == 0
    assert len(rows(run)) == (next_episode + 2) * 4


def _count(run: Path) -> int:
    try:
        with sqlite3.connect(run / "results.sqlite", timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM children").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_resume_refuses_changed_config_but_allows_more_episodes(tmp_path, capsys):
    summary = search(tmp_path, "run", episodes=2)
    assert main(["search", "--resume", str(summary.run_dir), "--children", "7", "--quiet"]) == 2
    assert "--children differs" in capsys.readouterr().err
    assert main(["search", "--resume", str(summary.run_dir), "--episodes", "3", "--quiet"]) == 0
    assert len(rows(summary.run_dir)) == 15


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--episodes", "0"], "Bad value '0' for --episodes"),
        (["--space", "resnet"], "Bad value 'resnet' for --space"),
        (["--strategy", "annealing"], "Bad value 'annealing' for --strategy"),
        (["--config", "nope.yaml"], "No config file at nope.yaml"),
        (["--layer-schedule", "6-2-1600"], "START:STEP:EVERY"),
        (["--resume", "/nonexistent/run"], "has no checkpoints/latest.pt"),
    ],
)
def test_bad_config_is_one_sentence_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["search", "--evaluator", "synthetic", "--run-dir", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_data_stops_before_the_run_folder_is_written(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["search", "--evaluator", "train", "--data", f"folder:{tmp_path / 'nowhere'}", "--run-dir", str(run)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and len(err.strip().splitlines()) == 2  # "Loading data" + the one error sentence
    assert not (run / "results.sqlite").exists()


def test_existing_run_dir_is_not_overwritten(tmp_path, capsys):
    summary = search(tmp_path, "run", episodes=1)
    before = rows(summary.run_dir)
    assert main(["search", "--evaluator", "synthetic", "--run-dir", str(summary.run_dir)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert rows(summary.run_dir) == before


def test_config_file_and_seed_mode_form(tmp_path):
    cfg = tmp_path / "my.yaml"
    cfg.write_text("evaluator: synthetic\nspace: dna\nlayers: 3\nepisodes: 2\nchildren: 2\n")
    run = tmp_path / "run"
    assert main(["--mode", "nas", "--config", str(cfg), "--episodes", "3", "--run-dir", str(run), "--quiet"]) == 0
    assert len(rows(run)) == 6
    assert "space: dna" in (run / "config.yaml").read_text()


def test_none_unsets_an_optional_field(tmp_path):
    run = tmp_path / "run"
    argv = ["search", "--evaluator", "synthetic", "--episodes", "1", "--tanh-constant", "none", "--layers", "3"]
    assert main([*argv, "--run-dir", str(run), "--quiet"]) == 0
    assert "tanh_constant: null" in (run / "config.yaml").read_text()


def test_layer_schedule_grows_the_children(tmp_path):
    summary = search(tmp_path, "run", episodes=4, layers=6, layer_schedule="2:2:10")
    depths = [json.loads(r.arch_json)["layers"] for r in RunStore(summary.run_dir).children()]
    assert [len(d) for d in depths[::5]] == [2, 2, 4, 4]


def test_sigterm_inside_a_child_interrupts_the_search_not_the_child(tmp_path, monkeypatch):
    from nasrl.search.run import SearchInterrupt

    original = SyntheticEvaluator.evaluate

    def term_in_child(self, arch, episode, child, epochs=None):
        if (episode, child) == (1, 2):
            raise SearchInterrupt("SIGTERM")
        return original(self, arch, episode, child)

    monkeypatch.setattr(SyntheticEvaluator, "evaluate", term_in_child)
    summary = search(tmp_path, "run", episodes=3)
    assert summary.status == "interrupted"
    assert all(r[4] == "ok" for r in rows(summary.run_dir))
    assert len(rows(summary.run_dir)) == 7


def test_resume_rewrites_a_stale_best_architecture_file(tmp_path):
    summary = search(tmp_path, "run", episodes=3)
    best = RunStore(summary.run_dir).best()
    stale = json.loads((summary.run_dir / "best_architecture.json").read_text())
    stale["reward"], stale["episode"] = -1.0, 99  # as if a kill came before the file caught up
    (summary.run_dir / "best_architecture.json").write_text(json.dumps(stale))
    assert main(["search", "--resume", str(summary.run_dir), "--quiet"]) == 0
    again = json.loads((summary.run_dir / "best_architecture.json").read_text())
    assert (again["reward"], again["episode"], again["child"]) == (best.reward, best.episode, best.child)


def test_a_run_folder_has_one_writer(tmp_path, capsys):
    summary = search(tmp_path, "run", episodes=1)
    holder = RunStore(summary.run_dir)
    holder.lock()
    try:
        assert main(["search", "--resume", str(summary.run_dir), "--episodes", "2", "--quiet"]) == 2
        assert "Another nasrl process is writing to" in capsys.readouterr().err
    finally:
        holder.close()
    assert main(["search", "--resume", str(summary.run_dir), "--episodes", "2", "--quiet"]) == 0


def test_resume_accepts_the_runs_own_values(tmp_path):
    summary = search(tmp_path, "run", episodes=1, seed=0)
    argv = ["search", "--resume", str(summary.run_dir), "--seed", "0", "--layers", "4", "--episodes", "2"]
    assert main([*argv, "--quiet"]) == 0


def test_one_layer_space_without_gradient_clipping(tmp_path):
    summary = search(tmp_path, "run", episodes=2, layers=1, controller_grad_clip=None)
    assert summary.status == "finished"


@pytest.mark.parametrize("schedule", ["2:x:4", "3::4", "3:-2:4", "0:2:4", "3:2:0"])
def test_bad_layer_schedules_are_refused_before_the_run(schedule, tmp_path, capsys):
    run = tmp_path / "r"
    argv = ["search", "--evaluator", "synthetic", "--layer-schedule", schedule, "--run-dir", str(run)]
    assert main(argv) == 2
    assert "START:STEP:EVERY" in capsys.readouterr().err
    assert not run.exists()


def test_a_run_folder_of_the_previous_version_reports_lists_and_resumes_exactly(tmp_path, capsys):
    """A search started by nasrl 0.1 (3 of 6 episodes, before the controller's position parts existed) resumes
    to exactly the children that version's uninterrupted run stored (recorded in the fixture)."""
    import shutil

    fixtures = Path(__file__).parent / "fixtures"
    run = tmp_path / "old"
    shutil.copytree(fixtures / "search-run-v0.1", run)
    assert main(["report", str(run)]) == 0 and (run / "report" / "report.html").is_file()
    assert main(["runs", str(tmp_path)]) == 0 and "finished" in capsys.readouterr().out
    assert main(["search", "--resume", str(run), "--episodes", "6", "--quiet"]) == 0
    expected = [tuple(row) for row in json.loads((fixtures / "search-run-v0.1-full-rows.json").read_text())]
    assert rows(run) == expected


def test_a_run_folder_of_the_flat_config_version_resumes_exactly(tmp_path):
    """A PPO search started before the search config had sections (its config.yaml the 74 flat fields, 3 of 6
    episodes) resumes to exactly the children that version's uninterrupted run stored (recorded in the fixture)."""
    import shutil

    fixtures = Path(__file__).parent / "fixtures"
    run = tmp_path / "flat"
    shutil.copytree(fixtures / "search-run-flat-config", run)
    assert main(["search", "--resume", str(run), "--episodes", "6", "--quiet"]) == 0
    expected = [tuple(row) for row in json.loads((fixtures / "search-run-flat-config-full-rows.json").read_text())]
    assert rows(run) == expected
