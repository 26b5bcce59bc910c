"""Figures as PNG files (matplotlib, headless Agg): training curves, confusion matrix, example predictions.

`nasrl train` writes them into its run folder; the search report reuses the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def training_curves(history: Sequence[dict], path: Path, title: str = "Training") -> Path:
    """Loss and accuracy per epoch, train and validation side by side."""
    epochs = [h["epoch"] for h in history]

    def series(key: str) -> list[float]:
        return [float("nan") if h.get(key) is None else h[key] for h in history]

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, series("train_loss"), "o-", label="train")
    ax_loss.plot(epochs, series("val_loss"), "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, [100 * v for v in series("train_acc")], "o-", label="train")
    ax_acc.plot(epochs, [100 * v for v in series("val_acc")], "o-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def confusion_matrix(matrix: torch.Tensor, classes: Sequence[str], path: Path, title: str = "Confusion matrix") -> Path:
    """Rows are true classes, columns predictions; cells show counts, colour shows the row's share."""
    counts = matrix.to(torch.float64)
    share = counts / counts.sum(1, keepdim=True).clamp_min(1)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.6 * k))
    ax.imshow(share.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                int(counts[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


def prediction_grid(
    images: torch.Tensor,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    classes: Sequence[str],
    path: Path,
    per_row: int = 8,
) -> Path:
    """One row of correctly and one of wrongly classified test images (uint8 [N, C, H, W], C = 1 or 3), titled
    "predicted (true)"."""
    # A fixed shuffle spreads the picks over the classes (test sets are often sorted by class).
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    hit = predictions[order] == labels[order]
    right = order[hit][:per_row].tolist()
    wrong = order[~hit][:per_row].tolist()
    fig, axes = plt.subplots(2, per_row, figsize=(1.4 * per_row, 3.6), squeeze=False)
    for row, (name, picks) in enumerate((("correct", right), ("wrong", wrong))):
        for col in range(per_row):
            ax = axes[row][col]
            ax.axis("off")
            if col >= len(picks):
                continue
            i = picks[col]
            if images.shape[1] == 1:  # grayscale (MNIST, Fashion-MNIST)
                ax.imshow(images[i, 0].numpy(), cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(images[i].permute(1, 2, 0).numpy())
            pred, true = classes[int(predictions[i])], classes[int(labels[i])]
            text = pred if name == "correct" else f"{pred}\n({true})"
            ax.set_title(text, fontsize=7, color="green" if name == "correct" else "red")
        axes[row][0].text(-0.15, 0.5, name, transform=axes[row][0].transAxes, rotation=90, va="center", ha="right")
    fig.suptitle("Test predictions: correct (top), wrong (bottom, true class in brackets)", fontsize=9)
    return _save(fig, path)
