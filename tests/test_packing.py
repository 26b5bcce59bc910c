"""Packing children on one GPU with Ray's fractional GPUs, on a local Ray with one logical GPU (no CUDA needed).

No clock decides anything here: children count themselves in and out of a shared file under a lock, and each
waits at a barrier until its whole group of `packed` has started, so a GPU share that lets fewer run at once
never gets past the barrier (the child fails), and one that lets more run shows in the peak count."""

import fcntl
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from nasrl.cli import main
from nasrl.config import SearchConfig, make_config
from nasrl.errors import UserError
from nasrl.run.records import ChildResult
from nasrl.search.evaluators.synthetic import SyntheticEvaluator
from nasrl.search.executors import LocalExecutor
from nasrl.space import Architecture

#: Children of different architectures, so that results arriving out of order could not pass for the right ones.
SIZES, FILTERS = (1, 3, 5, 7), (24, 36, 48, 64)
ARCHS = [
    Architecture.from_layers(
        "zoph",
        [
            {
                "filter_height": SIZES[(k + i) % 4],
                "filter_width": SIZES[(k // 4 + i) % 4],
                "filters": FILTERS[(k + 2 * i) % 4],
            }
            for i in range(3)
        ],
    )
    for k in range(8)
]

#: Only a broken packing waits this long: a child whose group never completes gives up and fails.
BARRIER_LIMIT_S = 120.0


class CountingEvaluator(SyntheticEvaluator):
    """A synthetic child that counts itself in and out of `folder`/state.json (under a lock) and, once in, waits
    until its group of `packed` children (tickets in order of arrival) has started; it reports the GPU share
    Ray assigned it in its history."""

    def __init__(self, cfg: SearchConfig, folder: Path, packed: int, count: int):
        super().__init__(cfg.search_space(), cfg.evaluator.synthetic_seed)
        self.folder, self.packed, self.count = folder, packed, count
        (folder / "state.json").write_text(json.dumps({"running": 0, "peak": 0, "started": 0}))

    @contextmanager
    def state(self):
        with open(self.folder / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads((self.folder / "state.json").read_text())
            yield state
            (self.folder / "state.json").write_text(json.dumps(state))

    def evaluate(self, arch, episode, child_index, epochs=None):
        import ray

        with self.state() as state:
            ticket = state["started"]
            state["started"] += 1
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        group_end = min(self.count, (ticket // self.packed + 1) * self.packed)
        deadline = time.monotonic() + BARRIER_LIMIT_S
        while not self._started(group_end):
            if time.monotonic() > deadline:
                return ChildResult.failure(f"only part of the group of {self.packed} ever ran at once")
            time.sleep(0.005)
        result = super().evaluate(arch, episode, child_index, epochs)
        result.history = [{"gpus": ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0)}]
        with self.state() as state:
            state["running"] -= 1
        return result

    def _started(self, at_least: int) -> bool:
        with self.state() as state:
            return state["started"] >= at_least

    def peak(self) -> int:
        """The most children inside `evaluate` at once, over the whole run."""
        with self.state() as state:
            return state["peak"]


class DeviceEvaluator(SyntheticEvaluator):
    """Has a `device`, as TrainEvaluator has: the worker sets it to the GPU Ray assigned."""

    device = torch.device("cpu")


@pytest.fixture(scope="module")
def gpu_ray():
    """A local Ray with one logical GPU and CPUs for 8 children (4 CPUs, half a CPU each), so the GPU share alone
    limits how many run at once."""
    ray = pytest.importorskip("ray")
    from nasrl.search.executors import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield RayExecutor
    finally:
        ray.shutdown()


def ray_config(gpus: float) -> SearchConfig:
    return make_config(
        {"evaluator": "synthetic", "space": "zoph", "layers": 3, "executor": "ray"},
        {
            "gpus_per_child": gpus,
            "cpus_per_child": 0.5,
        },
    )


def children(executor, count: int) -> list[ChildResult]:
    """The first `count` of ARCHS through `executor` directly (no search, so no cache), in child order."""
    try:
        finished = {index: result for index, _, result in executor.run(0, list(enumerate(ARCHS[:count])))}
    finally:
        executor.close()
    return [finished[i] for i in range(count)]


@pytest.mark.parametrize(("gpus", "packed", "count"), [(0.25, 4, 8), (0.5, 2, 4), (1.0, 1, 3)])
def test_a_gpu_share_runs_exactly_that_many_children_at_once(gpu_ray, tmp_path, gpus, packed, count):
    cfg = ray_config(gpus)
    counting = CountingEvaluator(cfg, tmp_path, packed, count)
    results = children(gpu_ray(cfg, counting), count)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]  # every group of `packed` ran at once
    assert counting.peak() == packed  # and never more than that
    assert [r.history[0]["gpus"] for r in results] == [gpus] * count  # each got the share it asked for
    one_at_a_time = children(LocalExecutor(SyntheticEvaluator(cfg.search_space(), cfg.evaluator.synthetic_seed)), count)
    assert [(r.reward, r.val_acc) for r in results] == [(r.reward, r.val_acc) for r in one_at_a_time]
    assert len({r.reward for r in results}) > 1  # different children, so a mix-up of results would show


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch sees no CUDA device")
def test_a_gpu_torch_cannot_use_fails_the_child_in_one_sentence(gpu_ray):
    from nasrl.search.executors import NO_CUDA_ON_WORKER

    cfg = ray_config(0.5)
    (result,) = children(gpu_ray(cfg, DeviceEvaluator(cfg.search_space(), 0)), 1)
    assert not result.ok and result.reward == 0.0
    assert result.error == NO_CUDA_ON_WORKER.format(torch=torch.__version__)
    assert "install a CUDA build of torch" in result.error and "--gpus-per-child 0" in result.error


def test_more_gpus_per_child_than_a_local_ray_has_is_refused_not_queued_forever(gpu_ray):
    with pytest.raises(UserError, match=r"^--gpus-per-child 2 asks for more GPUs than this machine's Ray has \(1\)"):
        gpu_ray(ray_config(2), SyntheticEvaluator(ray_config(2).search_space(), 0))


@pytest.mark.parametrize("gpus", [0, 0.125, 0.25, 0.5, 1, 2, "0.25"])
def test_whole_gpus_and_shares_of_one_are_accepted(gpus):
    assert make_config({}, {"gpus_per_child": gpus}).executor.gpus_per_child == float(gpus)


@pytest.mark.parametrize("gpus", ["1.5", "2.25", "0.00001"])
def test_a_gpu_count_ray_cannot_schedule_is_one_sentence_and_exit_2(gpus, capsys, tmp_path):
    argv = ["search", "--evaluator", "synthetic", "--executor", "ray", "--run-dir", str(tmp_path / "r")]
    assert main([*argv, "--gpus-per-child", gpus]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nasrl: error: Bad value '{gpus}' for --gpus-per-child: must be a whole number of GPUs")
    assert len(err.splitlines()) == 1 and err.endswith(".")
    assert not (tmp_path / "r").exists()
