import time

import torch
from hypothesis import given, settings
from strategies import architectures

from nasrl import space
from nasrl.nets import builder
from nasrl.space import Architecture, zoo


@settings(max_examples=40, deadline=None)
@given(architectures(max_layers=5))
def test_any_architecture_builds_and_trains_one_step(arch):
    model = builder.build(arch)
    x = torch.randn(2, 3, 32, 32)
    logits = model(x)
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert torch.isfinite(logits).all()


def test_deep_strided_pooled_stack_keeps_at_least_one_pixel():
    arch = Architecture.from_dna([[7, 32, 2, 3]] * 8)
    assert builder.build(arch)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_nascnn15_has_the_papers_layers_and_inputs():
    arch = zoo.NASCNN15.validate(space.preset("zoph", 15))
    assert [layer.kernel for layer in arch.layers][4] == (3, 7)
    assert [layer.kernel for layer in arch.layers][8] == (7, 1)
    assert [layer.filters for layer in arch.layers] == [36, 48, 36, 36, 48, 48, 48, 36, 36, 36, 36, 48, 48, 48, 48]
    assert arch.layers[0].inputs == ()
    assert arch.layers[12].inputs == tuple(j - 1 for j in (1, 3, 6, 7, 8, 9, 10, 11, 12))
    assert arch.layers[14].inputs == tuple(j - 1 for j in (6, 7, 11, 12, 13, 14))


def test_nascnn15_parameters_output_and_build_time():
    start = time.perf_counter()
    model = builder.build(zoo.NASCNN15)
    assert time.perf_counter() - start < 1.0
    assert builder.count_parameters(model) == 4_201_630
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_inputs_are_concatenated_and_loose_ends_reach_the_classifier():
    values = [{"filter_height": 3, "filter_width": 3, "filters": f} for f in (24, 36, 48)]
    # Layer 3 reads only the image-fed layer 1, so layer 2 is a loose end.
    arch = Architecture.from_layers("zoph", values, [[], [0], [0]])
    model = builder.build(arch)
    assert builder.loose_ends(arch) == [1, 2]
    assert model.layers[2].conv.in_channels == 24
    assert model.classifier.in_features == 36 + 48
    dense = Architecture.from_layers("zoph", values, [[], [0], [0, 1]])
    assert builder.build(dense).layers[2].conv.in_channels == 24 + 36


def test_asymmetric_kernels_keep_spatial_size():
    arch = Architecture.from_layers("zoph", [{"filter_height": 7, "filter_width": 1, "filters": 24}])
    layer = builder.build(arch).layers[0]
    assert layer(torch.randn(1, 3, 32, 32)).shape[-2:] == (32, 32)


def test_strided_inputs_are_zero_padded_to_the_largest():
    values = [
        {"filter_height": 3, "filter_width": 3, "filters": 24, "stride_height": 2, "stride_width": 3},
        {"filter_height": 3, "filter_width": 3, "filters": 24, "stride_height": 1, "stride_width": 1},
        {"filter_height": 3, "filter_width": 3, "filters": 24, "stride_height": 1, "stride_width": 1},
    ]
    arch = Architecture.from_layers("zoph-stride", values, [[], [], [0, 1]])
    assert builder.build(arch)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_flops_come_from_the_counter_and_scale_with_filters():
    small = Architecture.from_dna([[3, 32, 1, 1]])
    big = Architecture.from_dna([[3, 64, 1, 1]])
    f_small = builder.count_flops(builder.build(small))
    # conv: 2 * 32*32 pixels * 3*3*3 * 32 filters, linear: 2 * 32 * 10
    assert f_small == 2 * 32 * 32 * 27 * 32 + 2 * 32 * 10
    assert builder.count_flops(builder.build(big)) > f_small
