"""Writes that a crash cannot tear: files and checkpoints go to a temporary file beside the target, then rename.

Checkpoints load with `weights_only=True`: nasrl never unpickles code, even from its own run folders.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from nasrl.errors import UserError


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_atomic(obj: object, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written checkpoint."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path, kind: str = "training", fmt: int = 1, advice: str = "delete it to start over") -> dict:
    """A nasrl checkpoint (`fit`'s, or the search's with its own `kind` and `fmt`), loaded without unpickling
    code; anything else is one clear error that ends with `advice`."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(
            f"The checkpoint {path} is damaged or not a nasrl checkpoint ({type(e).__name__}): {advice}."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        raise UserError(f"The checkpoint {path} is not a nasrl {kind} checkpoint of this version: {advice}.")
    return ckpt
