import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from strategies import architectures

from nasrl import space
from nasrl.errors import UserError
from nasrl.space import Architecture, ArchitectureError


@given(architectures())
def test_json_round_trip_is_exact(arch):
    text = arch.to_json()
    again = Architecture.from_json(text)
    assert again == arch
    assert again.to_json() == text
    assert again.hash() == arch.hash()


@given(architectures(), architectures())
def test_hash_separates_different_architectures(a, b):
    assert (a.hash() == b.hash()) == (a == b)


def test_hash_is_stable_across_processes():
    from nasrl.space.zoo import NASCNN15

    code = "from nasrl.space.zoo import NASCNN15; print(NASCNN15.hash())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == NASCNN15.hash()
    # Fixed value: a change here silently orphans every stored run's cache.
    assert NASCNN15.hash() == "34fd73eb6d9caa23"


def test_key_order_in_json_does_not_change_the_architecture():
    a = Architecture.from_json('{"space":"dna","layers":[{"kernel":3,"filters":64,"stride":1,"pool":1}]}')
    b = Architecture.from_json('{"layers":[{"pool":1,"stride":1,"filters":64,"kernel":3,"inputs":[]}],"space":"dna"}')
    assert a == b and a.hash() == b.hash()


def zoph(n=3, overrides=None):
    values = [{"filter_height": 3, "filter_width": 3, "filters": 36} for _ in range(n)]
    inputs = [[i - 1] if i else [] for i in range(n)]
    for (i, key), v in (overrides or {}).items():
        if key == "inputs":
            inputs[i] = v
        else:
            values[i][key] = v
    return Architecture.from_layers("zoph", values, inputs)


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        (zoph(overrides={(1, "filters"): 50}), "Layer 2, token 'filters': 50 is not one of [24, 36, 48, 64]"),
        (zoph(overrides={(2, "filter_width"): 2}), "Layer 3, token 'filter_width'"),
        (zoph(overrides={(1, "inputs"): [1]}), "Layer 2 takes input from layer 2"),
        (zoph(overrides={(1, "inputs"): [2]}), "Layer 2 takes input from layer 3"),
        (zoph(4), "has 4 layers but space 'zoph' has 3"),
    ],
)
def test_validation_names_layer_and_token(arch, message):
    with pytest.raises(ArchitectureError, match=message.replace("[", r"\[").replace("]", r"\]")):
        arch.validate(space.preset("zoph", 3))


def test_validation_rejects_missing_and_unknown_tokens():
    arch = Architecture.from_layers("zoph", [{"filter_height": 3, "filters": 36}])
    with pytest.raises(ArchitectureError, match="lacks token 'filter_width'"):
        arch.validate(space.preset("zoph", 1))
    arch = Architecture.from_layers("zoph", [{"filter_height": 3, "filter_width": 3, "filters": 36, "pool": 2}])
    with pytest.raises(ArchitectureError, match="token 'pool'"):
        arch.validate(space.preset("zoph", 1))


def test_space_without_skips_rejects_skip_connections():
    arch = Architecture.from_layers(
        "dna", [{"kernel": 3, "filters": 32, "stride": 1, "pool": 1}] * 3, [[], [0], [0, 1]]
    )
    with pytest.raises(ArchitectureError, match="no skip connections"):
        arch.validate(space.preset("dna", 3))


def test_seed_dna_converts_both_ways():
    dna = [[3, 64, 1, 1], [5, 128, 1, 2]]
    arch = Architecture.from_dna(dna)
    assert arch.space == "dna"
    assert arch.layers[1].kernel == (5, 5) and arch.layers[1].pool == 2
    assert arch.layers[1].inputs == (0,)
    assert arch.to_dna() == dna


@pytest.mark.parametrize("dna", [[[4, 64, 1, 1]], [[3, 100, 1, 1]], [[3, 64, 3, 1]], [[3, 64, 1]], []])
def test_seed_dna_outside_choices_is_an_error_not_clipped(dna):
    with pytest.raises(ArchitectureError):
        Architecture.from_dna(dna)


def test_non_integer_values_are_rejected():
    with pytest.raises(ArchitectureError, match="not an integer"):
        Architecture.from_json(json.dumps({"space": "dna", "layers": [{"kernel": "3"}]}))


def test_presets_are_the_papers_spaces():
    z = space.preset("zoph")
    assert z.token("filter_height").choices == (1, 3, 5, 7)
    assert z.token("filters").choices == (24, 36, 48, 64)
    assert z.skips and z.num_layers == 15
    zs = space.preset("zoph-stride")
    assert zs.token("stride_width").choices == (1, 2, 3)
    d = space.preset("dna")
    assert d.token_names == ("kernel", "filters", "stride", "pool") and not d.skips
    assert space.preset("zoph", 2).size() == 64 * 64 * 2


def test_unknown_space_is_a_clear_error():
    with pytest.raises(UserError, match="Unknown search space 'nope'"):
        space.preset("nope")


@settings(max_examples=20, deadline=None)
@given(architectures())
def test_with_layers_keeps_choices(arch):
    sp = space.preset(arch.space, arch.num_layers)
    if sp.family.name == "nb201":  # a cell has six edges at any depth: another is one sentence
        with pytest.raises(space.ArchitectureError, match="cannot be searched at 8"):
            sp.with_layers(arch.num_layers + 2)
        return
    assert sp.with_layers(arch.num_layers + 2).tokens == sp.tokens
