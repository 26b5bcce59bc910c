import torch
import torch.nn.functional as F
from hypothesis import given, settings
from strategies import architectures

from nasrl import space
from nasrl.nets import builder
from nasrl.space import Architecture, zoo
from nasrl.space.families import nb201


@settings(max_examples=40, deadline=None)
@given(architectures(max_layers=5))
def test_any_architecture_builds_and_trains_one_step(arch):
    torch.manual_seed(0)
    model = builder.build(arch)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([3, 7])
    logits = model(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(logits, y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    convolutions = {name for name, p in model.named_parameters() if p.dim() == 4}
    if arch.family.name == "nb201" and not nb201.reaches_output(arch):
        return  # the image never reaches the classifier: only its bias learns, as in the benchmark's network
    assert "classifier.weight" in changed and changed & convolutions, changed
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_deep_strided_pooled_stack_keeps_at_least_one_pixel():
    arch = Architecture.from_dna([[7, 32, 2, 3]] * 8)
    model = builder.build(arch)
    sizes = []
    for layer in model.layers:
        layer.register_forward_hook(lambda module, args, out: sizes.append(tuple(out.shape[-2:])))
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    assert sizes[0] == (6, 6)  # stride 2 then a 3x3 pool with ceil_mode: 32 -> 16 -> 6
    assert sizes[-2:] == [(1, 1), (1, 1)]  # the map shrinks to one pixel and stays there


def test_nascnn15_has_the_papers_layers_and_inputs():
    arch = zoo.NASCNN15.validate(space.preset("zoph", 15))
    assert [layer.kernel for layer in arch.layers][4] == (3, 7)
    assert [layer.kernel for layer in arch.layers][8] == (7, 1)
    assert [layer.filters for layer in arch.layers] == [36, 48, 36, 36, 48, 48, 48, 36, 36, 36, 36, 48, 48, 48, 48]
    assert arch.layers[0].inputs == ()
    assert arch.layers[12].inputs == tuple(j - 1 for j in (1, 3, 6, 7, 8, 9, 10, 11, 12))
    assert arch.layers[14].inputs == tuple(j - 1 for j in (6, 7, 11, 12, 13, 14))


def test_nascnn15_parameters_and_output():
    # Its build time is a benchmark, not a test: `python bench/timings.py`.
    model = builder.build(zoo.NASCNN15)
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
        {"filter_height": 3, "filter_width": 3, "filters": 36, "stride_height": 1, "stride_width": 1},
        {"filter_height": 3, "filter_width": 3, "filters": 24, "stride_height": 1, "stride_width": 1},
    ]
    arch = Architecture.from_layers("zoph-stride", values, [[], [], [0, 1]])
    model = builder.build(arch)
    outputs, seen = [], {}
    for layer in model.layers:
        layer.register_forward_hook(lambda module, args, out: outputs.append(out.detach()))
    model.layers[2].register_forward_pre_hook(lambda module, args: seen.update(x=args[0].detach()))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    small, large, x = outputs[0], outputs[1], seen["x"]
    assert small.shape[-2:] == (16, 11) and large.shape[-2:] == (32, 32)
    # Layer 3 reads both, concatenated on channels in input order at the larger size: the small map keeps its
    # values at the top left, zeros fill the bottom and the right; the large map passes through unchanged.
    assert x.shape == (2, 24 + 36, 32, 32)
    assert small.abs().sum() > 0  # the check below would pass trivially on an all-zero map
    assert torch.equal(x[:, :24, :16, :11], small)
    assert not x[:, :24, 16:, :].any() and not x[:, :24, :, 11:].any()
    assert torch.equal(x[:, 24:], large)


def test_concat_pads_every_smaller_map_bottom_right_to_the_largest_height_and_width():
    tall, wide = torch.randn(1, 2, 5, 3), torch.randn(1, 1, 2, 4)
    x = builder.concat([tall, wide])
    assert x.shape == (1, 3, 5, 4)
    assert torch.equal(x[:, :2, :, :3], tall) and not x[:, :2, :, 3:].any()
    assert torch.equal(x[:, 2:, :2, :], wide) and not x[:, 2:, 2:, :].any()
    only = torch.randn(1, 2, 3, 3)
    assert builder.concat([only]) is only


def test_flops_come_from_the_counter_and_scale_with_filters():
    small = Architecture.from_dna([[3, 32, 1, 1]])
    big = Architecture.from_dna([[3, 64, 1, 1]])
    f_small = builder.count_flops(builder.build(small))
    # conv: 2 * 32*32 pixels * 3*3*3 * 32 filters, linear: 2 * 32 * 10
    assert f_small == 2 * 32 * 32 * 27 * 32 + 2 * 32 * 10
    assert builder.count_flops(builder.build(big)) > f_small


def test_grouped_and_se_operations_count_the_parameters_and_flops_they_build():
    from nasrl.nets.macro import make_operation
    from nasrl.search.costs import CostMeter, Geometry
    from nasrl.space import OPERATIONS, SearchSpace, Token

    c, groups, reduction = 8, 2, 4
    pre = c * c + 2 * c  # the 1x1 conv-BN-ReLU every operation starts with
    gconv = make_operation("gconv5x5", c, c, groups=groups)
    assert builder.count_parameters(gconv) == pre + c * c * 25 // groups + 2 * c
    se = make_operation("se3x3", c, c, se_reduction=reduction)
    hidden = c // reduction
    assert builder.count_parameters(se) == pre + c * c * 9 + 2 * c + (c * hidden + hidden) + (hidden * c + c)
    # FLOPs by the counter every network's are counted with. Layer 2 runs 16 wide on 4x4 maps (after a reduction):
    # grouping saves (1 - 1/groups) of its 5x5 conv; SE adds its two FCs, nothing else the counter counts.
    sp = SearchSpace("counts", 2, (Token("op", OPERATIONS),), True, c, (0,), (("groups", groups),))

    def flops(op: str) -> int:
        return builder.count_flops(builder.build(sp.architecture([{"op": "conv3x3"}, {"op": op}])), resolution=8)

    width, pixels = 2 * c, 4 * 4
    assert flops("conv5x5") - flops("gconv5x5") == 2 * pixels * width * width * 25 * (groups - 1) // groups
    assert flops("se3x3") - flops("conv3x3") == 2 * 2 * width * (width // reduction)
    # the costs a search trades accuracy against are those of the module the architecture builds
    arch = sp.architecture([{"op": "gconv3x3"}, {"op": "se3x3"}])
    costs = CostMeter(Geometry(resolution=8)).costs(arch)
    model = builder.build(arch)
    assert (costs.params, costs.flops) == (builder.count_parameters(model), builder.count_flops(model, 8))
