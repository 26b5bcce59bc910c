import csv
import json
import math
import shutil

import pytest
import torch
from torch import nn

from nasrl import data
from nasrl.config import TrainConfig, make_config, validated
from nasrl.errors import UserError
from nasrl.nets import builder
from nasrl.run.atomic import load_checkpoint
from nasrl.space import Architecture
from nasrl.train.loop import fit, make_optimizer

TINY = Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 3, "filters": 24}] * 2)


@pytest.fixture(scope="module")
def splits():
    ds = data.synthetic_dataset(train_per_class=40, test_per_class=2, resolution=8)
    return data.split_train_val(ds, val_size=100, seed=0)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return builder.build(TINY)


def test_tiny_training_on_synthetic_data_reduces_the_loss(splits):
    train, val = splits
    cfg = TrainConfig(epochs=4, batch_size=32, lr=0.05, augment=False)
    result = fit(_model(), train, val, cfg, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert result.best_val_acc > 0.3  # chance is 0.1
    assert not result.diverged and result.steps == 4 * (300 // 32)
    assert set(result.history[0]) >= {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}


def test_a_resumed_run_equals_an_uninterrupted_one(splits, tmp_path):
    train, val = splits
    cfg = TrainConfig(epochs=3, batch_size=32, lr=0.05, seed=7)
    whole = fit(_model(), train, val, cfg, progress=False)

    class Interrupt(Exception):
        pass

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Interrupt

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Interrupt):
        fit(_model(), train, val, cfg, progress=False, checkpoint_path=ckpt, on_epoch=stop_after_two)
    assert load_checkpoint(ckpt)["epoch"] == 2
    resumed = fit(_model(seed=99), train, val, cfg, progress=False, checkpoint_path=ckpt, resume=True)

    def strip(history):
        return [{k: v for k, v in h.items() if "seconds" not in k} for h in history]

    assert strip(resumed.history) == strip(whole.history)
    assert resumed.best_val_acc == whole.best_val_acc and resumed.steps == whole.steps
    for key, value in whole.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key
    with pytest.raises(UserError, match="lr=0.05"):
        fit(
            _model(),
            train,
            val,
            TrainConfig(epochs=3, batch_size=32, lr=0.1, seed=7),
            progress=False,
            checkpoint_path=ckpt,
            resume=True,
        )


def test_a_corrupt_checkpoint_is_one_user_error(splits, tmp_path):
    train, val = splits
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"garbage")
    with pytest.raises(UserError, match="damaged or not a nasrl checkpoint"):
        fit(_model(), train, val, TrainConfig(epochs=1), progress=False, checkpoint_path=ckpt, resume=True)


def test_a_nan_loss_stops_training_and_is_reported(splits):
    train, val = splits
    model = _model()
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    result = fit(model, train, val, TrainConfig(epochs=3, batch_size=32), progress=False)
    assert result.diverged and len(result.history) == 1 and result.best_val_acc == 0.0


def test_early_stopping_waits_for_patience_epochs(splits):
    train, val = splits
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))  # no BatchNorm: a tiny lr changes nothing
    cfg = TrainConfig(epochs=10, batch_size=64, lr=1e-12, patience=2, augment=False)
    result = fit(model, train, val, cfg, progress=False)
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1


@pytest.mark.parametrize(
    "optimizer,schedule", [("adam", "onecycle"), ("adamw", "step"), ("rmsprop", "plateau"), ("sgd", "none")]
)
def test_every_optimizer_and_schedule_trains(splits, optimizer, schedule, tmp_path):
    train, val = splits
    cfg = TrainConfig(
        epochs=2,
        batch_size=64,
        optimizer=optimizer,
        schedule=schedule,
        lr=1e-3,
        label_smoothing=0.1,
        grad_clip=1.0,
        zca=optimizer == "adam",
        step_epochs=1,
    )
    model = _model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    result = fit(model, train, val, cfg, progress=False, checkpoint_path=tmp_path / "c.pt")
    assert len(result.history) == 2 and all(h["val_acc"] is not None for h in result.history)
    assert not result.diverged and all(math.isfinite(h["train_loss"]) for h in result.history)
    assert result.steps == 2 * (300 // 64)
    assert not torch.equal(model.state_dict()["classifier.weight"], initial["classifier.weight"])  # it stepped
    if schedule == "step":
        assert result.history[1]["lr"] == pytest.approx(1e-4)
    result.write_history(tmp_path)
    assert json.loads((tmp_path / "history.json").read_text())[1]["epoch"] == 2
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_the_fused_optimizer_takes_the_same_steps_as_the_foreach_one(optimizer):
    """A GPU trains with the fused form (one kernel per step); its arithmetic must be the foreach form's."""
    cfg = TrainConfig(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-2, weight_decay=5e-4, momentum=0.9)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    weights = []
    for fused in (False, True):
        model = _model()
        opt = make_optimizer(model, cfg, fused=fused)
        assert bool(opt.param_groups[0]["fused"]) is fused
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        weights.append(model.state_dict())
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert make_optimizer(_model(), cfg).param_groups[0]["fused"] is not True  # CPU parameters: foreach


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")), reason="inductor needs a C++ compiler on CPU")
def test_a_compiled_run_takes_the_eager_runs_steps_and_saves_plain_weights(splits):
    """--compile changes the kernels, not the arithmetic: the same weights to rounding, under the same names."""
    train, val = splits
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, augment=False)
    eager, compiled = _model(), _model()
    fit(eager, train, val, cfg, progress=False)
    result = fit(compiled, train, val, cfg.model_copy(update={"compile": True}), progress=False)
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no torch.compile wrapper in the names
    for name, value in eager.state_dict().items():
        torch.testing.assert_close(compiled.state_dict()[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert result.best_state is not None and set(result.best_state) == set(eager.state_dict())
    assert make_config({"child_compile": True}).child_training().compile  # a search's children compile too


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")), reason="inductor needs a C++ compiler on CPU")
def test_every_network_of_a_search_compiles_though_dynamo_limits_recompilation(splits, monkeypatch):
    """Children share their class's forward: without a reset, dynamo stops compiling after `recompile_limit`
    networks and runs the rest eagerly without a word."""
    from torch._dynamo.utils import counters

    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    train, val = splits
    cfg = TrainConfig(epochs=1, batch_size=32, max_steps=1, compile=True)
    for filters in (8, 16):  # the second network is a recompilation of the same forward
        before = counters["stats"]["unique_graphs"]
        torch.manual_seed(0)
        model = builder.build(
            Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 3, "filters": filters}])
        )
        fit(model, train, val, cfg, progress=False)
        assert counters["stats"]["unique_graphs"] > before, f"the {filters}-filter network ran uncompiled"


def test_compile_without_a_working_compiler_is_one_sentence(splits, monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    monkeypatch.setattr("nasrl.train.loop._COMPILER_WORKS", set())
    train, val = splits
    with pytest.raises(UserError, match="--compile cannot compile on this cpu .*or train without --compile"):
        fit(_model(), train, val, TrainConfig(epochs=1, compile=True), progress=False)


def test_max_steps_stops_mid_epoch_and_bad_settings_are_user_errors(splits):
    train, val = splits
    result = fit(_model(), train, val, TrainConfig(epochs=5, batch_size=32, max_steps=3), progress=True)
    assert result.steps == 3 and len(result.history) == 1
    for bad in ({"optimizer": "lion"}, {"epochs": 0}, {"schedule": "linear"}, {"lr": -1.0}):
        with pytest.raises(UserError):
            validated(TrainConfig, bad)
