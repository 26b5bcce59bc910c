"""Reading a run's store in tests: the rows a resumed or reordered run must reproduce."""

import sqlite3
from pathlib import Path


def rows(run_dir: Path, table: str = "children") -> list[tuple]:
    """The children (episode, child, hash, reward, status, cached) or controller steps of a run, in key order."""
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        if table == "children":
            return db.execute(
                "SELECT episode, child, arch_hash, reward, status, cached FROM children ORDER BY episode, child"
            ).fetchall()
        return db.execute(
            "SELECT episode, loss, baseline, mean_reward, entropy, lr FROM controller_steps ORDER BY episode"
        ).fetchall()
