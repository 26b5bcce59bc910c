"""nasrl from Python, reading like the command line: `search(config="quick", episodes=3)` is
`nasrl search --config quick --episodes 3`, with the same validation, the same one-sentence errors (`UserError`)
and the same run folder; it returns the search's summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasrl.config import load_config_file, make_config
from nasrl.search.run import SearchSummary, prepare_run, run_search


def search(config: str = "quick", resume: str | Path | None = None, quiet: bool = True, **flags: Any) -> SearchSummary:
    """Run a search from a preset or YAML file (`config`) with `flags` as the CLI's flags (`child_epochs=3` is
    `--child-epochs 3`), or continue the run in `resume` (then `flags` may change only what a resumed run may)."""
    if resume is not None:
        cfg = prepare_run(make_config({}), resume, flags)
    else:
        cfg = prepare_run(make_config(load_config_file(config), flags), None, flags)
    return run_search(cfg, resume=resume is not None, quiet=quiet)
