"""The one trainer for child networks and final models: optimiser, schedule, early stopping, AMP, checkpoints.

A search trains thousands of children through `fit`, so the loop keeps to three rules: the data is resident
on the device (`data.Loader`), nothing syncs with the host inside an epoch except a divergence check every
`check_every` steps (what the loop costs next to the model alone: BENCHMARKS.md, "Data pipeline"), and a run
is a pure function of its config on CPU, so a resumed run repeats an uninterrupted one exactly (the search's
resume relies on it).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from nasrl.config import TrainConfig
from nasrl.data import Loader, Preprocess, Split
from nasrl.errors import UserError
from nasrl.run.atomic import load_checkpoint, save_atomic, write_text_atomic

CHECKPOINT_FORMAT = 1


# ----- results ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a training run produced: per-epoch history, the best validation accuracy and how it ended."""

    # per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds (wall, whole epoch),
    # train_seconds (wall, training phase), train_cpu_seconds (this process's CPU time, training phase), steps
    history: list[dict]
    best_val_acc: float  # 0-1; 0.0 when no epoch finished
    best_epoch: int  # 1-based epoch of best_val_acc; 0 when none
    diverged: bool  # a NaN or infinite training loss stopped the run
    stopped_early: bool  # early stopping (patience) ended it
    seconds: float  # wall-clock training time, summed over resumed parts
    steps: int  # optimiser steps taken
    preprocess: Preprocess = field(repr=False)  # the input statistics the model was trained with
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)  # weights at best_epoch

    @property
    def final_val_acc(self) -> float:
        return self.history[-1]["val_acc"] if self.history and self.history[-1]["val_acc"] is not None else 0.0

    def summary(self) -> dict:
        """Everything but tensors, JSON-ready (NaN becomes null)."""
        return _json_safe(
            {
                "best_val_acc": self.best_val_acc,
                "best_epoch": self.best_epoch,
                "final_val_acc": self.final_val_acc,
                "diverged": self.diverged,
                "stopped_early": self.stopped_early,
                "seconds": self.seconds,
                "steps": self.steps,
                "epochs": len(self.history),
            }
        )

    def write_history(self, directory: Path) -> None:
        """`history.json` and `history.csv` in `directory`, one row per epoch."""
        write_history(self.history, directory)


def write_history(history: list[dict], directory: Path) -> None:
    """Per-epoch metrics as JSON and CSV (both written atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_text_atomic(directory / "history.json", json.dumps(_json_safe(history), indent=2) + "\n")
    columns = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "train_seconds", "steps"]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(_json_safe(history))
    write_text_atomic(directory / "history.csv", table.getvalue())


# ----- building blocks -------------------------------------------------------------------------------------


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` -> CUDA when present, else CPU; asking for CUDA without one is a user error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"Unknown device '{device}': use auto, cpu or cuda.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but this machine has no usable CUDA GPU: use --device cpu.")
    return dev


def make_optimizer(model: nn.Module, cfg: TrainConfig, fused: bool | None = None) -> torch.optim.Optimizer:
    """The optimiser `cfg` names over the trainable parameters.

    `fused` (default: when they are on a GPU) updates every parameter in one kernel instead of a few per
    foreach pass: a small child on a GPU is launch-bound, and the optimiser's launches are a sizeable share of
    its step. The arithmetic is the same; only rounding may differ. RMSprop has no fused form."""
    params = [p for p in model.parameters() if p.requires_grad]
    if fused is None:
        fused = bool(params) and params[0].device.type == "cuda"
    fused_arg = {"fused": True} if fused and cfg.optimizer != "rmsprop" else {}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
            **fused_arg,
        )
    if cfg.optimizer == "adam":
        betas = (cfg.momentum, 0.999)
        return torch.optim.Adam(params, cfg.lr, betas=betas, weight_decay=cfg.weight_decay, **fused_arg)
    if cfg.optimizer == "adamw":
        betas = (cfg.momentum, 0.999)
        return torch.optim.AdamW(params, cfg.lr, betas=betas, weight_decay=cfg.weight_decay, **fused_arg)
    return torch.optim.RMSprop(params, cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def sgdr_lr(epoch: int, lr_max: float, lr_min: float, t0: int, tmul: int) -> float:
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017; ENAS's `lr_cosine`): cycles of t0, t0*tmul,
    ... epochs, each from lr_max down towards lr_min, the rate constant within an epoch."""
    start, length = 0, t0
    while epoch >= start + length:
        start, length = start + length, length * tmul
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * (epoch - start) / length))


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int, total_steps: int
) -> tuple[object | None, bool]:
    """The learning-rate schedule and whether it steps per optimiser step (True) or per epoch (False)."""
    if cfg.schedule == "cosine":
        warmup = round(cfg.warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True
    if cfg.schedule == "onecycle":
        cycle_momentum = cfg.optimizer != "sgd" or cfg.momentum > 0
        sched = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, cfg.lr, total_steps=total_steps, cycle_momentum=cycle_momentum
        )
        return sched, True
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_epochs, cfg.step_gamma), False
    if cfg.schedule == "sgdr":

        def restarts(epoch: int) -> float:
            return sgdr_lr(epoch, cfg.lr, cfg.lr_min, cfg.restart_epochs, cfg.restart_mult) / cfg.lr

        return torch.optim.lr_scheduler.LambdaLR(optimizer, restarts), False
    if cfg.schedule == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=cfg.step_gamma, patience=cfg.plateau_patience
        )
        return sched, False
    return None, False


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 on GPUs that have it (no loss scaling needed), fp16 on older ones, none on CPU."""
    if not cfg.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def evaluate(
    model: nn.Module, loader: Loader, label_smoothing: float = 0.0, dtype: torch.dtype | None = None
) -> tuple[float, float]:
    """(mean loss, accuracy 0-1) over a loader, in eval mode, with one host sync at the end."""
    device = loader.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        for x, y in loader:
            logits = model(x).float()
            loss_sum += nn.functional.cross_entropy(logits, y, label_smoothing=label_smoothing, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
    model.train(was_training)
    n = max(1, len(loader.y))
    return loss_sum.item() / n, correct.item() / n


def predict(
    model: nn.Module, split: Split, preprocess: Preprocess, device: str | torch.device = "cpu", batch_size: int = 500
) -> torch.Tensor:
    """Logits [N, classes] on the CPU for a whole split (the final test evaluation, confusion matrices)."""
    device = torch.device(device)
    loader = Loader(split, batch_size, preprocess, device)
    model.eval()
    with torch.inference_mode():
        out = [model(x).float() for x, _ in loader]
    return torch.cat(out).cpu() if out else torch.empty(0)


def compiled(model: nn.Module, device: torch.device) -> nn.Module:
    """`torch.compile(model)`, the compiler checked first so that a missing one is a sentence, not a traceback
    in the middle of an epoch. Dynamo forgets earlier networks first: in a search every child is a new one, and
    after a few recompilations of one class it would otherwise fall back to eager without a word."""
    torch._dynamo.reset()
    if device.type not in _COMPILER_WORKS:
        try:
            torch.compile(_compiler_probe)(torch.zeros(2, device=device))
            _COMPILER_WORKS.add(device.type)
        except Exception as e:  # what fails depends on the machine: no C++ compiler, no Triton, ...
            raise UserError(
                f"--compile cannot compile on this {device.type} ({type(e).__name__}): install a C++ compiler "
                "(CPU) or Triton (GPU), or train without --compile."
            ) from None
    return torch.compile(model)


_COMPILER_WORKS: set[str] = set()  # device types whose compiler was seen to work in this process


def _compiler_probe(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x) + 1


# ----- checkpoints -----------------------------------------------------------------------------------------


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ----- the loop --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One training run's moving parts and progress: what a checkpoint saves and a resume restores."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    per_step: bool  # the scheduler steps per optimiser step (else per epoch)
    scaler: torch.amp.GradScaler
    preprocess: Preprocess
    history: list[dict] = field(default_factory=list)
    best_val_acc: float = 0.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    steps: int = 0
    epoch: int = 0  # epochs finished
    seconds_before: float = 0.0  # wall time of earlier (resumed) parts
    diverged: bool = False
    stopped_early: bool = False
    finished: bool = False
    forward: nn.Module | None = None  # what the steps call: the model, or its compiled form (`cfg.compile`)


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    cfg: TrainConfig,
    device: str | torch.device = "cpu",
    progress: bool | ProgressReporter = True,
    checkpoint_path: Path | None = None,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    preprocess: Preprocess | None = None,
    until_epoch: int | None = None,
) -> TrainResult:
    """Train `model` on `train`, validate on `val` every epoch, keep the best weights.

    `until_epoch` pauses after that many epochs of the `cfg.epochs` schedule (a rung of successive halving): with
    a checkpoint, a later call with `resume` continues the same schedule from there.

    `preprocess` (input statistics) defaults to `Preprocess.fit(train.x, zca=cfg.zca)`; a search that trains
    many children on one split can compute it once and pass it, rather than once per child (BENCHMARKS.md,
    "Data pipeline").

    With `checkpoint_path`, a checkpoint is written atomically after every epoch (before `on_epoch` runs);
    with `resume` too, training continues from it and ends exactly as an uninterrupted run would."""
    if len(train) == 0 or len(val) == 0:
        raise UserError("Training needs at least one training and one validation image.")
    device = resolve_device(device)
    started = time.perf_counter()
    model.to(device, memory_format=torch.channels_last if cfg.channels_last else torch.preserve_format)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    ckpt = _resume_point(checkpoint_path, cfg) if resume else None
    if ckpt is not None:
        preprocess = Preprocess.from_state_dict(ckpt["preprocess"])
    elif preprocess is None:
        preprocess = Preprocess.fit(train.x, zca=cfg.zca)
    loader = Loader(
        train,
        cfg.batch_size,
        preprocess,
        device,
        train=True,
        augment=cfg.augment,
        seed=cfg.seed,
        channels_last=cfg.channels_last,
    )
    val_loader = Loader(val, cfg.eval_batch_size, preprocess, device, channels_last=cfg.channels_last)
    run = _start(model, cfg, preprocess, len(loader), device, ckpt)
    bar = _progress_display(progress, cfg.epochs, len(loader), run.finished)
    try:
        stop = cfg.epochs if until_epoch is None else min(until_epoch, cfg.epochs)
        while run.epoch < stop and not run.finished:
            record = _epoch(run, loader, val_loader, cfg, device, bar)
            if bar:
                bar.end_epoch(record)
            if checkpoint_path is not None:
                save_atomic(_checkpoint(run, cfg, device, started), Path(checkpoint_path))
            if on_epoch is not None:
                on_epoch(record)
    finally:
        if bar:
            bar.close()
    return TrainResult(
        history=run.history,
        best_val_acc=run.best_val_acc,
        best_epoch=run.best_epoch,
        diverged=run.diverged,
        stopped_early=run.stopped_early,
        seconds=run.seconds_before + time.perf_counter() - started,
        steps=run.steps,
        preprocess=preprocess,
        best_state=run.best_state,
    )


def _resume_point(checkpoint_path: Path | None, cfg: TrainConfig) -> dict | None:
    """The checkpoint to continue from, refused when it was made with other settings."""
    if checkpoint_path is None or not Path(checkpoint_path).is_file():
        return None
    ckpt = load_checkpoint(Path(checkpoint_path), fmt=CHECKPOINT_FORMAT)
    saved = TrainConfig.from_dict(ckpt["config"])
    if saved != cfg:
        diff = next(name for name in TrainConfig.model_fields if getattr(saved, name) != getattr(cfg, name))
        raise UserError(
            f"The checkpoint {checkpoint_path} was made with {diff}={getattr(saved, diff)!r}, not "
            f"{getattr(cfg, diff)!r}: resume with the settings it was started with."
        )
    return ckpt


def _start(
    model: nn.Module,
    cfg: TrainConfig,
    preprocess: Preprocess,
    steps_per_epoch: int,
    device: torch.device,
    ckpt: dict | None,
) -> _Run:
    """Optimiser, schedule and scaler for a fresh run, or all of them as the checkpoint left them."""
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(cfg.max_steps, total_steps)
    optimizer = make_optimizer(model, cfg)
    scheduler, per_step = make_scheduler(optimizer, cfg, steps_per_epoch, total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype(cfg, device) == torch.float16)
    run = _Run(model, optimizer, scheduler, per_step, scaler, preprocess)
    run.forward = compiled(model, device) if cfg.compile else model
    if ckpt is None:
        torch.manual_seed(cfg.seed)  # any module randomness (dropout) in the loop follows the seed too
        return run
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    _set_rng_state(ckpt["rng"], device)
    run.history = list(ckpt["history"])
    run.best_val_acc, run.best_epoch = ckpt["best_val_acc"], ckpt["best_epoch"]
    if ckpt["best_model"] is not None:
        run.best_state = {k: v.to(device) for k, v in ckpt["best_model"].items()}
    run.steps, run.epoch, run.seconds_before = ckpt["steps"], ckpt["epoch"], ckpt["seconds"]
    run.diverged, run.stopped_early, run.finished = ckpt["diverged"], ckpt["stopped_early"], ckpt["finished"]
    return run


def _progress_display(
    progress: bool | ProgressReporter, epochs: int, steps_per_epoch: int, finished: bool
) -> ProgressReporter | None:
    """A bar of our own, none, or the caller's display (the search shows each child inside its episode bar)."""
    if isinstance(progress, bool):
        return _ProgressBar(epochs, steps_per_epoch) if progress and not finished else None
    progress.begin(epochs, steps_per_epoch)
    return progress


def _epoch(
    run: _Run,
    loader: Loader,
    val_loader: Loader,
    cfg: TrainConfig,
    device: torch.device,
    bar: ProgressReporter | None,
) -> dict:
    """Train one epoch, validate, step the schedule, keep the best weights; returns the epoch's history row."""
    epoch_start, epoch_cpu = time.perf_counter(), time.process_time()
    dtype = amp_dtype(cfg, device)
    lr = run.optimizer.param_groups[0]["lr"]
    if bar:
        bar.start_epoch(run.epoch + 1)
    train_loss, train_acc, lr = _train_steps(run, loader, cfg, device, dtype, bar)
    train_seconds = time.perf_counter() - epoch_start
    train_cpu_seconds = time.process_time() - epoch_cpu
    run.diverged = run.diverged or not math.isfinite(train_loss)
    if run.diverged:
        val_loss, val_acc = float("nan"), None
    else:
        val_loss, val_acc = evaluate(run.forward, val_loader, cfg.label_smoothing, dtype)
    if run.scheduler is not None and not run.per_step and not run.diverged:
        if cfg.schedule == "plateau":
            run.scheduler.step(val_acc)
        else:
            run.scheduler.step()
    run.epoch += 1
    record = {
        "epoch": run.epoch,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "lr": lr,
        "seconds": time.perf_counter() - epoch_start,
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "steps": run.steps,
    }
    run.history.append(record)
    if val_acc is not None and val_acc > run.best_val_acc:
        run.best_val_acc, run.best_epoch = val_acc, run.epoch
        run.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    run.stopped_early = cfg.patience is not None and not run.diverged and run.epoch - run.best_epoch >= cfg.patience
    out_of_steps = cfg.max_steps is not None and run.steps >= cfg.max_steps
    run.finished = run.diverged or run.stopped_early or out_of_steps or run.epoch == cfg.epochs
    return record


def _train_steps(
    run: _Run,
    loader: Loader,
    cfg: TrainConfig,
    device: torch.device,
    dtype: torch.dtype | None,
    bar: ProgressReporter | None,
) -> tuple[float, float, float]:
    """The optimiser steps of one epoch: (mean loss, accuracy, the last step's lr). One host sync every
    `check_every` steps (divergence check, progress); a non-finite loss ends the epoch there."""
    model, optimizer, scaler = run.forward, run.optimizer, run.scaler
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    loader.set_epoch(run.epoch)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen, steps_per_epoch = 0, len(loader)
    lr = optimizer.param_groups[0]["lr"]
    for i, (x, y) in enumerate(loader):
        lr = optimizer.param_groups[0]["lr"]
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits = model(x)
            loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if run.per_step:
            run.scheduler.step()
        loss_sum.add_(loss.detach(), alpha=len(y))
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        run.steps += 1
        last = i + 1 == steps_per_epoch or (cfg.max_steps is not None and run.steps >= cfg.max_steps)
        if (i + 1) % cfg.check_every == 0 or last:
            mean_loss = loss_sum.item() / seen  # the one host sync every check_every steps
            if not math.isfinite(mean_loss):
                return mean_loss, correct.item() / seen, lr
            if bar:
                bar.update(i + 1, mean_loss, correct.item() / seen)
        if last:
            break
    return loss_sum.item() / max(1, seen), correct.item() / max(1, seen), lr


def _checkpoint(run: _Run, cfg: TrainConfig, device: torch.device, started: float) -> dict:
    """Everything `_start` needs to continue exactly where this epoch ended."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.model_dump(),
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else {},
        "scaler": run.scaler.state_dict(),
        "rng": _rng_state(device),
        "preprocess": run.preprocess.state_dict(),
        "history": run.history,
        "best_val_acc": run.best_val_acc,
        "best_epoch": run.best_epoch,
        "best_model": run.best_state,
        "epoch": run.epoch,
        "steps": run.steps,
        "seconds": run.seconds_before + time.perf_counter() - started,
        "diverged": run.diverged,
        "stopped_early": run.stopped_early,
        "finished": run.finished,
    }


class ProgressReporter(Protocol):
    """What `fit` tells a progress display: epochs begin, steps advance (every `check_every`), epochs end."""

    def begin(self, epochs: int, steps_per_epoch: int) -> None: ...
    def start_epoch(self, epoch: int) -> None: ...
    def update(self, step: int, loss: float, acc: float) -> None: ...
    def end_epoch(self, record: dict) -> None: ...
    def close(self) -> None: ...


class _ProgressBar:
    """A rich progress bar per epoch with live loss and accuracy, on stderr (stdout stays for results)."""

    def __init__(self, epochs: int, steps_per_epoch: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.epochs, self.steps = epochs, steps_per_epoch
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[stats]}"),
            console=Console(stderr=True),
        )
        self.progress.start()
        self.task = None

    def begin(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs, self.steps = epochs, steps_per_epoch

    def start_epoch(self, epoch: int) -> None:
        self.task = self.progress.add_task(f"epoch {epoch}/{self.epochs}", total=self.steps, stats="")

    def update(self, step: int, loss: float, acc: float) -> None:
        self.progress.update(self.task, completed=step, stats=f"loss {loss:.3f}  acc {acc:.1%}")

    def end_epoch(self, record: dict) -> None:
        val = (
            "diverged"
            if record["val_acc"] is None
            else f"val loss {record['val_loss']:.3f}  acc {record['val_acc']:.1%}"
        )
        stats = f"loss {record['train_loss']:.3f}  acc {record['train_acc']:.1%}  | {val}"
        self.progress.update(self.task, stats=stats)

    def close(self) -> None:
        self.progress.stop()


def _json_safe(obj: object) -> object:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj
