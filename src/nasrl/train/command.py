"""`nasrl train`: train one network (NASCNN15 or a found architecture) and evaluate it on the test set once.

The run folder holds everything the run made:

    runs/train-<arch>-<timestamp>/
      run.json              what was asked: architecture, data, split, training config (resume reads it)
      architecture.json     the architecture trained
      checkpoint.pt         resume point, written atomically after every epoch
      history.json/.csv     per-epoch metrics
      model.pt              the best validation weights (a state_dict; torch.load(..., weights_only=True))
      metrics.json          test accuracy, per-class accuracy, confusion matrix, training summary
      training_curves.png, confusion_matrix.png, predictions.png
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from nasrl import data
from nasrl.errors import UserError
from nasrl.nets import builder
from nasrl.run.atomic import load_checkpoint, save_atomic, write_text_atomic
from nasrl.space import Architecture
from nasrl.space.files import load_architecture
from nasrl.train import plots
from nasrl.train.loop import TrainConfig, fit, predict, resolve_device, write_history


@dataclass
class DataOptions:
    """Which data, and how the training set is split (recorded in run.json so a resume uses the same)."""

    source: str = "cifar10"  # cifar10 | folder:PATH | synthetic
    data_dir: str | None = None  # download/cache folder; None = ~/.cache/nasrl
    resolution: int = 32  # images are resized to this many pixels square
    val_size: int = 5000  # validation images held out of the training set (the paper's 45k/5k)
    split_seed: int = 0  # the split's seed; the same seed gives the same split
    train_subset: int | None = None  # stratified subset of the training part (quick runs)
    val_subset: int | None = None  # stratified subset of the validation part


def default_run_dir(arch_label: str) -> Path:
    return Path("runs") / f"train-{arch_label}-{time.strftime('%Y%m%d-%H%M%S')}"


def _arch_label(name_or_path: str) -> str:
    path = Path(name_or_path)
    label = path.stem if path.suffix == ".json" else path.name if path.is_dir() else name_or_path.lower()
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label) or "arch"


def train_final(
    arch_name: str | None,
    cfg: TrainConfig,
    opts: DataOptions,
    run_dir: Path | None = None,
    resume: Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Train on the train split, validate every epoch, test the best weights once; returns metrics.json's dict.

    With `resume`, the run folder's run.json decides the architecture, data and config (the command line's
    are ignored), and training continues from its checkpoint."""


    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "run.json").is_file():
            raise UserError(f"{run_dir} is not a `nasrl train` run folder (no run.json): give the folder to resume.")
        try:
            saved = json.loads((run_dir / "run.json").read_text())
            arch = Architecture.from_dict(saved["architecture"])
            arch_label = saved["arch_label"]
            cfg = TrainConfig.from_dict(saved["train"])
            opts = DataOptions(**saved["data"])
        except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError is a ValueError
            raise UserError(
                f"{run_dir / 'run.json'} is damaged ({type(e).__name__}: {e}): start a new run with --arch."
            ) from None
    else:
        if arch_name is None:
            raise UserError("Give the network to train with --arch (nascnn15 or an architecture JSON file).")
        arch = load_architecture(arch_name)
        arch_label = _arch_label(arch_name)
        cfg.validate()
        run_dir = Path(run_dir) if run_dir is not None else default_run_dir(arch_label)
        if (run_dir / "checkpoint.pt").exists():
            raise UserError(f"{run_dir} already holds a training run: use --resume {run_dir}, or another --run-dir.")

    dev = resolve_device(device)
    ds = data.load_dataset(opts.source, opts.data_dir, opts.resolution)
    train_split, val_split = data.split_train_val(
        ds, opts.val_size, opts.split_seed, opts.train_subset, opts.val_subset
    )
    if resume is None:  # the folder is made only once the data is known to be good
        run_dir.mkdir(parents=True, exist_ok=True)
        saved = {"arch_label": arch_label, "architecture": arch.to_dict(), "train": asdict(cfg), "data": asdict(opts)}
        write_text_atomic(run_dir / "run.json", json.dumps(saved, indent=2) + "\n")
        write_text_atomic(run_dir / "architecture.json", arch.to_json(indent=2) + "\n")
    say = print if progress else (lambda *a, **k: None)
    say(f"data: {ds.summary()}; split {len(train_split)} train / {len(val_split)} validation")
    torch.manual_seed(cfg.seed)  # the initial weights follow the seed, so a rerun is the same run
    model = builder.build(arch, num_classes=len(ds.classes), in_channels=int(ds.train_x.shape[1]))
    params = builder.count_parameters(model)
    say(f"network: {arch_label} ({arch.num_layers} layers, {params:,} parameters, hash {arch.hash()}) on {dev}")
    say(f"run folder: {run_dir}")

    checkpoint = run_dir / "checkpoint.pt"
    if resume is not None and not checkpoint.is_file():
        say("no checkpoint yet: starting from the first epoch")
    history: list[dict] = list(load_checkpoint(checkpoint)["history"]) if resume and checkpoint.is_file() else []

    def on_epoch(record: dict) -> None:
        history.append(record)
        write_history(history, run_dir)

    result = fit(
        model, train_split, val_split, cfg, dev, progress=progress, checkpoint_path=checkpoint,
        resume=resume is not None, on_epoch=on_epoch,
    )  # fmt: skip
    result.write_history(run_dir)
    if result.best_state is not None:
        model.load_state_dict(result.best_state)
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_atomic(weights, run_dir / "model.pt")
    plots.training_curves(result.history, run_dir / "training_curves.png", title=f"{arch_label} on {ds.name}")

    metrics: dict = {
        "architecture": arch_label,
        "architecture_hash": arch.hash(),
        "parameters": params,
        "data": ds.name,
        "classes": ds.classes,
        "train_images": len(train_split),
        "val_images": len(val_split),
        "device": str(dev),
        "config": asdict(cfg),
        "training": result.summary(),
        "test_images": len(ds.test_y),
        "test_acc": None,
        "per_class_acc": None,
        "confusion_matrix": None,
    }
    if result.diverged:
        say("training diverged (the loss became NaN or infinite); the weights kept are the best before that")
    if len(ds.test_y) == 0:
        say("no test set: skipping the test evaluation")
    else:
        test = data.Split(ds.test_x, ds.test_y)
        preds = predict(model, test, result.preprocess, dev).argmax(1)
        k = len(ds.classes)
        confusion = torch.bincount(ds.test_y * k + preds, minlength=k * k).view(k, k)
        per_class = confusion.diag().double() / confusion.sum(1).clamp_min(1).double()
        metrics["test_acc"] = float((preds == ds.test_y).double().mean())
        metrics["per_class_acc"] = {c: float(a) for c, a in zip(ds.classes, per_class)}
        metrics["confusion_matrix"] = confusion.tolist()
        plots.confusion_matrix(confusion, ds.classes, run_dir / "confusion_matrix.png", title=f"{arch_label}: test")
        plots.prediction_grid(ds.test_x, ds.test_y, preds, ds.classes, run_dir / "predictions.png")
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    best = result.best_val_acc
    test_text = "n/a" if metrics["test_acc"] is None else f"{metrics['test_acc']:.2%}"
    print(
        f"done in {result.seconds:.1f} s, {result.steps} steps: best val acc {best:.2%} (epoch {result.best_epoch}), "
        f"test acc {test_text}"
    )
    return metrics
