"""The Ray executor against a real local Ray (2 CPUs), not a mock."""

import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from nasrl.config import make_config  # noqa: E402
from nasrl.errors import UserError  # noqa: E402
from nasrl.search.evaluators.synthetic import SyntheticEvaluator  # noqa: E402
from nasrl.search.executors import _import_ray  # noqa: E402
from nasrl.search.run import prepare_run, run_search  # noqa: E402
from nasrl.space import preset  # noqa: E402

# Workers cannot import this test module: ship its classes by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def search(tmp_path: Path, name: str, given=None, **fields):
    base = {"evaluator": "synthetic", "space": "zoph", "layers": 4, "children": 4, "episodes": 3, "seed": 5}
    cfg = make_config({**base, **fields, "run_dir": str(tmp_path / name)})
    return run_search(prepare_run(cfg, None, {}), quiet=True, evaluator=given)


def rows(run_dir: Path) -> list[tuple]:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return db.execute(
            "SELECT episode, child, arch_hash, reward, status, cached, error FROM children ORDER BY episode, child"
        ).fetchall()


def test_ray_and_local_store_identical_results(tmp_path):
    local = search(tmp_path, "local", executor="local")
    remote = search(tmp_path, "ray", executor="ray")
    assert rows(local.run_dir) == rows(remote.run_dir)
    assert len(rows(remote.run_dir)) == 12


def test_tiny_train_search_on_ray_stores_every_child_and_ships_data_once(tmp_path, monkeypatch):
    puts = []
    real_put = ray.put

    def counting_put(value, *args, **kwargs):
        puts.append(type(value).__name__)
        return real_put(value, *args, **kwargs)

    monkeypatch.setattr(ray, "put", counting_put)
    summary = search(
        tmp_path,
        "train",
        executor="ray",
        evaluator="train",
        data="synthetic",
        data_dir=str(tmp_path / "data"),
        layers=2,
        episodes=2,
        children=2,
        child_epochs=1,
        child_max_steps=2,
        train_subset=200,
        val_subset=100,
    )
    stored = rows(summary.run_dir)
    assert summary.status == "finished" and len(stored) == 4
    assert all(r[4] == "ok" and 0.0 <= r[3] <= 1.0 for r in stored)
    assert puts == ["TrainEvaluator"]  # the evaluator and its data: once per run, not once per child


class KillerEvaluator(SyntheticEvaluator):
    """Kills its own worker process on child 1, every time, after leaving a mark per attempt."""

    def __init__(self, space, seed, marks: str):
        super().__init__(space, seed)
        self.marks = marks

    def evaluate(self, arch, episode, child_index, epochs=None):
        if child_index == 1:
            with open(self.marks, "a") as f:
                f.write(f"{episode}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().evaluate(arch, episode, child_index, epochs)


def test_killed_worker_is_retried_then_recorded_as_failed(tmp_path, monkeypatch):
    marks = tmp_path / "attempts.txt"

    killer = KillerEvaluator(preset("zoph", 4), 0, str(marks))  # the config's synthetic target (seed 0)
    summary = search(tmp_path, "killed", killer, executor="ray", episodes=2, max_child_retries=1)
    assert summary.status == "finished"
    stored = rows(summary.run_dir)
    assert len(stored) == 8
    failed = [r for r in stored if r[1] == 1]
    assert all(r[4] == "failed" and r[3] == 0.0 and "worker lost after 2 tries" in r[6] for r in failed)
    assert all(r[4] == "ok" for r in stored if r[1] != 1)
    assert marks.read_text().split() == ["0", "0", "1", "1"]  # one try and one retry per episode


def test_without_ray_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match=r'pip install -e "\.\[ray\]"'):
        _import_ray()


def test_benchmark_search_on_ray_stores_the_same_rows_as_local(tmp_path):
    """The benchmark evaluator ships to Ray workers with its table, and answers there as it does in-process."""
    fields = {"evaluator": "benchmark", "space": "nb201", "layers": None, "max_evaluations": 12, "episodes": 50}
    local = search(tmp_path, "local", executor="local", **fields)
    remote = search(tmp_path, "ray", executor="ray", **fields)
    assert rows(local.run_dir) == rows(remote.run_dir)
    with sqlite3.connect(remote.run_dir / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM children WHERE cached=0").fetchone()[0] == 12
        assert db.execute("SELECT COUNT(*) FROM children WHERE test_acc IS NULL").fetchone()[0] == 0
