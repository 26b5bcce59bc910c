"""Architectures from where users keep them: a zoo name, a JSON file, or a run folder."""

from __future__ import annotations

import json
from pathlib import Path

from nasrl.errors import UserError
from nasrl.space import zoo
from nasrl.space.search_space import PRESET_TOKENS, Architecture, preset


def load_architecture(name_or_path: str) -> Architecture:
    """A zoo name (`nascnn15`), an architecture JSON file (a search's best_architecture.json too), or a run folder
    (a search's best architecture, a `nasrl train` run's architecture), validated against its space."""
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
        if arch.space not in PRESET_TOKENS:
            raise UserError(f"unknown space '{arch.space}'; use one of {', '.join(PRESET_TOKENS)}.")
        return arch.validate(preset(arch.space, arch.num_layers))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not a readable JSON file ({type(e).__name__}): check or recreate it.") from None
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
