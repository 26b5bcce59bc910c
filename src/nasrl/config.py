"""Every setting of nasrl, declared once: pydantic models whose fields are the CLI's flags.

- `TrainConfig`: how one network trains (`nasrl train`'s flags, and a search's `child` section).
- `DataConfig`: which data and how its training set is split (`nasrl train`'s data flags; a search's `data`).
- `SearchConfig`: a search in sections (run, space, strategy, evaluator, child, data, executor, scheduler), each a
  model of its own, named flat on the command line and in presets (`--child-epochs 3` sets `child.epochs`, as
  airbench keeps its hyperparameters in one visible place); `config.yaml` in a run folder is its sections as run.
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
from nasrl.space.families.macro import check_op_settings
from nasrl.space.files import load_space

ModelT = TypeVar("ModelT", bound=BaseModel)


def _preset_files(training: bool) -> tuple[str, ...]:
    """The presets shipped in `nasrl/presets/`: search presets (NAME.yaml) or training recipes (train-NAME.yaml)."""
    names = [p.name.removesuffix(".yaml") for p in resources.files("nasrl").joinpath("presets").iterdir()]
    chosen = [n.removeprefix("train-") for n in names if n.startswith("train-") == training]
    return tuple(sorted(chosen, key=lambda n: (n not in ("quick", "default"), n)))


#: `nasrl search --config NAME`: the search presets, read from the folder (a new preset is a new file there).
PRESETS = _preset_files(training=False)

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
    channels_last: bool = Field(
        True, description="NHWC activations (what CUDA tensor cores want; BENCHMARKS.md, 'Data pipeline')"
    )
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


class DeviceConfig(BaseModel):
    """Where networks train: a search's children (`nasrl search --device`) or one network (`nasrl train --device`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if v not in ("auto", "cpu", "cuda", "mps") and not v.startswith("cuda:"):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return v


class RunSettings(BaseModel):
    """The run: its folder, seed and length."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    run_dir: str | None = Field(None, description="run folder (default: runs/search-<time>)")
    seed: int = Field(0, description="seeds sampling, data split and child training")
    episodes: int = Field(10, ge=1, description="controller updates")
    max_evaluations: int | None = Field(
        None,
        ge=1,
        description="stop after this many distinct architectures are evaluated (store answers are free); "
        "--episodes then defaults to a cap of 100 proposals per evaluation",
    )
    children: int = Field(4, ge=1, description="children sampled per episode (the paper's m)")
    checkpoint_every: int = Field(1, ge=1, description="episodes between checkpoints")
    tensorboard: bool = Field(False, description="write TensorBoard scalars to RUN_DIR/tensorboard as the search runs")
    collapse_entropy: float = Field(
        0.05, ge=0, le=1, description="warn when the policy entropy falls below this fraction of the uniform policy's"
    )


class SpaceSettings(BaseModel):
    """The search space: a preset or a YAML file, its depth (or a growing schedule) and a macro space's width."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(
        "zoph",
        description=f"a preset space ({', '.join(PRESET_TOKENS)}) or a YAML file describing one",
        json_schema_extra={"flag": "space"},
    )
    layers: int | None = Field(None, ge=1, description="layers per child (default: the space's)")
    layer_schedule: str | None = Field(
        None, description="START:STEP:EVERY, e.g. 6:2:1600 = 6 layers, +2 every 1600 children, up to --layers"
    )
    channels: int | None = Field(None, ge=2, description="a macro space's channels while searching (enas-macro: 36)")

    @field_validator("name")
    @classmethod
    def _known_space(cls, v: str) -> str:
        if v not in PRESET_TOKENS:
            try:
                load_space(v)
            except UserError as e:
                raise ValueError(str(e).rstrip(".")) from None
        return v

    @field_validator("layer_schedule")
    @classmethod
    def _schedule_form(cls, v: str | None) -> str | None:
        if v is not None:
            parts = v.split(":")
            if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[0]) < 1 or int(parts[2]) < 1:
                raise ValueError("must be START:STEP:EVERY, START and EVERY positive, STEP >= 0, e.g. 6:2:1600")
        return v


class StrategySettings(StrategyConfig):
    """The strategy: its registered name and its settings (one model serves all, so a preset's controller settings
    survive `--strategy evolution`, and a run can switch strategy by one flag)."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)

    name: str = Field(
        "reinforce", description="the search strategy (listed above)", json_schema_extra={"flag": "strategy"}
    )

    @field_validator("name")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        from nasrl.search.strategies.registry import strategy_names

        if v not in strategy_names():
            raise ValueError(f"must be one of {', '.join(strategy_names())}")
        return v


class EvaluatorSettings(BaseModel):
    """How a child is rewarded: the registered evaluator and its settings (the synthetic target's seed, the reward
    of a trained child, and weight sharing's; ENAS's cifar10_macro_search.sh values where the default differs)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(
        "train", description="how a child is rewarded (listed above)", json_schema_extra={"flag": "evaluator"}
    )
    synthetic_seed: int = Field(0, description="seed of the synthetic evaluator's hidden target")
    reward_metric: Literal["best", "last5"] = Field(
        "best", description="best val accuracy, or the paper's max over the last 5 epochs"
    )
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
    shared_dropout: float = Field(
        0.1, ge=0, lt=1, description="shared: dropout before a macro network's classifier (keep 0.9)"
    )
    shared_bn_stats: Literal["running", "batch"] = Field(
        "running",
        description="shared: score a path with BN's moving statistics (ENAS) or each batch's own (its path's)",
    )
    derive_samples: int = Field(100, ge=1, description="shared: architectures sampled and scored when deriving")
    table_check_cells: int = Field(
        200, ge=2, description="shared, on a benchmark's space: distinct cells derive checks against its table"
    )
    benchmark: Literal["nb201"] = Field("nb201", description="benchmark: the tabular benchmark (NAS-Bench-201)")
    benchmark_dataset: Literal["cifar10", "cifar100", "imagenet16"] = Field(
        "cifar10", description="benchmark: whose accuracies answer (imagenet16: ImageNet16-120)"
    )
    benchmark_table: str | None = Field(
        None, description="benchmark: read this CSV table (same columns) instead of the shipped one"
    )

    @field_validator("name")
    @classmethod
    def _known_evaluator(cls, v: str) -> str:
        from nasrl.search.evaluators.registry import evaluator_names

        if v not in evaluator_names():
            raise ValueError(f"must be one of {', '.join(evaluator_names())}")
        return v


class ExecutorSettings(DeviceConfig):
    """Where children are evaluated: in this process or on Ray, how many at once, on which device."""

    name: Literal["local", "ray"] = Field(
        "local", description="evaluate children in-process or on Ray", json_schema_extra={"flag": "executor"}
    )
    ray_address: str | None = Field(None, description="join this Ray cluster ('auto': the one on this node)")
    gpus_per_child: float | None = Field(
        None, ge=0, description="GPUs per child on Ray, fractions pack several (default: 1 if the cluster has GPUs)"
    )
    cpus_per_child: float = Field(1.0, gt=0, description="CPUs per child on Ray (also its torch threads)")
    max_child_retries: int = Field(1, ge=0, description="Ray retries of a child whose worker died")
    in_flight: int | None = Field(
        None, ge=1, description="keep K children running; update on every --children results (default: episodes)"
    )

    @field_validator("gpus_per_child")
    @classmethod
    def _gpu_share(cls, v: float | None) -> float | None:
        """What Ray schedules: a whole number of GPUs, or a share of one (Ray refuses 1.5 at submit time)."""
        if v is not None and not float(v).is_integer() and not 0.0001 <= v < 1:
            raise ValueError(
                "must be a whole number of GPUs such as 1, or a share of one GPU such as 0.25 (four children per GPU)"
            )
        return v


class SchedulerSettings(BaseModel):
    """How long each child trains: its full schedule, or successive halving's rungs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    rungs: str | None = Field(
        None, description="successive halving: child epochs per rung, e.g. 1,3,9 (the last replaces --child-epochs)"
    )
    eta: int = Field(3, ge=2, description="successive halving: the best 1/eta of each rung's children go on")

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

    @property
    def rung_epochs(self) -> list[int]:
        """Successive halving's epoch budgets, shortest first (empty: every child trains its full schedule)."""
        return [int(p) for p in self.rungs.split(",")] if self.rungs else []


#: Suffixes a size may carry (`500k`, `1.5M`, `2G`): what a user writes for parameter and FLOP counts.
_SIZE_SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_size(value: Any) -> Any:
    """A count such as 1e6, 1000000, 500k, 1.5M or 2G as a float (None stays None); anything else is named."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().replace("_", "").replace(",", "")
    suffix = text[-1:].lower() if text[-1:].isalpha() else ""
    try:
        number = float(text[: len(text) - len(suffix)]) * _SIZE_SUFFIXES[suffix]
    except (KeyError, ValueError):
        raise ValueError(f"must be a positive count such as 1e6, 500k or 1.5M, not '{value}'") from None
    if not number > 0:
        raise ValueError(f"must be a positive count such as 1e6, 500k or 1.5M, not '{value}'")
    return number


def parse_milliseconds(value: Any) -> Any:
    """A time in milliseconds: 5, 0.8, '5ms' or '0.005s' (None stays None); anything else is named."""
    if value is None or isinstance(value, bool):
        return value
    text, scale = str(value).strip().lower(), 1.0
    if text.endswith("ms"):
        text = text[:-2]
    elif text.endswith("s"):
        text, scale = text[:-1], 1000.0
    try:
        number = float(text) * scale
    except ValueError:
        raise ValueError(f"must be milliseconds such as 5, 0.8 or 5ms, not '{value}'") from None
    if not number > 0:
        raise ValueError(f"must be a positive time in milliseconds such as 5 or 0.8, not '{value}'")
    return number


Size = Annotated[float | None, BeforeValidator(parse_size)]
Milliseconds = Annotated[float | None, BeforeValidator(parse_milliseconds)]
#: The costs an objective can limit or trade accuracy against, each with its flags' stem and unit.
COSTS: dict[str, str] = {"params": "params", "flops": "flops", "latency_ms": "latency-ms"}


class ObjectiveSettings(BaseModel):
    """What a search maximises: accuracy, under hard limits on a child's costs, or MnasNet's trade-off of accuracy
    against one cost (`search.objective` reads these; Tan et al. 2019, eq. 2)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: Literal["accuracy", "mnasnet"] = Field(
        "accuracy",
        description="accuracy, or mnasnet: ACC x (COST/TARGET)^w for the one --target-* given (implied by it)",
        json_schema_extra={"flag": "objective"},
    )
    max_params: Size = Field(None, description="hard limit: a child with more parameters is over the limit")
    max_flops: Size = Field(None, description="hard limit on forward FLOPs per image (a multiply-add is 2)")
    max_latency_ms: Milliseconds = Field(None, description="hard limit on the median batch-1 forward time, in ms")
    target_params: Size = Field(None, description="mnasnet: the parameter count the trade-off is centred on")
    target_flops: Size = Field(None, description="mnasnet: the FLOPs the trade-off is centred on")
    target_latency_ms: Milliseconds = Field(None, description="mnasnet: the batch-1 latency (ms) it is centred on")
    target_weight: float = Field(-0.07, le=0, description="mnasnet: the exponent w (MnasNet's soft -0.07)")
    target_alpha: float | None = Field(None, le=0, description="mnasnet: w at or under the target (default w)")
    target_beta: float | None = Field(None, le=0, description="mnasnet: w over the target (default w; hard: -1)")
    over_limit_reward: float = Field(
        0.0, description="the reward of a child over a hard limit (it is not trained; a failed child's is 0)"
    )
    measure_latency: bool = Field(
        False, description="measure every child's latency (a latency limit or target measures it anyway)"
    )
    latency_device: str | None = Field(
        None, description="time children on this device (cpu, cuda, cuda:N, mps; default: the search's)"
    )
    latency_seconds: float = Field(
        0.2, gt=0, description="timed seconds per batch size of a latency measurement, after warm-up"
    )

    @model_validator(mode="before")
    @classmethod
    def _target_implies_mnasnet(cls, data: Any) -> Any:
        """A --target-* flag asks for the trade-off: it sets the objective unless --objective is given."""
        targets = isinstance(data, dict) and any(data.get(f"target_{cost}") is not None for cost in COSTS)
        if targets and data.get("name") is None:
            return {**data, "name": "mnasnet"}
        return data

    @field_validator("latency_device")
    @classmethod
    def _device_form(cls, v: str | None) -> str | None:
        if v is not None and v not in ("cpu", "cuda", "mps") and not v.startswith("cuda:"):
            raise ValueError("must be cpu, cuda, cuda:N or mps")
        return v

    @property
    def limits(self) -> dict[str, float]:
        """The hard limits given: cost name -> the most it may be."""
        return {c: getattr(self, f"max_{c}") for c in COSTS if getattr(self, f"max_{c}") is not None}

    @property
    def target(self) -> tuple[str, float] | None:
        """MnasNet's (cost, target), or None."""
        return next(((c, getattr(self, f"target_{c}")) for c in COSTS if getattr(self, f"target_{c}")), None)

    @property
    def needs_latency(self) -> bool:
        target = self.target
        return self.measure_latency or "latency_ms" in self.limits or (target is not None and target[0] == "latency_ms")


#: How a search's children train where it differs from `nasrl train`'s defaults: many short trainings of small
#: networks, which a lower peak rate and more decay suit (the seed's `child_*` defaults).
CHILD_DEFAULTS: dict[str, Any] = {"lr": 0.05, "weight_decay": 5e-4}

#: The sections of a search config, each a model of its own; a field's flag is the field's own `flag`, else its name
#: (a child's training field: `child_` and its name, `augment` excepted as it always was).
SECTIONS: dict[str, type[BaseModel]] = {
    "run": RunSettings,
    "space": SpaceSettings,
    "strategy": StrategySettings,
    "evaluator": EvaluatorSettings,
    "child": TrainConfig,
    "data": DataConfig,
    "executor": ExecutorSettings,
    "scheduler": SchedulerSettings,
    "objective": ObjectiveSettings,
}
#: Fields a search sets itself: each child's seed (from the run's, per child) and the split's (the run's seed).
NOT_FLAGS = {("child", "seed"), ("data", "split_seed")}


def _flat_name(section: str, model: type[BaseModel], field: str) -> str:
    extra = model.model_fields[field].json_schema_extra
    if isinstance(extra, dict) and "flag" in extra:
        return str(extra["flag"])
    return f"child_{field}" if section == "child" and field != "augment" else field


#: Every flat name (a flag, a preset's key, an older config.yaml's key) and the (section, field) it sets.
FLAT_FIELDS: dict[str, tuple[str, str]] = {
    _flat_name(section, model, field): (section, field)
    for section, model in SECTIONS.items()
    for field in model.model_fields
    if (section, field) not in NOT_FLAGS
}
assert len(FLAT_FIELDS) == sum(len(m.model_fields) for m in SECTIONS.values()) - len(NOT_FLAGS), "a flag twice"
FLAG_OF = {place: name for name, place in FLAT_FIELDS.items()}


def flat_default(name: str) -> Any:
    """The default of a flat field when neither preset nor flag sets it (a child's, the search's own)."""
    section, field = FLAT_FIELDS[name]
    if section == "child" and field in CHILD_DEFAULTS:
        return CHILD_DEFAULTS[field]
    return SECTIONS[section].model_fields[field].default


def nest(data: dict[str, Any]) -> dict[str, Any]:
    """Flat fields (a preset's, the flags', an older config.yaml's) and sections (a config.yaml of this version)
    as sections; a key of neither stays where it is, for validation to name it."""
    nested: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            nested.setdefault(key, {}).update(value)
        elif key in FLAT_FIELDS:
            section, field = FLAT_FIELDS[key]
            nested.setdefault(section, {})[field] = value
        else:
            nested[key] = value
    return nested


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    """A config as flat fields (what the report reads, and older config.yaml files hold): the inverse of `nest`."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            flat.update({FLAG_OF[(key, f)]: v for f, v in value.items() if (key, f) in FLAG_OF})
        else:
            flat[key] = value
    return flat


class SearchConfig(BaseModel):
    """Every setting of a search, in sections (`SECTIONS`); flags, presets and older config.yaml files name them
    flat (`--child-epochs 3` sets `child.epochs`), and config.yaml in a run folder holds the sections as run."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    run: RunSettings = Field(default_factory=RunSettings)
    space: SpaceSettings = Field(default_factory=SpaceSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    evaluator: EvaluatorSettings = Field(default_factory=EvaluatorSettings)
    child: TrainConfig = Field(default_factory=lambda: TrainConfig(**CHILD_DEFAULTS))
    data: DataConfig = Field(default_factory=DataConfig)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    objective: ObjectiveSettings = Field(default_factory=ObjectiveSettings)

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        """Flat names into their sections; a child's training starts from the search's defaults."""
        if not isinstance(data, dict):
            return data
        nested = nest(data)
        child = nested.get("child", {})
        if isinstance(child, dict):
            nested["child"] = {**CHILD_DEFAULTS, **child}
        return nested

    @classmethod
    def flag_of(cls, loc: tuple[Any, ...]) -> str:
        """The flag of a validation error's location (`("child", "lr")` -> `--child-lr`)."""
        name = FLAG_OF.get((str(loc[0]), str(loc[1]))) if len(loc) > 1 else None
        return "--" + (name or str(loc[0])).replace("_", "-")

    @model_validator(mode="after")
    def _even_channels(self) -> SearchConfig:
        channels = self.space.channels
        if channels is not None and channels % 2:
            raise ValueError(f"--channels must be even (a reduction halves it into two paths), not {channels}")
        if channels is not None:  # the space's operation settings must fit the new width too
            try:
                self.search_space()
            except UserError as e:
                raise ValueError(f"with --channels {channels}, {str(e).rstrip('.')}") from None
        return self

    @model_validator(mode="after")
    def _benchmark_space(self) -> SearchConfig:
        """An evaluator that answers one space only (a benchmark's) searches that space; a budget of evaluations
        needs children that are evaluated one by one."""
        from nasrl.search.evaluators.registry import evaluator_kind

        kind = evaluator_kind(self.evaluator.name)
        space = kind.fixed_space(self.flat())
        if space is not None and self.space.name != space:
            raise ValueError(
                f"--evaluator {self.evaluator.name} answers architectures of --space {space} only, not "
                f"'{self.space.name}': drop --space or give --space {space}"
            )
        if kind.shares_weights and self.run.max_evaluations is not None:
            raise ValueError(
                f"--max-evaluations counts evaluated children, and --evaluator {self.evaluator.name} evaluates none "
                "(it trains one shared network): drop it"
            )
        return self

    @model_validator(mode="after")
    def _sharing(self) -> SearchConfig:
        """Weight sharing needs a space with a shared network, a strategy that samples a policy, and none of the
        per-child options."""
        from nasrl.search.evaluators.registry import evaluator_kind
        from nasrl.search.strategies.registry import strategy_kind, strategy_names

        evaluator, strategy = self.evaluator.name, self.strategy.name
        if not evaluator_kind(evaluator).shares_weights:
            return self
        from nasrl.nets.builder import shares_weights

        if not shares_weights(self.search_space()):
            raise ValueError(
                f"--evaluator {evaluator} needs a space with a shared network (a macro space with operations, such "
                f"as --space enas-macro, or --space nb201), not '{self.space.name}'"
            )
        if not strategy_kind(strategy).proposes_independently:
            independent = sorted(n for n in strategy_names() if strategy_kind(n).proposes_independently)
            raise ValueError(
                f"--evaluator {evaluator} samples architectures from a policy, which --strategy {strategy} "
                f"does not have: use {', '.join(independent[:-1])} or {independent[-1]} (the strategies that "
                f"propose independently)"
            )
        for flag, value in (("--rungs", self.scheduler.rungs), ("--layer-schedule", self.space.layer_schedule)):
            if value is not None:
                raise ValueError(
                    f"{flag} trains children one by one: with --evaluator {evaluator} set {flag} none, or start "
                    f"from --config quick-enas or enas"
                )
        if self.executor.name != "local":
            raise ValueError(f"--evaluator {evaluator} trains one network in this process: use --executor local")
        if self.executor.in_flight is not None:
            raise ValueError(f"--in-flight cannot run with --evaluator {evaluator}: weight sharing has its own loop")
        return self

    @model_validator(mode="after")
    def _objective(self) -> SearchConfig:
        objective = self.objective
        targets = [cost for cost in COSTS if getattr(objective, f"target_{cost}") is not None]
        if objective.name == "mnasnet" and len(targets) != 1:
            given = ", ".join(f"--target-{COSTS[c]}" for c in targets) or "none"
            raise ValueError(
                f"--objective mnasnet trades accuracy against one cost: give exactly one of --target-params, "
                f"--target-flops or --target-latency-ms (given: {given})"
            )
        if objective.name == "accuracy" and targets:
            raise ValueError(
                f"--target-{COSTS[targets[0]]} is MnasNet's trade-off: drop --objective accuracy, or the target"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if self.strategy.tournament_size > self.strategy.population_size:
            raise ValueError(
                f"--tournament-size {self.strategy.tournament_size} is larger than --population-size "
                f"{self.strategy.population_size}: a tournament draws from the population, so lower it or raise "
                f"the population"
            )
        if self.space.layer_schedule and self.space.layers is not None:
            start = int(self.space.layer_schedule.split(":")[0])
            if start > self.space.layers:
                raise ValueError(
                    f"--layer-schedule starts at {start} layers, above --layers {self.space.layers}: lower its "
                    f"start or raise --layers"
                )
        return self

    def flat(self) -> dict[str, Any]:
        """Every setting under its flat name (as flags and presets name it)."""
        return flatten(self.model_dump())

    def with_flat(self, **fields: Any) -> SearchConfig:
        """A copy with flat fields changed (`with_flat(run_dir="runs/a")`), validated as the flags are."""
        return validated(SearchConfig, {**self.flat(), **fields})

    @property
    def max_layers(self) -> int:
        if self.space.layers:
            return self.space.layers
        name = self.space.name
        return DEFAULT_LAYERS[name] if name in DEFAULT_LAYERS else load_space(name).num_layers

    def search_space(self, num_layers: int | None = None) -> SearchSpace:
        """The space searched (a preset or the YAML file's), at `num_layers` (default: the deepest searched), with
        `--channels` for a space that carries a width."""
        space = load_space(self.space.name, num_layers or self.max_layers)
        if self.space.channels is not None and space.channels is not None:
            space = dataclasses.replace(space, channels=self.space.channels)
            check_op_settings(space, dict(space.op_settings))
        return space

    def data_settings(self) -> DataConfig:
        """Which data the children train on and how it is split (the run's seed is the split's)."""
        return self.data.model_copy(update={"split_seed": self.run.seed})

    def strategy_settings(self) -> StrategyConfig:
        """The strategy's settings, without its name."""
        return StrategyConfig(**self.strategy.model_dump(exclude={"name"}))

    def child_training(self, seed: int | None = None) -> TrainConfig:
        """How a child trains, with its own seed. With rungs, the schedule spans the last rung: a child stopped
        early never reached its low learning rates."""
        rungs = self.scheduler.rung_epochs
        epochs = rungs[-1] if rungs else self.child.epochs
        return self.child.model_copy(update={"epochs": epochs, "seed": self.run.seed if seed is None else seed})

    def layers_at(self, children_so_far: int) -> int:
        """Depth of the children sampled after `children_so_far` children (the paper's growing schedule)."""
        if not self.space.layer_schedule:
            return self.max_layers
        start, step, every = (int(p) for p in self.space.layer_schedule.split(":"))
        return min(self.max_layers, start + step * (children_so_far // every))


def preset_text(name: str) -> str:
    return resources.files("nasrl").joinpath("presets", f"{name}.yaml").read_text()


#: `nasrl train --config NAME`: recipes of training and data fields (presets/train-NAME.yaml).
TRAIN_RECIPES = _preset_files(training=True)


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
    """Validate `base` (flat fields or sections) updated with `overrides` (flat fields, as flags name them); any
    problem is one sentence naming the flag.

    A preset's depth and width belong to its space: `--space` given without `--layers` (`--channels`) takes the new
    space's own."""
    overrides = overrides or {}
    base = flatten(base)
    overrides = {**_implied(base, overrides), **overrides}
    if overrides.get("space") not in (None, base.get("space")):
        drop = {k for k in ("layers", "channels") if k not in overrides}
        if "layers" in drop and "layer_schedule" not in overrides:
            drop.add("layer_schedule")  # a schedule grows towards the preset's depth
        base = {k: v for k, v in base.items() if k not in drop}
    return validated(SearchConfig, {**base, **overrides})


def _implied(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Settings that flags imply: an evaluator that answers one space only (a benchmark's) searches that space
    unless --space is given, and one that trains no children drops a preset's rungs; --max-evaluations without
    --episodes caps the run at 100 proposals per evaluation
    (a policy that has converged proposes stored architectures, which cost nothing)."""
    from nasrl.search.evaluators.registry import known_evaluator

    merged, implied = {**base, **overrides}, {}
    kind = known_evaluator(merged.get("evaluator", flat_default("evaluator")))
    space = kind.fixed_space(merged) if kind is not None else None
    chosen = "evaluator" in overrides or "benchmark" in overrides  # a flag's choice, not a saved config's
    if chosen and space is not None and "space" not in overrides:
        implied["space"] = space
    if chosen and kind is not None and not kind.trains_children and "rungs" not in overrides:
        implied["rungs"] = None  # a preset's successive halving has nothing to train here
    if overrides.get("max_evaluations") is not None and "episodes" not in overrides:
        try:  # flags arrive as text; one that is not a number is named by validation
            budget, children = (int(merged.get(k, flat_default(k))) for k in ("max_evaluations", "children"))
            episodes = int(merged.get("episodes", flat_default("episodes")))
        except (TypeError, ValueError):
            return implied
        implied["episodes"] = max(episodes, -(-100 * budget // max(children, 1)))
    return implied


def save_config(cfg: SearchConfig, path: Path) -> None:
    """A run's config.yaml: its settings under their flat names, so the file reads like the flags and is itself a
    preset (`--config RUN/config.yaml` runs the same search again)."""
    from nasrl.run.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(cfg.flat(), sort_keys=False))


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
