"""`nasrl search --tensorboard`: the search's scalars as TensorBoard events, written while it runs.

A small observer the search loop calls once per episode, after the children are stored and the
controller has updated; it never reads the loop's internals. Every scalar's step is the number of
children sampled so far, so a child's reward and the baseline it was measured against share one
x axis in TensorBoard (an episode's scalars sit at the step of its last child). A weight-sharing search
writes one set of scalars per epoch instead, its step the epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from nasrl.errors import UserError
from nasrl.run.records import ChildRecord

INSTALL_HINT = (
    "--tensorboard needs the tensorboard package: pip install 'nasrl[tensorboard]' (or pip install tensorboard)."
)


class TensorBoardScalars:
    """Writes reward (per child), mean reward, baseline, best, entropy, loss and lr (per episode) to `log_dir`."""

    def __init__(self, log_dir: str | Path, children_per_episode: int) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch raises this when the tensorboard package is missing
            raise UserError(INSTALL_HINT) from None
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.per_episode = max(1, children_per_episode)

    def episode(
        self, episode: int, records: Sequence[ChildRecord], stats: dict[str, float], best: float | None
    ) -> None:
        """Record one finished episode: its children's rewards and the controller's update."""
        first = episode * self.per_episode
        for rec in records:
            self.writer.add_scalar("search/reward", rec.reward, first + rec.child + 1)
        step = first + self.per_episode
        scalars = {
            "search/mean_reward": stats.get("mean_reward"),
            "search/baseline": stats.get("baseline"),
            "search/best": best,
            "controller/entropy": stats.get("entropy"),
            "controller/loss": stats.get("loss"),
            "controller/lr": stats.get("lr"),
        }
        for tag, value in scalars.items():
            if value is not None and math.isfinite(float(value)):
                self.writer.add_scalar(tag, float(value), step)
        self.writer.flush()  # so TensorBoard shows an episode as soon as it is done

    def shared_epoch(self, epoch: int, stats: dict[str, float]) -> None:
        """Record one epoch of a weight-sharing search: the shared weights' training, then the controller's steps."""
        scalars = {
            "shared/train_loss": stats.get("train_loss"),
            "shared/train_acc": stats.get("train_acc"),
            "shared/lr": stats.get("lr"),
            "controller/mean_reward": stats.get("mean_reward"),
            "controller/entropy": stats.get("entropy"),
        }
        for tag, value in scalars.items():
            if value is not None and math.isfinite(float(value)):
                self.writer.add_scalar(tag, float(value), epoch + 1)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
