"""Space families: each one's token encoding, the preset records, the family lookup and the builder's dispatch."""

import pytest
import torch

from nasrl.nets import builder
from nasrl.nets.geometry import ChildNetwork
from nasrl.nets.macro import MacroNetwork
from nasrl.nets.nb201 import NB201Network
from nasrl.space import (
    FAMILIES,
    OPERATIONS,
    PRESETS,
    Architecture,
    ArchitectureError,
    SearchSpace,
    Token,
    family_of,
    preset,
)
from nasrl.space import families as families_module
from nasrl.space.families import architectures_to_decisions, decisions_to_architectures, dna, register_family
from nasrl.space.families.zoph import ZophFamily

#: One space per registered family (a preset, and a user's file where the family claims those), with skips and
#: without: every family must round-trip its architectures.
SPACES = [
    preset("zoph", 5),
    preset("zoph-stride", 4),
    SearchSpace("my-geometry", 4, (Token("kernel", (1, 3)), Token("filters", (8, 16))), skips=False),
    preset("dna", 4),
    preset("enas-macro", 7),
    SearchSpace("my-macro", 5, (Token("op", OPERATIONS),), skips=False, channels=8, reductions=(1,)),
    preset("nb201"),
]


def _random_decisions(space: SearchSpace, n: int, seed: int) -> families_module.Decisions:
    g = torch.Generator().manual_seed(seed)
    L = space.num_layers
    tokens = torch.stack([torch.randint(len(t.choices), (n, L), generator=g) for t in space.tokens], dim=-1)
    skips = torch.tril(torch.randint(2, (n, L, L), generator=g).float(), diagonal=-1) if space.skips else None
    return families_module.Decisions(tokens, skips)


def test_every_registered_family_has_a_round_trip_case():
    assert {space.family.name for space in SPACES} == set(FAMILIES)


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_each_family_round_trips_architectures_through_its_token_encoding(space):
    decisions = _random_decisions(space, 16, seed=3)
    archs = decisions_to_architectures(space, decisions)
    for arch in archs:
        assert arch.validate(space) is arch
        assert Architecture.from_json(arch.to_json()) == arch
    again = architectures_to_decisions(space, archs)
    assert torch.equal(again.tokens, decisions.tokens)
    if space.skips:
        assert torch.equal(again.skips, decisions.skips)
    else:
        assert again.skips is None
    assert decisions_to_architectures(space, again) == archs


def test_without_skips_zoph_layers_chain_and_macro_layers_add_nothing():
    zoph = decisions_to_architectures(SPACES[2], _random_decisions(SPACES[2], 1, seed=0))[0]
    macro = decisions_to_architectures(SPACES[5], _random_decisions(SPACES[5], 1, seed=0))[0]
    assert [layer.inputs for layer in zoph.layers] == [(), (0,), (1,), (2,)]
    assert [layer.inputs for layer in macro.layers] == [()] * 5
    assert (macro.channels, macro.reductions) == (8, (1,))


def test_an_architecture_that_the_space_does_not_allow_does_not_encode():
    space = preset("zoph", 2)
    arch = Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 3, "filters": 25}] * 2)
    with pytest.raises(ArchitectureError, match="Layer 1, token 'filters': 25 is not one of"):
        architectures_to_decisions(space, [arch])


def test_preset_records_give_the_spaces_recorded_before_the_records():
    # Recorded from the dict-based presets (PRESET_TOKENS, DEFAULT_LAYERS, MACRO_CHANNELS) they replace.
    kernels = (1, 3, 5, 7)
    zoph = (Token("filter_height", kernels), Token("filter_width", kernels), Token("filters", (24, 36, 48, 64)))
    strides = (Token("stride_height", (1, 2, 3)), Token("stride_width", (1, 2, 3)))
    dna = (
        Token("kernel", kernels),
        Token("filters", (32, 64, 128, 256, 512)),
        Token("stride", (1, 2)),
        Token("pool", (1, 2, 3)),
    )
    ops = (Token("op", ("conv3x3", "sep3x3", "conv5x5", "sep5x5", "avgpool3x3", "maxpool3x3")),)
    assert list(PRESETS) == ["zoph", "zoph-stride", "dna", "enas-macro", "nb201"]
    assert preset("zoph") == SearchSpace("zoph", 15, zoph, True)
    assert preset("zoph-stride") == SearchSpace("zoph-stride", 15, zoph + strides, True)
    assert preset("dna") == SearchSpace("dna", 6, dna, False)
    assert preset("enas-macro") == SearchSpace("enas-macro", 12, ops, True, 36, (3, 7))
    # Other depths: Zoph spaces keep no reductions, ENAS's thirds move with the depth.
    assert preset("zoph", 2) == SearchSpace("zoph", 2, zoph, True)
    assert [preset("enas-macro", n).reductions for n in (1, 2, 5, 12, 15)] == [(), (), (0, 1), (3, 7), (4, 9)]
    assert [preset(name, 5).size() for name in PRESETS if name != "nb201"] == [
        1099511627776,
        64925062108545024,
        24883200000,
        7962624,
    ]
    ops201 = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert preset("nb201") == SearchSpace("nb201", 6, (Token("op", ops201),), False)
    assert preset("nb201").size() == 15625


def test_hashes_recorded_before_the_families_are_unchanged():
    from nasrl.space.zoo import NASCNN15, SEED_BASELINE

    assert NASCNN15.hash() == "34fd73eb6d9caa23"
    assert SEED_BASELINE.hash() == "6a50f08496ccb418"
    macro = preset("enas-macro").architecture([{"op": "sep3x3"}] * 12, [[], [0]] + [[]] * 10)
    assert macro.hash() == "0558375cc2c5fc95"
    dna = preset("dna", 3).architecture([{"kernel": 3, "filters": 32, "stride": 1, "pool": 2}] * 3)
    assert dna.hash() == "4c9021403eccb210"


def test_presets_name_their_family_and_user_spaces_are_recognised_by_their_data():
    assert {name: p.family for name, p in PRESETS.items()} == {
        "zoph": "zoph",
        "zoph-stride": "zoph",
        "dna": "dna",
        "enas-macro": "macro",
        "nb201": "nb201",
    }
    assert family_of("my-space", None).name == "zoph"  # a user's geometry file
    assert family_of("my-space", 32).name == "macro"  # a user's macro file: the architecture carries its width
    assert SPACES[5].family is FAMILIES["macro"]
    assert Architecture.from_dna([[3, 32, 1, 1]]).family is FAMILIES["dna"]
    assert dna.space(4) == preset("dna", 4)  # the list form's space is the preset's


def test_register_family_adds_one_family_and_refuses_a_second_of_the_same_name(monkeypatch):
    from nasrl.space import search_space

    monkeypatch.setattr(search_space, "FAMILIES", dict(FAMILIES))

    @register_family
    class Cells(ZophFamily):
        name = "cells"

        def recognises(self, channels):
            return False

    assert search_space.FAMILIES["cells"].name == "cells"
    assert "cells" not in FAMILIES  # the real registry is untouched
    with pytest.raises(ValueError, match="registered already"):
        register_family(Cells)


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_build_makes_the_network_the_family_names(space):
    arch = decisions_to_architectures(space, _random_decisions(space, 1, seed=1))[0]
    expected = {"macro": MacroNetwork, "nb201": NB201Network}.get(space.family.network, ChildNetwork)
    model = builder.build(arch)
    assert type(model) is expected
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    assert builder.takes_dropout(arch) == (expected is MacroNetwork)


def test_build_dispatches_through_the_network_table(monkeypatch):
    made = []

    def fake(arch, num_classes, in_channels, form, dropout):
        made.append((arch.space, num_classes, in_channels, form, dropout))
        return torch.nn.Identity()

    monkeypatch.setitem(builder.NETWORKS, "geometry", builder.Network(fake, dropout=False))
    arch = Architecture.from_dna([[3, 32, 1, 1]])
    assert isinstance(builder.build(arch, num_classes=4, in_channels=1), torch.nn.Identity)
    assert made == [("dna", 4, 1, "final", 0.0)]


def test_architectures_without_the_new_operations_serialise_as_before(tmp_path):
    from nasrl.space.files import load_space

    path = tmp_path / "grouped.yaml"
    path.write_text("layers: 3\ntokens: {op: [conv3x3, sep3x3, gconv3x3, se3x3]}\nchannels: 8\ngroups: 2\n")
    space = load_space(str(path))
    assert dict(space.op_settings) == {"groups": 2, "se_reduction": 4}  # the file's, and the default for the rest
    plain = space.architecture([{"op": "conv3x3"}, {"op": "sep3x3"}, {"op": "conv3x3"}], [[], [0], [1]])
    without = SearchSpace("grouped", 3, (Token("op", ("conv3x3", "sep3x3")),), True, 8, space.reductions)
    assert plain.to_json() == without.architecture([la.as_dict for la in plain.layers], [[], [0], [1]]).to_json()
    assert "op_settings" not in plain.to_dict() and plain.validate(space) is plain
    grouped = space.architecture([{"op": "gconv3x3"}, {"op": "sep3x3"}, {"op": "conv3x3"}], [[], [0], [1]])
    assert grouped.to_dict()["op_settings"] == {"groups": 2}  # only the settings its operations read
    assert Architecture.from_json(grouped.to_json()) == grouped and grouped.hash() != plain.hash()
    assert builder.build(grouped).ops[0][1].groups == 2  # the architecture alone builds its network
