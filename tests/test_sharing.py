"""Weight sharing (ENAS): the shared network against stand-alone children, the schedule, the search's exact resume
after kill -9, deriving, and the errors a user can make."""

import json
import math
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

from nasrl.cli import main
from nasrl.config import StrategyConfig
from nasrl.nets import builder
from nasrl.nets.macro import FactorizedReduction, MacroNetwork
from nasrl.nets.shared import SharedNetwork
from nasrl.search.controller import Controller
from nasrl.search.sharing import sgdr_lr
from nasrl.search.strategies import make_strategy
from nasrl.space import OPERATIONS, SearchSpace, Token, preset

TINY = SearchSpace("tiny", 5, (Token("op", OPERATIONS),), True, 8, (1, 3))

SPACE_YAML = """\
layers: 4
tokens: {op: [conv3x3, sep3x3, conv5x5, maxpool3x3, avgpool3x3]}
channels: 8
reductions: [2]
"""


def _trained_shared_network(steps: int = 4) -> tuple[SharedNetwork, list]:
    """A shared network after a few SGD steps through different paths: weights and BN statistics are no longer
    their initial values, so a wrong copy would show."""
    torch.manual_seed(0)
    net = SharedNetwork(TINY, 10, 3)
    archs = make_strategy("random", TINY, 1).propose(6)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for arch in archs[:steps]:
        loss = F.cross_entropy(net(torch.randn(8, 3, 12, 12), arch), torch.randint(0, 10, (8,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net, archs


@pytest.mark.parametrize("training", [True, False])
def test_shared_path_equals_the_standalone_child_with_its_weights_copied_in(training):
    net, archs = _trained_shared_network()
    x = torch.randn(5, 3, 12, 12)
    for arch in archs:
        child = builder.build(arch, num_classes=10, form="shared")
        child.load_state_dict(net.child_state_dict(arch))
        net.train(training)
        child.train(training)
        assert torch.equal(net(x, arch), child(x))
    # the stand-alone child really is a different module holding only its path's weights
    assert sum(p.numel() for p in child.parameters()) < sum(p.numel() for p in net.parameters())


#: ENAS's conv3x3 beside the grouped and squeeze-and-excitation operations, at settings other than the defaults.
NEW_OPS = SearchSpace(
    "new-ops",
    4,
    (Token("op", ("conv3x3", "gconv3x3", "gconv5x5", "se3x3")),),
    True,
    8,
    (1,),
    (("groups", 2), ("se_reduction", 2)),
)


def test_shared_path_of_grouped_and_se_operations_equals_the_standalone_child():
    torch.manual_seed(0)
    net = SharedNetwork(NEW_OPS, 10, 3)
    inputs = [[], [0], [1], [0, 2]]
    archs = [NEW_OPS.architecture([{"op": op}] * 4, inputs) for op in ("gconv3x3", "se3x3")]
    archs.append(NEW_OPS.architecture([{"op": op} for op in ("se3x3", "gconv3x3", "conv3x3", "gconv5x5")], inputs))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for arch in archs:  # every new operation's weights and BN statistics move away from their initial values
        loss = F.cross_entropy(net(torch.randn(8, 3, 8, 8), arch), torch.randint(0, 10, (8,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x = torch.randn(4, 3, 8, 8)
    for arch in archs:
        child = builder.build(arch, num_classes=10, form="shared")
        child.load_state_dict(net.child_state_dict(arch))
        for training in (True, False):
            net.train(training)
            child.train(training)
            assert torch.equal(net(x, arch), child(x)), (arch.layers[0].op, training)
    assert dict(archs[-1].op_settings) == {"groups": 2, "se_reduction": 2}
    assert child.ops[1][1].groups == 2 and child.ops[0][4].reduce.out_features == 4  # 8 channels // 2


def test_only_the_sampled_path_gets_gradients():
    net, archs = _trained_shared_network(steps=0)
    arch = archs[0]
    F.cross_entropy(net(torch.randn(4, 3, 12, 12), arch), torch.tensor([1, 2, 3, 4])).backward()
    for i, layer in enumerate(arch.layers):
        for name, op in net.ops[i].items():
            has_grad = all(p.grad is not None for p in op.parameters())
            assert has_grad == (name == layer.op), (i, name)


def test_final_form_concatenates_skips_and_doubles_widths_at_reductions():
    arch = TINY.architecture([{"op": "conv3x3"}] * 5, [[], [0], [0, 1], [], [1, 2, 3]])
    model = MacroNetwork(arch, 10, 3, form="final")
    assert model.widths == [8, 8, 16, 16, 32]
    # layer 5 reads its operation's output and 3 skips, all 32 wide after two reductions
    assert model.skips[4].conv.in_channels == 4 * 32 and model.skips[4].conv.out_channels == 32
    assert model.skips[1].conv.in_channels == 2 * 8
    assert model.classifier.in_features == 32
    assert model(torch.randn(2, 3, 12, 12)).shape == (2, 10)
    shared_form = MacroNetwork(arch, 10, 3, form="shared")
    assert shared_form.widths == [8] * 5 and isinstance(shared_form.skips[4], torch.nn.BatchNorm2d)


@pytest.mark.parametrize("size", [8, 7, 1])
def test_factorized_reduction_halves_the_map_and_uses_both_pixel_grids(size):
    reduce = FactorizedReduction(4, 6).eval()
    x = torch.randn(1, 4, size, size)
    out = reduce(x)
    assert out.shape == (1, 6, math.ceil(size / 2), math.ceil(size / 2))
    if size > 1:  # the second path reads the odd pixels: changing one moves only its half of the channels
        y = x.clone()
        y[..., 1, 1] += 10
        moved = (reduce(y) - out).abs().sum(dim=(0, 2, 3))
        assert (moved[:3] == 0).all() and (moved[3:] > 0).all()


def test_sgdr_learning_rate_restarts_after_10_30_and_70_epochs():
    lr = [sgdr_lr(e, 0.05, 0.0005, 10, 2) for e in range(75)]
    assert lr[0] == lr[10] == lr[30] == lr[70] == pytest.approx(0.05)
    assert lr[5] == pytest.approx(0.0005 + 0.5 * (0.05 - 0.0005) * (1 + math.cos(math.pi * 5 / 10)))
    assert lr[29] == pytest.approx(0.0005 + 0.5 * (0.05 - 0.0005) * (1 + math.cos(math.pi * 19 / 20)))
    assert all(a > b for a, b in zip(lr[10:29], lr[11:30]))


def test_skip_penalty_is_the_bernoulli_kl_averaged_over_layers():
    space = SearchSpace("kl", 3, (Token("op", ("conv3x3", "sep3x3")),), True, 8, ())
    controller = Controller(space, StrategyConfig(skip_target=0.4), init_generator=torch.Generator().manual_seed(0))
    ops = [{"op": "conv3x3"}] * 3
    arch = space.architecture(ops, [[], [0], [0, 1]])

    def p_on(arch_on, arch_off) -> float:
        """P(bit on) from two architectures that differ in that bit alone, when no later decision follows it."""
        with torch.no_grad():
            ratio = math.exp(float(controller.log_prob([arch_on])[0] - controller.log_prob([arch_off])[0]))
        return ratio / (1 + ratio)

    # layer 2's bit: score 2-layer architectures (nothing follows the bit); layer 3's bits: flip each in turn
    two = space.with_layers(2)
    layer2 = [p_on(two.architecture(ops[:2], [[], [0]]), two.architecture(ops[:2], [[], []]))]
    layer3 = [p_on(arch, space.architecture(ops, [[], [0], [1]])), p_on(arch, space.architecture(ops, [[], [0], [0]]))]

    def kl(p: float) -> float:
        return p * math.log(p / 0.4) + (1 - p) * math.log((1 - p) / 0.6)

    expected = (sum(map(kl, layer2)) + sum(map(kl, layer3))) / 2  # averaged over the 2 layers that have skips
    assert float(controller.skip_kl([arch])[0].detach()) == pytest.approx(expected, rel=1e-4)


# ----- the search ------------------------------------------------------------------------------------------------
def _search_args(space_file: Path, run_dir: Path, strategy: str = "reinforce", epochs: int = 3) -> list[str]:
    return [
        "search",
        "--config",
        "quick-enas",
        "--space",
        str(space_file),
        "--data",
        "synthetic",
        "--resolution",
        "8",
        "--train-subset",
        "96",
        "--val-subset",
        "48",
        "--shared-batch-size",
        "16",
        "--shared-epochs",
        str(epochs),
        "--controller-steps",
        "3",
        "--children",
        "4",
        "--derive-samples",
        "4",
        "--strategy",
        strategy,
        "--run-dir",
        str(run_dir),
        "--quiet",
    ]


def _rows(run_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return db.execute(sql).fetchall()


CHILDREN = "SELECT episode, child, arch_hash, reward FROM children ORDER BY episode, child"
EPOCHS = "SELECT epoch, train_loss, train_acc, lr, mean_reward, entropy FROM shared_epochs ORDER BY epoch"
STEPS = "SELECT episode, loss, baseline, mean_reward, entropy FROM controller_steps ORDER BY episode"


@pytest.fixture(scope="module")
def space_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("space") / "tiny.yaml"
    path.write_text(SPACE_YAML)
    return path


@pytest.fixture(scope="module")
def full_run(space_file, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("full") / "run"
    assert main(_search_args(space_file, run_dir)) == 0
    return run_dir


def test_shared_search_stores_epochs_children_steps_and_derives(full_run):
    assert len(_rows(full_run, EPOCHS)) == 3
    assert len(_rows(full_run, CHILDREN)) == 3 * 3 * 4
    assert len(_rows(full_run, STEPS)) == 3 * 3
    derived = json.loads((full_run / "derived.json").read_text())
    accs = [d["val_acc"] for d in derived]
    assert accs == sorted(accs, reverse=True) and [d["rank"] for d in derived] == list(range(1, len(derived) + 1))
    best = json.loads((full_run / "best_architecture.json").read_text())
    assert best["architecture"] == derived[0]["architecture"] and best["reward"] == accs[0]


def test_derive_is_repeatable_and_leaves_the_checkpoint_alone(full_run, capsys):
    before = (full_run / "checkpoints" / "latest.pt").read_bytes()
    first = (full_run / "derived.json").read_text()
    assert main(["derive", str(full_run), "--quiet"]) == 0
    assert (full_run / "derived.json").read_text() == first
    assert (full_run / "checkpoints" / "latest.pt").read_bytes() == before
    assert "best shared-weight validation accuracy" in capsys.readouterr().out


def test_derived_architecture_retrains_and_shows(full_run, capsys):
    assert main(["show", str(full_run / "best_architecture.json")]) == 0
    assert "operation" in capsys.readouterr().out


@pytest.mark.parametrize("strategy", ["random", "es"])
def test_other_strategies_share_weights_too(space_file, tmp_path, strategy):
    assert main(_search_args(space_file, tmp_path / strategy, strategy=strategy, epochs=1)) == 0
    assert len(_rows(tmp_path / strategy, CHILDREN)) == 3 * 4


def test_tensorboard_shows_the_shared_weights_and_the_controller_per_epoch(space_file, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main([*_search_args(space_file, tmp_path / "tb", epochs=2), "--tensorboard"]) == 0
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    accs = events.Scalars("shared/train_acc")
    assert [e.step for e in accs] == [1, 2]
    assert [e.value for e in accs] == pytest.approx([row[2] for row in _rows(tmp_path / "tb", EPOCHS)])
    assert {"shared/train_loss", "shared/lr", "controller/mean_reward", "controller/entropy"} <= set(
        events.Tags()["scalars"]
    )


def _count(run_dir: Path) -> int:
    try:
        return len(_rows(run_dir, CHILDREN))
    except sqlite3.Error:
        return 0


def test_kill_9_mid_epoch_and_resume_equals_the_uninterrupted_run(full_run, space_file, tmp_path):
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "nasrl.cli", *_search_args(space_file, part)])
    deadline = time.time() + 240
    while time.time() < deadline and _count(part) < 12 + 4:  # epoch 1 done, epoch 2's controller steps begun
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 12 + 4 <= _count(part) < 36, "the kill came too late to test resume"
    assert main(["search", "--resume", str(part), "--quiet"]) == 0
    assert _rows(part, CHILDREN) == _rows(full_run, CHILDREN)
    assert _rows(part, EPOCHS) == _rows(full_run, EPOCHS)
    assert _rows(part, STEPS) == _rows(full_run, STEPS)
    assert (part / "derived.json").read_text() == (full_run / "derived.json").read_text()


# ----- errors a user can make ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("layers: 4\ntokens: {op: [conv3x3, conv9x9]}\n", "unknown operation 'conv9x9'"),
        ("layers: 4\ntokens: {op: []}\n", "token 'op' needs a non-empty list of choices"),
        ("layers: 4\ntokens: {op: [conv3x3]}\nreductions: [2, 5]\n", "a reduction after layer 5 is beyond the last"),
        ("layers: 4\ntokens: {op: [conv3x3], filters: [8]}\n", "one 'op' token only"),
        ("layers: 4\ntokens: {kernal: [3]}\n", "unknown token 'kernal'"),
        ("layers: 0\ntokens: {op: [conv3x3]}\n", "'layers' must be a positive whole number"),
        ("layers: 4\ntokens: {op: [conv3x3]}\nchannels: 9\n", "'channels' must be even"),
        ("tokens: [op]\n", "'layers' must be a positive whole number"),
        ("layers: 4\ntokens: {op: [conv3x3, gconv3x3]}\nchannels: 6\n", "'groups' 4 does not divide 6"),
        ("layers: 4\ntokens: {op: [se3x3]}\nchannels: 8\nse_reduction: 16\n", "'se_reduction' 16 is larger than 8"),
        ("layers: 4\ntokens: {op: [gconv5x5]}\ngroups: 0\n", "'groups' must be a positive whole number"),
        ("layers: 4\ntokens: {op: [conv3x3]}\ngroups: 2\n", "'groups' sets gconv3x3 or gconv5x5, which the 'op'"),
        ("layers: 4\ntokens: {kernel: [3]}\nse_reduction: 2\n", "'se_reduction' needs an 'op' token"),
    ],
)
def test_bad_space_files_are_one_sentence_and_exit_2(text, message, tmp_path, capsys):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    assert main(["search", "--space", str(path), "--evaluator", "synthetic", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0 and err.endswith(".")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--evaluator", "shared", "--space", "zoph"], "needs a space with a shared network"),
        (["--config", "quick-enas", "--strategy", "evolution"], "use a2c, es, ppo, random or reinforce"),
        (["--evaluator", "shared", "--space", "enas-macro", "--rungs", "1,3"], "--rungs trains children one by one"),
        (["--config", "quick-enas", "--channels", "7"], "--channels must be even"),
        (["--config", "quick-enas", "--skip-weight", "-0.5"], "--skip-weight"),
    ],
)
def test_shared_search_misuse_is_one_sentence_and_exit_2(args, message, tmp_path, capsys):
    assert main(["search", *args, "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


def test_channels_flag_that_groups_do_not_divide_is_one_sentence_and_exit_2(tmp_path, capsys):
    path = tmp_path / "grouped.yaml"
    path.write_text("layers: 4\ntokens: {op: [conv3x3, gconv3x3]}\nchannels: 8\ngroups: 4\n")
    flags = ["--space", str(path), "--channels", "6", "--evaluator", "synthetic", "--run-dir", str(tmp_path / "r")]
    assert main(["search", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "With --channels 6, 'groups' 4 does not divide 6" in err and err.count("\n") == 0
    assert not (tmp_path / "r").exists()


def test_derive_refuses_a_run_without_shared_weights(tmp_path, capsys):
    run = tmp_path / "syn"
    assert (
        main(
            [
                "search",
                "--evaluator",
                "synthetic",
                "--episodes",
                "1",
                "--rungs",
                "none",
                "--quiet",
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    assert main(["derive", str(run)]) == 2
    assert "only weight-sharing runs derive" in capsys.readouterr().err


def test_enas_preset_is_the_papers_macro_search():
    from nasrl.config import load_config_file, make_config

    cfg = make_config(load_config_file("enas"))
    space = cfg.search_space()
    assert (space.num_layers, space.channels, space.reductions) == (12, 36, (3, 7))
    assert space.token("op").choices == ("conv3x3", "sep3x3", "conv5x5", "sep5x5", "avgpool3x3", "maxpool3x3")
    assert (
        cfg.evaluator.shared_epochs,
        cfg.evaluator.controller_steps,
        cfg.run.children,
        cfg.evaluator.shared_batch_size,
    ) == (310, 50, 20, 128)
    settings = cfg.strategy_settings()
    assert (settings.hidden_size, settings.num_lstm_layers, settings.lr, settings.tanh_constant) == (64, 1, 1e-3, 1.5)
    assert (settings.skip_target, settings.skip_weight, settings.adam_beta1, settings.adam_eps) == (0.4, 0.8, 0, 1e-3)
    assert preset("enas-macro", 24).reductions == (7, 15)


def test_a_derived_architecture_loads_at_its_own_width_and_a_wider_one(tmp_path):
    from nasrl.space.files import load_architecture

    arch = make_strategy("random", preset("enas-macro"), 0).propose(1)[0].to_dict()
    for channels in (16, 96):
        path = tmp_path / f"arch{channels}.json"
        path.write_text(json.dumps({**arch, "channels": channels}))
        assert load_architecture(str(path)).channels == channels
    path = tmp_path / "zero.json"
    path.write_text(json.dumps({**arch, "channels": 0}))
    assert main(["show", str(path)]) == 2


def test_derived_architecture_retrains_with_dropout_and_zoph_refuses_it(full_run, tmp_path):
    smoke = [
        "--data",
        "synthetic",
        "--resolution",
        "8",
        "--train-subset",
        "64",
        "--max-steps",
        "2",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--quiet",
    ]
    run = tmp_path / "retrain"
    assert main(["train", "--arch", str(full_run), "--dropout", "0.5", *smoke, "--run-dir", str(run)]) == 0
    saved = json.loads((run / "run.json").read_text())
    assert saved["train"]["dropout"] == 0.5 and saved["architecture"]["channels"] == 8
    assert main(["train", "--arch", "seed-baseline", "--dropout", "0.5", *smoke, "--run-dir", str(tmp_path / "z")]) == 2


@pytest.mark.parametrize("seed", range(5))
def test_rank_correlations_equal_scipys_with_ties(seed):
    from scipy import stats

    from nasrl.search.rank_check import kendall_tau, spearman_rho

    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 6, (12,), generator=g).tolist()  # few values: many ties
    b = (torch.tensor(a) + torch.randint(0, 4, (12,), generator=g)).tolist()
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)
    assert spearman_rho(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert kendall_tau(a, a) == pytest.approx(1.0) and kendall_tau(a, [-x for x in a]) == pytest.approx(-1.0)


def test_rank_check_trains_k_architectures_spread_over_the_ranking(full_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    assert main(["derive", str(run), "--rank-check", "3", "--rank-epochs", "1", "--quiet"]) == 0
    check = json.loads((run / "rank_check.json").read_text())
    shared_accs = [e["shared_acc"] for e in check["architectures"]]
    assert len(shared_accs) == 3 and shared_accs == sorted(shared_accs, reverse=True) and check["epochs"] == 1
    assert len({e["hash"] for e in check["architectures"]}) == 3
    assert all(0 <= e["standalone_acc"] <= 1 and e["params"] > 0 for e in check["architectures"])
    assert -1 <= check["spearman_rho"] <= 1 or math.isnan(check["spearman_rho"])
    assert main(["derive", str(run), "--rank-check", "1"]) == 2
    assert "--rank-check must be at least 2" in capsys.readouterr().err


def test_report_shows_the_rank_check(full_run, tmp_path):
    import shutil

    from nasrl.report.html import write_report

    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    assert "--rank-check 20" in write_report(run).read_text()
    check = {
        "kendall_tau": 0.25,
        "spearman_rho": 0.4,
        "epochs": 1,
        "architectures": [{"hash": "abc", "shared_acc": 0.5, "standalone_acc": 0.25, "params": 1234}],
    }
    (run / "rank_check.json").write_text(json.dumps(check))
    page = write_report(run).read_text()
    assert "Kendall tau <b>0.250</b>" in page and "Spearman rho <b>0.400</b>" in page and "1,234" in page
