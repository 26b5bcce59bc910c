"""What a search shows while it runs: the progress bars (episodes or controller steps, and the child in training)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_display(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=True,
    )


class ChildProgress:
    """The child in training as a second bar under the episodes bar (a `train.ProgressReporter`)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("child", total=1, visible=False, stats="")
        self.epochs = self.steps = 1
        self.epoch = 0

    def begin(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs, self.steps = epochs, steps_per_epoch
        self.progress.reset(self.task, total=epochs * steps_per_epoch, visible=True, stats="")

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.progress.update(self.task, description=f"child, epoch {epoch}/{self.epochs}")

    def update(self, step: int, loss: float, acc: float) -> None:
        done = (self.epoch - 1) * self.steps + step
        self.progress.update(self.task, completed=done, stats=f"loss {loss:.3f} acc {acc:.1%}")

    def end_epoch(self, record: dict) -> None:
        if record.get("val_acc") is not None:
            self.progress.update(self.task, stats=f"val acc {record['val_acc']:.1%}")

    def close(self) -> None:
        self.progress.update(self.task, visible=False)
