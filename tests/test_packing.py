"""Packing children on one GPU with Ray's fractional GPUs, on a local Ray with one logical GPU (no CUDA needed).

Children sleep and report when they ran; the most intervals that overlap is how many shared the GPU."""

import sys
import time

import pytest
import torch

from nasrl.cli import main
from nasrl.config import SearchConfig, make_config
from nasrl.errors import UserError
from nasrl.run.records import ChildResult
from nasrl.search.evaluators import SyntheticEvaluator
from nasrl.space import Architecture

ARCH = Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 3, "filters": f} for f in (36, 48, 64)])


class SleepyEvaluator(SyntheticEvaluator):
    """A child that holds its GPU share for `seconds` and returns when it ran (wall clock) in its history."""

    def __init__(self, cfg: SearchConfig, seconds: float):
        super().__init__(cfg.search_space(), cfg.synthetic_seed)
        self.seconds = seconds

    def evaluate(self, arch, episode, child_index, epochs=None):
        start = time.time()
        time.sleep(self.seconds)
        result = super().evaluate(arch, episode, child_index, epochs)
        result.history = [{"start": start, "end": time.time()}]
        return result


class DeviceEvaluator(SyntheticEvaluator):
    """Has a `device`, as TrainEvaluator has: the worker sets it to the GPU Ray assigned."""

    device = torch.device("cpu")


@pytest.fixture(scope="module")
def gpu_ray():
    """A local Ray with one logical GPU and CPUs for 8 children (4 CPUs, half a CPU each), so the GPU share alone
    limits how many run. Four workers start (torch imported) before any test measures: a cold worker's start-up,
    seconds on a busy machine, would stagger the children and hide the packing."""
    ray = pytest.importorskip("ray")
    from nasrl.search.executors import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        children(RayExecutor, gpus=0.25, count=4, seconds=1.0)
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


def children(executor_class, gpus: float, count: int, seconds: float = 0.5, evaluator=None) -> list[ChildResult]:
    """`count` copies of one architecture through the executor directly (no search, so no cache)."""
    cfg = ray_config(gpus)
    executor = executor_class(cfg, evaluator or SleepyEvaluator(cfg, seconds))
    try:
        return [result for _, _, result in executor.run(0, [(i, ARCH) for i in range(count)])]
    finally:
        executor.close()


def most_at_once(results: list[ChildResult]) -> int:
    """The peak number of overlapping (start, end) intervals; an end at the same instant as a start comes first."""
    events = sorted([(r.history[0]["start"], 1) for r in results] + [(r.history[0]["end"], -1) for r in results])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize(("gpus", "packed", "count"), [(0.25, 4, 8), (0.5, 2, 4), (1.0, 1, 3)])
def test_a_gpu_share_runs_exactly_that_many_children_at_once(gpu_ray, gpus, packed, count):
    results = children(gpu_ray, gpus, count)
    assert all(r.ok for r in results)
    assert most_at_once(results) == packed


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch sees no CUDA device")
def test_a_gpu_torch_cannot_use_fails_the_child_in_one_sentence(gpu_ray):
    from nasrl.search.executors import NO_CUDA_ON_WORKER

    cfg = ray_config(0.5)
    (result,) = children(gpu_ray, 0.5, 1, evaluator=DeviceEvaluator(cfg.search_space(), 0))
    assert not result.ok and result.reward == 0.0
    assert result.error == NO_CUDA_ON_WORKER.format(torch=torch.__version__)
    assert "install a CUDA build of torch" in result.error and "--gpus-per-child 0" in result.error


def test_more_gpus_per_child_than_a_local_ray_has_is_refused_not_queued_forever(gpu_ray):
    with pytest.raises(UserError, match=r"^--gpus-per-child 2 asks for more GPUs than this machine's Ray has \(1\)"):
        children(gpu_ray, 2, 1)


@pytest.mark.parametrize("gpus", [0, 0.125, 0.25, 0.5, 1, 2, "0.25"])
def test_whole_gpus_and_shares_of_one_are_accepted(gpus):
    assert make_config({}, {"gpus_per_child": gpus}).gpus_per_child == float(gpus)


@pytest.mark.parametrize("gpus", ["1.5", "2.25", "0.00001"])
def test_a_gpu_count_ray_cannot_schedule_is_one_sentence_and_exit_2(gpus, capsys, tmp_path):
    argv = ["search", "--evaluator", "synthetic", "--executor", "ray", "--run-dir", str(tmp_path / "r")]
    assert main([*argv, "--gpus-per-child", gpus]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nasrl: error: Bad value '{gpus}' for --gpus-per-child: must be a whole number of GPUs")
    assert len(err.splitlines()) == 1 and err.endswith(".")
    assert not (tmp_path / "r").exists()
