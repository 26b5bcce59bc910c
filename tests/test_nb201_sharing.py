"""Weight sharing over NAS-Bench-201's cells: the shared network against the stand-alone cell, scoring with batch
statistics, the table check of derive (by hand on a small case, and as a search writes it), and exact resume
after kill -9."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nasrl.benchmarks.table import BenchmarkTable, Entry, load_table
from nasrl.cli import main
from nasrl.nets import builder
from nasrl.search.rank_check import kendall_tau
from nasrl.search.sharing import Derived, batch_statistics
from nasrl.search.strategies import make_strategy
from nasrl.search.table_check import table_check
from nasrl.space import preset
from nasrl.space.families.nb201 import cell_string, parse_cell

NB201 = preset("nb201")


def _trained_shared_network() -> tuple[torch.nn.Module, list]:
    """A shared network after SGD steps through different cells, so weights and BN statistics are no longer their
    initial values and a wrong copy would show."""
    torch.manual_seed(0)
    net = builder.build_shared(NB201, 10, 3)
    archs = make_strategy("random", NB201, 1).propose(6)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for arch in archs[:4]:
        loss = F.cross_entropy(net(torch.randn(8, 3, 8, 8), arch), torch.randint(0, 10, (8,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net, archs


@pytest.mark.parametrize("training", [True, False])
def test_shared_cell_path_equals_the_standalone_cell_with_its_weights_copied_in(training):
    net, archs = _trained_shared_network()
    x = torch.randn(5, 3, 8, 8)
    for arch in archs:
        child = builder.build(arch, num_classes=10)
        child.load_state_dict(net.child_state_dict(arch))  # strict: every key of the stand-alone cell, no other
        net.train(training)
        child.train(training)
        assert torch.equal(net(x, arch), child(x)), cell_string(arch)


def test_only_the_sampled_cells_operations_get_gradients():
    net = builder.build_shared(NB201, 10, 3)
    arch = parse_cell("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    F.cross_entropy(net(torch.randn(4, 3, 8, 8), arch), torch.randint(0, 10, (4,))).backward()
    cell = net.cells[0]
    assert cell.edges["1<-0"][cell.op_names.index("nor_conv_3x3")].op[1].weight.grad is not None
    assert cell.edges["1<-0"][cell.op_names.index("nor_conv_1x1")].op[1].weight.grad is None
    assert cell.edges["2<-1"][cell.op_names.index("nor_conv_3x3")].op[1].weight.grad is None


def test_batch_statistics_score_as_training_mode_and_leave_the_moving_averages_alone():
    net, archs = _trained_shared_network()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(6, 3, 8, 8)
    net.eval()
    with torch.no_grad():
        with batch_statistics(net, True):
            scored = net(x, archs[0])
        moving = net(x, archs[0])
        net.train()
        batch = net(x, archs[0])  # training mode normalises by the batch too (and updates the averages)
    assert torch.allclose(scored, batch, atol=1e-5)
    assert not torch.allclose(scored, moving, atol=1e-3)
    net.load_state_dict(before)  # undo training mode's update; batch_statistics itself changed nothing:
    with torch.no_grad(), batch_statistics(net, True):
        net.eval()
        net(x, archs[0])
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]


def test_table_check_correlates_shared_and_table_accuracies_as_by_hand():
    # shared 0.4 > 0.3 > 0.2 > 0.1; the table's 200-epoch order is 94 > 93 > 92 > 90 for cells 0, 2, 1, 3: of the
    # 6 pairs only (1, 2) is discordant, so tau = (5 - 1) / 6; rho = 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8.
    table = BenchmarkTable(
        "nb201",
        "cifar10",
        {c: Entry(reward_acc=r, test_acc=t) for c, r, t in zip(CELLS, (80, 70, 75, 10), (94, 92, 93, 90))},
        "hand",
    )
    policy = [Derived(parse_cell(CELLS[0]), 0.4), Derived(parse_cell(CELLS[1]), 0.3)]
    randoms = [Derived(parse_cell(c), a) for c, a in zip(CELLS[1:], (0.35, 0.2, 0.1))]  # CELLS[1] seen: kept once
    check = table_check(policy, randoms, table).as_dict()
    assert [e["cell"] for e in check["architectures"]] == CELLS
    assert [e["source"] for e in check["architectures"]] == ["policy", "policy", "random", "random"]
    assert check["kendall_tau"] == pytest.approx(4 / 6)
    assert check["spearman_rho"] == pytest.approx(0.8)
    assert check["kendall_tau_valid_12ep"] == pytest.approx(4 / 6)  # 80 > 75 > 70 > 10: the same order
    assert check["derived"] == {"cell": CELLS[0], "shared_acc": 0.4, "valid_12ep": 80, "test_200ep": 94}
    assert check["optimum"] == 94 and check["median"] == 92.5


# ----- the search --------------------------------------------------------------------------------------------------
def _search_args(run_dir: Path, strategy: str = "reinforce") -> list[str]:
    return [
        "search",
        "--config",
        "quick-enas",
        "--space",
        "nb201",
        "--data",
        "synthetic",
        "--resolution",
        "8",
        "--train-subset",
        "96",
        "--val-subset",
        "32",
        "--shared-batch-size",
        "16",
        "--shared-epochs",
        "3",
        "--controller-steps",
        "3",
        "--children",
        "4",
        "--derive-samples",
        "4",
        "--table-check-cells",
        "24",
        "--strategy",
        strategy,
        "--run-dir",
        str(run_dir),
        "--quiet",
    ]


CHILDREN = "SELECT episode, child, arch_hash, reward FROM children ORDER BY episode, child"


def _rows(run_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return db.execute(sql).fetchall()


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("nb201") / "run"
    assert main(_search_args(run_dir)) == 0
    return run_dir


def test_a_shared_nb201_search_writes_the_table_check_and_the_derived_cells_table_accuracy(nb201_run):
    check = json.loads((nb201_run / "rank_check.json").read_text())["table"]
    entries = check["architectures"]
    assert len(entries) >= 24 and len({e["cell"] for e in entries}) == len(entries)
    table = load_table("nb201", "cifar10")
    for e in entries:
        assert (e["valid_12ep"], e["test_200ep"]) == (
            table.entries[e["cell"]].reward_acc,
            table.entries[e["cell"]].test_acc,
        )
    shared, test = [e["shared_acc"] for e in entries], [e["test_200ep"] for e in entries]
    assert check["kendall_tau"] == pytest.approx(kendall_tau(shared, test))
    derived = json.loads((nb201_run / "derived.json").read_text())[0]
    best = json.loads((nb201_run / "best_architecture.json").read_text())
    assert best["table"]["cell"] == check["derived"]["cell"] == cell_string(parse_cell(best["table"]["cell"]))
    assert (
        best["hash"] == derived["hash"] and best["table"]["test_200ep"] == table.entries[best["table"]["cell"]].test_acc
    )
    events = [json.loads(line) for line in (nb201_run / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e.get("event") == "table_check"][0]["kendall_tau"] == check["kendall_tau"]


def test_derive_rewrites_the_same_table_check_and_the_report_shows_it(nb201_run, tmp_path):
    import shutil

    from nasrl.report.html import write_report

    run = tmp_path / "run"
    shutil.copytree(nb201_run, run)
    before = (run / "rank_check.json").read_text()
    assert main(["derive", str(run), "--quiet"]) == 0
    assert (run / "rank_check.json").read_text() == before
    page = write_report(run).read_text()
    tau = json.loads(before)["table"]["kendall_tau"]
    assert "Against NAS-Bench-201" in page and f"Kendall tau <b>{tau:.3f}</b>" in page
    assert "--rank-check 20" not in page  # the table check is a rank check already


def test_random_sampling_with_shared_weights_searches_nb201(tmp_path):
    run_dir = tmp_path / "rsps"
    args = _search_args(run_dir, strategy="random")
    args[args.index("--shared-epochs") + 1] = "1"
    assert main(args) == 0
    assert len(_rows(run_dir, CHILDREN)) == 3 * 4
    assert "table" in json.loads((run_dir / "best_architecture.json").read_text())


def _count(run_dir: Path) -> int:
    try:
        return len(_rows(run_dir, CHILDREN))
    except sqlite3.Error:
        return 0


def test_kill_9_mid_epoch_of_an_nb201_search_and_resume_equals_the_uninterrupted_run(nb201_run, tmp_path):
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "nasrl.cli", *_search_args(part)])
    deadline = time.time() + 240
    while time.time() < deadline and _count(part) < 12 + 4:  # epoch 1 done, epoch 2's controller steps begun
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 12 + 4 <= _count(part) < 36, "the kill came too late to test resume"
    assert main(["search", "--resume", str(part), "--quiet"]) == 0
    assert _rows(part, CHILDREN) == _rows(nb201_run, CHILDREN)
    assert (part / "derived.json").read_text() == (nb201_run / "derived.json").read_text()
    assert (part / "rank_check.json").read_text() == (nb201_run / "rank_check.json").read_text()


def test_a_shared_search_under_a_limit_never_scores_or_derives_a_cell_over_it(tmp_path):
    """Weight sharing under --max-params: a sampled cell over the limit gets the penalty without a forward pass,
    and the derived cell is the best within the limit."""
    run = tmp_path / "limited"
    assert (
        main([*_search_args(run, "random"), "--max-params", "6e5", "--derive-samples", "16", "--shared-epochs", "1"])
        == 0
    )
    stored = _rows(run, "SELECT status, params, reward, val_acc FROM children")
    over = [r for r in stored if r[0] == "over_limit"]
    assert over and all(p > 6e5 and reward == 0.0 and acc is None for _, p, reward, acc in over)
    assert all(p <= 6e5 for s, p, _, _ in stored if s == "ok")
    best = json.loads((run / "best_architecture.json").read_text())
    derived = json.loads((run / "derived.json").read_text())
    assert best["params"] <= 6e5 and best["hash"] == derived[0]["hash"]
    assert [d["reward"] for d in derived] == sorted((d["reward"] for d in derived), reverse=True)
