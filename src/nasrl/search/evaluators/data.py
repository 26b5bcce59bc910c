"""The data a search evaluates on, loaded once per driver for every evaluator that `needs_data`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nasrl.config import SearchConfig
from nasrl.run.log import format_seconds


@dataclass
class SearchData:
    """The splits a search evaluates on, where, and a sentence for the log saying so."""

    train: Any  # data.Split
    val: Any
    num_classes: int
    device: Any  # torch.device
    note: str


def load_search_data(cfg: SearchConfig) -> SearchData:
    """Load and split the data set once per driver (a missing file or bad subset stops the run here)."""
    from nasrl.data import load_dataset, split_train_val
    from nasrl.train.loop import resolve_device

    device = resolve_device(cfg.executor.device)
    start = time.perf_counter()
    data = cfg.data_settings()
    dataset = load_dataset(data.source, data.data_dir, data.resolution)
    train, val = split_train_val(dataset, data.val_size, data.split_seed, data.train_subset, data.val_subset)
    note = (
        f"Data: {dataset.name}: {len(train.y)} training / {len(val.y)} validation images, "
        f"{len(dataset.classes)} classes, {dataset.channels} channel(s) "
        f"(loaded in {format_seconds(time.perf_counter() - start)}); "
        f"children train on {device}"
    )
    return SearchData(train, val, len(dataset.classes), device, note)
