"""Where children are evaluated: in this process, one at a time (`local`), or as Ray tasks (`ray`).

An executor takes one episode's pending children and yields each result as soon
as it is known, so the driver, the only writer of the run store, stores and logs
every child the moment it finishes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from nasrl.config import SearchConfig
from nasrl.errors import UserError
from nasrl.run.records import ChildResult
from nasrl.search.evaluators import Evaluator, evaluate_safely
from nasrl.space import Architecture


class Executor(Protocol):
    """Where an episode's children are evaluated. `run` yields each result as soon as it is known (in any
    order), so the driver stores every child the moment it finishes; `close` releases what the executor
    started (the loop calls it however the search ends)."""

    description: str

    def run(
        self, episode: int, children: Sequence[tuple[int, Architecture]], epochs: int | None = None
    ) -> Iterator[tuple[int, Architecture, ChildResult]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """One child after another in the driver's process (the default, and the reference for the others)."""

    description = "Children are evaluated one at a time in this process"

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def run(
        self, episode: int, children: Sequence[tuple[int, Architecture]], epochs: int | None = None
    ) -> Iterator[tuple[int, Architecture, ChildResult]]:
        for index, arch in children:
            yield index, arch, evaluate_safely(self.evaluator, arch, episode, index, epochs)

    def close(self) -> None:
        pass


class RayExecutor:
    """The children of an episode as concurrent Ray tasks, each with the CPUs and GPU share Ray gives it.

    The evaluator, and with it the data set, goes into Ray's object store once per run; every task reads it
    from there. A task whose worker dies (killed, out of memory, node lost) is retried by Ray up to
    `max_child_retries` times, then comes back as a failed child."""

    def __init__(self, cfg: SearchConfig, evaluator: Evaluator) -> None:
        ray = _import_ray()
        started = time.perf_counter()
        started_here = not ray.is_initialized()
        if started_here:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if cfg.ray_address:
                ray.init(address=cfg.ray_address, **options)
            else:
                ray.init(**options)
        self.startup_seconds = time.perf_counter() - started
        self.ray = ray
        self.owns_ray = started_here
        gpus = cfg.gpus_per_child
        if gpus is None:  # a GPU per child where the cluster has GPUs, else CPU training
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self.gpus_per_child = gpus
        shipped = copy.copy(evaluator)
        if hasattr(shipped, "progress"):
            shipped.progress = False  # the driver's progress display stays in the driver
        self.evaluator_ref = ray.put(shipped)
        self.task = ray.remote(_evaluate_on_worker).options(
            num_cpus=cfg.cpus_per_child,
            num_gpus=gpus,
            max_retries=cfg.max_child_retries,
            retry_exceptions=False,
        )
        self.threads = max(1, int(cfg.cpus_per_child))
        self.retries = cfg.max_child_retries
        self.description = (
            f"Ray ready in {self.startup_seconds:.1f}s ({ray.cluster_resources().get('CPU', 0):g} CPUs, "
            f"{ray.cluster_resources().get('GPU', 0):g} GPUs); each child gets {cfg.cpus_per_child:g} CPU(s) "
            f"and {gpus:g} GPU(s), up to {self.retries} retries if its worker dies"
        )

    def run(
        self, episode: int, children: Sequence[tuple[int, Architecture]], epochs: int | None = None
    ) -> Iterator[tuple[int, Architecture, ChildResult]]:
        started = time.perf_counter()
        refs = {
            self.task.remote(self.evaluator_ref, arch, episode, index, self.threads, epochs): (index, arch)
            for index, arch in children
        }
        while refs:
            (ready,), _ = self.ray.wait(list(refs), num_returns=1)
            index, arch = refs.pop(ready)
            try:
                result = self.ray.get(ready)
            except Exception as e:  # the worker died on every try
                result = ChildResult.failure(  # the worker's own exceptions were turned into results there
                    f"worker lost after {1 + self.retries} tries: {type(e).__name__}: "
                    + str(e).strip().splitlines()[0][:300],
                    time.perf_counter() - started,
                )
            yield index, arch, result

    def close(self) -> None:
        """Shut down the local Ray this executor started (a cluster joined, or a Ray the caller runs, stays)."""
        if self.owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


def _evaluate_on_worker(
    evaluator: Evaluator, arch: Architecture, episode: int, index: int, threads: int, epochs: int | None = None
) -> ChildResult:
    """Runs in a Ray worker: train on the GPU Ray assigned (CUDA_VISIBLE_DEVICES), else on the CPU."""
    import ray
    import torch

    torch.set_num_threads(threads)
    if hasattr(evaluator, "device"):
        evaluator.device = torch.device("cuda" if ray.get_gpu_ids() else "cpu")
    return evaluate_safely(evaluator, arch, episode, index, epochs)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            '--executor ray needs Ray: install it with `pip install -e ".[ray]"` (or `pip install ray`).'
        ) from None
    return ray


def make_executor(cfg: SearchConfig, evaluator: Evaluator) -> Executor:
    """The executor the config names."""
    if cfg.executor == "ray":
        return RayExecutor(cfg, evaluator)
    return LocalExecutor(evaluator)
