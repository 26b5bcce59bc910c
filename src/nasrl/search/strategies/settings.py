"""The strategies' settings, each default declared once (flags and presets fill them through the search config)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nasrl.errors import validated


class StrategyConfig(BaseModel):
    """A strategy's settings, each default declared here once; a field's flag is its name, or the `flag` it names
    (`--controller-lr` sets `lr`: flags and presets keep the names they always had). The controller's shape is
    the paper's; the update's values were tuned on the synthetic target (BENCHMARKS.md, "Controller"); the `paper`
    preset restores the paper's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the controller (Zoph & Le 2017, sections 3.1-3.3)
    hidden_size: int = Field(
        35, ge=1, description="LSTM units per layer", json_schema_extra={"flag": "controller_hidden"}
    )
    num_lstm_layers: int = Field(2, ge=1, description="LSTM layers", json_schema_extra={"flag": "controller_layers"})
    init_range: float = Field(
        0.08,
        gt=0,
        description="every controller weight uniform in [-x, x]",
        json_schema_extra={"flag": "controller_init_range"},
    )
    temperature: float | None = Field(None, gt=0, description="softmax temperature")
    tanh_constant: float | None = Field(3.5, gt=0, description="logits = C * tanh(logits / T)")
    position_embedding: bool = Field(
        True,
        description="a learned embedding per (layer, step) added to each input",
        json_schema_extra={"flag": "controller_position_embedding"},
    )
    skip_bias: bool = Field(
        True,
        description="a learned logit per (layer, earlier layer) added to each skip's",
        json_schema_extra={"flag": "controller_skip_bias"},
    )
    # the policy-gradient update (REINFORCE, PPO)
    lr: float = Field(
        1e-2, gt=0, description="Adam learning rate (not es's)", json_schema_extra={"flag": "controller_lr"}
    )
    lr_decay: float | None = Field(
        None, gt=0, le=1, description="lr multiplier per episode", json_schema_extra={"flag": "controller_lr_decay"}
    )
    baseline_decay: float = Field(0.95, ge=0, lt=1, description="EMA decay of the reward baseline")
    entropy_weight: float = Field(0.2, ge=0, description="entropy bonus in the policy-gradient loss")
    entropy_per_decision: bool = Field(
        True, description="the bonus is on the mean entropy per decision (else the sum: it grows with depth)"
    )
    grad_clip: float | None = Field(
        5.0, gt=0, description="gradient-norm clip", json_schema_extra={"flag": "controller_grad_clip"}
    )
    adam_beta1: float = Field(
        0.9, ge=0, lt=1, description="Adam's beta1 (ENAS: 0)", json_schema_extra={"flag": "controller_adam_beta1"}
    )
    adam_eps: float = Field(
        1e-8, gt=0, description="Adam's epsilon (ENAS: 1e-3)", json_schema_extra={"flag": "controller_adam_eps"}
    )
    skip_target: float = Field(0.4, gt=0, lt=1, description="the skip probability the KL penalty pulls towards")
    skip_weight: float = Field(0.0, ge=0, description="weight of the KL penalty on skip probabilities (ENAS: 0.8)")
    reward_transform: Literal["none", "cube"] = Field("none", description="cube = the paper's accuracy^3")
    ppo_epochs: int = Field(2, ge=1, description="PPO: gradient steps over each episode's children")
    ppo_clip: float = Field(0.2, gt=0, lt=1, description="PPO: the ratio is clipped to 1 +- this")
    ppo_target_kl: float | None = Field(
        0.01, gt=0, description="PPO: skip the later epochs once the approximate KL(old || new) passes 1.5 x this"
    )
    # advantage actor-critic (Mnih et al. 2016)
    value_weight: float = Field(
        0.5, gt=0, description="a2c: weight of the critic's squared error in the loss (A3C's / baselines' 0.5)"
    )
    # evolution strategies (Salimans et al. 2017)
    # The starter's noise 0.02 and step 0.01 learned least on our tuning runs (BENCHMARKS.md, "A2C and ES").
    es_sigma: float = Field(0.05, gt=0, description="es: standard deviation of the parameter perturbations")
    es_lr: float = Field(0.03, gt=0, description="es: Adam's step size on the estimated gradient")
    es_weight_decay: float = Field(
        0.005, ge=0, description="es: L2 coefficient added to the estimated gradient (evolution-strategies-starter)"
    )
    # regularized evolution (Real et al. 2019)
    population_size: int = Field(50, ge=2, description="evolution: architectures in the population")
    tournament_size: int = Field(10, ge=1, description="evolution: members drawn per tournament")
    local_init: int = Field(10, ge=1, description="local: random architectures evaluated before each climb")
    predictor_candidates: int = Field(
        0,
        ge=0,
        description="rank K x --children of the strategy's proposals with a predictor ensemble and evaluate the "
        "--children it rates best (BANANAS' selection; 0: off)",
    )

    @classmethod
    def of(cls, settings: StrategyConfig | None = None, **overrides: Any) -> StrategyConfig:
        """`settings` (default: the defaults) with `overrides`, validated; a bad one is one sentence."""
        return validated(cls, {**(settings or cls()).model_dump(), **overrides}, "nasrl search --help")
