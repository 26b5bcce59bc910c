"""nasrl from Python, reading like the command line: `search(config="quick", episodes=3)` is
`nasrl search --config quick --episodes 3`, with the same validation, the same one-sentence errors (`UserError`)
and the same run folder; it returns the search's summary. `best` and `latency` are `nasrl best` and
`nasrl show --latency`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasrl.config import load_config_file, make_config
from nasrl.search.best import Pick, best_under, read_limits
from nasrl.search.run import SearchSummary, prepare_run, run_search


def search(config: str = "quick", resume: str | Path | None = None, quiet: bool = True, **flags: Any) -> SearchSummary:
    """Run a search from a preset or YAML file (`config`) with `flags` as the CLI's flags (`child_epochs=3` is
    `--child-epochs 3`), or continue the run in `resume` (then `flags` may change only what a resumed run may)."""
    if resume is not None:
        cfg = prepare_run(make_config({}), resume, flags)
    else:
        cfg = prepare_run(make_config(load_config_file(config), flags), None, flags)
    return run_search(cfg, resume=resume is not None, quiet=quiet)


def best(
    run_dir: str | Path,
    max_params: float | str | None = None,
    max_flops: float | str | None = None,
    max_latency_ms: float | str | None = None,
    latency_device: str | None = None,
) -> Pick:
    """The most accurate evaluated child of a run within the limits given (`nasrl best RUN_DIR --max-params 5e5`)."""
    given = {"params": max_params, "flops": max_flops, "latency_ms": max_latency_ms}
    limits = read_limits(given, {cost: f"max_{cost}" for cost in given}, "max_params=5e5")
    return best_under(run_dir, limits, latency_device)


def latency(arch: str, device: str = "cpu", batch: int = 1, resolution: int = 32) -> Any:
    """The measured forward latency of an architecture (a zoo name, a cell string, a JSON file or a run folder):
    a `nets.latency.Latency` with its median and interquartile range in ms."""
    from nasrl.nets import builder
    from nasrl.nets.latency import latency_device, measure_latency
    from nasrl.space.files import load_architecture

    model = builder.build(load_architecture(arch))
    return measure_latency(model, latency_device(device), batch, resolution)
