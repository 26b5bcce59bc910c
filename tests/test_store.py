"""The run folder's database and its atomic files: one writer, one row per child, nothing torn by a crash."""

import json
import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from nasrl.errors import UserError
from nasrl.run import atomic
from nasrl.run.atomic import load_checkpoint, save_atomic, write_bytes_atomic, write_json_atomic, write_text_atomic
from nasrl.run.store import ChildRecord, RunStore


def child(episode: int, index: int, reward: float, arch_hash: str = "h", **fields) -> ChildRecord:
    return ChildRecord(episode, index, '{"space": "zoph"}', arch_hash, 2, reward, **fields)


@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / "run")
    yield s
    s.close()


# ----- the database ------------------------------------------------------------------------------


def test_database_is_in_wal_mode_so_reports_can_read_a_running_search(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with sqlite3.connect(store.db_path) as other:  # the mode is stored in the file, not the connection
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_open_existing_refuses_a_folder_without_a_database(tmp_path):
    (tmp_path / "not-a-run").mkdir()
    with pytest.raises(UserError, match="holds no results.sqlite: give the folder of a nasrl search run"):
        RunStore.open_existing(tmp_path / "not-a-run")
    with pytest.raises(UserError, match="holds no results.sqlite"):
        RunStore.open_existing(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()  # refusing creates nothing


def test_open_existing_reads_what_the_writer_stored(store):
    store.record_child(child(0, 0, 0.5))
    reader = RunStore.open_existing(store.run_dir)
    try:
        assert [c.reward for c in reader.children()] == [0.5]
    finally:
        reader.close()


def test_open_existing_is_read_only(store):
    store.close()
    reader = RunStore.open_existing(store.run_dir)
    try:
        with pytest.raises((sqlite3.OperationalError, UserError)):
            reader.record_child(child(0, 0, 0.5))
    finally:
        reader.close()


def test_a_file_that_is_not_a_database_is_one_user_error(tmp_path):
    (tmp_path / "results.sqlite").write_bytes(b"not a database, just some bytes " * 64)
    with pytest.raises(UserError, match="is not a readable results database .*: restore or remove it"):
        RunStore.open_existing(tmp_path)


# ----- the lock ----------------------------------------------------------------------------------


def test_lock_refuses_a_second_writer_until_the_first_closes(tmp_path):
    first, second = RunStore(tmp_path), RunStore(tmp_path)
    try:
        first.lock()
        with pytest.raises(UserError, match="Another nasrl process is writing to"):
            second.lock()
        first.close()
        second.lock()  # the lock went with the first store
        third = RunStore(tmp_path)
        with pytest.raises(UserError, match="Another nasrl process"):
            third.lock()
        third.close()
    finally:
        first.close()
        second.close()


def test_lock_refuses_a_writer_in_another_process(tmp_path):
    holder = textwrap.dedent(
        f"""
        import sys
        from nasrl.run.store import RunStore
        store = RunStore({str(tmp_path)!r})
        store.lock()
        print("locked", flush=True)
        sys.stdin.readline()  # hold the lock until the test says go
        store.close()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        store = RunStore(tmp_path)
        with pytest.raises(UserError, match="Another nasrl process"):
            store.lock()
        proc.communicate("go\n", timeout=60)
        store.lock()  # the holder exited: its lock is gone
        store.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_readers_need_no_lock(tmp_path):
    writer = RunStore(tmp_path)
    writer.lock()
    writer.record_child(child(0, 0, 0.25))
    reader = RunStore.open_existing(tmp_path)
    try:
        assert reader.counts()["children"] == 1
    finally:
        reader.close()
        writer.close()


# ----- children ----------------------------------------------------------------------------------


def test_a_child_stored_twice_is_one_row_holding_the_last_values(store):
    store.record_child(child(1, 2, 0.3, status="failed", error="boom"))
    store.record_child(child(1, 2, 0.7))
    rows = store.db.execute("SELECT COUNT(*) FROM children WHERE episode=1 AND child=2").fetchone()[0]
    assert rows == 1 and len(store.children()) == 1
    again = store.child(1, 2)
    assert again.reward == 0.7 and again.status == "ok" and again.error is None
    assert store.child(1, 3) is None


def test_a_record_round_trips_every_field(store):
    rec = child(
        3,
        1,
        0.61,
        val_acc=0.85,
        params=1234,
        flops=5678,
        train_seconds=2.5,
        cached=True,
        history_json='[{"epoch": 1}]',
        finished_at=1_700_000_000.0,
    )
    store.record_child(rec)
    assert store.child(3, 1) == rec
    store.close()
    reader = RunStore.open_existing(store.run_dir)  # durable on return: another connection sees it
    try:
        assert reader.child(3, 1) == rec
    finally:
        reader.close()


def test_children_come_back_in_episode_then_child_order(store):
    for episode, index in [(1, 1), (0, 1), (1, 0), (0, 0)]:
        store.record_child(child(episode, index, 0.1))
    assert [(c.episode, c.child) for c in store.children()] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_best_is_the_highest_successful_reward_and_the_earliest_of_ties(store):
    assert store.best() is None
    store.record_child(child(0, 0, 0.4))
    store.record_child(child(0, 1, 0.9, status="failed", error="out of memory"))  # failed: never the best
    store.record_child(child(1, 1, 0.6))
    store.record_child(child(1, 0, 0.6))
    best = store.best()
    assert (best.episode, best.child, best.reward) == (1, 0, 0.6)


def test_counts_split_children_into_evaluated_cached_and_failed(store):
    assert store.counts() == {"children": 0, "cached": 0, "failed": 0, "evaluated": 0}
    store.record_child(child(0, 0, 0.5, arch_hash="a"))
    store.record_child(child(0, 1, 0.5, arch_hash="a", cached=True))
    store.record_child(child(0, 2, 0.0, arch_hash="b", status="failed", error="boom"))
    store.record_child(child(1, 0, 0.7, arch_hash="c"))
    assert store.counts() == {"children": 4, "cached": 1, "failed": 1, "evaluated": 2}


def test_evaluated_is_the_first_really_trained_successful_child_of_a_hash(store):
    assert store.evaluated("a") is None
    store.record_child(child(0, 0, 0.0, arch_hash="a", status="failed", error="boom"))
    assert store.evaluated("a") is None  # a failure is not a cache entry
    store.record_child(child(0, 1, 0.5, arch_hash="a", cached=True))
    assert store.evaluated("a") is None  # nor is a copy of one
    store.record_child(child(2, 0, 0.6, arch_hash="a"))
    store.record_child(child(1, 0, 0.4, arch_hash="a"))
    store.record_child(child(0, 2, 0.9, arch_hash="b"))
    hit = store.evaluated("a")
    assert (hit.episode, hit.child, hit.reward) == (1, 0, 0.4)
    assert store.evaluated("b").reward == 0.9 and store.evaluated("c") is None


def test_steps_and_meta_round_trip(store):
    store.record_step(0, {"loss": 1.5, "baseline": 0.2, "mean_reward": 0.3, "entropy": 4.0, "lr": 0.01}, 6)
    store.record_step(0, {"loss": 0.5}, 8)  # the same episode replaces
    steps = store.steps()
    assert len(steps) == 1 and steps[0]["loss"] == 0.5 and steps[0]["num_layers"] == 8 and steps[0]["lr"] is None
    store.set_meta(status="running", episodes=3)
    store.set_meta(status="finished", best={"reward": 0.5})
    assert store.meta() == {"status": "finished", "episodes": 3, "best": {"reward": 0.5}}


# ----- atomic writes -----------------------------------------------------------------------------


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_writers_write_the_file_and_leave_no_temporary(tmp_path):
    write_bytes_atomic(tmp_path / "new" / "a.bin", b"\x00\x01")  # creates the folder
    write_text_atomic(tmp_path / "b.txt", "héllo")
    write_json_atomic(tmp_path / "c.json", {"b": 1, "a": [1, 2]})
    save_atomic({"format": 1, "w": torch.arange(3)}, tmp_path / "d.pt")
    assert (tmp_path / "new" / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo"
    text = (tmp_path / "c.json").read_text()
    assert json.loads(text) == {"a": [1, 2], "b": 1} and text.endswith("\n") and text.index('"a"') < text.index('"b"')
    assert torch.equal(load_checkpoint(tmp_path / "d.pt")["w"], torch.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", "c.json", "d.pt", "new"]
    assert os.listdir(tmp_path / "new") == ["a.bin"]


def test_an_atomic_write_replaces_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    write_text_atomic(path, "old")
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and temp_files(tmp_path) == []


def _fail(*args, **kwargs):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("where", ["write", "fsync", "replace", "interrupt"])
def test_a_failed_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch, where):
    path = tmp_path / "best_architecture.json"
    write_json_atomic(path, {"reward": 0.5})
    old = path.read_bytes()
    if where == "write":
        data = "text, not bytes: the write itself raises"
        expected: type[BaseException] = TypeError
    else:
        data, expected = b'{"reward": 0.9}', OSError
        if where == "fsync":
            monkeypatch.setattr(atomic.os, "fsync", _fail)
        elif where == "replace":
            monkeypatch.setattr(atomic.os, "replace", _fail)
        else:

            def interrupted(*args, **kwargs):
                raise KeyboardInterrupt

            monkeypatch.setattr(atomic.os, "fsync", interrupted)
            expected = KeyboardInterrupt
    with pytest.raises(expected):
        write_bytes_atomic(path, data)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert temp_files(tmp_path) == [] and os.listdir(tmp_path) == [path.name]


def test_a_checkpoint_that_cannot_be_saved_leaves_the_last_good_one(tmp_path):
    path = tmp_path / "latest.pt"
    save_atomic({"format": 1, "step": 1}, path)
    with pytest.raises(Exception):  # noqa: B017 - pickle's error type varies by Python version
        save_atomic({"format": 1, "step": 2, "hook": lambda: None}, path)
    assert load_checkpoint(path)["step"] == 1 and os.listdir(tmp_path) == ["latest.pt"]


# ----- loading checkpoints -----------------------------------------------------------------------


def test_load_checkpoint_returns_a_nasrl_checkpoint_of_the_asked_format(tmp_path):
    save_atomic({"format": 3, "weights": {"w": torch.ones(2)}, "history": [{"epoch": 1}]}, tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt", kind="search", fmt=3)
    assert ckpt["history"] == [{"epoch": 1}] and torch.equal(ckpt["weights"]["w"], torch.ones(2))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage",
        json.dumps({"format": 1}).encode(),
        pickle.dumps({"format": 1}, protocol=2),  # a plain pickle, not torch's zip format
    ],
    ids=["empty", "garbage", "json", "plain-pickle"],
)
def test_a_file_that_is_not_a_torch_checkpoint_is_one_user_error(tmp_path, content):
    path = tmp_path / "latest.pt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=r"is damaged or not a nasrl checkpoint \(\w+\): start a new run\.$"):
        load_checkpoint(path, advice="start a new run")


@pytest.mark.parametrize(
    "obj",
    [{"format": 2, "epoch": 1}, {"epoch": 1}, [1, 2], torch.zeros(2), {"format": "1"}],
    ids=["other-format", "no-format", "list", "tensor", "format-as-text"],
)
def test_a_torch_file_of_another_kind_or_format_is_refused(tmp_path, obj):
    path = tmp_path / "latest.pt"
    torch.save(obj, path)
    with pytest.raises(UserError, match=r"is not a nasrl search checkpoint of this version: delete it\.$"):
        load_checkpoint(path, kind="search", fmt=1, advice="delete it")


class _RunsCode:
    """Unpickling this touches a file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_load_checkpoint_never_unpickles_code(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "latest.pt"
    torch.save({"format": 1, "payload": _RunsCode(marker)}, path)
    with pytest.raises(UserError, match="damaged or not a nasrl checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is real: an unrestricted load runs it
    assert marker.exists()
