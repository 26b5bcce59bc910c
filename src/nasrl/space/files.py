"""Architectures from where users keep them (a zoo name, a JSON file, a run folder) and search spaces (a preset's
name or a YAML file)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from nasrl.errors import UserError
from nasrl.space import zoo
from nasrl.space.families.macro import (
    OPERATION_SETTINGS,
    OPERATIONS,
    SEARCH_CHANNELS,
    SETTING_OF,
    check_op_settings,
    enas_reductions,
    op_settings_for,
)
from nasrl.space.families.nb201 import looks_like_cell, parse_cell
from nasrl.space.presets import PRESETS, preset
from nasrl.space.search_space import Architecture, SearchSpace, Token


def load_architecture(name_or_path: str) -> Architecture:
    """A zoo name (`nascnn15`), an architecture JSON file (a search's best_architecture.json too), or a run folder
    (a search's best architecture, a `nasrl train` run's architecture), or a NAS-Bench-201 cell string, validated
    against its space."""
    if looks_like_cell(name_or_path):
        return parse_cell(name_or_path).validate(preset("nb201"))
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        found = [path / name for name in ("best_architecture.json", "architecture.json") if (path / name).is_file()]
        if not found:
            raise UserError(f"{path} holds no best_architecture.json or architecture.json: give a run folder.")
        path = found[0]
    elif path.suffix != ".json" and not path.is_file():
        named = zoo.get(name_or_path)
        return named.validate(preset(named.space, named.num_layers))
    if not path.is_file():
        raise UserError(f"No architecture file at {path}: check the path, or use a name such as nascnn15.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("architecture"), dict):
            data = data["architecture"]  # best_architecture.json wraps it with its reward
        arch = Architecture.from_dict(data)
        if arch.space in PRESETS:
            space = preset(arch.space, arch.num_layers)
            if space.channels is not None and arch.channels:  # the width is the search's (`--channels`) or the user's
                space = dataclasses.replace(space, channels=arch.channels)
            return arch.validate(space)
        space = arch.family.space_of(arch)
        if space is None:
            raise UserError(f"unknown space '{arch.space}'; use one of {', '.join(PRESETS)}.")
        return arch.validate(space)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not a readable JSON file ({type(e).__name__}): check or recreate it.") from None
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


#: Tokens a Zoph-style YAML space may declare (each sets part of a layer's geometry; see `Layer`).
GEOMETRY_TOKENS = (
    "filter_height",
    "filter_width",
    "filters",
    "kernel",
    "stride",
    "stride_height",
    "stride_width",
    "pool",
)
_SPACE_KEYS = ("name", "layers", "tokens", "skips", "channels", "reductions", *OPERATION_SETTINGS)


def load_space(spec: str, num_layers: int | None = None) -> SearchSpace:
    """A preset's name (`zoph`, `enas-macro`, ...) or a YAML file describing a space (`--space my_space.yaml`):

        layers: 8
        tokens: {op: [conv3x3, sep5x5, maxpool3x3]}   # or geometry tokens: {filter_height: [1, 3], filters: [24, 36]}
        skips: true
        channels: 32          # macro spaces (an `op` token) only; default 36
        reductions: [3, 6]    # macro: reduce after these layers (1-based); default ENAS's thirds
        groups: 4             # macro, with gconv3x3 or gconv5x5: the grouped conv's groups; default 4
        se_reduction: 4       # macro, with se3x3: squeeze-and-excitation's reduction ratio; default 4

    `num_layers` overrides the depth (the search's `--layers`). Every mistake is one sentence naming it."""
    if spec in PRESETS:
        return preset(spec, num_layers)
    path = Path(spec).expanduser()
    if path.suffix not in (".yaml", ".yml"):
        raise UserError(f"Unknown search space '{spec}': use one of {', '.join(PRESETS)} or a .yaml file.")
    if not path.is_file():
        raise UserError(f"No search space file at {path}: check the path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise UserError(f"{path} is not readable YAML ({type(e).__name__}): fix the file.") from None
    try:
        return _space_from(data, path.stem, num_layers)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def _space_from(data: object, default_name: str, num_layers: int | None) -> SearchSpace:
    if not isinstance(data, dict):
        raise UserError("a search space file must be a mapping with at least 'layers' and 'tokens'.")
    unknown = [k for k in data if k not in _SPACE_KEYS]
    if unknown:
        raise UserError(f"unknown key '{unknown[0]}': a space file may only have {', '.join(_SPACE_KEYS)}.")
    layers = num_layers or _positive(data.get("layers"), "layers")
    tokens = _tokens(data.get("tokens"))
    skips = data.get("skips", True)
    if not isinstance(skips, bool):
        raise UserError(f"'skips' must be true or false, not {skips!r}.")
    name = str(data.get("name", default_name))
    if name in PRESETS:
        raise UserError(f"the name '{name}' belongs to a preset space: give the file another 'name'.")
    if "op" not in (t.name for t in tokens):
        macro_keys = [k for k in ("channels", "reductions", *OPERATION_SETTINGS) if k in data]
        if macro_keys:
            raise UserError(f"'{macro_keys[0]}' needs an 'op' token (a macro space): remove it or add one.")
        return SearchSpace(name, layers, tokens, skips)
    channels = _positive(data.get("channels", SEARCH_CHANNELS), "channels")
    if channels % 2:
        raise UserError(f"'channels' must be even (a reduction halves it into two paths), not {channels}.")
    reductions = _reductions(data.get("reductions"), layers)
    ops = [str(op) for op in next(t for t in tokens if t.name == "op").choices]
    settings = _op_settings(data, ops)
    space = SearchSpace(name, layers, tokens, skips, channels, reductions, settings)
    check_op_settings(space, dict(settings))
    return space


def _op_settings(data: dict, ops: list[str]) -> tuple[tuple[str, int], ...]:
    """The settings the offered operations read, each the file's value or its default; a setting that none of
    them reads is a mistake (it would change nothing)."""
    for name in OPERATION_SETTINGS:
        if name in data:
            _positive(data[name], name)
            if not any(SETTING_OF.get(op) == name for op in ops):
                readers = " or ".join(op for op, setting in SETTING_OF.items() if setting == name)
                raise UserError(f"'{name}' sets {readers}, which the 'op' token does not offer: remove it or add one.")
    return op_settings_for(ops, {name: data[name] for name in OPERATION_SETTINGS if name in data})


def _positive(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"'{key}' must be a positive whole number, not {value!r}.")
    return value


def _tokens(data: object) -> tuple[Token, ...]:
    if not isinstance(data, dict) or not data:
        raise UserError("'tokens' must map each token's name to its list of choices, e.g. {op: [conv3x3, sep5x5]}.")
    if "op" in data and len(data) > 1:
        raise UserError(
            f"a macro space's layers have one 'op' token only; remove {', '.join(k for k in data if k != 'op')}."
        )
    tokens = []
    for name, choices in data.items():
        if not isinstance(choices, list) or not choices:
            raise UserError(f"token '{name}' needs a non-empty list of choices.")
        if len(set(map(str, choices))) != len(choices):
            raise UserError(f"token '{name}' lists a choice twice: give each once.")
        if name == "op":
            wrong = [c for c in choices if c not in OPERATIONS]
            if wrong:
                raise UserError(f"unknown operation {wrong[0]!r}: use any of {', '.join(OPERATIONS)}.")
        elif name not in GEOMETRY_TOKENS:
            raise UserError(f"unknown token '{name}': use op or any of {', '.join(GEOMETRY_TOKENS)}.")
        else:
            for c in choices:
                _positive(c, f"{name}' choice '{c}")
        tokens.append(Token(str(name), tuple(choices)))
    return tuple(tokens)


def _reductions(data: object, layers: int) -> tuple[int, ...]:
    """1-based layers in the file, 0-based in the space; default ENAS's thirds."""
    if data is None:
        return enas_reductions(layers)
    if not isinstance(data, list) or any(isinstance(r, bool) or not isinstance(r, int) for r in data):
        raise UserError("'reductions' must be a list of layer numbers, e.g. [4, 8].")
    for r in data:
        if not 1 <= r <= layers:
            raise UserError(f"a reduction after layer {r} is beyond the last layer ({layers}): use 1 to {layers}.")
    if data != sorted(set(data)):
        raise UserError(f"'reductions' must be increasing and distinct, not {data}.")
    return tuple(r - 1 for r in data)
