"""The `nasrl` command: argument parsing and friendly errors, nothing algorithmic.

Every mistake a user can make ends here as one sentence on stderr and exit code 2
(`UserError`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from nasrl.errors import UserError


def load_architecture(name_or_path: str):
    """A zoo name (`nascnn15`) or a path to an architecture JSON file, validated against its space."""
    from nasrl import space, zoo
    from nasrl.space import Architecture

    path = Path(name_or_path)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise UserError(f"No architecture file at {path}: check the path, or use a name such as nascnn15.")
        try:
            arch = Architecture.from_json(path.read_text())
        except UserError as e:
            raise UserError(f"{path}: {e}") from None
    elif path.is_dir() and (path / "best_architecture.json").is_file():
        data = json.loads((path / "best_architecture.json").read_text())
        arch = Architecture.from_dict(data.get("architecture", data))
    else:
        arch = zoo.get(name_or_path)
    if arch.space not in space.PRESET_TOKENS:
        raise UserError(f"{name_or_path}: unknown space '{arch.space}'; use one of {', '.join(space.PRESET_TOKENS)}.")
    return arch.validate(space.preset(arch.space, arch.num_layers))


def cmd_show(args: argparse.Namespace) -> int:
    from nasrl import child
    from nasrl.describe import layer_table

    arch = load_architecture(args.arch)
    if args.json:
        print(arch.to_json(indent=2))
        return 0
    model = child.build(arch)
    print(f"architecture: {args.arch}  (space {arch.space}, {arch.num_layers} layers, hash {arch.hash()})")
    print(layer_table(arch))
    print(f"parameters: {child.count_parameters(model)}")
    print(f"GFLOPs per 32x32 image: {child.count_flops(model) / 1e9:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasrl",
        description="Neural Architecture Search with Reinforcement Learning (Zoph & Le 2017) for CIFAR-10.",
    )
    parser.add_argument("--mode", choices=["nas", "train"], help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")

    show = sub.add_parser("show", help="describe an architecture: layers, parameters, FLOPs")
    show.add_argument("arch", help="a zoo name (nascnn15, seed-baseline) or an architecture JSON file")
    show.add_argument("--json", action="store_true", help="print the canonical JSON instead of the table")
    show.set_defaults(func=cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"nasrl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasrl: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
