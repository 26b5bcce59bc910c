"""The run folder and its SQLite database: the single source of truth of a search.

The driver is the only writer. Every child is one row keyed by (episode, child),
so a resumed run that meets an already-finished child reuses its row instead of
training it again, and no child is ever stored twice. With children in flight
(`--in-flight`), a child is a row from the moment it is submitted (status
`pending`) and is replaced by its result; every read of finished children here
leaves pending rows out. Finished rows are numbered in the order their results
arrived (`arrival`), which says which of them an asynchronous update consumed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nasrl.errors import UserError
from nasrl.run.records import ChildRecord, ChildStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS children (
    episode INTEGER NOT NULL,
    child INTEGER NOT NULL,
    arch_json TEXT NOT NULL,
    arch_hash TEXT NOT NULL,
    num_layers INTEGER NOT NULL,
    reward REAL NOT NULL,
    val_acc REAL,
    params INTEGER,
    flops INTEGER,
    train_seconds REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL,            -- ok | failed | pending (in flight: submitted, no result yet) | over_limit
    error TEXT,
    cached INTEGER NOT NULL DEFAULT 0,
    history_json TEXT,               -- per-epoch metrics of the child's training
    finished_at REAL NOT NULL,
    rung INTEGER,                    -- successive halving: the last rung reached (0-based); NULL without rungs
    arrival INTEGER,                 -- finished rows numbered 0, 1, 2, ... as their results arrived; NULL: pending
    proposal_log_prob REAL,          -- log pi(arch) under the policy that proposed it (--in-flight); else NULL
    test_acc REAL,                   -- a benchmark's held-out accuracy (never a reward); NULL when trained
    latency_ms REAL,                 -- median batch-1 forward time, when the run measured latency
    latency_json TEXT,               -- every batch size's latency measurement (device, median, IQR, runs)
    PRIMARY KEY (episode, child)
);
CREATE INDEX IF NOT EXISTS children_by_hash ON children (arch_hash);
CREATE TABLE IF NOT EXISTS controller_steps (
    episode INTEGER PRIMARY KEY,
    loss REAL, baseline REAL, mean_reward REAL, entropy REAL, lr REAL,
    num_layers INTEGER, finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shared_epochs (  -- weight sharing: one row per epoch of the shared network
    epoch INTEGER PRIMARY KEY,
    train_loss REAL, train_acc REAL, lr REAL,      -- the shared weights' training, one sampled path per batch
    mean_reward REAL, entropy REAL,                -- the controller's steps after it
    seconds REAL, finished_at REAL NOT NULL
);
"""


_PENDING = ChildStatus.PENDING.value
_OVER = ChildStatus.OVER_LIMIT.value


def rung_checkpoint_path(run_dir: str | Path, episode: int, child: int) -> Path:
    """Where a child's training pauses between rungs of successive halving (the run folder's `rungs/`)."""
    return Path(run_dir) / "rungs" / f"episode{episode}-child{child}.pt"


def remove_rung_checkpoint(run_dir: str | Path, episode: int, child: int) -> None:
    """A child's paused weights, once its row holds its last rung; the `rungs/` folder too once it is empty."""
    path = rung_checkpoint_path(run_dir, episode, child)
    path.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


class RunStore:
    """A run folder: `results.sqlite`, `config.yaml`, `checkpoints/`, logs and reports."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.run_dir / "results.sqlite"
        try:
            self.db = sqlite3.connect(self.db_path, timeout=30)
            self.db.row_factory = sqlite3.Row
            # WAL lets `nasrl report` read a running search while the driver writes.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(children)")}
            # Columns a run folder from an earlier version lacks (before successive halving, --in-flight, benchmarks,
            # objectives).
            added = (
                ("rung", "INTEGER"),
                ("arrival", "INTEGER"),
                ("proposal_log_prob", "REAL"),
                ("test_acc", "REAL"),
                ("latency_ms", "REAL"),
                ("latency_json", "TEXT"),
            )
            for name, kind in added:
                if name not in columns:
                    self.db.execute(f"ALTER TABLE children ADD COLUMN {name} {kind}")
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.db_path} is not a readable results database ({e}): restore or remove it.") from None

    @classmethod
    def open_existing(cls, run_dir: str | Path) -> RunStore:
        """A read-only view of a run's store: it takes no lock, never blocks the driver, and cannot write."""
        path = Path(run_dir)
        if not (path / "results.sqlite").is_file():
            raise UserError(f"{path} holds no results.sqlite: give the folder of a nasrl search run.")
        store = cls.__new__(cls)
        store.run_dir, store.db_path = path, path / "results.sqlite"
        store.db = connect_readonly(store.db_path)
        return store

    def lock(self) -> None:
        """Hold an exclusive lock on the run folder until `close`: one driver writes a run, never two."""
        try:
            import fcntl
        except ImportError:  # not on POSIX: no lock, as before
            return
        self._lock_file = (self.run_dir / ".lock").open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            raise UserError(
                f"Another nasrl process is writing to {self.run_dir}: wait for it to finish or stop it first."
            ) from None

    # ----- paths ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.run_dir / "config.yaml"

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / "latest.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best_architecture.json"

    # ----- children ------------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            yield self.db

    def record_child(self, rec: ChildRecord) -> None:
        """Store one child at once (durable on return); the same (episode, child) replaces, never duplicates.
        A finished row gets the next arrival number (written into `rec` too); a pending one (in flight) none."""
        row = asdict(rec)
        row["cached"] = int(rec.cached)
        row["status"] = rec.status.value
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._tx() as db:
            if rec.status != ChildStatus.PENDING:
                row["arrival"] = db.execute("SELECT COALESCE(MAX(arrival), -1) + 1 FROM children").fetchone()[0]
                rec.arrival = row["arrival"]  # the caller's record is the stored row
            db.execute(f"INSERT OR REPLACE INTO children ({cols}) VALUES ({marks})", row)

    def child(self, episode: int, child: int) -> ChildRecord | None:
        """The finished child under this key (a pending row is not a result)."""
        cur = self.db.execute(
            "SELECT * FROM children WHERE episode=? AND child=? AND status!=?", (episode, child, _PENDING)
        )
        return _record(cur.fetchone())

    def pending(self) -> list[ChildRecord]:
        """The children in flight when the driver stopped: submitted, never finished (to submit again)."""
        cur = self.db.execute("SELECT * FROM children WHERE status=? ORDER BY episode, child", (_PENDING,))
        return [_record(r) for r in cur.fetchall()]

    def arrived_since(self, arrival: int) -> list[ChildRecord]:
        """The finished children numbered `arrival` and later, in the order they arrived (the results an
        asynchronous search had not yet learned from when its checkpoint was written)."""
        cur = self.db.execute("SELECT * FROM children WHERE arrival>=? ORDER BY arrival", (arrival,))
        return [_record(r) for r in cur.fetchall()]

    def proposed(self, episode: int | None = None) -> int:
        """How many children were ever submitted, finished or in flight (in one episode, or in all)."""
        if episode is None:
            return self.db.execute("SELECT COUNT(*) FROM children").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM children WHERE episode=?", (episode,)).fetchone()[0]

    def evaluated(self, arch_hash: str) -> ChildRecord | None:
        """The first successful, really trained child with this architecture (the run's cache)."""
        cur = self.db.execute(
            "SELECT * FROM children WHERE arch_hash=? AND cached=0 AND status=? ORDER BY episode, child LIMIT 1",
            (arch_hash, ChildStatus.OK.value),
        )
        return _record(cur.fetchone())

    def distinct_evaluated(self, before_episode: int | None = None) -> int:
        """How many children were really evaluated (not answered from the store, not over a limit), in all or in the
        episodes before one: a search budget's count."""
        query = "SELECT COUNT(*) FROM children WHERE cached=0 AND status NOT IN (?, ?)"
        if before_episode is None:
            return self.db.execute(query, (_PENDING, _OVER)).fetchone()[0]
        return self.db.execute(query + " AND episode<?", (_PENDING, _OVER, before_episode)).fetchone()[0]

    def children(self) -> list[ChildRecord]:
        cur = self.db.execute("SELECT * FROM children WHERE status!=? ORDER BY episode, child", (_PENDING,))
        return [_record(r) for r in cur.fetchall()]

    def best(self) -> ChildRecord | None:
        cur = self.db.execute(
            "SELECT * FROM children WHERE status=? ORDER BY reward DESC, episode, child LIMIT 1",
            (ChildStatus.OK.value,),
        )
        return _record(cur.fetchone())

    def counts(self) -> dict[str, int]:
        cur = self.db.execute(
            "SELECT COUNT(*), SUM(cached), SUM(status=?), SUM(cached=0 AND status=?), SUM(status=?) FROM children "
            "WHERE status!=?",
            (ChildStatus.FAILED.value, ChildStatus.OK.value, _OVER, _PENDING),
        )
        total, cached, failed, trained, over = cur.fetchone()
        counts = {"children": total, "cached": cached or 0, "failed": failed or 0, "evaluated": trained or 0}
        return {**counts, "over_limit": over} if over else counts

    # ----- controller steps ----------------------------------------------------------------------
    def record_step(self, episode: int, stats: dict[str, float], num_layers: int) -> None:
        row = {k: stats.get(k) for k in ("loss", "baseline", "mean_reward", "entropy", "lr")}
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO controller_steps VALUES "
                "(:episode, :loss, :baseline, :mean_reward, :entropy, :lr, :num_layers, :finished_at)",
                {**row, "episode": episode, "num_layers": num_layers, "finished_at": time.time()},
            )

    def steps(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM controller_steps ORDER BY episode")
        return [dict(r) for r in cur.fetchall()]

    # ----- weight sharing's epochs ---------------------------------------------------------------
    def record_shared_epoch(self, epoch: int, stats: dict[str, float]) -> None:
        row = {k: stats.get(k) for k in ("train_loss", "train_acc", "lr", "mean_reward", "entropy", "seconds")}
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO shared_epochs VALUES "
                "(:epoch, :train_loss, :train_acc, :lr, :mean_reward, :entropy, :seconds, :finished_at)",
                {**row, "epoch": epoch, "finished_at": time.time()},
            )

    def shared_epochs(self) -> list[dict[str, Any]]:
        """Every finished epoch of a weight-sharing search (none for other runs, and for folders from before)."""
        try:
            cur = self.db.execute("SELECT * FROM shared_epochs ORDER BY epoch")
        except sqlite3.OperationalError:  # a read-only view of a folder written before the table existed
            return []
        return [dict(r) for r in cur.fetchall()]

    # ----- run status ----------------------------------------------------------------------------
    def set_meta(self, **values: Any) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])

    def meta(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.execute("SELECT * FROM meta")}

    def close(self) -> None:
        self.db.close()
        if getattr(self, "_lock_file", None) is not None:
            self._lock_file.close()  # closing the file releases the lock
            self._lock_file = None


def _record(row: sqlite3.Row | None) -> ChildRecord | None:
    if row is None:
        return None
    data = dict(row)
    data["cached"] = bool(data["cached"])
    return ChildRecord(**data)


def connect_readonly(db_path: Path) -> sqlite3.Connection:
    """A connection that can neither write nor block the driver.

    With a `-wal` file present (a running or killed driver) it reads through the WAL in `mode=ro`;
    without one (the driver closed cleanly) it opens `immutable`, which creates no `-wal`/`-shm` files
    beside the database (a read-only WAL reader would otherwise leave them behind)."""
    wal = db_path.with_name(db_path.name + "-wal")
    flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    try:
        db = sqlite3.connect(f"file:{quote(str(db_path.resolve()))}?{flags}", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA query_only=1")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        raise UserError(f"{db_path} is not a readable results database ({e}): restore or remove it.") from None
    return db
