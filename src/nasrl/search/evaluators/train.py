"""The train evaluator: build each child, train it on the train split, reward = its validation accuracy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from nasrl.config import SearchConfig
from nasrl.nets import builder
from nasrl.run.records import ChildResult
from nasrl.run.store import rung_checkpoint_path
from nasrl.search.costs import Geometry
from nasrl.search.evaluators.base import AnySpace, child_seed, reward_from_history
from nasrl.search.evaluators.data import SearchData
from nasrl.search.evaluators.registry import register_evaluator
from nasrl.search.progress import ChildProgress
from nasrl.space import Architecture


def child_epochs_text(cfg: dict[str, Any]) -> str:
    """How long children trained: successive halving's rungs when the run had them (its `child_epochs` went
    unused then), else `child_epochs` for every child."""
    rungs = cfg.get("rungs")
    if rungs:
        epochs = [str(r).strip() for r in (rungs.split(",") if isinstance(rungs, str) else rungs)]
        listed = epochs[0] if len(epochs) == 1 else f"{', '.join(epochs[:-1])} and {epochs[-1]}"
        return (
            f"successive halving over rungs of {listed} epochs, the best 1/{cfg.get('eta', '?')} of each rung's "
            "children going on to the next"
        )
    epochs = cfg.get("child_epochs", "?")
    return f"{epochs} epoch{'' if epochs == 1 else 's'} per child"


@register_evaluator
class TrainEvaluator(AnySpace):
    """Build the child, train it on the train split, reward = its validation accuracy."""

    name = "train"
    summary = "train each child on the data, reward = its validation accuracy"
    needs_data = True
    trains_children = True
    shares_weights = False
    reward_fields: dict[str, str] = {}

    @staticmethod
    def describe(cfg: dict[str, Any]) -> str:
        subset = f", {cfg['train_subset']} training images" if cfg.get("train_subset") else ""
        return f"train on {cfg.get('data', '?')}: {child_epochs_text(cfg)}{subset}"

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

    @classmethod
    def build(cls, cfg: SearchConfig, data: SearchData | None, progress: Any) -> tuple[TrainEvaluator, str]:
        """The evaluator on the loaded data (its children's progress a bar under `progress`), and the log's note."""
        assert data is not None, "a TrainEvaluator needs data"
        reporter = ChildProgress(progress) if progress is not None else False
        evaluator = cls(cfg, data.train, data.val, data.device, num_classes=data.num_classes, progress=reporter)
        return evaluator, data.note

    @property
    def geometry(self) -> Geometry:
        """What its children are built for: the data's classes, channels and image side."""
        x = self.train_split.x
        return Geometry(self.num_classes, int(x.shape[1]), int(x.shape[-1]))

    def _move_data_to(self, device: torch.device) -> None:
        """Copy the splits to the training device once per process, not once per child (a GPU's case)."""
        from nasrl.data import Split

        if self.train_split.x.device != device:
            self.train_split = Split(self.train_split.x.to(device), self.train_split.y.to(device))
            self.val_split = Split(self.val_split.x.to(device), self.val_split.y.to(device))

    def rung_checkpoint(self, episode: int, child_index: int) -> Path | None:
        """Where a child's training pauses between rungs (None without rungs): in the run folder, so a killed
        search continues a child mid-way instead of training it again."""
        if not self.cfg.scheduler.rungs or self.cfg.run.run_dir is None:
            return None
        return rung_checkpoint_path(self.cfg.run.run_dir, episode, child_index)

    def evaluate(self, arch: Architecture, episode: int, child_index: int, epochs: int | None = None) -> ChildResult:
        from nasrl.train.loop import fit

        self._move_data_to(self.device)
        start = time.perf_counter()
        seed = child_seed(self.cfg.run.seed, episode, child_index)
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
            resume=self.cfg.scheduler.rungs is not None,
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
        val_acc = reward_from_history(history, self.cfg.evaluator.reward_metric)
        return ChildResult(
            reward=val_acc, val_acc=val_acc, params=params, flops=flops, train_seconds=seconds, history=history
        )
