import json

import torch

from nasrl.cli import main

# NASCNN15 at 8x8 pixels with a handful of images keeps an end-to-end run to seconds on a CPU.
SMOKE = [
    "--data",
    "synthetic",
    "--max-steps",
    "2",
    "--batch-size",
    "8",
    "--val-subset",
    "20",
    "--resolution",
    "8",
    "--device",
    "cpu",
    "--quiet",
]
ARTIFACTS = [
    "run.json",
    "architecture.json",
    "checkpoint.pt",
    "history.json",
    "history.csv",
    "model.pt",
    "metrics.json",
    "training_curves.png",
    "confusion_matrix.png",
    "predictions.png",
]


def test_train_nascnn15_on_synthetic_data_writes_every_artifact(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--arch", "nascnn15", *SMOKE, "--run-dir", str(run)]) == 0
    for name in ARTIFACTS:
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"] == "synthetic" and metrics["parameters"] == 4_201_630
    assert metrics["training"]["steps"] == 2 and 0.0 <= metrics["test_acc"] <= 1.0
    # A --max-steps smoke run tests on as many images as it trained on (2 steps x 8), not the 200 test images.
    assert metrics["test_images"] == 16 and sum(map(sum, metrics["confusion_matrix"])) == 16
    assert len(metrics["per_class_acc"]) == 10
    weights = torch.load(run / "model.pt", weights_only=True)
    assert "classifier.weight" in weights
    assert "test acc" in capsys.readouterr().out

    # Resuming a finished run trains nothing more and evaluates the same weights again.
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert json.loads((run / "metrics.json").read_text())["test_acc"] == metrics["test_acc"]
    # The run folder is not overwritten by a fresh run.
    assert main(["train", "--arch", "nascnn15", *SMOKE, "--run-dir", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_smoke_run_validates_on_a_subset_as_large_as_its_training(tmp_path, capsys):
    run = tmp_path / "run"
    smoke = [a for a in SMOKE if a not in ("--val-subset", "20", "--quiet")]
    assert main(["train", "--arch", "seed-baseline", *smoke, "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_images"] == 16 and metrics["test_images"] == 16
    assert "validating on 16 of the validation images" in capsys.readouterr().out


def test_the_seeds_mode_form_trains_too(tmp_path, capsys):
    arch = tmp_path / "small.json"
    arch.write_text(json.dumps({"space": "dna", "layers": [{"kernel": 3, "filters": 32, "stride": 1, "pool": 2}]}))
    run = tmp_path / "run"
    assert main(["--mode", "train", "--arch", str(arch), *SMOKE, "--epochs", "1", "--run-dir", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["architecture"] == "small"


def test_data_mistakes_exit_2_with_one_sentence(tmp_path, capsys):
    assert main(["train", "--arch", "nascnn15", "--data", f"folder:{tmp_path}", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no train/ folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # no half-made run folder
    assert main(["train", "--arch", "nascnn15", *SMOKE, "--val-size", "7000", "--run-dir", str(tmp_path / "s")]) == 2
    assert "validation set" in capsys.readouterr().err


def test_impossible_optimizer_settings_and_damaged_runs_exit_2(tmp_path, capsys):
    for flags, message in [
        (["--momentum", "1.5"], "Bad value '1.5' for --momentum: Input should be less than 1."),
        (["--weight-decay", "-1"], "Bad value '-1' for --weight-decay: Input should be greater than or equal to 0."),
        (["--warmup-epochs", "-3"], "Bad value '-3' for --warmup-epochs"),
        (["--optimizer", "lion"], "Bad value 'lion' for --optimizer: Input should be 'sgd', 'adam', 'adamw' or"),
    ]:
        assert main(["train", "--arch", "nascnn15", *SMOKE, "--run-dir", str(tmp_path / "r"), *flags]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "run.json").write_text('{"arch_label": "x"')
    assert main(["train", "--resume", str(damaged), "--quiet"]) == 2
    assert "run.json is damaged" in capsys.readouterr().err
