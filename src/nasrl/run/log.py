"""The run's narrative: a lab notebook for people (`search.log`) and one JSON object per event for machines.

The seed project's eight levels are kept because they read well in a log:
INFO, SUCCESS, STEP, METRIC, ERROR, ARCHITECTURE, TRAINING, REWARD. They are
Python logging levels, so the file, the JSONL stream and the console are just
three handlers of one logger.
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

LEVELS = {
    "TRAINING": 15,
    "INFO": logging.INFO,
    "STEP": 21,
    "ARCHITECTURE": 22,
    "METRIC": 23,
    "REWARD": 24,
    "SUCCESS": 25,
    "ERROR": logging.ERROR,
}
for _name, _value in LEVELS.items():
    logging.addLevelName(_value, _name)

_ids = itertools.count()


class _JsonLines(logging.Handler):
    """events.jsonl: one object per event with its level, event name, message and fields."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.file = path.open("a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        event = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "event": getattr(record, "event", "message"),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        self.file.write(json.dumps(event, default=str) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        super().close()


class RunLog:
    """Writes each event to search.log, events.jsonl and (unless quiet) the console."""

    def __init__(self, run_dir: Path, console: Console | None = None, quiet: bool = False) -> None:
        self.logger = logging.getLogger(f"nasrl.run.{next(_ids)}")
        self.logger.setLevel(LEVELS["TRAINING"])
        self.logger.propagate = False
        text = logging.FileHandler(run_dir / "search.log", encoding="utf-8")
        text.setFormatter(logging.Formatter("%(asctime)s  %(levelname)-12s %(message)s", "%Y-%m-%d %H:%M:%S"))
        self.handlers: list[logging.Handler] = [text, _JsonLines(run_dir / "events.jsonl")]
        if not quiet:
            console_handler = RichHandler(
                console=console or Console(stderr=True), show_path=False, markup=False, log_time_format="%H:%M:%S"
            )
            console_handler.setLevel(logging.INFO)
            self.handlers.append(console_handler)
        for h in self.handlers:
            self.logger.addHandler(h)

    def event(self, level: str, event: str, message: str, **fields: Any) -> None:
        self.logger.log(LEVELS[level], message, extra={"event": event, "fields": fields})

    def info(self, message: str, event: str = "info", **fields: Any) -> None:
        self.event("INFO", event, message, **fields)

    def success(self, message: str, event: str = "success", **fields: Any) -> None:
        self.event("SUCCESS", event, message, **fields)

    def step(self, message: str, event: str = "step", **fields: Any) -> None:
        self.event("STEP", event, message, **fields)

    def metric(self, message: str, event: str = "metric", **fields: Any) -> None:
        self.event("METRIC", event, message, **fields)

    def error(self, message: str, event: str = "error", **fields: Any) -> None:
        self.event("ERROR", event, message, **fields)

    def architecture(self, message: str, event: str = "architecture", **fields: Any) -> None:
        self.event("ARCHITECTURE", event, message, **fields)

    def training(self, message: str, event: str = "training", **fields: Any) -> None:
        self.event("TRAINING", event, message, **fields)

    def reward(self, message: str, event: str = "reward", **fields: Any) -> None:
        self.event("REWARD", event, message, **fields)

    def close(self) -> None:
        for h in self.handlers:
            self.logger.removeHandler(h)
            h.close()


def format_seconds(seconds: float) -> str:
    """`1h 02m`, `3m 05s`, `12.3s`: durations as a person reads them."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"
