"""The `nasrl` command: argument parsing and friendly errors, nothing algorithmic.

Every mistake a user can make ends here as one sentence on stderr and exit code 2
(`UserError`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nasrl.errors import UserError
from nasrl.space.files import load_architecture


def cmd_show(args: argparse.Namespace) -> int:
    from nasrl.nets import builder
    from nasrl.space.describe import layer_table

    arch = load_architecture(args.arch)
    if args.json:
        print(arch.to_json(indent=2))
        return 0
    model = builder.build(arch)
    print(f"architecture: {args.arch}  (space {arch.space}, {arch.num_layers} layers, hash {arch.hash()})")
    print(layer_table(arch))
    print(f"parameters: {builder.count_parameters(model)}")
    print(f"GFLOPs per 32x32 image: {builder.count_flops(model) / 1e9:.3f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from nasrl.nets import builder, export

    arch = load_architecture(args.arch)
    weights = export.load_weights(args.weights) if args.weights else None
    source = Path(args.arch)
    name = source.resolve().name if source.is_dir() else source.stem
    output = Path(args.output or name + export.FORMATS[args.format])
    class_name = args.class_name or export.class_name_for(name)
    difference = export.export(arch, args.format, output, weights, class_name)
    params = builder.count_parameters(export.build_with_weights(arch, weights))
    what = {"code": f"PyTorch code, class {class_name}", "onnx": "ONNX", "torchscript": "TorchScript"}[args.format]
    print(f"wrote {output} ({what}) for {args.arch}: {arch.num_layers} layers, {params:,} parameters")
    if weights is None:
        print("weights: random initial weights (give --weights PATH to export trained ones)")
    elif args.format == "code":
        print(f"weights: {args.weights} fit it; load with model.load_state_dict(torch.load(PATH, weights_only=True))")
    else:
        print(f"weights: {args.weights} (inside the exported file)")
    if difference > 1e-4:
        print(f"nasrl: error: the export differs from nasrl's network by {difference:.2e}; please report it.")
        return 1
    print(f"checked: outputs equal nasrl's network (largest difference {difference:.1e})")
    return 0


def _config_overrides(args: argparse.Namespace) -> dict:
    """The config fields given on the command line (a flag left out is not an override; `none` unsets one)."""
    from nasrl.config import SearchConfig

    given = {name: getattr(args, name) for name in SearchConfig.model_fields if getattr(args, name, None) is not None}
    return {k: None if isinstance(v, str) and v.lower() in ("none", "null") else v for k, v in given.items()}


def cmd_train(args: argparse.Namespace) -> int:
    from nasrl.train.command import DataOptions, train_final
    from nasrl.train.loop import TrainConfig

    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, nesterov=not args.no_nesterov, weight_decay=args.weight_decay,
        schedule=args.schedule, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
        patience=args.patience, amp=not args.no_amp, grad_clip=args.grad_clip, max_steps=args.max_steps,
        seed=args.seed, augment=not args.no_augment, zca=args.zca,
    )  # fmt: skip
    opts = DataOptions(
        source=args.data, data_dir=args.data_dir, resolution=args.resolution, val_size=args.val_size,
        split_seed=args.split_seed, train_subset=args.train_subset, val_subset=args.val_subset,
    )  # fmt: skip
    resume = Path(args.resume) if args.resume else None
    run_dir = Path(args.run_dir) if args.run_dir else None
    train_final(args.arch, cfg, opts, run_dir, resume, args.device, progress=not args.quiet)
    return 0


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    """`nasrl train` (the seed's `--mode train`): defaults follow the paper's CIFAR-10 training."""
    from nasrl.data import SOURCES_HELP
    from nasrl.train.loop import OPTIMIZERS, SCHEDULES

    p = sub.add_parser(
        "train",
        help="train one network (nascnn15 or a found architecture) and test it",
        description="Train a network on the train split, validate every epoch, test the best weights once.",
    )
    p.add_argument("--arch", help="a zoo name (nascnn15, seed-baseline), an architecture JSON file or a run folder")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training split (default 20)")
    p.add_argument("--data", default="cifar10", help=f"data source: {SOURCES_HELP} (default cifar10)")
    p.add_argument("--data-dir", metavar="DIR", help="download and cache folder (default ~/.cache/nasrl)")
    p.add_argument("--run-dir", metavar="DIR", help="output folder (default runs/train-<arch>-<timestamp>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR with its own settings")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (the final line still prints)")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimiser steps (smoke runs)")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default 128)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="default sgd (Nesterov momentum)")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (default 0.1)")
    p.add_argument("--momentum", type=float, default=0.9, help="default 0.9")
    p.add_argument("--no-nesterov", action="store_true", help="plain momentum instead of Nesterov's")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="default 1e-4")
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine", help="learning-rate schedule (default cosine)")
    p.add_argument("--warmup-epochs", type=float, default=0.0, help="linear warm-up, cosine only (default 0)")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="default 0")
    p.add_argument("--patience", type=int, help="stop after this many epochs without a better val accuracy")
    p.add_argument("--grad-clip", type=float, help="clip the gradient norm to this (default: no clipping)")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA (default: bf16 autocast)")
    p.add_argument("--no-augment", action="store_true", help="no random crop and flip")
    p.add_argument("--zca", action="store_true", help="ZCA-whiten the inputs (the paper whitened its images)")
    p.add_argument("--seed", type=int, default=0, help="initial weights, shuffles and augmentation (default 0)")
    p.add_argument("--resolution", type=int, default=32, help="image size in pixels (default 32)")
    p.add_argument("--val-size", type=int, default=5000, help="validation images held out (default 5000)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation split (default 0)")
    p.add_argument("--train-subset", type=int, metavar="N", help="train on a stratified subset of N images")
    p.add_argument("--val-subset", type=int, metavar="N", help="validate on a stratified subset of N images")
    p.set_defaults(func=cmd_train)


def cmd_search(args: argparse.Namespace) -> int:
    from nasrl.config import load_config_file, make_config
    from nasrl.search.loop import prepare_run, run_search

    overrides = _config_overrides(args)
    if args.resume:
        cfg = prepare_run(make_config({}), args.resume, overrides)
    else:
        cfg = prepare_run(make_config(load_config_file(args.config), overrides), None, overrides)
    summary = run_search(cfg, resume=bool(args.resume), quiet=args.quiet)
    if summary.status != "finished":
        return 130
    print(f"run folder: {summary.run_dir}")
    if summary.best is not None:
        print(f"best reward: {summary.best.reward:.4f}  (see {summary.run_dir / 'best_architecture.json'})")
    return 0


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (`child_epochs` -> `--child-epochs`); pydantic validates the values."""
    from nasrl.config import SearchConfig

    group = parser.add_argument_group(
        "config fields",
        "override the preset's value; [x] is the value when neither preset nor flag sets it; "
        "`none` unsets an optional field",
    )
    for name, field in SearchConfig.model_fields.items():
        help_text = field.description or ""
        default = field.default
        help_text = f"{help_text} [{default}]" if help_text else f"[{default}]"
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool and default is False:  # an off-by-default switch: `--tensorboard`, no value
            group.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=help_text)
            continue
        group.add_argument(flag, dest=name, metavar="V", default=None, help=help_text)


def cmd_report(args: argparse.Namespace) -> int:
    from nasrl.report.html import write_report

    path = write_report(args.run_dir)
    print(f"wrote {path} (open it in a browser; the PNG files are beside it)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from nasrl.report.runs import format_runs, list_runs

    runs = list_runs(args.dir)
    if not runs:
        print(f"no runs in {args.dir}")
        return 0
    print(format_runs(runs))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasrl",
        description="Neural Architecture Search with Reinforcement Learning (Zoph & Le 2017) for CIFAR-10.",
    )
    sub = parser.add_subparsers(dest="command")

    show = sub.add_parser("show", help="describe an architecture: layers, parameters, FLOPs")
    show.add_argument("arch", help="a zoo name (nascnn15, seed-baseline) or an architecture JSON file")
    show.add_argument("--json", action="store_true", help="print the canonical JSON instead of the table")
    show.set_defaults(func=cmd_show)

    exp = sub.add_parser(
        "export",
        help="write an architecture as readable PyTorch code, ONNX or TorchScript",
        description="Export an architecture (with trained weights, if given) and check it against nasrl's network.",
    )
    exp.add_argument("arch", help="a zoo name, an architecture JSON file, or a run folder (its best architecture)")
    exp.add_argument("--format", choices=["code", "onnx", "torchscript"], default="code", help="default: code")
    exp.add_argument("--output", "-o", metavar="PATH", help="default: NAME.py / NAME.onnx / NAME.pt here")
    exp.add_argument("--weights", metavar="PATH", help="a state_dict saved by torch.save (default: random init)")
    exp.add_argument("--class-name", metavar="NAME", help="the generated class's name (--format code)")
    exp.set_defaults(func=cmd_export)

    search = sub.add_parser(
        "search",
        help="search architectures with REINFORCE (or random search)",
        description="Run or resume an architecture search. Every config field is a flag.",
    )
    search.add_argument(
        "--config", default="quick", help="preset (quick, fast, default, thorough, paper) or a YAML file"
    )
    search.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted search in RUN_DIR")
    search.add_argument("--quiet", action="store_true", help="no console output (the logs are still written)")
    _add_config_flags(search)
    search.set_defaults(func=cmd_search)
    _add_train_parser(sub)

    report = sub.add_parser(
        "report",
        help="plots and an HTML page of a search or train run (also while it runs)",
        description="Write RUN_DIR/report/: PNG plots and report.html. Reads the run without disturbing it.",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="the folder of a nasrl search or train run")
    report.set_defaults(func=cmd_report)
    runs = sub.add_parser("runs", help="list the runs in a folder: status, children, best reward, last update")
    runs.add_argument("dir", metavar="DIR", nargs="?", default="runs", help="a folder of runs (default ./runs)")
    runs.set_defaults(func=cmd_runs)
    return parser


#: The seed project's form `nasrl --mode nas|train ...` names the subcommands `search` and `train`.
SEED_MODES = {"nas": "search", "train": "train"}


def _seed_mode_to_subcommand(argv: list[str]) -> list[str]:
    for i, arg in enumerate(argv):
        mode = arg.split("=", 1)[1] if arg.startswith("--mode=") else argv[i + 1] if arg == "--mode" else None
        if arg == "--mode" and i + 1 >= len(argv):
            break
        if mode is not None:
            if mode not in SEED_MODES:
                raise UserError(f"--mode {mode} is unknown: use --mode nas (search) or --mode train.")
            rest = argv[:i] + argv[i + (1 if "=" in arg else 2) :]
            return [SEED_MODES[mode], *rest]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = _seed_mode_to_subcommand(argv)
    except UserError as e:
        print(f"nasrl: error: {e}", file=sys.stderr)
        return 2
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
