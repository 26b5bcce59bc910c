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
from collections.abc import Callable
from pathlib import Path

import torch

from nasrl import data
from nasrl.config import DataConfig, TrainConfig
from nasrl.data import Split
from nasrl.errors import UserError
from nasrl.nets import builder
from nasrl.run.atomic import load_checkpoint, save_atomic, write_text_atomic
from nasrl.space import Architecture
from nasrl.space.files import load_architecture
from nasrl.train import plots
from nasrl.train.loop import TrainResult, fit, predict, resolve_device, write_history


def default_run_dir(arch_label: str) -> Path:
    """A fresh folder per run under runs/, named by the network and the time, so runs never overwrite each other."""
    return Path("runs") / f"train-{arch_label}-{time.strftime('%Y%m%d-%H%M%S')}"


def _arch_label(name_or_path: str) -> str:
    path = Path(name_or_path)
    label = path.stem if path.suffix == ".json" else path.name if path.is_dir() else name_or_path.lower()
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label) or "arch"


def train_final(
    arch_name: str | None,
    cfg: TrainConfig,
    opts: DataConfig,
    run_dir: Path | None = None,
    resume: Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Train on the train split, validate every epoch, test the best weights once; returns metrics.json's dict.

    With `resume`, the run folder's run.json decides the architecture, data and config (the command line's
    are ignored), and training continues from its checkpoint."""
    say = print if progress else _quiet
    arch, arch_label, cfg, opts, run_dir = _resolve_run(arch_name, cfg, opts, run_dir, resume)
    dev = resolve_device(device)
    ds, train_split, val_split = _load_data(opts, cfg, say)
    if resume is None:  # the folder is made only once the data is known to be good
        _write_run_files(run_dir, arch, arch_label, cfg, opts)
    model = _build_model(arch, cfg, ds)
    params = builder.count_parameters(model)
    say(f"network: {arch_label} ({arch.num_layers} layers, {params:,} parameters, hash {arch.hash()}) on {dev}")
    say(f"run folder: {run_dir}")
    result = _train(model, train_split, val_split, cfg, dev, run_dir, resume is not None, progress, say)
    save_atomic({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_dir / "model.pt")
    plots.training_curves(result.history, run_dir / "training_curves.png", title=f"{arch_label} on {ds.name}")
    metrics = _training_metrics(arch, arch_label, params, ds, train_split, val_split, dev, cfg, result)
    if result.diverged:
        say("training diverged (the loss became NaN or infinite); the weights kept are the best before that")
    metrics.update(_test(model, ds, result.preprocess, dev, run_dir, arch_label, _smoke_images(cfg), say))
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    _print_summary(result, metrics)
    return metrics


def _quiet(*args: object, **kwargs: object) -> None:
    """`say` without `--progress`: the final summary line is the command's only output."""


def _resolve_run(
    arch_name: str | None, cfg: TrainConfig, opts: DataConfig, run_dir: Path | None, resume: Path | None
) -> tuple[Architecture, str, TrainConfig, DataConfig, Path]:
    """What to train, on what, and where: run.json's choices when resuming, else the command line's, in a folder
    that holds no earlier run (a second run there would overwrite the first one's checkpoint)."""
    if resume is not None:
        run_dir = Path(resume)
        arch, arch_label, cfg, opts = _read_run(run_dir)
        return arch, arch_label, cfg, opts, run_dir
    if arch_name is None:
        raise UserError("Give the network to train with --arch (nascnn15 or an architecture JSON file).")
    arch, arch_label = load_architecture(arch_name), _arch_label(arch_name)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(arch_label)
    if (run_dir / "checkpoint.pt").exists():
        raise UserError(f"{run_dir} already holds a training run: use --resume {run_dir}, or another --run-dir.")
    return arch, arch_label, cfg, opts, run_dir


def _write_run_files(run_dir: Path, arch: Architecture, arch_label: str, cfg: TrainConfig, opts: DataConfig) -> None:
    """run.json (what `--resume` reads back) and architecture.json (what was trained, as `--arch` takes it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = {
        "arch_label": arch_label,
        "architecture": arch.to_dict(),
        "train": cfg.model_dump(),
        "data": opts.model_dump(),
    }
    write_text_atomic(run_dir / "run.json", json.dumps(saved, indent=2) + "\n")
    write_text_atomic(run_dir / "architecture.json", arch.to_json(indent=2) + "\n")


def _build_model(arch: Architecture, cfg: TrainConfig, ds: data.Dataset) -> torch.nn.Module:
    """The network for this data set's classes and channels, its initial weights drawn from the config's seed."""
    torch.manual_seed(cfg.seed)  # the initial weights follow the seed, so a rerun is the same run
    if cfg.dropout and not builder.takes_dropout(arch):
        raise UserError("--dropout acts before a macro network's classifier: drop it for this architecture.")
    return builder.build(arch, num_classes=len(ds.classes), in_channels=int(ds.train_x.shape[1]), dropout=cfg.dropout)


def _training_metrics(
    arch: Architecture,
    arch_label: str,
    params: int,
    ds: data.Dataset,
    train_split: Split,
    val_split: Split,
    dev: torch.device,
    cfg: TrainConfig,
    result: TrainResult,
) -> dict:
    """metrics.json before the test: what was trained, on what, and how; the test's keys are None until `_test`
    fills them (they stay None without a test set)."""
    return {
        "architecture": arch_label,
        "architecture_hash": arch.hash(),
        "parameters": params,
        "data": ds.name,
        "classes": ds.classes,
        "train_images": len(train_split),
        "val_images": len(val_split),
        "device": str(dev),
        "config": cfg.model_dump(),
        "training": result.summary(),
        "test_images": len(ds.test_y),
        "test_acc": None,
        "per_class_acc": None,
        "confusion_matrix": None,
    }


def _print_summary(result: TrainResult, metrics: dict) -> None:
    """The one line printed with or without `--progress`: time, steps, best validation and test accuracy."""
    test_text = "n/a" if metrics["test_acc"] is None else f"{metrics['test_acc']:.2%}"
    print(
        f"done in {result.seconds:.1f} s, {result.steps} steps: best val acc {result.best_val_acc:.2%} "
        f"(epoch {result.best_epoch}), test acc {test_text}"
    )


def _read_run(run_dir: Path) -> tuple[Architecture, str, TrainConfig, DataConfig]:
    """What a `nasrl train` run folder was started with (run.json), for `--resume`."""
    if not (run_dir / "run.json").is_file():
        raise UserError(f"{run_dir} is not a `nasrl train` run folder (no run.json): give the folder to resume.")
    try:
        saved = json.loads((run_dir / "run.json").read_text())
        arch = Architecture.from_dict(saved["architecture"])
        return arch, saved["arch_label"], TrainConfig.from_dict(saved["train"]), DataConfig(**saved["data"])
    except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError and pydantic's ValidationError are ValueErrors
        raise UserError(
            f"{run_dir / 'run.json'} is damaged ({type(e).__name__}): start a new run with --arch."
        ) from None


def _smoke_images(cfg: TrainConfig) -> int | None:
    """A `--max-steps` run validates and tests on as many images as it trains on, not on whole splits: two
    steps of NASCNN15 then take seconds on a CPU instead of minutes (None: no cap)."""
    return None if cfg.max_steps is None else cfg.max_steps * cfg.batch_size


def _load_data(opts: DataConfig, cfg: TrainConfig, say: Callable[..., None]) -> tuple[data.Dataset, Split, Split]:
    """The data set and its split; a smoke run (`--max-steps`) validates on a stratified subset."""
    ds = data.load_dataset(opts.source, opts.data_dir, opts.resolution)
    val_subset, cap = opts.val_subset, _smoke_images(cfg)
    smoke = cap is not None and val_subset is None and data.resolve_val_size(opts.val_size, len(ds.train_y)) > cap
    if smoke:
        val_subset = cap
        say(f"--max-steps {cfg.max_steps}: validating on {cap} of the validation images (--val-subset to choose)")
    train_split, val_split = data.split_train_val(ds, opts.val_size, opts.split_seed, opts.train_subset, val_subset)
    say(f"data: {ds.summary()}; split {len(train_split)} train / {len(val_split)} validation")
    return ds, train_split, val_split


def _train(
    model: torch.nn.Module,
    train_split: Split,
    val_split: Split,
    cfg: TrainConfig,
    dev: torch.device,
    run_dir: Path,
    resume: bool,
    progress: bool,
    say: Callable[..., None],
) -> TrainResult:
    """`fit` with a checkpoint and history files after every epoch; the model ends with its best weights."""
    checkpoint = run_dir / "checkpoint.pt"
    if resume and not checkpoint.is_file():
        say("no checkpoint yet: starting from the first epoch")
    history: list[dict] = list(load_checkpoint(checkpoint)["history"]) if resume and checkpoint.is_file() else []

    def on_epoch(record: dict) -> None:
        history.append(record)
        write_history(history, run_dir)

    result = fit(
        model,
        train_split,
        val_split,
        cfg,
        dev,
        progress=progress,
        checkpoint_path=checkpoint,
        resume=resume,
        on_epoch=on_epoch,
    )
    result.write_history(run_dir)
    if result.best_state is not None:
        model.load_state_dict(result.best_state)
    return result


def _test(
    model: torch.nn.Module,
    ds: data.Dataset,
    preprocess: data.Preprocess,
    dev: torch.device,
    run_dir: Path,
    arch_label: str,
    cap: int | None,
    say: Callable[..., None],
) -> dict:
    """Test accuracy, per-class accuracy and the confusion matrix (with their figures), once, on the test set."""
    if len(ds.test_y) == 0:
        say("no test set: skipping the test evaluation")
        return {}
    test_x, test_y = ds.test_x, ds.test_y
    if cap is not None and len(test_y) > cap:
        test_x, test_y = test_x[:cap], test_y[:cap]
        say(f"--max-steps: testing on the first {cap} of {len(ds.test_y)} test images")
    preds = predict(model, Split(test_x, test_y), preprocess, dev).argmax(1)
    k = len(ds.classes)
    confusion = torch.bincount(test_y * k + preds, minlength=k * k).view(k, k)
    per_class = confusion.diag().double() / confusion.sum(1).clamp_min(1).double()
    plots.confusion_matrix(confusion, ds.classes, run_dir / "confusion_matrix.png", title=f"{arch_label}: test")
    plots.prediction_grid(test_x, test_y, preds, ds.classes, run_dir / "predictions.png")
    return {
        "test_images": len(test_y),
        "test_acc": float((preds == test_y).double().mean()),
        "per_class_acc": {c: float(a) for c, a in zip(ds.classes, per_class)},
        "confusion_matrix": confusion.tolist(),
    }
