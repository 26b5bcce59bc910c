"""Where children are evaluated: in this process, one at a time (`local`), or as Ray tasks (`ray`).

An executor takes one episode's pending children and yields each result as soon
as it is known, so the driver, the only writer of the run store, stores and logs
every child the moment it finishes. With children in flight (`--in-flight K`) the
driver instead submits children one by one, asks how many more the executor takes
(`free_slots`), and collects results as they finish (`wait_any`).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from nasrl.config import SearchConfig
from nasrl.errors import UserError
from nasrl.run.records import ChildResult
from nasrl.search.evaluators.base import Evaluator, evaluate_safely
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


#: A finished child as the asynchronous loop collects it: (episode, child, architecture, result).
Finished = tuple[int, int, Architecture, ChildResult]


class AsyncExecutor(Executor, Protocol):
    """An executor the loop with children in flight drives: children go in one at a time, results come out as they
    finish, and `free_slots` says how many more to propose now (the driver proposes nothing else)."""

    #: Children run while the driver waits (Ray's workers), so the driver proposes the next ones ahead of time and
    #: updates after refilling: a freed worker then waits for neither a controller pass nor an update.
    concurrent: bool

    def submit(self, episode: int, index: int, arch: Architecture, epochs: int | None = None) -> None: ...

    def free_slots(self, in_flight: int) -> int: ...

    def wait_any(self) -> list[Finished]: ...


class LocalExecutor:
    """One child after another in the driver's process (the default, and the reference for the others)."""

    description = "Children are evaluated one at a time in this process"
    concurrent = False  # the driver itself evaluates: nothing runs while it proposes

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.queue: deque[tuple[int, int, Architecture, int | None]] = deque()

    def submit(self, episode: int, index: int, arch: Architecture, epochs: int | None = None) -> None:
        """Queue a child (to `epochs`, a scheduler's rung); it is evaluated lazily, by `wait_any`."""
        self.queue.append((episode, index, arch, epochs))

    def free_slots(self, in_flight: int) -> int:
        """All K slots once the queue is empty, none before: one worker cannot run K children at once, so the
        driver proposes in batches of K, and with K = --children it proposes (and draws its random numbers)
        exactly as the synchronous loop does."""
        return in_flight if not self.queue else 0

    def wait_any(self) -> list[Finished]:
        episode, index, arch, epochs = self.queue.popleft()
        return [(episode, index, arch, evaluate_safely(self.evaluator, arch, episode, index, epochs))]

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

    concurrent = True

    def __init__(self, cfg: SearchConfig, evaluator: Evaluator) -> None:
        ray = _import_ray()
        started = time.perf_counter()
        started_here = not ray.is_initialized()
        if started_here:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if cfg.executor.ray_address:
                ray.init(address=cfg.executor.ray_address, **options)
            else:
                ray.init(**options)
        self.startup_seconds = time.perf_counter() - started
        self.ray = ray
        self.owns_ray = started_here
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        gpus = self.gpus_per_child = self._gpu_share(cfg, cluster_gpus)
        shipped = copy.copy(evaluator)
        if hasattr(shipped, "progress"):
            shipped.progress = False  # the driver's progress display stays in the driver
        self.evaluator_ref = ray.put(shipped)
        self.task = ray.remote(_evaluate_on_worker).options(
            num_cpus=cfg.executor.cpus_per_child,
            num_gpus=gpus,
            max_retries=cfg.executor.max_child_retries,
            retry_exceptions=False,
        )
        self.threads = max(1, int(cfg.executor.cpus_per_child))
        self.retries = cfg.executor.max_child_retries
        self.in_flight: dict[Any, tuple[int, int, Architecture, float]] = {}  # ref -> (episode, index, arch, start)
        packing = f" (up to {int(1 / gpus + 1e-9)} children per GPU)" if 0 < gpus < 1 else ""
        waiting = "; the cluster has too few GPUs for one child yet, so children wait" if gpus > cluster_gpus else ""
        self.description = (
            f"Ray ready in {self.startup_seconds:.1f}s ({ray.cluster_resources().get('CPU', 0):g} CPUs, "
            f"{cluster_gpus:g} GPUs); each child gets {cfg.executor.cpus_per_child:g} CPU(s) "
            f"and {gpus:g} GPU(s){packing}, up to {self.retries} retries if its worker dies{waiting}"
        )

    def _gpu_share(self, cfg: SearchConfig, cluster_gpus: float) -> float:
        """GPUs per child: the flag's, else one where the cluster has GPUs. A local Ray with fewer GPUs than one
        child asks for would queue every child forever, so that is refused here (a joined cluster may still add
        GPU nodes)."""
        gpus = cfg.executor.gpus_per_child
        if gpus is None:
            gpus = 1.0 if cluster_gpus > 0 else 0.0
        if gpus > cluster_gpus and not cfg.executor.ray_address:
            if self.owns_ray:
                self.ray.shutdown()
            instead = "0 to train on the CPU" if cluster_gpus == 0 else f"{cluster_gpus:g} or less"
            raise UserError(
                f"--gpus-per-child {gpus:g} asks for more GPUs than this machine's Ray has ({cluster_gpus:g}), so no "
                f"child would ever start: use --gpus-per-child {instead}."
            )
        return gpus

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
            yield index, arch, self._result(ready, started)

    def _result(self, ref: Any, started: float) -> ChildResult:
        try:
            return self.ray.get(ref)
        except Exception as e:  # the worker died on every try
            return ChildResult.failure(  # the worker's own exceptions were turned into results there
                f"worker lost after {1 + self.retries} tries: {type(e).__name__}: "
                + str(e).strip().splitlines()[0][:300],
                time.perf_counter() - started,
            )

    def submit(self, episode: int, index: int, arch: Architecture, epochs: int | None = None) -> None:
        ref = self.task.remote(self.evaluator_ref, arch, episode, index, self.threads, epochs)
        self.in_flight[ref] = (episode, index, arch, time.perf_counter())

    def free_slots(self, in_flight: int) -> int:
        """A slot per child finished: K tasks stay submitted (Ray queues what its CPUs cannot run yet)."""
        return max(0, in_flight - len(self.in_flight))

    def wait_any(self) -> list[Finished]:
        """Every child finished by now, at least one (a driver that fell behind collects them in one go)."""
        ready, _ = self.ray.wait(list(self.in_flight), num_returns=1)
        more, _ = self.ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=0)
        done = []
        for ref in dict.fromkeys([*ready, *more]):
            episode, index, arch, started = self.in_flight.pop(ref)
            done.append((episode, index, arch, self._result(ref, started)))
        return done

    def close(self) -> None:
        """Cancel children still in flight (their rows stay pending, to run again on resume); shut down the local
        Ray this executor started (a cluster joined, or a Ray the caller runs, stays)."""
        for ref in self.in_flight:
            with contextlib.suppress(Exception):  # already finished, or Ray is gone: nothing left to stop
                self.ray.cancel(ref, force=True)
        self.in_flight.clear()
        if self.owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


def _evaluate_on_worker(
    evaluator: Evaluator, arch: Architecture, episode: int, index: int, threads: int, epochs: int | None = None
) -> ChildResult:
    """Runs in a Ray worker: train on the GPU Ray assigned (CUDA_VISIBLE_DEVICES), else on the CPU. A GPU that
    torch cannot see (a CPU-only torch on a GPU node) fails the child with what to do, not a CUDA traceback."""
    import ray
    import torch

    torch.set_num_threads(threads)
    if hasattr(evaluator, "device"):
        assigned = bool(ray.get_gpu_ids())
        if assigned and not torch.cuda.is_available():
            return ChildResult.failure(NO_CUDA_ON_WORKER.format(torch=torch.__version__))
        evaluator.device = torch.device("cuda" if assigned else "cpu")
    return evaluate_safely(evaluator, arch, episode, index, epochs)


NO_CUDA_ON_WORKER = (
    "Ray gave this child a GPU that torch {torch} on its node cannot use (torch.cuda.is_available() is False): "
    "install a CUDA build of torch and the NVIDIA driver on that node, or run with --gpus-per-child 0."
)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            '--executor ray needs Ray: install it with `pip install -e ".[ray]"` (or `pip install ray`).'
        ) from None
    return ray


def make_executor(cfg: SearchConfig, evaluator: Evaluator) -> AsyncExecutor:
    """The executor the config names (both run episodes and children in flight)."""
    if cfg.executor.name == "ray":
        return RayExecutor(cfg, evaluator)
    return LocalExecutor(evaluator)
