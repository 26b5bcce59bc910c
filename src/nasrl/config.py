"""The search's configuration: one flat, validated structure, presets as YAML, every field a CLI flag.

Flat on purpose (as airbench keeps its hyperparameters in one place): `--child-epochs 3`
overrides `child_epochs`, a YAML file names the same fields, and `config.yaml` in a
run folder is this structure, resolved, as it ran.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nasrl.errors import UserError
from nasrl.space import DEFAULT_LAYERS, PRESET_TOKENS

PRESETS = ("quick", "fast", "default", "thorough", "paper")


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

    # --- the search space ---
    space: str = Field("zoph", description="zoph, zoph-stride or dna")
    layers: int | None = Field(None, ge=1, description="layers per child (default: the space's)")
    layer_schedule: str | None = Field(
        None, description="START:STEP:EVERY, e.g. 6:2:1600 = 6 layers, +2 every 1600 children, up to --layers"
    )

    # --- the strategy (controller) ---
    strategy: Literal["reinforce", "random"] = "reinforce"
    controller_hidden: int = Field(35, ge=1, description="LSTM units per layer")
    controller_layers: int = Field(2, ge=1, description="LSTM layers")
    # lr, entropy weight and tanh constant are tuned on the synthetic reward (BENCHMARKS.md, "Controller"): with
    # the paper's 6e-4 and no tanh constant the controller barely moves in a few hundred updates (0.61 vs 0.88).
    # The `paper` preset keeps the paper's values.
    controller_lr: float = Field(1e-2, gt=0, description="Adam learning rate")
    controller_lr_decay: float | None = Field(None, gt=0, le=1, description="lr multiplier per episode")
    baseline_decay: float = Field(0.95, ge=0, lt=1, description="EMA decay of the reward baseline")
    entropy_weight: float = Field(1e-2, ge=0, description="entropy bonus in the REINFORCE loss")
    controller_grad_clip: float | None = Field(5.0, gt=0, description="gradient-norm clip")
    temperature: float | None = Field(None, gt=0, description="softmax temperature")
    tanh_constant: float | None = Field(3.5, gt=0, description="logits = C * tanh(logits / T)")
    reward_transform: Literal["none", "cube"] = Field("none", description="cube = the paper's accuracy^3")
    collapse_entropy: float = Field(
        0.05, ge=0, le=1, description="warn when the policy entropy falls below this fraction of the uniform policy's"
    )

    # --- the evaluator ---
    evaluator: Literal["train", "synthetic"] = "train"
    synthetic_seed: int = Field(0, description="seed of the synthetic evaluator's hidden target")
    reward_metric: Literal["best", "last5"] = Field(
        "best", description="best val accuracy, or the paper's max over the last 5 epochs"
    )

    # --- child training ---
    child_epochs: int = Field(20, ge=1)
    child_batch_size: int = Field(128, ge=1)
    child_optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "sgd"
    child_lr: float = Field(0.05, gt=0)
    child_momentum: float = Field(0.9, ge=0, lt=1)
    child_weight_decay: float = Field(5e-4, ge=0)
    child_schedule: Literal["cosine", "step", "onecycle", "plateau", "none"] = "cosine"
    child_max_steps: int | None = Field(None, ge=1, description="cap on optimizer steps per child (smoke runs)")
    augment: bool = True

    # --- data ---
    data: str = Field("cifar10", description="cifar10, folder:PATH or synthetic")
    data_dir: str | None = Field(None, description="where data sets and their decoded caches live")
    val_size: int = Field(5000, ge=1, description="validation images held out of the training set")
    train_subset: int | None = Field(None, ge=1, description="train on this many images (proxy search)")
    val_subset: int | None = Field(None, ge=1, description="validate on this many images")

    @field_validator("space")
    @classmethod
    def _known_space(cls, v: str) -> str:
        if v not in PRESET_TOKENS:
            raise ValueError(f"must be one of {', '.join(PRESET_TOKENS)}")
        return v

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if v not in ("auto", "cpu", "cuda", "mps") and not v.startswith("cuda:"):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
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
    def _consistent(self) -> SearchConfig:
        if self.layer_schedule and self.layers is not None:
            start = int(self.layer_schedule.split(":")[0])
            if start > self.layers:
                raise ValueError(f"the layer schedule starts at {start} layers, above --layers {self.layers}")
        return self

    @property
    def max_layers(self) -> int:
        return self.layers or DEFAULT_LAYERS[self.space]

    def layers_at(self, children_so_far: int) -> int:
        """Depth of the children sampled after `children_so_far` children (the paper's growing schedule)."""
        if not self.layer_schedule:
            return self.max_layers
        start, step, every = (int(p) for p in self.layer_schedule.split(":"))
        return min(self.max_layers, start + step * (children_so_far // every))


def preset_text(name: str) -> str:
    return resources.files("nasrl").joinpath("presets", f"{name}.yaml").read_text()


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
    """Validate `base` updated with `overrides`; any problem is one sentence naming the field."""
    fields = {**base, **(overrides or {})}
    try:
        return SearchConfig(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "config"
        flag = "--" + field.replace("_", "-")
        if err["type"] == "extra_forbidden":
            raise UserError(f"Unknown config field '{field}': see `nasrl search --help` for the fields.") from None
        value = err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        raise UserError(f"Bad value {value!r} for {flag}: {msg}.") from None


def save_config(cfg: SearchConfig, path: Path) -> None:
    from nasrl.run.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(cfg.model_dump(), sort_keys=False))


def read_config(path: Path) -> SearchConfig:
    if not path.is_file():
        raise UserError(f"{path.parent} has no config.yaml: it is not a search run folder.")
    return make_config(load_config_file(str(path)))
