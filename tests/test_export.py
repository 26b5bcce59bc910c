import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import architectures

from nasrl.cli import main
from nasrl.errors import UserError
from nasrl.nets import builder, export
from nasrl.search.strategies import make_strategy
from nasrl.space import OPERATIONS, Architecture, SearchSpace, Token, zoo

# A strided layer and an unstrided one both read the image, so C3 concatenates maps of different sizes
# (zero padding); C3's stride 1x3 and the pooled DNA below shrink maps unevenly on the two axes.
_UNEVEN = Architecture.from_layers(
    "zoph-stride",
    [
        {"filter_height": 3, "filter_width": 5, "filters": 24, "stride_height": 2, "stride_width": 1},
        {"filter_height": 7, "filter_width": 1, "filters": 36, "stride_height": 1, "stride_width": 1},
        {"filter_height": 1, "filter_width": 3, "filters": 24, "stride_height": 1, "stride_width": 3},
        {"filter_height": 3, "filter_width": 3, "filters": 24, "stride_height": 3, "stride_width": 2},
    ],
    [[], [], [0, 1], [1]],
)
_POOLED = Architecture.from_dna([[7, 32, 2, 3], [3, 64, 1, 2], [5, 32, 2, 1], [1, 32, 1, 3]])


def _trained_like(arch: Architecture, seed: int = 0) -> builder.ChildNetwork:
    """A builder network whose BatchNorm statistics and affine weights are not the identity, as after training."""
    torch.manual_seed(seed)
    model = builder.build(arch)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_mean") or name.endswith("bn.bias"):
                tensor.copy_(torch.randn_like(tensor) * 0.2)
            elif name.endswith("running_var") or name.endswith("bn.weight"):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return model.eval()


def _exported(arch: Architecture, tmp_path, name: str = "Net") -> torch.nn.Module:
    path = tmp_path / f"{name.lower()}_{arch.hash()}.py"
    path.write_text(export.generate_code(arch, name))
    return export.load_code(path, name)().eval()


@torch.no_grad()
def _assert_same(reference, other, shape=(2, 3, 32, 32), atol=1e-5) -> None:
    x = torch.randn(*shape)
    expected = reference(x)
    torch.testing.assert_close(other(x), expected, atol=atol, rtol=0)


def test_exported_nascnn15_equals_the_builder_on_the_same_weights(tmp_path):
    reference = _trained_like(zoo.NASCNN15)
    model = _exported(zoo.NASCNN15, tmp_path, "NASCNN15")
    model.load_state_dict(reference.state_dict())  # nasrl's key names load directly
    # NASCNN15 has no strides or pooling, so a 16x16 input exercises every layer at a quarter of the cost.
    _assert_same(reference, model, (2, 3, 16, 16))
    assert builder.count_parameters(model) == 4_201_630
    # Its own state_dict (conv1.weight, ...) loads back too.
    again = _exported(zoo.NASCNN15, tmp_path, "NASCNN15")
    again.load_state_dict(model.state_dict())
    _assert_same(reference, again, (1, 3, 12, 12))


@pytest.mark.parametrize("arch", [_UNEVEN, _POOLED, zoo.SEED_BASELINE], ids=["uneven-strides", "pooled", "seed"])
def test_padding_and_pooling_match_the_builder_at_odd_input_sizes(arch, tmp_path):
    reference = _trained_like(arch)
    model = _exported(arch, tmp_path)
    model.load_state_dict(reference.state_dict())
    for shape in [(2, 3, 32, 32), (1, 3, 17, 23), (1, 3, 5, 2), (1, 3, 1, 1)]:
        _assert_same(reference, model, shape)


def test_maps_of_different_sizes_are_padded_and_equal_ones_just_concatenated():
    code = export.generate_code(_UNEVEN)
    assert "pad_cat([c1, c2])" in code
    assert "pad_cat" not in export.generate_code(zoo.NASCNN15).split("def forward")[1]
    assert "torch.cat([c1, c2], dim=1)" in export.generate_code(zoo.NASCNN15)
    assert "c2 = max_pool(c2, 2)" in export.generate_code(_POOLED)


@settings(max_examples=12, deadline=None)
@given(architectures(max_layers=4), st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**16))
def test_any_architecture_exports_to_code_that_equals_the_builder(tmp_path_factory, arch, height, width, seed):
    reference = _trained_like(arch, seed)
    model = _exported(arch, tmp_path_factory.mktemp("code"))
    model.load_state_dict(reference.state_dict())
    if arch.family.network == "nb201":  # its reductions, as the benchmark's, need sides divisible by 4
        height, width = 4 * -(-height // 4), 4 * -(-width // 4)
    _assert_same(reference, model, (1, 3, height, width))


def test_generated_file_imports_only_torch_and_runs_on_its_own(tmp_path):
    path = tmp_path / "nascnn15.py"
    path.write_text(export.generate_code(zoo.NASCNN15, "NASCNN15"))
    text = path.read_text()
    tree = ast.parse(text)
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imported and all(name == "torch" or name.startswith("torch.") for name in imported)
    # The header carries the DNA (canonical JSON) and the parameter count.
    dna = next(line[2:] for line in text.splitlines() if line.startswith('# {"layers"'))
    assert Architecture.from_json(dna) == zoo.NASCNN15
    assert "4,201,630 parameters" in text
    assert "self.conv15 = nn.Conv2d(" in text and "self.bn15 = nn.BatchNorm2d(48)" in text
    # A smaller network runs as a script in a fresh interpreter (export_code also checks it against the builder).
    seed = tmp_path / "seed.py"
    assert export.export_code(zoo.SEED_BASELINE, seed, "SeedBaseline") < 1e-5
    run = subprocess.run([sys.executable, str(seed)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "SeedBaseline: 392,906 parameters" in run.stdout


def test_weights_saved_with_torch_save_export_and_load(tmp_path):
    reference = _trained_like(_POOLED)
    weights_path = tmp_path / "w.pt"
    torch.save({"model": reference.state_dict(), "epoch": 3}, weights_path)
    weights = export.load_weights(weights_path)
    assert export.export_code(_POOLED, tmp_path / "p.py", "Pooled", weights) < 1e-5
    model = export.load_code(tmp_path / "p.py", "Pooled")().eval()
    model.load_state_dict(torch.load(weights_path, weights_only=True)["model"])
    _assert_same(reference, model)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_matches_the_builder_at_any_input_size(tmp_path):
    _assert_torchscript_matches(_UNEVEN, _trained_like(_UNEVEN), tmp_path / "uneven.pt")


def _assert_torchscript_matches(arch, reference: torch.nn.Module, path: Path) -> None:
    """Export `arch` with `reference`'s weights; the loaded script equals it at the export's size and another."""
    assert export.export_torchscript(arch, path, reference.state_dict()) < 1e-5
    loaded = torch.jit.load(str(path))
    for shape in [(2, 3, 32, 32), (3, 3, 19, 11)]:
        _assert_same(reference, loaded, shape)


def _assert_onnxruntime_matches(arch, reference: torch.nn.Module, path, batch: int) -> None:
    """Export `arch` with `reference`'s weights, then onnxruntime's logits on a fresh batch equal PyTorch's."""
    onnxruntime = pytest.importorskip("onnxruntime")
    assert export.export_onnx(arch, path, reference.state_dict()) < 1e-5
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(batch, 3, 32, 32)
    (logits,) = session.run(["logits"], {"image": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), reference(x), atol=1e-5, rtol=0)


def test_onnx_outputs_match_pytorch_in_onnxruntime(tmp_path):
    # another batch size than the export's: the batch axis is free
    _assert_onnxruntime_matches(_POOLED, _trained_like(_POOLED), tmp_path / "pooled.onnx", batch=5)


def _search_folder(run: Path, arch) -> Path:
    """A search run folder as `nasrl export` reads it: only its best_architecture.json."""
    run.mkdir()
    (run / "best_architecture.json").write_text(json.dumps({"architecture": arch.to_dict(), "reward": 0.5}))
    return run


def test_export_command_writes_each_format_from_a_run_folder(tmp_path, monkeypatch, capsys):
    run = _search_folder(tmp_path / "my-run", _UNEVEN)
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "my-run.py").is_file() and "class MyRun" in out and "random initial weights" in out
    torch.save(_trained_like(_UNEVEN).state_dict(), tmp_path / "w.pt")
    assert main(["export", str(run), "--format", "torchscript", "--weights", "w.pt", "-o", "out/m.pt"]) == 0
    assert (tmp_path / "out" / "m.pt").is_file() and "w.pt" in capsys.readouterr().out
    assert main(["export", str(run), "-o", "net.txt", "--class-name", "Best"]) == 0  # any suffix is still Python
    assert "class Best(nn.Module):" in (tmp_path / "net.txt").read_text()


def test_export_of_a_train_run_folder_takes_its_trained_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "trained"
    smoke = ["--data", "synthetic", "--max-steps", "2", "--batch-size", "8", "--resolution", "8", "--quiet"]
    assert main(["train", "--arch", "seed-baseline", *smoke, "--device", "cpu", "--run-dir", str(run)]) == 0
    assert main(["export", str(run), "--format", "torchscript", "-o", "net.pt"]) == 0
    out = capsys.readouterr().out
    assert "taking the run's trained weights" in out and "random initial weights" not in out
    trained = torch.load(run / "model.pt", weights_only=True)
    exported = torch.jit.load(str(tmp_path / "net.pt")).state_dict()
    assert torch.equal(exported["classifier.weight"], trained["classifier.weight"])


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    return err


def test_export_user_errors_exit_2_with_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert "Unknown architecture 'resnet50'" in _error(["export", "resnet50"], capsys)
    assert "No weights file" in _error(["export", "seed-baseline", "--weights", "none.pt"], capsys)
    (tmp_path / "junk.pt").write_text("not a tensor file")
    assert "not a weights file" in _error(["export", "seed-baseline", "--weights", "junk.pt"], capsys)
    torch.save({"step": torch.tensor(1)}, tmp_path / "other.pt")
    assert "do not fit" in _error(["export", "seed-baseline", "--weights", "other.pt"], capsys)
    torch.save(builder.build(zoo.SEED_BASELINE).state_dict(), tmp_path / "seed.pt")
    assert "do not fit" in _error(["export", "nascnn15", "--weights", "seed.pt"], capsys)
    assert "class name" in _error(["export", "seed-baseline", "--class-name", "not valid"], capsys)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    err = _error(["export", "seed-baseline", "--format", "onnx"], capsys)
    assert "onnxruntime" in err and "pip install" in err


# ----- macro architectures (ENAS) ---------------------------------------------------------------------------------
_TINY = SearchSpace("tiny", 5, (Token("op", OPERATIONS),), True, 8, (1, 3))
# Every operation family; skips across both reductions (L5 reads L1, reduced twice); L3 has no skips.
_MACRO = _TINY.architecture(
    [{"op": op} for op in ("sep3x3", "conv5x5", "maxpool3x3", "avgpool3x3", "sep7x7")],
    [[], [0], [], [0, 2], [1, 3]],
).validate(_TINY)


# Every operation family, the grouped and squeeze-and-excitation ones at settings other than the defaults; skips
# across both reductions (L7 reads L2 and L4); L5 has none.
_EVERY_SPACE = SearchSpace(
    "every-op", 7, (Token("op", OPERATIONS),), True, 8, (1, 3), (("groups", 2), ("se_reduction", 2))
)
_EVERY_FAMILY = _EVERY_SPACE.architecture(
    [{"op": op} for op in ("gconv3x3", "se3x3", "sep5x5", "conv3x3", "avgpool3x3", "gconv5x5", "maxpool3x3")],
    [[], [0], [1], [0, 2], [], [3, 4], [2, 4]],
).validate(_EVERY_SPACE)


def _macro_trained_like(arch: Architecture, seed: int = 0, in_channels: int = 3) -> torch.nn.Module:
    """A builder network (macro, nb201) whose every BatchNorm has non-identity statistics and affine weights."""
    torch.manual_seed(seed)
    model = builder.build(arch, in_channels=in_channels)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn_like(module.running_mean) * 0.2)
                module.running_var.copy_(torch.rand_like(module.running_var) + 0.5)
                module.weight.copy_(torch.rand_like(module.weight) + 0.5)
                module.bias.copy_(torch.randn_like(module.bias) * 0.2)
    return model.eval()


def _random_macro(seed: int, reductions: tuple[int, ...]) -> Architecture:
    space = SearchSpace("tiny", 4, (Token("op", OPERATIONS),), True, 4, reductions)
    return make_strategy("random", space, seed).propose(1)[0].validate(space)


def test_macro_code_equals_the_builder_on_its_weights_at_odd_sizes(tmp_path):
    reference = _macro_trained_like(_MACRO)
    model = _exported(_MACRO, tmp_path, "Tiny")
    model.load_state_dict(reference.state_dict())  # nasrl's names (ops.0.1.weight, reductions.1.0.bn.bias) load
    for shape in [(2, 3, 32, 32), (1, 3, 17, 23), (1, 3, 1, 1)]:
        _assert_same(reference, model, shape)
    again = _exported(_MACRO, tmp_path, "Tiny")
    again.load_state_dict(model.state_dict())  # and so do its own (op1.1.weight, reduce2_stem.bn.bias)
    _assert_same(reference, again, (1, 3, 9, 9))
    assert builder.count_parameters(model) == builder.count_parameters(reference)


# A reduction after the first layer, after the last, and none: each reduces what later layers read, no more.
@pytest.mark.parametrize(("seed", "reductions"), [(1, (0,)), (2, (1, 3)), (3, ())])
def test_random_macro_architectures_export_to_code_that_equals_the_builder(seed, reductions, tmp_path):
    arch = _random_macro(seed, reductions)
    reference = _macro_trained_like(arch, seed)
    model = _exported(arch, tmp_path)
    model.load_state_dict(reference.state_dict())
    _assert_same(reference, model, (2, 3, 15, 16))


def test_macro_code_is_readable_and_runs_on_its_own(tmp_path):
    code = export.generate_code(_MACRO, "Tiny")
    imported = [a.name for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module for n in ast.walk(ast.parse(code)) if isinstance(n, ast.ImportFrom)]
    assert all(name == "torch" or name.startswith("torch.") for name in imported)
    assert "L4     avgpool3x3  16     stem,L2" in code  # the layer table in the docstring
    assert "        l4 = self.join4([stem, l2, self.op4(l3)])\n" in code
    assert "        l1 = self.reduce4_l1(l1)\n" in code and "self.reduce4_l2" not in code  # only what L5 reads
    assert "        self.classifier = nn.Linear(32, num_classes, bias=False)\n" in code
    path = tmp_path / "tiny.py"
    assert export.export_code(_MACRO, path, "Tiny") < 1e-5
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"Tiny: {builder.count_parameters(builder.build(_MACRO)):,} parameters" in run.stdout


def test_macro_weights_of_one_channel_images_export(tmp_path):
    reference = _macro_trained_like(_MACRO, in_channels=1)
    weights = {f"module.{k}": v for k, v in reference.state_dict().items()}  # as DataParallel saves them
    torch.save(weights, tmp_path / "w.pt")
    loaded = export.load_weights(tmp_path / "w.pt")
    assert export.export_code(_MACRO, tmp_path / "gray.py", "Gray", loaded) < 1e-5
    model = export.load_code(tmp_path / "gray.py", "Gray")(10, 1).eval()
    model.load_state_dict(reference.state_dict())
    _assert_same(reference, model, (2, 1, 16, 16))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_macro_torchscript_matches_the_builder_at_any_input_size(tmp_path):
    _assert_torchscript_matches(_EVERY_FAMILY, _macro_trained_like(_EVERY_FAMILY), tmp_path / "every.pt")
    with pytest.raises(UserError, match="final form"):
        export.export_torchscript(builder.build(_MACRO, form="shared"), tmp_path / "shared.pt")


def test_macro_onnx_outputs_match_pytorch_in_onnxruntime(tmp_path):
    _assert_onnxruntime_matches(_EVERY_FAMILY, _macro_trained_like(_EVERY_FAMILY), tmp_path / "every.onnx", batch=3)


def test_grouped_and_se_operations_export_to_code_that_equals_the_builder(tmp_path):
    reference = _macro_trained_like(_EVERY_FAMILY)
    model = _exported(_EVERY_FAMILY, tmp_path, "Every")
    model.load_state_dict(reference.state_dict())  # the SE's FC weights (ops.1.4.reduce.weight) load by name
    for shape in [(2, 3, 16, 16), (1, 3, 9, 13)]:
        _assert_same(reference, model, shape)
    code = export.generate_code(_EVERY_FAMILY, "Every")
    assert "nn.Conv2d(32, 32, 5, padding=2, groups=2, bias=False),  # grouped" in code  # L6, after 2 reductions
    assert "SqueezeExcite(8, 4),  # reduction ratio 2" in code
    assert "class SqueezeExcite" not in export.generate_code(_MACRO)  # an architecture without SE reads as before
    assert Architecture.from_json(next(line[2:] for line in code.splitlines() if line.startswith("# {"))) == (
        _EVERY_FAMILY
    )


def test_export_command_writes_a_macro_best_architecture(tmp_path, monkeypatch, capsys):
    run = _search_folder(tmp_path / "macro-run", _MACRO)
    monkeypatch.chdir(tmp_path)
    torch.save(_macro_trained_like(_MACRO).state_dict(), tmp_path / "w.pt")
    assert main(["export", str(run), "--weights", "w.pt"]) == 0
    out = capsys.readouterr().out
    assert "class MacroRun" in out and "checked: outputs equal" in out
    assert "class MacroRun(nn.Module):" in (tmp_path / "macro-run.py").read_text()
    assert main(["export", str(run), "--format", "torchscript", "-o", "m.pt"]) == 0
    assert (tmp_path / "m.pt").is_file() and "checked: outputs equal" in capsys.readouterr().out
    torch.save(builder.build(zoo.SEED_BASELINE).state_dict(), tmp_path / "seed.pt")
    assert "do not fit" in _error(["export", str(run), "--weights", "seed.pt"], capsys)
