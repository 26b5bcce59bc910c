"""Every setting of nasrl, declared once: pydantic models whose fields are the CLI's flags.

- `TrainConfig`: how one network trains (`nasrl train`'s flags; a search's children train with the same model,
  filled from its `child_*` fields by `SearchConfig.child_training`).
- `DataConfig`: which data and how its training set is split (`nasrl train`'s data flags).
- `SearchConfig`: the search, flat on purpose (as airbench keeps its hyperparameters in one place):
  `--child-epochs 3` overrides `child_epochs`, a YAML preset names the same fields, and `config.yaml` in a run
  folder is this structure, resolved, as it ran.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from nasrl.errors import UserError, validated
from nasrl.search.strategies.settings import StrategyConfig
from nasrl.space import DEFAULT_LAYERS, PRESET_TOKENS, SearchSpace
from nasrl.space.files import load_space

ModelT = TypeVar("ModelT", bound=BaseModel)

PRESETS = ("quick", "fast", "default", "thorough", "paper", "enas", "quick-enas")

Optimizer = Literal["sgd", "adam", "adamw", "rmsprop"]
Schedule = Literal["cosine", "sgdr", "step", "onecycle", "plateau", "none"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
SCHEDULES: tuple[str, ...] = get_args(Schedule)


#: `val_size`: an image count, a fraction of the training images, or None for the default (5,000, at most 10%).
def _val_size(value: Any) -> Any:
    """An image count (a whole number from 1) or a fraction in (0, 1); text from the command line is parsed."""
    if value is None or isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("must be an image count such as 5000 or a fraction such as 0.1") from None
    if number >= 1 and number.is_integer():
        return int(number)
    if 0 < number < 1:
        return number
    raise ValueError("must be an image count such as 5000 or a fraction such as 0.1")


ValSize = Annotated[int | float | None, BeforeValidator(_val_size)]
VAL_SIZE_HELP = "validation images held out: a count, or a fraction such as 0.1 (default 5000, at most 10%)"


class TrainConfig(BaseModel):
    """Every training hyperparameter, each with its unit. Defaults follow Zoph & Le's setup for CIFAR-10 (SGD
    with Nesterov momentum, lr 0.1, weight decay 1e-4, cosine decay, flip + crop)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(20, ge=1, description="passes over the training split")
    batch_size: int = Field(128, ge=1, description="images per optimiser step")
    optimizer: Optimizer = Field("sgd", description="sgd (Nesterov momentum), adam, adamw or rmsprop")
    lr: float = Field(0.1, gt=0, description="peak learning rate (per step, not scaled with the batch size)")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD/RMSprop momentum; Adam's beta1")
    nesterov: bool = Field(True, description="Nesterov momentum (SGD only)")
    weight_decay: float = Field(1e-4, ge=0, description="L2 coefficient (decoupled for AdamW)")
    schedule: Schedule = Field(
        "cosine", description="learning-rate schedule: cosine, sgdr (warm restarts), step, onecycle, plateau, none"
    )
    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up from 0 to lr, in epochs (cosine only)")
    step_epochs: int = Field(30, ge=1, description="'step' schedule: multiply lr by step_gamma every this many epochs")
    step_gamma: float = Field(0.1, gt=0, le=1, description="'step' and 'plateau': lr factor per decay")
    lr_min: float = Field(0.0, ge=0, description="'sgdr': the rate each cosine cycle ends at")
    restart_epochs: int = Field(10, ge=1, description="'sgdr': epochs of the first cycle (warm restarts after it)")
    restart_mult: int = Field(2, ge=1, description="'sgdr': each cycle is this many times longer than the one before")
    plateau_patience: int = Field(2, ge=1, description="'plateau': epochs without val-acc gain before a decay")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="cross-entropy label smoothing")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before a macro network's classifier (ENAS: 0.5)")
    patience: int | None = Field(None, ge=1, description="stop after this many epochs without a better val accuracy")
    amp: bool = Field(True, description="mixed precision on CUDA (bf16 where supported); ignored on CPU")
    grad_clip: float | None = Field(None, gt=0, description="clip the global gradient norm to this")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimiser steps (smoke runs)")
    seed: int = Field(0, description="initial weights, shuffles, crops and flips")
    augment: bool = Field(True, description="random crop (4 px zero padding) + horizontal flip")
    zca: bool = Field(False, description="ZCA-whiten the inputs (the paper whitened its images)")
    channels_last: bool = Field(True, description="NHWC activations (tensor cores on CUDA; ~7% faster on CPU)")
    eval_batch_size: int = Field(500, ge=1, description="images per validation batch")
    check_every: int = Field(50, ge=1, description="steps between host syncs (divergence check, progress)")
    compile: bool = Field(False, description="torch.compile the network: seconds to compile, then faster steps")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A saved config (a checkpoint's, run.json's): fields this version does not know are dropped."""
        return validated(cls, {k: v for k, v in data.items() if k in cls.model_fields})


class DataConfig(BaseModel):
    """Which data, and how its training set is split (run.json records it, so a resume uses the same)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(
        "cifar10",
        description="cifar10, cifar100, svhn, mnist, fashion-mnist, folder:PATH or synthetic",
        json_schema_extra={"flag": "data"},
    )
    data_dir: str | None = Field(None, description="download and cache folder (default ~/.cache/nasrl)")
    resolution: int = Field(32, ge=8, description="images are resized to this many pixels square")
    val_size: ValSize = Field(None, description=VAL_SIZE_HELP)
    split_seed: int = Field(0, description="seed of the stratified train/validation split")
    train_subset: int | None = Field(None, ge=1, description="train on a stratified subset of N images")
    val_subset: int | None = Field(None, ge=1, description="validate on a stratified subset of N images")


#: The search config's names of the strategy settings (flags and presets keep the names they always had).
STRATEGY_FIELDS = {
    "controller_hidden": "hidden_size",
    "controller_layers": "num_lstm_layers",
    "controller_lr": "lr",
    "controller_lr_decay": "lr_decay",
    "baseline_decay": "baseline_decay",
    "entropy_weight": "entropy_weight",
    "controller_grad_clip": "grad_clip",
    "controller_init_range": "init_range",
    "controller_adam_beta1": "adam_beta1",
    "controller_adam_eps": "adam_eps",
    "skip_target": "skip_target",
    "skip_weight": "skip_weight",
    "temperature": "temperature",
    "tanh_constant": "tanh_constant",
    "controller_position_embedding": "position_embedding",
    "controller_skip_bias": "skip_bias",
    "entropy_per_decision": "entropy_per_decision",
    "reward_transform": "reward_transform",
    "ppo_epochs": "ppo_epochs",
    "ppo_clip": "ppo_clip",
    "ppo_target_kl": "ppo_target_kl",
    "population_size": "population_size",
    "tournament_size": "tournament_size",
}
_STRATEGY = StrategyConfig.model_fields


def _field_from(model: type[BaseModel], name: str) -> Any:
    """A search config field that takes its default, constraints and help from another model's field, so each
    default is declared once (in `StrategyConfig` or `DataConfig`)."""
    source = model.model_fields[name]
    return Field(
        source.default, description=source.description, **{k: v for m in source.metadata for k, v in _bounds(m).items()}
    )


def _strategy_field(name: str) -> Any:
    return _field_from(StrategyConfig, STRATEGY_FIELDS[name])


#: The search config's names of the data settings (`data` is `DataConfig.source`).
DATA_FIELDS = {name: name for name in ("data_dir", "resolution", "val_size", "train_subset", "val_subset")}
DATA_FIELDS["data"] = "source"


def _data_field(name: str) -> Any:
    return _field_from(DataConfig, DATA_FIELDS[name])


def _bounds(constraint: Any) -> dict[str, Any]:
    """pydantic's annotated constraints (Gt, Ge, Lt, Le) as Field keywords."""
    names = ("gt", "ge", "lt", "le")
    return {n: getattr(constraint, n) for n in names if getattr(constraint, n, None) is not None}


class SearchConfig(BaseModel):
    """Every knob of a search, with its unit; the presets in `nasrl/presets/` fill them."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- the run ---
    run_dir: str | None = Field(None, description="run folder (default: runs/search-<time>)")
    seed: int = Field(0, description="seeds sampling, data split and child training")
    episodes: int = Field(10, ge=1, description="controller updates")
    children: int = Field(4, ge=1, description="children sampled per episode (the paper's m)")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    checkpoint_every: int = Field(1, ge=1, description="episodes between checkpoints")
    executor: Literal["local", "ray"] = Field("local", description="evaluate children in-process or on Ray")
    tensorboard: bool = Field(False, description="write TensorBoard scalars to RUN_DIR/tensorboard as the search runs")
    ray_address: str | None = Field(None, description="join this Ray cluster ('auto': the one on this node)")
    gpus_per_child: float | None = Field(
        None, ge=0, description="GPUs per child on Ray, fractions pack several (default: 1 if the cluster has GPUs)"
    )
    cpus_per_child: float = Field(1.0, gt=0, description="CPUs per child on Ray (also its torch threads)")
    max_child_retries: int = Field(1, ge=0, description="Ray retries of a child whose worker died")
    in_flight: int | None = Field(
        None, ge=1, description="keep K children running; update on every --children results (default: episodes)"
    )

    # --- the search space ---
    space: str = Field("zoph", description="zoph, zoph-stride, dna, enas-macro, or a YAML file describing a space")
    layers: int | None = Field(None, ge=1, description="layers per child (default: the space's)")
    layer_schedule: str | None = Field(
        None, description="START:STEP:EVERY, e.g. 6:2:1600 = 6 layers, +2 every 1600 children, up to --layers"
    )

    # --- the strategy (defaults and help from StrategyConfig) ---
    strategy: str = Field("reinforce", description="the search strategy (see the list above)")
    controller_hidden: int = _strategy_field("controller_hidden")
    controller_layers: int = _strategy_field("controller_layers")
    controller_lr: float = _strategy_field("controller_lr")
    controller_lr_decay: float | None = _strategy_field("controller_lr_decay")
    baseline_decay: float = _strategy_field("baseline_decay")
    entropy_weight: float = _strategy_field("entropy_weight")
    controller_grad_clip: float | None = _strategy_field("controller_grad_clip")
    controller_init_range: float = _strategy_field("controller_init_range")
    controller_adam_beta1: float = _strategy_field("controller_adam_beta1")
    controller_adam_eps: float = _strategy_field("controller_adam_eps")
    skip_target: float = _strategy_field("skip_target")
    skip_weight: float = _strategy_field("skip_weight")
    temperature: float | None = _strategy_field("temperature")
    tanh_constant: float | None = _strategy_field("tanh_constant")
    controller_position_embedding: bool = _strategy_field("controller_position_embedding")
    controller_skip_bias: bool = _strategy_field("controller_skip_bias")
    entropy_per_decision: bool = _strategy_field("entropy_per_decision")
    reward_transform: Literal["none", "cube"] = _strategy_field("reward_transform")
    ppo_epochs: int = _strategy_field("ppo_epochs")
    ppo_clip: float = _strategy_field("ppo_clip")
    ppo_target_kl: float | None = _strategy_field("ppo_target_kl")
    population_size: int = _strategy_field("population_size")
    tournament_size: int = _strategy_field("tournament_size")
    collapse_entropy: float = Field(
        0.05, ge=0, le=1, description="warn when the policy entropy falls below this fraction of the uniform policy's"
    )

    # --- the evaluator ---
    evaluator: str = Field("train", description="how a child is rewarded (see the list above)")
    synthetic_seed: int = Field(0, description="seed of the synthetic evaluator's hidden target")
    reward_metric: Literal["best", "last5"] = Field(
        "best", description="best val accuracy, or the paper's max over the last 5 epochs"
    )
    rungs: str | None = Field(
        None, description="successive halving: child epochs per rung, e.g. 1,3,9 (the last replaces --child-epochs)"
    )
    eta: int = Field(3, ge=2, description="successive halving: the best 1/eta of each rung's children go on")

    # --- weight sharing (--evaluator shared; ENAS, cifar10_macro_search.sh's values where the default differs) ---
    channels: int | None = Field(None, ge=2, description="a macro space's channels while searching (enas-macro: 36)")
    shared_epochs: int = Field(10, ge=1, description="shared: epochs of shared-weight training (ENAS: 310)")
    controller_steps: int = Field(
        50, ge=1, description="shared: controller updates after each epoch, each on --children architectures"
    )
    shared_batch_size: int = Field(128, ge=2, description="shared: images per shared-weight step and per reward")
    shared_lr: float = Field(0.05, gt=0, description="shared: SGD's peak learning rate (cosine with warm restarts)")
    shared_lr_min: float = Field(0.0005, ge=0, description="shared: the learning rate at the end of each cycle")
    shared_lr_t0: int = Field(10, ge=1, description="shared: epochs of the first cosine cycle")
    shared_lr_tmul: int = Field(2, ge=1, description="shared: each cycle is this many times the one before")
    shared_weight_decay: float = Field(
        5e-4, ge=0, description="shared: SGD weight decay (ENAS's L2 of 2.5e-4 on the loss has this gradient)"
    )
    shared_grad_clip: float | None = Field(5.0, gt=0, description="shared: gradient-norm clip")
    shared_dropout: float = Field(0.1, ge=0, lt=1, description="shared: dropout before the classifier (keep 0.9)")
    derive_samples: int = Field(100, ge=1, description="shared: architectures sampled and scored when deriving")

    # --- child training ---
    child_epochs: int = Field(20, ge=1, description="epochs each child trains (its TrainConfig.epochs)")
    child_batch_size: int = Field(128, ge=1, description="a child's images per optimiser step")
    child_optimizer: Optimizer = Field("sgd", description="sgd (Nesterov momentum), adam, adamw or rmsprop")
    child_lr: float = Field(0.05, gt=0, description="a child's peak learning rate")
    child_momentum: float = Field(0.9, ge=0, lt=1, description="a child's SGD momentum (Adam's beta1)")
    child_weight_decay: float = Field(5e-4, ge=0, description="a child's L2 coefficient")
    child_schedule: Schedule = Field("cosine", description="cosine, sgdr, step, onecycle, plateau or none")
    child_max_steps: int | None = Field(None, ge=1, description="cap on optimizer steps per child (smoke runs)")
    child_compile: bool = Field(False, description="torch.compile each child (pays only for children of many steps)")
    augment: bool = Field(True, description="random crop and flip while a child trains")

    # --- data (defaults and help from DataConfig) ---
    data: str = _data_field("data")
    data_dir: str | None = _data_field("data_dir")
    resolution: int = _data_field("resolution")
    val_size: ValSize = _data_field("val_size")
    train_subset: int | None = _data_field("train_subset")
    val_subset: int | None = _data_field("val_subset")

    @field_validator("space")
    @classmethod
    def _known_space(cls, v: str) -> str:
        if v not in PRESET_TOKENS:
            try:
                load_space(v)
            except UserError as e:
                raise ValueError(str(e).rstrip(".")) from None
        return v

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        from nasrl.search.strategies.registry import strategy_names

        if v not in strategy_names():
            raise ValueError(f"must be one of {', '.join(strategy_names())}")
        return v

    @field_validator("evaluator")
    @classmethod
    def _known_evaluator(cls, v: str) -> str:
        from nasrl.search.evaluators.registry import evaluator_names

        if v not in evaluator_names():
            raise ValueError(f"must be one of {', '.join(evaluator_names())}")
        return v

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if v not in ("auto", "cpu", "cuda", "mps") and not v.startswith("cuda:"):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return v

    @field_validator("gpus_per_child")
    @classmethod
    def _gpu_share(cls, v: float | None) -> float | None:
        """What Ray schedules: a whole number of GPUs, or a share of one (Ray refuses 1.5 at submit time)."""
        if v is not None and not float(v).is_integer() and not 0.0001 <= v < 1:
            raise ValueError(
                "must be a whole number of GPUs such as 1, or a share of one GPU such as 0.25 (four children per GPU)"
            )
        return v

    @field_validator("rungs")
    @classmethod
    def _rungs_form(cls, v: str | None) -> str | None:
        if v is not None:
            parts = v.replace(" ", "").split(",")
            if not all(p.isdigit() and int(p) > 0 for p in parts):
                raise ValueError("must be positive epoch counts separated by commas, e.g. 1,3,9")
            if any(int(a) >= int(b) for a, b in zip(parts, parts[1:])):
                raise ValueError("each rung must train longer than the one before, e.g. 1,3,9")
            return ",".join(parts)
        return v

    @field_validator("layer_schedule")
    @classmethod
    def _schedule_form(cls, v: str | None) -> str | None:
        if v is not None:
            parts = v.split(":")
            if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[0]) < 1 or int(parts[2]) < 1:
                raise ValueError("must be START:STEP:EVERY, START and EVERY positive, STEP >= 0, e.g. 6:2:1600")
        return v

    @model_validator(mode="after")
    def _sharing(self) -> SearchConfig:
        """Weight sharing needs a macro space, a strategy that samples a policy, and none of the per-child options."""
        if self.channels is not None and self.channels % 2:
            raise ValueError(f"--channels must be even (a reduction halves it into two paths), not {self.channels}")
        from nasrl.search.evaluators.registry import evaluator_kind
        from nasrl.search.strategies.registry import strategy_kind

        if not evaluator_kind(self.evaluator).shares_weights:
            return self
        if not self.search_space().macro:
            raise ValueError(
                f"--evaluator shared needs a macro space with operations, such as --space enas-macro, "
                f"not '{self.space}'"
            )
        if not strategy_kind(self.strategy).proposes_independently:
            raise ValueError(
                f"--evaluator {self.evaluator} samples architectures from a policy, which --strategy {self.strategy} "
                f"does not have: use reinforce, ppo or random (any strategy that proposes independently)"
            )
        for name in ("rungs", "layer_schedule"):
            if getattr(self, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise ValueError(
                    f"{flag} trains children one by one: with --evaluator shared set {flag} none, or start from "
                    f"--config quick-enas or enas"
                )
        if self.executor != "local":
            raise ValueError("--evaluator shared trains one network in this process: use --executor local")
        return self

    @model_validator(mode="after")
    def _in_flight_loop(self) -> SearchConfig:
        """Children in flight replace the synchronous episode, which successive halving and weight sharing need."""
        from nasrl.search.evaluators.registry import evaluator_kind

        if self.in_flight is not None and evaluator_kind(self.evaluator).shares_weights:
            raise ValueError("--in-flight cannot run with --evaluator shared: weight sharing has its own loop")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if self.tournament_size > self.population_size:
            raise ValueError(
                f"--tournament-size {self.tournament_size} is larger than --population-size {self.population_size}: "
                f"a tournament draws from the population, so lower it or raise the population"
            )
        if self.layer_schedule and self.layers is not None:
            start = int(self.layer_schedule.split(":")[0])
            if start > self.layers:
                raise ValueError(
                    f"--layer-schedule starts at {start} layers, above --layers {self.layers}: lower its start "
                    f"or raise --layers"
                )
        return self

    @property
    def max_layers(self) -> int:
        if self.layers:
            return self.layers
        return DEFAULT_LAYERS[self.space] if self.space in DEFAULT_LAYERS else load_space(self.space).num_layers

    def search_space(self, num_layers: int | None = None) -> SearchSpace:
        """The space searched (a preset or the YAML file's), at `num_layers` (default: the deepest searched), with
        `--channels` for a macro space."""
        space = load_space(self.space, num_layers or self.max_layers)
        if self.channels is not None and space.macro:
            space = dataclasses.replace(space, channels=self.channels)
        return space

    def data_settings(self) -> DataConfig:
        """Which data the children train on and how it is split (the run's seed is the split's)."""
        fields = {inner: getattr(self, outer) for outer, inner in DATA_FIELDS.items()}
        return DataConfig(**fields, split_seed=self.seed)

    def strategy_settings(self) -> StrategyConfig:
        """The strategy's settings from this config's flat fields (the one place they are mapped)."""
        return StrategyConfig(**{inner: getattr(self, outer) for outer, inner in STRATEGY_FIELDS.items()})

    @property
    def rung_epochs(self) -> list[int]:
        """Successive halving's epoch budgets, shortest first (empty: every child trains `child_epochs`)."""
        return [int(p) for p in self.rungs.split(",")] if self.rungs else []

    def child_training(self, seed: int | None = None) -> TrainConfig:
        """How a child trains: the search's `child_*` fields mapped onto `nasrl train`'s model, in one place.
        With rungs, the schedule spans the last rung: a child stopped early never reached its low learning rates."""
        return TrainConfig(
            epochs=self.rung_epochs[-1] if self.rungs else self.child_epochs,
            batch_size=self.child_batch_size,
            optimizer=self.child_optimizer,
            lr=self.child_lr,
            momentum=self.child_momentum,
            weight_decay=self.child_weight_decay,
            schedule=self.child_schedule,
            max_steps=self.child_max_steps,
            compile=self.child_compile,
            augment=self.augment,
            seed=self.seed if seed is None else seed,
        )

    def layers_at(self, children_so_far: int) -> int:
        """Depth of the children sampled after `children_so_far` children (the paper's growing schedule)."""
        if not self.layer_schedule:
            return self.max_layers
        start, step, every = (int(p) for p in self.layer_schedule.split(":"))
        return min(self.max_layers, start + step * (children_so_far // every))


def preset_text(name: str) -> str:
    return resources.files("nasrl").joinpath("presets", f"{name}.yaml").read_text()


#: `nasrl train --config NAME`: recipes of training and data fields (presets/train-NAME.yaml).
TRAIN_RECIPES = ("enas-final",)


def load_train_recipe(name_or_path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A training recipe's (TrainConfig fields, DataConfig fields); a field of neither is one sentence."""
    if name_or_path in TRAIN_RECIPES:
        data = load_config_file(str(resources.files("nasrl").joinpath("presets", f"train-{name_or_path}.yaml")))
    elif not Path(name_or_path).expanduser().is_file():
        raise UserError(f"No training recipe '{name_or_path}': use {', '.join(TRAIN_RECIPES)} or a YAML file path.")
    else:
        data = load_config_file(name_or_path)
    unknown = [k for k in data if k not in TrainConfig.model_fields and k not in DataConfig.model_fields]
    if unknown:
        raise UserError(f"{name_or_path}: '{unknown[0]}' is not a flag of `nasrl train`; see `nasrl train --help`.")
    train = {k: v for k, v in data.items() if k in TrainConfig.model_fields}
    return train, {k: v for k, v in data.items() if k in DataConfig.model_fields}


def load_config_file(name_or_path: str) -> dict[str, Any]:
    """A preset name or a YAML file, as a dict of fields (not yet validated)."""
    if name_or_path in PRESETS:
        text, origin = preset_text(name_or_path), f"preset '{name_or_path}'"
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise UserError(
                f"No config file at {path}: use one of the presets {', '.join(PRESETS)} or a YAML file path."
            )
        text, origin = path.read_text(), str(path)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{origin} is not valid YAML ({str(e).splitlines()[0]}): fix the file.") from None
    if not isinstance(data, dict):
        raise UserError(f"{origin} must be a YAML mapping of config fields (see `nasrl search --help`).")
    return data


def make_config(base: dict[str, Any], overrides: dict[str, Any] | None = None) -> SearchConfig:
    """Validate `base` updated with `overrides`; any problem is one sentence naming the flag.

    A preset's depth and width belong to its space: `--space` given without `--layers` (`--channels`) takes the new
    space's own."""
    overrides = overrides or {}
    if overrides.get("space") not in (None, base.get("space")):
        drop = {k for k in ("layers", "channels") if k not in overrides}
        if "layers" in drop and "layer_schedule" not in overrides:
            drop.add("layer_schedule")  # a schedule grows towards the preset's depth
        base = {k: v for k, v in base.items() if k not in drop}
    return validated(SearchConfig, {**base, **overrides})


def save_config(cfg: SearchConfig, path: Path) -> None:
    from nasrl.run.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(cfg.model_dump(), sort_keys=False))


#: Settings added after a run's config.yaml was written take the behaviour that run had, not today's default, so
#: an older run folder resumes exactly as it would have (its controller had no position parts, its entropy bonus
#: was on the sum).
SETTINGS_BEFORE_THEY_EXISTED = {
    "entropy_per_decision": False,
    "controller_position_embedding": False,
    "controller_skip_bias": False,
    "ppo_target_kl": None,
}


def read_config(path: Path) -> SearchConfig:
    """A run folder's config.yaml, as the run was started (see `SETTINGS_BEFORE_THEY_EXISTED`)."""
    if not path.is_file():
        raise UserError(f"{path.parent} has no config.yaml: it is not a search run folder.")
    return make_config({**SETTINGS_BEFORE_THEY_EXISTED, **load_config_file(str(path))})
