"""The one lifecycle every search shares: a full disk is one sentence and resumes exactly, a kill at start-up leaves
a folder that --resume continues, the Python entry point reads like the CLI, and a strategy registered from one
file runs a search with no other module touched."""

import errno
import os
import sqlite3
import subprocess
import sys

import pytest
from stored import rows

from nasrl.api import search
from nasrl.cli import main
from nasrl.errors import UserError
from nasrl.run.store import RunStore
from nasrl.search.strategies import registry
from nasrl.search.strategies.random_search import RandomSearch

FLAGS = {"evaluator": "synthetic", "space": "zoph", "layers": 3, "children": 4, "episodes": 4, "rungs": None}
ARGV = ["--evaluator", "synthetic", "--space", "zoph", "--layers", "3", "--children", "4", "--episodes", "4"]
ARGV += ["--rungs", "none", "--quiet"]


def test_python_entry_point_reads_like_the_cli_and_equals_it(tmp_path):
    summary = search(config="default", run_dir=str(tmp_path / "api"), **FLAGS)
    assert summary.status == "finished" and summary.episodes_done == 4
    assert main(["search", *ARGV, "--run-dir", str(tmp_path / "cli")]) == 0
    assert rows(tmp_path / "api") == rows(tmp_path / "cli")
    with pytest.raises(UserError, match="Bad value 0 for --episodes"):
        search(config="default", **{**FLAGS, "episodes": 0})


def test_full_disk_mid_run_is_one_sentence_and_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    search(config="default", run_dir=str(tmp_path / "whole"), **FLAGS)
    original, calls = RunStore.record_child, {"n": 0}

    def full_after_six(self, rec):
        calls["n"] += 1
        if calls["n"] > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, rec)

    monkeypatch.setattr(RunStore, "record_child", full_after_six)
    run = tmp_path / "full"
    assert main(["search", *ARGV, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and f"--resume {run}" in err[0]
    assert "the run is intact" in err[0]
    monkeypatch.setattr(RunStore, "record_child", original)  # space freed
    assert main(["search", "--resume", str(run), "--quiet"]) == 0
    assert rows(run) == rows(tmp_path / "whole") and rows(run, "steps") == rows(tmp_path / "whole", "steps")


def test_sqlite_and_torch_ways_of_saying_disk_full_are_recognised():
    from nasrl.search.run import _disk_full

    assert _disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert _disk_full(sqlite3.OperationalError("database or disk is full"))
    assert _disk_full(RuntimeError("[enforce fail at inline_container.cc:778] PytorchStreamWriter failed writing"))
    assert not _disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not _disk_full(RuntimeError("shape mismatch"))


# Kills its own process (kill -9) at one moment of start-up: before the store exists, or before the first checkpoint.
KILL_AT_START = """
import os, signal, sys
from nasrl.search import run
from nasrl.search.drivers import children

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[1] == "store":
    run.RunStore = die
else:
    children.save_search_checkpoint = die
from nasrl.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("moment", ["store", "checkpoint"])
def test_a_kill_at_start_up_leaves_a_folder_that_resume_and_a_restart_continue(tmp_path, moment):
    search(config="default", run_dir=str(tmp_path / "whole"), **FLAGS)
    for name in ("resumed", "restarted"):
        run = tmp_path / name
        argv = [sys.executable, "-c", KILL_AT_START, moment, "search", *ARGV, "--run-dir", str(run)]
        proc = subprocess.run(argv, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
        assert proc.returncode == -9 and (run / "config.yaml").is_file()
        assert not (run / "checkpoints" / "latest.pt").exists()
    assert main(["search", "--resume", str(tmp_path / "resumed"), "--quiet"]) == 0
    assert main(["search", *ARGV, "--run-dir", str(tmp_path / "restarted")]) == 0
    for name in ("resumed", "restarted"):
        assert rows(tmp_path / name) == rows(tmp_path / "whole")


class FirstChoice(RandomSearch):
    """A throwaway strategy: every decision its first choice, no skips."""

    def propose(self, n):
        first = {t.name: t.choices[0] for t in self.space.tokens}
        space = self.space.with_layers(self.num_layers)
        return [space.architecture([first] * self.num_layers) for _ in range(n)]


def test_a_strategy_registered_from_one_place_runs_a_search_by_its_name(tmp_path, monkeypatch):
    registry.strategy_names()
    monkeypatch.setattr(registry.STRATEGIES, "kinds", dict(registry.STRATEGIES.kinds))  # leaves with the test
    registry.register_strategy("first", summary="always the first choice", has_policy=False)(FirstChoice)
    assert "first" in registry.strategy_names() and "first: always the first choice" in registry.strategies_help()
    summary = search(config="default", run_dir=str(tmp_path / "first"), **{**FLAGS, "strategy": "first"})
    stored = rows(summary.run_dir)
    assert len(stored) == 16 and len({r[2] for r in stored}) == 1  # one architecture, proposed 16 times
    assert sum(not r[5] for r in stored) == 1  # trained once, the other 15 answered by the cache
