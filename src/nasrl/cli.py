"""The `nasrl` command: argument parsing and friendly errors, nothing algorithmic.

Every mistake a user can make ends here as one sentence on stderr and exit code 2
(`UserError`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nasrl.errors import UserError
from nasrl.space.families.nb201 import looks_like_cell
from nasrl.space.files import load_architecture


def cmd_show(args: argparse.Namespace) -> int:
    from nasrl.nets import builder
    from nasrl.space.describe import layer_table

    arch = load_architecture(args.arch)
    if args.json:
        print(arch.to_json(indent=2))
        return 0
    model = builder.build(arch)
    # A macro network's parameters and widths are its final form's, the one `nasrl train` retrains.
    form = f", {arch.channels} channels, final form" if arch.channels is not None else ""
    print(f"architecture: {args.arch}  (space {arch.space}, {arch.num_layers} layers{form}, hash {arch.hash()})")
    print(layer_table(arch))
    print(f"parameters: {builder.count_parameters(model)}")
    print(f"GFLOPs per 32x32 image: {builder.count_flops(model) / 1e9:.3f}")
    if args.latency:
        _print_latency(model, args)
    return 0


def _print_latency(model: Any, args: argparse.Namespace) -> None:
    """`nasrl show --latency`: the median forward time at batch 1 and `--batch-size`, on `--latency-device`."""
    from nasrl.nets.latency import latency_device, measure_latency

    if args.batch_size < 1 or args.resolution < 8:
        raise UserError("--batch-size must be at least 1 and --resolution at least 8.")
    device = latency_device(args.latency_device)
    for batch in dict.fromkeys((1, args.batch_size)):
        m = measure_latency(model, device, batch, args.resolution)
        print(
            f"latency at batch {batch}, {args.resolution}x{args.resolution}: median {m.median_ms:.3f} ms "
            f"(IQR {m.iqr_ms:.3f} ms over {m.runs} runs; {m.device}, {m.threads} threads)"
        )


def cmd_best(args: argparse.Namespace) -> int:
    from nasrl.search.best import best_under, read_limits, write_pick
    from nasrl.search.objective import format_cost

    given = {"params": args.params, "flops": args.flops, "latency_ms": args.latency_ms}
    limits = read_limits(given, {cost: f"--max-{cost.replace('_', '-')}" for cost in given}, "--max-params 5e5")
    pick = best_under(args.run_dir, limits, args.latency_device)
    rec = pick.child
    costs = ", ".join(format_cost(c, v) for c, v in pick.costs.items() if v is not None)
    test = f", benchmark test accuracy {100 * rec.test_acc:.2f}" if rec.test_acc is not None else ""
    print(
        f"best within {' and '.join('at most ' + format_cost(c, v) for c, v in limits.items())}: episode "
        f"{rec.episode + 1}, child {rec.child + 1}, validation accuracy {rec.val_acc or rec.reward:.4f}{test}; "
        f"{costs} ({pick.within} of {pick.evaluated} evaluated children known to be within"
        f"{f'; {pick.timed_now} timed now' if pick.timed_now else ''})"
    )
    if args.output:
        write_pick(pick, Path(args.output))
        print(f"wrote {args.output} (retrain it: nasrl train --arch {args.output})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from nasrl.nets import builder, export

    arch = load_architecture(args.arch)
    source = Path(args.arch)
    weights_path = args.weights
    if weights_path is None and source.is_dir() and (source / "model.pt").is_file():
        weights_path = str(source / "model.pt")  # a `nasrl train` run folder: its trained weights, not random ones
        print(f"weights: taking the run's trained weights, {weights_path}")
    weights = export.load_weights(weights_path) if weights_path else None
    name = source.resolve().name if source.is_dir() else source.stem
    if looks_like_cell(args.arch):  # a cell string is no file name
        name = f"{arch.space}-{arch.hash()[:8]}"
    output = Path(args.output or name + export.FORMATS[args.format])
    class_name = args.class_name or export.class_name_for(name)
    difference = export.export(arch, args.format, output, weights, class_name)
    params = builder.count_parameters(export.build_with_weights(arch, weights))
    what = {"code": f"PyTorch code, class {class_name}", "onnx": "ONNX", "torchscript": "TorchScript"}[args.format]
    print(f"wrote {output} ({what}) for {args.arch}: {arch.num_layers} layers, {params:,} parameters")
    if weights is None:
        print("weights: random initial weights (give --weights PATH to export trained ones)")
    elif args.format == "code":
        print(f"weights: {weights_path} fit it; load with model.load_state_dict(torch.load(PATH, weights_only=True))")
    else:
        print(f"weights: {weights_path} (inside the exported file)")
    if difference > 1e-4:
        print(f"nasrl: error: the export differs from nasrl's network by {difference:.2e}; please report it.")
        return 1
    print(f"checked: outputs equal nasrl's network (largest difference {difference:.1e})")
    return 0


def _config_overrides(args: argparse.Namespace, names: Iterable[str]) -> dict:
    """The config fields given on the command line (a flag left out is not an override; `none` unsets one)."""
    given = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    return {k: None if isinstance(v, str) and v.lower() in ("none", "null") else v for k, v in given.items()}


def cmd_train(args: argparse.Namespace) -> int:
    from nasrl.config import DataConfig, DeviceConfig, TrainConfig, load_train_recipe
    from nasrl.errors import validated
    from nasrl.train.command import train_final

    recipe, data = load_train_recipe(args.config) if args.config else ({}, {})
    cfg = validated(TrainConfig, {**recipe, **_config_overrides(args, TrainConfig.model_fields)}, "nasrl train --help")
    opts = validated(DataConfig, {**data, **_config_overrides(args, DataConfig.model_fields)}, "nasrl train --help")
    where = validated(DeviceConfig, _config_overrides(args, DeviceConfig.model_fields), "nasrl train --help")
    resume = Path(args.resume) if args.resume else None
    run_dir = Path(args.run_dir) if args.run_dir else None
    train_final(args.arch, cfg, opts, run_dir, resume, where.device, progress=not args.quiet)
    return 0


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    """`nasrl train` (the seed's `--mode train`): one flag per field of `TrainConfig` and `DataConfig`."""
    from nasrl.config import DataConfig, DeviceConfig, TrainConfig
    from nasrl.data import SOURCES_HELP

    p = sub.add_parser(
        "train",
        help="train one network (nascnn15 or a found architecture) and test it",
        description=f"Train a network on the train split, validate every epoch, test the best weights once. "
        f"Data sources: {SOURCES_HELP}.",
    )
    p.add_argument("--arch", help="a zoo name (nascnn15, seed-baseline), an architecture JSON file or a run folder")
    p.add_argument("--config", metavar="RECIPE", help="a recipe (enas-final) or a YAML file of the flags below")
    p.add_argument("--run-dir", metavar="DIR", help="output folder (default runs/train-<arch>-<timestamp>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR with its own settings")
    p.add_argument("--quiet", action="store_true", help="no progress bars (the final line still prints)")
    _add_model_flags(p.add_argument_group("training", "[x] is the default"), TrainConfig, switches=True)
    _add_model_flags(p.add_argument_group("data", "[x] is the default"), DataConfig, switches=True)
    _add_model_flags(p.add_argument_group("device", "[x] is the default"), DeviceConfig, switches=True)
    p.set_defaults(func=cmd_train)


def cmd_search(args: argparse.Namespace) -> int:
    from nasrl.config import FLAT_FIELDS, load_config_file, make_config
    from nasrl.search.run import prepare_run, run_search

    overrides = _config_overrides(args, FLAT_FIELDS)
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


def _add_model_flags(group: argparse._ArgumentGroup, model: type[BaseModel], switches: bool = False) -> None:
    """One flag per field of a config model; pydantic validates the values (see `_add_flag`)."""
    from nasrl.errors import flag_name

    for name, field in model.model_fields.items():
        _add_flag(group, flag_name(model, name), name, field, field.default, switches)


def _add_search_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per flat field of a search config (`child_epochs` -> `--child-epochs`, setting `child.epochs`)."""
    from nasrl.config import FLAT_FIELDS, SECTIONS, flat_default

    for name, (section, field) in FLAT_FIELDS.items():
        info = SECTIONS[section].model_fields[field]
        _add_flag(group, "--" + name.replace("_", "-"), name, info, flat_default(name), switches=False)


def _add_flag(group: argparse._ArgumentGroup, flag: str, dest: str, field: Any, default: Any, switches: bool) -> None:
    """A boolean that is off by default is a switch (`--zca`); one that is on is `--no-NAME` when `switches`, else a
    flag that takes a value (`--augment false`, as `nasrl search` always had)."""
    help_text = f"{field.description or ''} [{default}]".strip().replace("%", "%%")
    if field.annotation is bool and default is False:
        group.add_argument(flag, dest=dest, action="store_const", const=True, default=None, help=help_text)
    elif field.annotation is bool and switches:
        flag = "--no-" + flag.removeprefix("--")
        help_text = f"turn off: {help_text}"
        group.add_argument(flag, dest=dest, action="store_const", const=False, default=None, help=help_text)
    else:
        group.add_argument(flag, dest=dest, metavar="V", default=None, help=help_text)


def cmd_derive(args: argparse.Namespace) -> int:
    from nasrl.search.drivers.weight_sharing import derive_run

    for flag, value, least in (
        ("--samples", args.samples, 1),
        ("--rank-check", args.rank_check, 2),
        ("--rank-epochs", args.rank_epochs, 1),
    ):
        if value is not None and value < least:
            raise UserError(f"{flag} must be at least {least}, not {value}.")
    best = derive_run(args.run_dir, args.samples, args.quiet, args.rank_check or 0, args.rank_epochs or 2)
    print(
        f"best shared-weight validation accuracy: {best.reward:.4f}  (see {args.run_dir}/best_architecture.json; "
        f"the ranked list is derived.json)"
    )
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from nasrl.search.baseline import run_baseline

    print(run_baseline(args.run_dir, args.match, args.quiet)["sentence"])
    return 0


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


def cmd_compare(args: argparse.Namespace) -> int:
    from nasrl.report.compare import compare

    result = compare(args.run_dirs, args.output, args.by, args.target, args.window)
    print(result.text)
    how = "given" if args.target is not None else "the median of the runs' final best"
    print(f"target reward: {result.target:.4g} ({how}); mean best-so-far over the first {result.budget} children")
    print(f"wrote {result.html_path} (open it in a browser; the PNG files are beside it)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from nasrl.config import PRESETS
    from nasrl.search.evaluators.registry import evaluators_help
    from nasrl.search.strategies.registry import strategies_help

    parser = argparse.ArgumentParser(
        prog="nasrl",
        description="Neural Architecture Search with Reinforcement Learning (Zoph & Le 2017) for CIFAR-10.",
    )
    sub = parser.add_subparsers(dest="command")

    show = sub.add_parser("show", help="describe an architecture: layers, parameters, FLOPs")
    show.add_argument("arch", help="a zoo name (nascnn15, seed-baseline) or an architecture JSON file")
    show.add_argument("--json", action="store_true", help="print the canonical JSON instead of the table")
    show.add_argument("--latency", action="store_true", help="also time a forward pass (median, batch 1 and N)")
    show.add_argument("--latency-device", default="cpu", help="--latency: the device to time on [cpu]")
    show.add_argument("--batch-size", type=int, default=128, help="--latency: the larger batch timed [128]")
    show.add_argument("--resolution", type=int, default=32, help="--latency: the image side in pixels [32]")
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
        help="search architectures with REINFORCE, PPO, evolution or random search",
        description=f"Run or resume an architecture search. Every config field is a flag. Strategies (--strategy): "
        f"{strategies_help()}. Evaluators (--evaluator): {evaluators_help()}.",
    )
    search.add_argument("--config", default="quick", help=f"a preset ({', '.join(PRESETS)}) or a YAML file")
    search.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted search in RUN_DIR")
    search.add_argument("--quiet", action="store_true", help="no console output (the logs are still written)")
    _add_search_flags(
        search.add_argument_group(
            "config fields",
            "override the preset's value; [x] is the value when neither preset nor flag sets it; "
            "`none` unsets an optional field",
        )
    )
    search.set_defaults(func=cmd_search)
    _add_train_parser(sub)

    _add_run_parsers(sub)
    _add_baseline_parser(sub)
    return parser


def _add_baseline_parser(sub: argparse._SubParsersAction) -> None:
    """`nasrl baseline`: whether a search beat just training its space's default network."""
    baseline = sub.add_parser(
        "baseline",
        help="train the space's default network for the search's time: did searching pay off?",
        description="Train the run's space's default network (a plain chain of 3x3 convolutions, a ResNet-like "
        "macro network, NAS-Bench-201's ResNet cell) with the run's own child settings and data split, for the "
        "search's wall time or its child-epochs, and compare it with the search's best child; a run whose "
        "evaluator answers from a table looks the default network up instead. Writes RUN_DIR/baseline.json.",
    )
    baseline.add_argument("run_dir", metavar="RUN_DIR", help="the folder of a finished or interrupted nasrl search")
    baseline.add_argument(
        "--match",
        choices=["time", "epochs"],
        default="time",
        help="train for the search's wall time (default) or for as many epochs as it trained children",
    )
    baseline.add_argument("--quiet", action="store_true", help="no progress bars (the sentence still prints)")
    baseline.set_defaults(func=cmd_baseline)
    best = sub.add_parser(
        "best",
        help="the most accurate child of a run under a limit: parameters, FLOPs or latency",
        description="Pick, after the fact, the most accurate evaluated child of a search run within limits on its "
        "parameters, FLOPs or batch-1 latency (a run that measured no latency has its candidates timed now).",
    )
    best.add_argument("run_dir", metavar="RUN_DIR", help="the folder of a nasrl search run")
    best.add_argument("--max-params", dest="params", metavar="N", help="at most this many parameters (5e5, 500k)")
    best.add_argument("--max-flops", dest="flops", metavar="N", help="at most this many FLOPs per image (2e8, 200M)")
    best.add_argument("--max-latency-ms", dest="latency_ms", metavar="MS", help="at most this batch-1 latency (ms)")
    best.add_argument("--latency-device", default=None, help="time children without a stored latency here [cpu]")
    best.add_argument("-o", "--output", default=None, help="write the pick as an architecture file (JSON)")
    best.set_defaults(func=cmd_best)


def _add_run_parsers(sub: argparse._SubParsersAction) -> None:
    """The commands that read (or finish) run folders: derive, report, runs, compare."""
    derive = sub.add_parser(
        "derive",
        help="pick the architecture of a weight-sharing search (finished or interrupted)",
        description="Sample architectures from the run's final policy, score each with the shared weights on the "
        "whole validation split, write the best to RUN_DIR/best_architecture.json and the ranked list to "
        "RUN_DIR/derived.json.",
    )
    derive.add_argument("run_dir", metavar="RUN_DIR", help="the folder of a `nasrl search --evaluator shared` run")
    derive.add_argument("--samples", type=int, metavar="N", help="architectures to sample (default: the run's 100)")
    derive.add_argument(
        "--rank-check",
        type=int,
        metavar="K",
        help="also train K of the scored architectures stand-alone and report Kendall tau and "
        "Spearman rho between shared-weight and stand-alone accuracy (rank_check.json)",
    )
    derive.add_argument(
        "--rank-epochs", type=int, metavar="E", help="epochs of each stand-alone training in the rank check (default 2)"
    )
    derive.add_argument("--quiet", action="store_true", help="no console output (the logs are still written)")
    derive.set_defaults(func=cmd_derive)

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
    comp = sub.add_parser(
        "compare",
        help="several search runs side by side: groups by strategy/evaluator/rungs, seeds pooled",
        description="Group search runs by strategy, evaluator and rungs (each run a seed), print a table and write "
        "DIR/compare.html with PNG plots. Runs must share the search space and the data.",
    )
    comp.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="two or more nasrl search run folders")
    comp.add_argument(
        "--by",
        choices=["children", "seconds"],
        default="children",
        help="x axis of the primary plot and of the 'to reach' column (default children)",
    )
    comp.add_argument("-o", "--output", metavar="DIR", default="compare", help="output folder (default ./compare)")
    comp.add_argument(
        "--target",
        metavar="R",
        type=float,
        help="reward to reach (default: the median over the runs of their final best)",
    )
    comp.add_argument("--window", metavar="N", type=int, default=50, help="children in the running mean (default 50)")
    comp.set_defaults(func=cmd_compare)


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
