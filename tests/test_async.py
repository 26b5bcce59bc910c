"""Children in flight (`--in-flight K`): the synchronous run as a special case, the importance correction,
kill -9 and resume without loss or duplicates, pending rows hidden from every reader, and the flags' errors."""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from stored import rows

from nasrl.cli import main
from nasrl.config import make_config
from nasrl.report.runs import read_search
from nasrl.run.records import ChildRecord, ChildResult
from nasrl.run.store import RunStore
from nasrl.search.executors import LocalExecutor
from nasrl.search.run import prepare_run, run_search
from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.reinforce import importance_weights
from nasrl.space import preset

SYNTH = {"evaluator": "synthetic", "space": "zoph", "layers": 4, "children": 5, "rungs": None}


def search(tmp_path: Path, name: str, **fields):
    cfg = make_config({**SYNTH, **fields, "run_dir": str(tmp_path / name)})
    return run_search(prepare_run(cfg, None, {}), quiet=True)


@pytest.mark.parametrize("strategy", ["reinforce", "ppo", "evolution", "a2c", "es"])
def test_in_flight_equal_to_children_on_the_local_executor_is_the_synchronous_run(tmp_path, strategy):
    fields = {"strategy": strategy, "episodes": 12, "controller_lr": 0.05, "layers": 2, "population_size": 10}
    sync = search(tmp_path, "sync", **fields)
    in_flight = search(tmp_path, "async", in_flight=5, **fields)
    assert rows(in_flight.run_dir) == rows(sync.run_dir)
    assert rows(in_flight.run_dir, "steps") == rows(sync.run_dir, "steps")
    assert any(r[5] for r in rows(sync.run_dir)), "no cached child: the cache path went untested"


def test_fewer_in_flight_than_children_stores_every_child_once_and_numbers_arrivals(tmp_path):
    run = search(tmp_path, "k3", in_flight=3, episodes=6).run_dir
    stored = rows(run)
    assert len(stored) == 30 and all(status == "ok" for *_, status, _ in stored)
    assert [r[0] for r in rows(run, "steps")] == list(range(6))
    assert (0, 5) in {(e, c) for e, c, *_ in stored}  # round 0 held 6 proposals (2 batches of 3)
    with sqlite3.connect(run / "results.sqlite") as db:
        arrivals = [a for (a,) in db.execute("SELECT arrival FROM children ORDER BY arrival")]
    assert arrivals == list(range(30))


class ConcurrentLocal(LocalExecutor):
    """The local executor posing as a concurrent one, so the Ray path of the driver (proposals drawn ahead, the
    update after refilling) runs deterministically: K slots, one freed per result, as Ray frees them."""

    concurrent = True

    def free_slots(self, in_flight: int) -> int:
        return max(0, in_flight - len(self.queue))


def test_drawing_ahead_numbers_every_round_contiguously_and_repeats_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "nasrl.search.drivers.children.make_executor", lambda cfg, evaluator: ConcurrentLocal(evaluator)
    )
    runs = [search(tmp_path, f"ahead{k}", in_flight=3, episodes=6, layers=2).run_dir for k in range(2)]
    assert rows(runs[0]) == rows(runs[1]) and rows(runs[0], "steps") == rows(runs[1], "steps")
    stored = rows(runs[0])
    assert len(stored) == 30 and len({(e, c) for e, c, *_ in stored}) == 30
    for episode in {e for e, *_ in stored}:  # no index skipped or taken twice, though proposals came in batches
        assert sorted(c for e, c, *_ in stored if e == episode) == list(range(sum(e == episode for e, *_ in stored)))
    assert RunStore.open_existing(runs[0]).pending() == []
    events = [line for line in (runs[0] / "events.jsonl").read_text().splitlines() if '"controller_step"' in line]
    assert len(events) == 6 and any('"stale_share"' in line for line in events)  # drawn ahead: some were stale


def _strategy(name: str = "reinforce"):
    return make_strategy(name, preset("zoph", 3), 0, entropy_weight=0.0, lr=0.05)


def _params(strategy) -> list[torch.Tensor]:
    return [p.detach().clone() for p in strategy.controller.parameters()]


@pytest.mark.parametrize("name", ["reinforce", "ppo", "a2c"])
def test_update_with_the_proposing_policys_log_probs_equals_the_plain_update(name):
    plain, corrected = _strategy(name), _strategy(name)
    proposals = corrected.propose_scored(6)
    assert [a for a, _ in proposals] == plain.propose(6)
    archs, rewards = [a for a, _ in proposals], [0.1, 0.5, 0.2, 0.9, 0.4, 0.3]
    plain_stats = plain.update(archs, rewards)
    stats = corrected.update(archs, rewards, [lp for _, lp in proposals])
    assert stats["importance_ratio"] == 1.0 and stats["capped_share"] == 0.0
    assert stats["loss"] == plain_stats["loss"]
    assert all(torch.equal(a, b) for a, b in zip(_params(plain), _params(corrected)))


def test_stale_proposals_are_weighted_by_the_truncated_importance_ratio():
    base = _strategy()
    proposals = base.propose_scored(6)
    archs, rewards = [a for a, _ in proposals], [0.1, 0.5, 0.2, 0.9, 0.4, 0.3]
    log_probs = [lp for _, lp in proposals]

    def updated(proposal_log_probs):
        strategy = _strategy()
        strategy.load_state_dict(base.state_dict())
        return strategy, strategy.update(archs, rewards, proposal_log_probs)

    plain, plain_stats = updated(None)
    # mu twice as likely as pi: every weight is 1/2, so (entropy weight 0) the loss halves and the step differs.
    half, half_stats = updated([lp + float(torch.log(torch.tensor(2.0))) for lp in log_probs])
    assert half_stats["loss"] == pytest.approx(plain_stats["loss"] / 2, rel=1e-3)
    assert not all(torch.equal(a, b) for a, b in zip(_params(plain), _params(half)))
    # mu far less likely than pi: the ratio e^5 is capped at 1, and the update is the plain one.
    capped, capped_stats = updated([lp - 5.0 for lp in log_probs])
    assert capped_stats["capped_share"] == 1.0 and capped_stats["importance_ratio"] == pytest.approx(148.41, rel=1e-3)
    assert capped_stats["loss"] == pytest.approx(plain_stats["loss"], rel=1e-3)
    weights = importance_weights(torch.tensor([-1.0, -1.0, -1.0]), [None, -3.0, 0.0])
    assert weights.tolist() == pytest.approx([1.0, 1.0, float(torch.exp(torch.tensor(-1.0)))])


def test_a_pending_row_is_invisible_to_every_reader(tmp_path):
    store = RunStore(tmp_path / "run")
    arch_a, arch_b = _strategy().propose(2)
    store.record_child(ChildRecord.of(0, 0, arch_a, ChildResult(reward=0.3)))
    store.record_child(ChildRecord.pending(0, 1, arch_b, -4.0))
    assert store.counts()["children"] == 1 and len(store.children()) == 1
    assert store.child(0, 1) is None and store.evaluated(arch_b.hash()) is None and store.best().child == 0
    assert [(r.child, r.proposal_log_prob) for r in store.pending()] == [(1, -4.0)]
    store.close()
    assert [c.child for c in read_search(tmp_path / "run").children] == [0]


SLOW_DRIVER = """
import os, sys, time
from nasrl.cli import build_parser
from nasrl.config import FLAT_FIELDS, load_config_file, make_config
from nasrl.search.evaluators.synthetic import SyntheticEvaluator
from nasrl.search.run import prepare_run, run_search

DELAY = float(os.environ.get("CHILD_SECONDS", "0.02"))  # read here, so Ray ships the value with the class

class Slow(SyntheticEvaluator):
    def evaluate(self, arch, episode, child_index, epochs=None):
        time.sleep(DELAY)
        return super().evaluate(arch, episode, child_index, epochs)

# `nasrl search ARGV`, with the synthetic evaluator slowed down and handed to run_search.
args = build_parser().parse_args(sys.argv[1:])
flags = {name: getattr(args, name) for name in FLAT_FIELDS if getattr(args, name) is not None}
flags = {k: None if v == "none" else v for k, v in flags.items()}
cfg = prepare_run(make_config(load_config_file(args.config), flags), None, flags)
run_search(cfg, quiet=True, evaluator=Slow(cfg.search_space(), cfg.evaluator.synthetic_seed))
"""


def _snapshot(run: Path) -> tuple[dict, dict]:
    with sqlite3.connect(run / "results.sqlite", timeout=5) as db:
        got = db.execute("SELECT episode, child, arch_hash, reward, arrival, status FROM children").fetchall()
    finished = {(e, c): (h, r, a) for e, c, h, r, a, s in got if s != "pending"}
    pending = {(e, c): h for e, c, h, _, _, s in got if s == "pending"}
    return finished, pending


def test_kill_9_with_children_in_flight_then_resume_loses_and_duplicates_nothing(tmp_path):
    run = tmp_path / "run"
    argv = [
        "search",
        "--evaluator",
        "synthetic",
        "--space",
        "zoph",
        "--layers",
        "4",
        "--children",
        "4",
        "--in-flight",
        "6",
        "--episodes",
        "15",
        "--seed",
        "3",
        "--rungs",
        "none",
        "--quiet",
    ]
    finished, pending = _kill_9_once_finished(run, argv, 20)
    assert 20 <= len(finished) < 60 and pending, "the kill came too late to find children in flight"
    assert main(["search", "--resume", str(run), "--quiet"]) == 0
    _assert_resumed_without_loss(run, finished, pending, children=60, episodes=15)


def test_kill_9_with_children_in_flight_between_rungs_then_resume_loses_and_duplicates_nothing(tmp_path):
    """Successive halving in flight: children paused between rungs are pending rows with their rung's result; a
    resumed driver replays the scheduler's decisions and finishes every one of them exactly once."""
    run = tmp_path / "run"
    argv = ["search", "--evaluator", "synthetic", "--space", "zoph", "--layers", "4", "--children", "4"]
    argv += ["--in-flight", "6", "--episodes", "12", "--seed", "4", "--rungs", "1,2,3", "--eta", "2", "--quiet"]
    finished, pending = _kill_9_once_finished(run, argv, 16)
    assert 16 <= len(finished) < 48 and pending, "the kill came too late to find children in flight"
    assert main(["search", "--resume", str(run), "--quiet"]) == 0
    _assert_resumed_without_loss(run, finished, pending, children=48, episodes=12)
    with sqlite3.connect(run / "results.sqlite") as db:
        reached = [r for (r,) in db.execute("SELECT rung FROM children WHERE cached=0")]
    assert max(reached) == 2 and reached.count(0) > reached.count(1) > 0  # halving happened, in flight too
    assert not (run / "rungs").exists()


def _kill_9_once_finished(run: Path, argv: list[str], at_least: int) -> tuple[dict, dict]:
    """SLOW_DRIVER with `argv`, killed with SIGKILL once `at_least` children finished while others are in flight;
    the store's finished and pending children then."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_DRIVER, *argv, "--run-dir", str(run)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.05)
        try:
            finished, pending = _snapshot(run)
        except sqlite3.Error:
            continue
        if len(finished) >= at_least and pending:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return _snapshot(run)


def _assert_resumed_without_loss(run: Path, finished: dict, pending: dict, children: int, episodes: int) -> None:
    """Every child stored once and numbered by arrival; those finished before the kill untouched; those in flight
    run under their own keys; every update done."""
    after, still_pending = _snapshot(run)
    assert not still_pending
    assert len(after) == children and sorted(a for _, _, a in after.values()) == list(range(children))
    assert {k: after[k] for k in finished} == finished  # finished children were neither rerun nor renumbered
    assert {k: after[k][0] for k in pending} == pending  # the children in flight ran, each under its own key
    assert [r[0] for r in rows(run, "steps")] == list(range(episodes))


# A local Ray of 2 CPUs (so 2 of 4 children in flight run, 2 wait in Ray's queue), its files under a short folder
# (Ray's socket paths must stay under 108 characters): the RayExecutor starts none when one runs.
RAY_OPTIONS = {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}
RAY_INIT = f"""
import os, ray
ray.init(**{RAY_OPTIONS!r}, _temp_dir=os.environ["RAY_TEMP_DIR"])
"""


def _ray_driver(argv: list[str], env: dict) -> subprocess.Popen:
    """SLOW_DRIVER on its own local Ray, in a session of its own (where what its Ray leaves behind is found)."""
    return subprocess.Popen([sys.executable, "-c", RAY_INIT + SLOW_DRIVER, *argv], env=env, start_new_session=True)


def _session(sid: int) -> list[int]:
    """The live processes of session `sid`: whatever a driver started with `start_new_session` left behind."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, _, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(session) == sid and state != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _end_session(proc: subprocess.Popen) -> None:
    """Kill the driver, then what its Ray left: after a kill -9 the raylet and workers die with the driver (Ray
    ties them to it), but Ray's dashboard and runtime-env agents live on. Only this driver's session is touched,
    never another Ray on the machine (a session id is not reused while a member lives)."""
    deadline = time.time() + 15
    while (alive := _session(proc.pid)) and time.time() < deadline:
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    proc.wait(timeout=5)
    assert not alive, f"processes of the driver's Ray outlived it: {alive}"


def test_kill_9_of_a_ray_driver_with_children_in_flight_then_resume_loses_and_duplicates_nothing(tmp_path):
    ray = pytest.importorskip("ray")
    run, ray_dir = tmp_path / "run", Path(tempfile.mkdtemp(prefix="nasrl-ray-"))
    argv = [
        "search",
        "--executor",
        "ray",
        "--in-flight",
        "4",
        "--children",
        "4",
        "--episodes",
        "6",
        "--seed",
        "3",
        "--evaluator",
        "synthetic",
        "--space",
        "zoph",
        "--layers",
        "4",
        "--rungs",
        "none",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CHILD_SECONDS": "0.2", "RAY_TEMP_DIR": str(ray_dir)}
    try:
        driver = _ray_driver([*argv, "--run-dir", str(run)], env)
        try:
            deadline = time.time() + 120
            while time.time() < deadline and driver.poll() is None:
                time.sleep(0.05)
                os.kill(driver.pid, signal.SIGSTOP)  # the store holds still while we look: killed as seen
                try:
                    finished, pending = _snapshot(run)
                except sqlite3.Error:
                    finished, pending = {}, {}
                if len(finished) >= 8 and len(pending) >= 4:
                    os.kill(driver.pid, signal.SIGKILL)
                    break
                os.kill(driver.pid, signal.SIGCONT)
        finally:
            _end_session(driver)
        finished, pending = _snapshot(run)
        assert 8 <= len(finished) < 24 and len(pending) >= 4, "the kill came too late to find 4 children in flight"
        ray.init(**RAY_OPTIONS, _temp_dir=str(ray_dir))  # the resumed run on a Ray of its own, in this process
        try:
            assert main(["search", "--resume", str(run), "--quiet"]) == 0
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    _assert_resumed_without_loss(run, finished, pending, children=24, episodes=6)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--in-flight", "0"], "Bad value '0' for --in-flight"),
        (
            ["--config", "quick-enas", "--evaluator", "shared", "--in-flight", "4"],
            "--in-flight cannot run with --evaluator shared",
        ),
    ],
)
def test_bad_in_flight_flags_are_one_sentence_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["search", "--evaluator", "synthetic", "--run-dir", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_ray_with_fewer_in_flight_than_children_corrects_stale_children(tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run = search(tmp_path, "ray", executor="ray", in_flight=3, children=4, episodes=5).run_dir
    finally:
        ray.shutdown()
    stored = rows(run)
    assert len(stored) == 20 and len({(e, c) for e, c, *_ in stored}) == 20
    assert RunStore.open_existing(run).pending() == []
    events = [line for line in (run / "events.jsonl").read_text().splitlines() if '"controller_step"' in line]
    assert len(events) == 5 and any('"stale_share"' in line for line in events)
