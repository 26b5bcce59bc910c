"""Rewards of architectures: train-and-validate (the real thing) or synthetic (a known answer).

A child that fails (bad shapes, out of memory, any exception) raises; `evaluate_safely`, the one place that
turns an exception into a failed `ChildResult` (reward 0 and its error), is what every executor calls, so
one bad child never stops a search. A diverged training is not an exception: it is a failed result too.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Protocol

import torch

from nasrl.config import SearchConfig
from nasrl.nets import builder
from nasrl.run.records import FAILED_REWARD, ChildResult
from nasrl.run.store import rung_checkpoint_path
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import Architecture, SearchSpace


class Evaluator(Protocol):
    """Turns an architecture into a reward; `episode` and `child_index` seed its training reproducibly.
    `epochs` is a rung of successive halving: train (or continue training) the child up to that many epochs."""

    name: str

    def evaluate(
        self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None
    ) -> ChildResult: ...


def evaluate_safely(
    evaluator: Evaluator, arch: Architecture, episode: int, index: int, epochs: int | None = None
) -> ChildResult:
    """Any exception of an evaluator becomes a failed child: one bad child never stops a search."""
    start = time.perf_counter()
    try:
        return evaluator.evaluate(arch, episode, index, epochs)
    except Exception as e:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # an out-of-memory child must not starve the next one
        return ChildResult.from_exception(e, time.perf_counter() - start)


def child_seed(run_seed: int, episode: int, child_index: int) -> int:
    """A per-child training seed: independent of evaluation order, so resumed runs and parallel workers agree."""
    digest = hashlib.sha256(f"{run_seed}:{episode}:{child_index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class SyntheticEvaluator:
    """Reward = fraction of decisions equal to a hidden target (see `nasrl.synthetic`); trains nothing."""

    name = "synthetic"

    def __init__(self, space: SearchSpace, target_seed: int) -> None:
        self.space = space
        self.target_seed = target_seed
        self._targets: dict[int, Architecture] = {}

    def target(self, num_layers: int) -> Architecture:
        if num_layers not in self._targets:
            self._targets[num_layers] = synthetic_target(self.space.with_layers(num_layers), self.target_seed)
        return self._targets[num_layers]

    def evaluate(self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None) -> ChildResult:
        reward = synthetic_reward(arch, self.target(arch.num_layers), skips=self.space.skips)
        return ChildResult(reward=reward, val_acc=reward)


def reward_from_history(history: list[dict[str, Any]], metric: str) -> float:
    """`best`: the best validation accuracy; `last5`: the paper's max over the last 5 epochs."""
    accs = [h["val_acc"] for h in history if h.get("val_acc") is not None]
    if not accs:
        return FAILED_REWARD
    return float(max(accs[-5:] if metric == "last5" else accs))


class TrainEvaluator:
    """Build the child, train it on the train split, reward = its validation accuracy."""

    name = "train"

    def __init__(
        self,
        cfg: SearchConfig,
        train_split: Any,
        val_split: Any,
        device: torch.device,
        num_classes: int = 10,
        progress: Any = False,
    ) -> None:
        from nasrl.data import Preprocess

        self.cfg = cfg
        self.train_split = train_split
        self.val_split = val_split
        self.device = device
        self.num_classes = num_classes
        self.progress = progress  # False, or a train.ProgressReporter the driver displays
        # Input statistics depend on the training split only: computed once, not once per child.
        self.preprocess = Preprocess.fit(train_split.x)

    def _move_data_to(self, device: torch.device) -> None:
        """Copy the splits to the training device once per process, not once per child (a GPU's case)."""
        from nasrl.data import Split

        if self.train_split.x.device != device:
            self.train_split = Split(self.train_split.x.to(device), self.train_split.y.to(device))
            self.val_split = Split(self.val_split.x.to(device), self.val_split.y.to(device))

    def rung_checkpoint(self, episode: int, child_index: int) -> Path | None:
        """Where a child's training pauses between rungs (None without rungs): in the run folder, so a killed
        search continues a child mid-way instead of training it again."""
        if not self.cfg.rungs or self.cfg.run_dir is None:
            return None
        return rung_checkpoint_path(self.cfg.run_dir, episode, child_index)

    def evaluate(self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None) -> ChildResult:
        from nasrl.train.loop import fit

        self._move_data_to(self.device)
        start = time.perf_counter()
        seed = child_seed(self.cfg.seed, episode, child_index)
        torch.manual_seed(seed)
        in_channels, resolution = int(self.train_split.x.shape[1]), int(self.train_split.x.shape[-1])
        model = builder.build(arch, num_classes=self.num_classes, in_channels=in_channels)
        params = builder.count_parameters(model)
        flops = builder.count_flops(model, resolution=resolution, in_channels=in_channels)
        result = fit(
            model,
            self.train_split,
            self.val_split,
            self.cfg.child_training(seed=seed),
            device=self.device,
            progress=self.progress,
            preprocess=self.preprocess,
            checkpoint_path=self.rung_checkpoint(episode, child_index),
            resume=self.cfg.rungs is not None,
            until_epoch=epochs,
        )
        seconds = time.perf_counter() - start
        history = json.loads(json.dumps(result.history, default=float))
        if result.diverged:
            return ChildResult.failure(
                "diverged: the training loss became NaN or infinite",
                seconds,
                params=params,
                flops=flops,
                history=history,
            )
        val_acc = reward_from_history(history, self.cfg.reward_metric)
        return ChildResult(
            reward=val_acc, val_acc=val_acc, params=params, flops=flops, train_seconds=seconds, history=history
        )
