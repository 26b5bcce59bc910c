"""Successive halving: rungs of child epochs, the best 1/eta continue from their weights, exact resume."""

import json
import sqlite3

import pytest

from nasrl.cli import main
from nasrl.config import make_config
from nasrl.search.evaluators.train import TrainEvaluator
from nasrl.search.run import prepare_run, run_search
from nasrl.train import loop as train_loop

TINY_TRAIN = {
    "evaluator": "train",
    "data": "synthetic",
    "space": "zoph",
    "layers": 2,
    "children": 4,
    "episodes": 2,
    "rungs": "1,2,3",
    "eta": 2,
    "child_batch_size": 50,
    "train_subset": 100,
    "val_subset": 50,
    "child_lr": 0.05,
    "device": "cpu",
}


def search(tmp_path, name, **fields):
    cfg = make_config({**TINY_TRAIN, "data_dir": str(tmp_path / "data"), **fields, "run_dir": str(tmp_path / name)})
    return run_search(prepare_run(cfg, None, {}), quiet=True)


def rows(run_dir) -> list[tuple]:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return db.execute(
            "SELECT episode, child, arch_hash, reward, status, cached, rung, history_json FROM children "
            "ORDER BY episode, child"
        ).fetchall()


def test_the_best_half_climbs_each_rung_continuing_from_its_weights(tmp_path, monkeypatch):
    epochs_trained = {"n": 0}
    original_epoch = train_loop._epoch

    def counting_epoch(*args, **kwargs):
        epochs_trained["n"] += 1
        return original_epoch(*args, **kwargs)

    monkeypatch.setattr(train_loop, "_epoch", counting_epoch)
    summary = search(tmp_path, "run", episodes=1)
    stored = rows(summary.run_dir)
    # 4 children reach rung 0, the best 2 (4 // eta) rung 1, the best 1 rung 2.
    assert sorted(r[6] for r in stored) == [0, 0, 1, 2]
    # Continuing: 4 + 2 + 1 epochs in all (from scratch it would be 4 x 1 + 2 x 2 + 1 x 3 = 11).
    assert epochs_trained["n"] == 7
    for _, _, _, reward, status, _, rung, history_json in stored:
        history = json.loads(history_json)
        assert status == "ok" and len(history) == [1, 2, 3][rung]
        assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
        assert reward == max(h["val_acc"] for h in history)  # the accuracy at the last rung reached
    # The children promoted from rung 0 were the best at rung 0 (ties go to the lower index).
    first_epoch = {r[1]: json.loads(r[7])[0]["val_acc"] for r in stored}
    promoted = sorted(r[1] for r in stored if r[6] >= 1)
    ranked = sorted(first_epoch, key=lambda i: (-first_epoch[i], i))
    assert promoted == sorted(ranked[:2])
    assert not list((summary.run_dir / "rungs").glob("*.pt"))  # paused weights go once the episode is stored


def test_a_search_killed_in_the_middle_of_a_rung_resumes_to_the_same_children(tmp_path, monkeypatch):
    full = search(tmp_path, "full")
    calls = {"n": 0}
    original = TrainEvaluator.evaluate

    def interrupt_in_rung_two(self, arch, episode, child, epochs=None):
        calls["n"] += 1
        if episode == 1 and epochs == 2:  # episode 2, the first child of its second rung
            raise KeyboardInterrupt
        return original(self, arch, episode, child, epochs)

    monkeypatch.setattr(TrainEvaluator, "evaluate", interrupt_in_rung_two)
    part = search(tmp_path, "part")
    assert part.status == "interrupted"
    assert len(rows(part.run_dir)) == 8  # both episodes' children are stored at rung 0: nothing was lost
    monkeypatch.setattr(TrainEvaluator, "evaluate", original)
    resumed = run_search(prepare_run(make_config({}), part.run_dir, {}), resume=True, quiet=True)
    assert resumed.status == "finished"
    strip = lambda rs: [r[:7] + (len(json.loads(r[7])),) for r in rs]  # noqa: E731 (timings in history differ)
    assert strip(rows(resumed.run_dir)) == strip(rows(full.run_dir))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rungs", "3,1"], "Bad value '3,1' for --rungs: each rung must train longer than the one before"),
        (["--rungs", "1,x"], "Bad value '1,x' for --rungs"),
        (["--eta", "1"], "Bad value '1' for --eta"),
    ],
)
def test_bad_rungs_and_eta_are_one_sentence_and_exit_2(flags, message, tmp_path, capsys):
    assert main(["search", "--evaluator", "synthetic", "--run-dir", str(tmp_path / "r"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_in_flight_equal_to_children_on_the_local_executor_halves_as_the_synchronous_run(tmp_path):
    sync = search(tmp_path, "sync")
    in_flight = search(tmp_path, "in_flight", in_flight=4)
    strip = lambda rs: [r[:7] + (len(json.loads(r[7])),) for r in rs]  # noqa: E731 (timings in history differ)
    assert strip(rows(in_flight.run_dir)) == strip(rows(sync.run_dir))
    assert sorted(r[6] for r in rows(sync.run_dir) if r[0] == 0) == [0, 0, 1, 2]
    with (
        sqlite3.connect(sync.run_dir / "results.sqlite") as a,
        sqlite3.connect(in_flight.run_dir / "results.sqlite") as b,
    ):
        steps = "SELECT episode, loss, baseline, mean_reward, entropy FROM controller_steps ORDER BY episode"
        assert a.execute(steps).fetchall() == b.execute(steps).fetchall()
    for run in (sync.run_dir, in_flight.run_dir):  # paused weights go, and so does their folder
        assert not (run / "rungs").exists()
