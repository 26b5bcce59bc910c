"""The search's resume points, in one place: the format numbers, what each holds, and how each loads.

Both are written to a temporary file and renamed (a crash never corrupts the last good one) and load with
`torch.load(..., weights_only=True)`. A weight-sharing checkpoint has its own format number, so a trained-children
search's never loads as one (nor the other way round).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nasrl.config import SearchConfig
from nasrl.run.atomic import load_checkpoint, save_atomic
from nasrl.run.store import RunStore

SEARCH_FORMAT = 1
SHARED_FORMAT = 1001
_ADVICE = "results.sqlite is intact; start a new run to continue searching"


def save_search_checkpoint(
    store: RunStore, next_episode: int, strategy_state: dict, cfg: SearchConfig, proposed: int | None = None
) -> None:
    """A trained-children search's resume point: the strategy as it stood before `next_episode`. `proposed`
    (children in flight): how many children the strategy had proposed when its state was taken."""
    state: dict[str, Any] = {
        "format": SEARCH_FORMAT,
        "next_episode": next_episode,
        "strategy": strategy_state,
        "config": cfg.model_dump_json(),
        "saved_at": time.time(),
    }
    if proposed is not None:
        state["proposed"] = proposed
    save_atomic(state, store.checkpoint_path)


def load_search_checkpoint(path: Path) -> dict:
    return load_checkpoint(path, kind="search", fmt=SEARCH_FORMAT, advice=_ADVICE)


def save_shared_checkpoint(store: RunStore, next_epoch: int, shared_state: dict, strategy_state: dict) -> None:
    """A weight-sharing search's resume point: shared weights and their optimizer, and the strategy."""
    state = {
        "format": SHARED_FORMAT,
        "next_epoch": next_epoch,
        "strategy": strategy_state,
        "shared": shared_state,
        "saved_at": time.time(),
    }
    save_atomic(state, store.checkpoint_path)


def load_shared_checkpoint(path: Path) -> dict:
    return load_checkpoint(path, kind="weight-sharing search", fmt=SHARED_FORMAT, advice=_ADVICE)
