"""The nb201 network is NAS-Bench-201's: its costs equal the benchmark's published ones, cell by cell.

Published figures (the benchmark's "params" in millions, "flops" in MFLOPs):
- the space's extremes per dataset, min/max over all 15,625 cells, read from the NAS-Bench-201-v1_1-096897
  tables (quoted in the code corpus: EvoXBench-based `min_max_values` and an HPOBench data script). The
  maximum is the all-`nor_conv_3x3` cell, the minimum any cell without a convolution;
- D-X-Y/NATS-Bench issue #36: `|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|
  nor_conv_3x3~2|` on CIFAR-10 (hp=12): 'flops': 113.95137, 'params': 0.802426;
- D-X-Y/NATS-Bench issue #18, `query_info_str_by_arch(1)`: arch 1 at 0.802 / 0.808 / 0.810 MB and
  113.95 / 113.96 / 28.50 MFLOPs on CIFAR-10 / CIFAR-100 / ImageNet16-120 (rounded as printed).
"""

import math

import pytest
import torch
from test_export import _macro_trained_like

from nasrl.cli import main
from nasrl.nets import builder, export
from nasrl.nets.nb201 import InferCell, NB201Network
from nasrl.space.families.nb201 import cell_string, parse_cell


def _cell(*ops: str) -> str:
    """The cell string of six operations in the edge order (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)."""
    a, b, c, d, e, f = ops
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


ALL_CONV3 = _cell(*["nor_conv_3x3"] * 6)
ALL_SKIP = _cell(*["skip_connect"] * 6)
NO_CONV = _cell("avg_pool_3x3", "none", "skip_connect", "avg_pool_3x3", "none", "skip_connect")
ISSUE_36 = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ARCH_1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
MIXED = _cell("nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
#: (dataset, classes, input resolution) of the benchmark's three datasets.
DATASETS = {"cifar10": (10, 32), "cifar100": (100, 32), "ImageNet16-120": (120, 16)}


def _net(cell: str, classes: int = 10) -> torch.nn.Module:
    return builder.build(parse_cell(cell), classes)


@pytest.mark.parametrize(
    ("cell", "dataset", "params"),
    [
        (ALL_CONV3, "cifar10", 1_531_546),
        (ALL_CONV3, "cifar100", 1_537_396),
        (ALL_CONV3, "ImageNet16-120", 1_538_696),
        (ALL_SKIP, "cifar10", 73_306),
        (NO_CONV, "cifar10", 73_306),
        (NO_CONV, "cifar100", 79_156),
        (NO_CONV, "ImageNet16-120", 80_456),
        (ISSUE_36, "cifar10", 802_426),
    ],
)
def test_parameters_equal_the_benchmarks_published_counts(cell, dataset, params):
    assert builder.count_parameters(_net(cell, DATASETS[dataset][0])) == params


def test_arch_1_matches_its_printed_summary_on_all_three_datasets():
    for dataset, params in {"cifar10": 0.802, "cifar100": 0.808, "ImageNet16-120": 0.810}.items():
        assert round(builder.count_parameters(_net(ARCH_1, DATASETS[dataset][0])) / 1e6, 3) == params
    assert round((builder.count_flops(_net(ARCH_1, 120), 16) / 2 + 120) / 1e6, 2) == 28.50


@pytest.mark.parametrize(
    ("cell", "dataset", "mflops"),
    [
        (ALL_CONV3, "cifar10", 220.11969),
        (ALL_CONV3, "ImageNet16-120", 55.03756),
        (NO_CONV, "cifar100", 7.7889),
        (ISSUE_36, "cifar10", 113.95137),
    ],
)
def test_flops_are_twice_the_benchmarks_multiply_adds_without_the_classifier_bias(cell, dataset, mflops):
    # The benchmark counts a multiply-add once and adds the classifier's bias; PyTorch's counter counts it twice
    # and leaves the bias out (see nets/nb201.py).
    classes, resolution = DATASETS[dataset]
    flops = builder.count_flops(_net(cell, classes), resolution)
    assert flops == 2 * (round(mflops * 1e6) - classes)
    assert cell != ALL_CONV3 or dataset != "cifar10" or flops == 440_239_360


def test_a_none_edge_adds_zeros_and_a_node_of_only_none_edges_is_zero():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8)
    cut = InferCell(["nor_conv_3x3", "none", "skip_connect", "none", "none", "none"], 16).eval()
    assert torch.equal(cut(x), torch.zeros_like(x))  # node 3 reads only none edges
    passing = InferCell(["nor_conv_3x3", "none", "skip_connect", "none", "none", "skip_connect"], 16).eval()
    with torch.no_grad():
        assert torch.equal(passing(x), passing.layers[0](x))  # node 2 = 0 * x0 + node 1
    model = _net(_cell("nor_conv_3x3", "nor_conv_3x3", "skip_connect", "none", "none", "none"))
    for mode in (True, False):
        logits = model.train(mode)(torch.randn(4, 3, 8, 8))
        assert logits.shape == (4, 10) and bool(torch.isfinite(logits).all())


def test_module_names_are_the_benchmarks_so_its_weights_load():
    names = set(_net(MIXED).state_dict())
    expected = {
        "stem.0.weight",
        "stem.1.running_var",
        "cells.0.layers.0.op.1.weight",  # TinyNetwork.cells[0] -> InferCell.layers[0] -> ReLUConvBN.op[1]
        "cells.14.layers.5.op.2.bias",
        "cells.5.conv_a.op.1.weight",  # the first ResNetBasicblock
        "cells.11.downsample.1.weight",
        "lastact.0.weight",
        "classifier.bias",
    }
    assert expected <= names
    assert not any(".layers.1." in n or ".layers.2." in n or ".layers.3." in n for n in names)  # no parameters


def test_cell_strings_round_trip():
    for text in (ALL_CONV3, NO_CONV, ISSUE_36, ARCH_1, MIXED):
        arch = parse_cell(text)
        assert cell_string(arch) == text
        assert isinstance(builder.build(arch), NB201Network)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ALL_CONV3.replace("nor_conv_3x3~1|+", "conv_5x5~1|+"), "unknown operation 'conv_5x5'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "needs 2 edges"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 nodes"),
        (ALL_CONV3.replace("nor_conv_3x3~2", "nor_conv_3x3~3"), "it must read node 2"),
    ],
    ids=["unknown-op", "missing-edge", "missing-node", "wrong-node-index"],
)
def test_bad_cell_strings_exit_2_with_one_sentence(text, message, capsys):
    assert main(["show", text]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_show_prints_the_cell_with_its_parameters_and_flops(capsys):
    assert main(["show", MIXED]) == 0
    out = capsys.readouterr().out
    assert "3<-1  nor_conv_1x1" in out and "parameters: 587386" in out.splitlines()
    assert f"GFLOPs per 32x32 image: {builder.count_flops(_net(MIXED)) / 1e9:.3f}" in out


def _trained_like(cell: str) -> torch.nn.Module:
    """An nb201 network whose every BatchNorm has non-identity statistics and affine weights."""
    return _macro_trained_like(parse_cell(cell), seed=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_code_and_torchscript_exports_equal_the_network(tmp_path):
    reference = _trained_like(MIXED)
    arch = parse_cell(MIXED)
    # export_code loads these weights into the written class (strictly: its names are nasrl's) and compares.
    assert export.export_code(arch, tmp_path / "cell.py", "Found", reference.state_dict()) < 1e-5
    code = (tmp_path / "cell.py").read_text()
    assert "x2 = self.layers[1](x0) + self.layers[2](x1)  # none(x0) + avg_pool_3x3(x1)" in code
    x = torch.randn(1, 3, 24, 20)  # another size than the export's check
    with torch.no_grad():
        expected = reference(x)
    assert export.export_torchscript(arch, tmp_path / "cell.pt", reference.state_dict()) < 1e-5
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "cell.pt"))(x), expected, atol=1e-5, rtol=0)


def test_a_cell_of_every_operation_runs_the_same_in_onnxruntime(tmp_path):
    # One cell rather than the network: the operations are what could export wrongly (the zeros of `none`, the
    # pool that leaves the padding out of its mean), and the whole network takes ~20 s to export on a CPU.
    pytest.importorskip("onnxruntime")
    cell = _trained_like(MIXED).cells[0]
    difference = export.export_onnx(cell, tmp_path / "cell.onnx")
    assert not math.isnan(difference) and difference < 1e-5
