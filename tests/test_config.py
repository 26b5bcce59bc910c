"""The search config: presets that validate, one flag per field, and every mistake one sentence naming its flag."""

import argparse
from importlib import resources
from types import SimpleNamespace

import pytest

from nasrl import cli
from nasrl.config import (
    FLAT_FIELDS,
    PRESETS,
    SECTIONS,
    TRAIN_RECIPES,
    DataConfig,
    DeviceConfig,
    SearchConfig,
    TrainConfig,
    flat_default,
    load_config_file,
    load_train_recipe,
    make_config,
)
from nasrl.errors import UserError


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def search_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subcommands.choices["search"]


def user_error(base: dict, overrides: dict | None = None) -> str:
    with pytest.raises(UserError) as info:
        make_config(base, overrides)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ----- presets -----------------------------------------------------------------------------------


def test_every_shipped_preset_is_listed():
    files = resources.files("nasrl").joinpath("presets").iterdir()
    names = {p.name.removesuffix(".yaml") for p in files if p.name.endswith(".yaml")}
    assert names == set(PRESETS) | {f"train-{name}" for name in TRAIN_RECIPES}


@pytest.mark.parametrize("name", TRAIN_RECIPES)
def test_every_training_recipe_loads_and_validates(name):
    train, data = load_train_recipe(name)
    assert TrainConfig(**train).epochs > 0 and DataConfig(**data) is not None


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_validates_and_keeps_its_values(name):
    data = load_config_file(name)
    assert data and set(data) <= set(FLAT_FIELDS)
    cfg = make_config(data)
    for key, value in data.items():
        assert cfg.flat()[key] == value, key
    cfg.layers_at(0)  # its layer schedule (if any) fits its depth
    assert cfg.layers_at(10**6) == cfg.max_layers


def test_no_overrides_means_the_documented_defaults():
    cfg = make_config({})
    assert cfg == SearchConfig()
    assert cfg.run.children == 4 and cfg.space.name == "zoph" and cfg.max_layers == 15


# ----- one flag per field ------------------------------------------------------------------------


def test_every_config_field_has_a_search_flag():
    actions = {option: a for a in search_parser()._actions for option in a.option_strings}
    missing = [flag(name) for name in FLAT_FIELDS if flag(name) not in actions]
    assert missing == []
    for name in FLAT_FIELDS:
        assert actions[flag(name)].dest == name


@pytest.mark.parametrize("name", list(FLAT_FIELDS))
def test_each_flag_parses_into_its_field(name):
    parser = cli.build_parser()
    section, field = FLAT_FIELDS[name]
    if SECTIONS[section].model_fields[field].annotation is bool and flat_default(name) is False:
        args = parser.parse_args(["search", flag(name)])  # an off-by-default switch takes no value
        assert getattr(args, name) is True
    else:
        args = parser.parse_args(["search", flag(name), "V"])
        assert getattr(args, name) == "V"
    others = [f for f in FLAT_FIELDS if f != name and getattr(args, f) is not None]
    assert others == []  # a flag left out is not an override


def test_flag_values_reach_the_config_through_the_command_line(monkeypatch):
    seen = {}

    def run_search(cfg, *args, **kwargs):
        seen["cfg"] = cfg
        return SimpleNamespace(status="finished", run_dir=cfg.run.run_dir, best=None)

    monkeypatch.setattr("nasrl.search.run.prepare_run", lambda cfg, *args, **kwargs: cfg)
    monkeypatch.setattr("nasrl.search.run.run_search", run_search)
    argv = [
        "search",
        "--config",
        "quick",
        "--child-epochs",
        "3",
        "--augment",
        "false",
        "--tensorboard",
        "--layers",
        "none",
        "--layer-schedule",
        "2:1:8",
        "--controller-lr",
        "1e-3",
        "--run-dir",
        "r",
    ]
    assert cli.main(argv) == 0
    cfg = seen["cfg"]
    assert (cfg.child.epochs, cfg.child.augment, cfg.run.tensorboard, cfg.space.layers) == (3, False, True, None)
    assert cfg.space.layer_schedule == "2:1:8" and cfg.strategy.lr == 1e-3 and cfg.run.run_dir == "r"
    assert cfg.run.episodes == load_config_file("quick")["episodes"]  # what no flag sets comes from the preset


# ----- mistakes ----------------------------------------------------------------------------------


def test_zero_children_is_one_sentence_naming_the_flag():
    message = user_error({}, {"children": 0})
    assert "--children" in message and message.endswith(".")
    assert message == "Bad value 0 for --children: Input should be greater than or equal to 1."


@pytest.mark.parametrize(
    "overrides",
    [
        {"episodes": "many"},
        {"controller_lr": -1},
        {"controller_lr_decay": 2},
        {"baseline_decay": 1.0},
        {"space": "nope"},
        {"device": "tpu"},
        {"strategy": "annealing"},
        {"evaluator": "oracle"},
        {"child_optimizer": "lion"},
        {"layers": 0},
        {"layers": "abc"},
        {"train_subset": 0},
        {"executor": "slurm"},
        {"layer_schedule": "6:2"},
    ],
    ids=lambda o: next(iter(o)),
)
def test_a_bad_value_names_its_flag_in_one_sentence(overrides):
    ((name, value),) = overrides.items()
    message = user_error({}, overrides)
    assert message.startswith(f"Bad value {value!r} for {flag(name)}: "), message
    assert message.endswith(".")


def test_flag_values_arrive_as_text_and_are_parsed():
    cfg = make_config({}, {"children": "3", "controller_lr": "1e-3", "augment": "false", "layers": "6"})
    assert (cfg.run.children, cfg.strategy.lr, cfg.child.augment, cfg.space.layers) == (3, 1e-3, False, 6)


def test_overrides_win_over_the_file():
    assert make_config({"children": 8, "episodes": 2}, {"children": 3}).run.children == 3


def test_an_unknown_field_is_refused():
    message = user_error({"childs": 3})
    assert message == "Unknown config field 'childs': see `nasrl search --help` for the fields."
    assert "Unknown config field 'mode'" in user_error({}, {"mode": "nas"})


def test_assignment_is_validated_too():
    cfg = make_config({"children": 4})
    with pytest.raises(ValueError, match=r"(?s)^1 validation error for RunSettings\nchildren\n.*greater than"):
        cfg.run.children = 0
    assert cfg.run.children == 4  # the refused value was not stored
    cfg.run.children = 2
    assert cfg.run.children == 2  # a valid assignment goes through


# ----- YAML files --------------------------------------------------------------------------------


def test_a_yaml_file_gives_its_fields(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("# my search\nchildren: 2\nspace: dna\n")
    assert load_config_file(str(path)) == {"children": 2, "space": "dna"}
    (tmp_path / "empty.yaml").write_text("# nothing set\n")
    assert make_config(load_config_file(str(tmp_path / "empty.yaml"))) == SearchConfig()


@pytest.mark.parametrize("text", ["- children\n- 2\n", "just some words\n", "42\n"], ids=["list", "text", "number"])
def test_a_yaml_file_that_is_not_a_mapping_is_one_user_error(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match="must be a YAML mapping of config fields") as info:
        load_config_file(str(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("text", ["children: [1, 2\n", "children: 2\n\tspace: dna\n", "a: b: c\n"])
def test_invalid_yaml_is_one_user_error(tmp_path, text):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=r"is not valid YAML \(.+\): fix the file\.$") as info:
        load_config_file(str(path))
    assert "\n" not in str(info.value)


def test_a_missing_file_names_the_presets(tmp_path):
    with pytest.raises(UserError, match="No config file at .*: use one of the presets (.*)quick(.*)"):
        load_config_file(str(tmp_path / "nope.yaml"))


def test_an_unknown_field_in_a_yaml_file_is_refused(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("child_epoch: 3\n")
    assert "Unknown config field 'child_epoch'" in user_error(load_config_file(str(path)))


# ----- the layer schedule ------------------------------------------------------------------------


def test_layer_schedule_grows_by_step_every_n_children_up_to_layers():
    cfg = make_config({}, {"layer_schedule": "2:2:10", "layers": 7})
    assert [cfg.layers_at(n) for n in (0, 9, 10, 19, 20, 30, 1000)] == [2, 2, 4, 4, 6, 7, 7]
    flat = make_config({}, {"layer_schedule": "3:0:5", "layers": 6})
    assert {flat.layers_at(n) for n in range(100)} == {3}
    assert make_config({}, {"layers": 6}).layers_at(1000) == 6  # no schedule: always the full depth
    assert make_config({}, {"layer_schedule": "6:2:1600"}).layers_at(10**6) == 15  # up to the space's default


@pytest.mark.parametrize("schedule", ["6:2", "6:2:1:1", "a:b:c", "0:2:10", "6:2:0", "6:-1:5", "6:2.5:10", "", "::"])
def test_a_malformed_layer_schedule_names_the_flag(schedule):
    message = user_error({}, {"layer_schedule": schedule})
    assert message.startswith(f"Bad value {schedule!r} for --layer-schedule: must be START:STEP:EVERY"), message


def test_a_layer_schedule_starting_above_layers_is_refused():
    message = user_error({}, {"layer_schedule": "8:1:10", "layers": 6})
    assert message == "--layer-schedule starts at 8 layers, above --layers 6: lower its start or raise --layers."
    make_config({}, {"layer_schedule": "6:1:10", "layers": 6})  # starting at the full depth is fine


def test_a_layer_schedule_starting_above_layers_names_the_schedule_flag_not_config():
    message = user_error(load_config_file("quick"), {"layer_schedule": "8:1:10", "layers": 6})
    assert "--config" not in message and "child_epochs" not in message


# ----- through the command line ------------------------------------------------------------------


def test_search_with_zero_children_exits_2_with_one_line_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["search", "--children", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("nasrl: error: Bad value '0' for --children: ")
    assert list(tmp_path.iterdir()) == []  # refused before any run folder exists


def test_search_with_a_config_file_that_is_not_a_mapping_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    assert cli.main(["search", "--config", "list.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be a YAML mapping" in err
    assert cli.main(["search", "--config", "no-such-preset"]) == 2
    assert "use one of the presets" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1.5", "0", "-3", "many"])
def test_a_val_size_that_is_neither_a_count_nor_a_fraction_says_which_it_must_be(value):
    message = user_error({}, {"val_size": value})
    expected = "must be an image count such as 5000 or a fraction such as 0.1."
    assert message == f"Bad value '{value}' for --val-size: {expected}"


def test_val_size_reads_counts_and_fractions_from_the_command_line():
    assert make_config({}, {"val_size": "5000"}).data.val_size == 5000
    assert make_config({}, {"val_size": "0.2"}).data.val_size == 0.2
    assert make_config({}).data.val_size is None  # the default: 5,000, at most a tenth of the training images


def test_train_takes_device_from_the_same_model_as_search_and_a_bad_one_is_one_sentence(capsys):
    train = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    device = next(a for a in train._actions if "--device" in a.option_strings)
    assert device.help.startswith(DeviceConfig.model_fields["device"].description)
    assert "--device" in {o for a in search_parser()._actions for o in a.option_strings}
    assert cli.main(["train", "--arch", "nascnn15", "--device", "tpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Bad value 'tpu' for --device: must be auto, cpu, cuda, cuda:N or mps." in err and "\n" not in err
