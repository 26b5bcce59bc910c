"""The controller is a proper probability distribution over the space, and sample agrees with log_prob."""

import itertools
import math

import pytest
import torch

from nasrl.search.controller import Controller, architectures_to_decisions, decisions_to_architectures
from nasrl.space import Architecture, SearchSpace, Token, preset

TINY = SearchSpace("tiny", 2, (Token("a", (1, 2)), Token("b", (10, 20, 30))), skips=True)
TINY_CHAIN = SearchSpace("tiny-chain", 2, (Token("a", (1, 2)), Token("b", (10, 20, 30))), skips=False)


def every_architecture(space: SearchSpace) -> list[Architecture]:
    """All architectures of a (tiny) space: every token value of every layer, every skip bit."""
    per_layer = [dict(zip(space.token_names, combo)) for combo in itertools.product(*(t.choices for t in space.tokens))]
    pairs = [(i, j) for i in range(space.num_layers) for j in range(i)] if space.skips else []
    archs = []
    for values in itertools.product(per_layer, repeat=space.num_layers):
        for bits in itertools.product((0, 1), repeat=len(pairs)):
            inputs = None
            if space.skips:
                inputs = [[j for (k, j), bit in zip(pairs, bits) if k == i and bit] for i in range(space.num_layers)]
            archs.append(Architecture.from_layers(space.name, list(values), inputs).validate(space))
    assert len(archs) == space.size()
    return archs


def peaked_controller(space: SearchSpace, seed: int = 0, **kwargs) -> Controller:
    # A wide init range makes the policy far from uniform, so the checks below can tell distributions apart.
    return Controller(space, init_range=0.8, init_generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize("space", [TINY, TINY_CHAIN], ids=["skips", "chain"])
@pytest.mark.parametrize("shaping", [{}, {"temperature": 2.0, "tanh_constant": 1.5}], ids=["plain", "shaped"])
def test_probabilities_of_every_architecture_sum_to_one(space, shaping):
    controller = peaked_controller(space, **shaping)
    with torch.no_grad():
        log_probs, entropies = controller.log_prob(every_architecture(space))
    probs = log_probs.double().exp()
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    # Chain rule: the expected sum of per-decision entropies is the entropy of the whole distribution.
    joint_entropy = -(probs * log_probs.double()).sum().item()
    assert (probs * entropies.double()).sum().item() == pytest.approx(joint_entropy, abs=1e-4)


def test_sample_frequencies_match_the_exact_probabilities():
    controller = peaked_controller(TINY)
    archs = every_architecture(TINY)
    with torch.no_grad():
        exact = controller.log_prob(archs)[0].double().exp()
        n = 40_000
        sample = controller.sample(n, generator=torch.Generator().manual_seed(1))
    index = {a: k for k, a in enumerate(archs)}
    counts = torch.zeros(len(archs), dtype=torch.float64)
    for arch in sample.architectures:
        counts[index[arch]] += 1
    freq = counts / n
    # Per-cell binomial standard error; 5 sigma over 72 cells with a fixed seed.
    sigma = (exact * (1 - exact) / n).sqrt()
    assert ((freq - exact).abs() <= 5 * sigma + 1e-4).all(), (freq - exact).abs().max()
    # Pearson chi-square with 71 degrees of freedom: mean 71, sd ~12; 140 is far in the tail.
    chi2 = ((counts - n * exact) ** 2 / (n * exact)).sum().item()
    assert chi2 < 140, chi2


@pytest.mark.parametrize("space", [TINY, TINY_CHAIN, preset("zoph", 6), preset("dna", 4)], ids=lambda s: s.name)
def test_sample_log_probs_equal_teacher_forced_log_probs(space):
    controller = peaked_controller(space)
    sample = controller.sample(64, generator=torch.Generator().manual_seed(3))
    log_probs, entropies = controller.log_prob(sample.architectures)
    torch.testing.assert_close(log_probs, sample.log_probs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(entropies, sample.entropies, atol=1e-5, rtol=1e-5)
    for arch in sample.architectures:
        arch.validate(space)
    assert log_probs.requires_grad


def test_space_without_skips_samples_plain_chains():
    controller = peaked_controller(TINY_CHAIN)
    for arch in controller.sample(20, generator=torch.Generator().manual_seed(0)).architectures:
        assert arch == Architecture.from_layers(TINY_CHAIN.name, [layer.as_dict for layer in arch.layers])


def test_sampling_is_reproducible_from_the_generator_alone():
    controller = peaked_controller(preset("zoph", 5))
    first = controller.sample(30, generator=torch.Generator().manual_seed(7)).architectures
    torch.manual_seed(12345)  # the global RNG plays no part
    again = controller.sample(30, generator=torch.Generator().manual_seed(7)).architectures
    other = controller.sample(30, generator=torch.Generator().manual_seed(8)).architectures
    assert first == again
    assert first != other


def test_building_a_controller_with_a_generator_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    Controller(preset("zoph", 3), init_generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.rand(3), expected)


def test_parameters_do_not_depend_on_depth_and_deeper_samples_work():
    shallow, deep = preset("zoph", 2), preset("zoph", 8)
    shapes = {k: v.shape for k, v in Controller(shallow).state_dict().items()}
    assert shapes == {k: v.shape for k, v in Controller(deep).state_dict().items()}

    controller = peaked_controller(shallow)
    sample = controller.sample(16, generator=torch.Generator().manual_seed(0), num_layers=8)
    for arch in sample.architectures:
        arch.validate(deep)
    assert any(len(layer.inputs) > 1 for arch in sample.architectures for layer in arch.layers)
    log_probs, _ = controller.log_prob(sample.architectures)
    torch.testing.assert_close(log_probs, sample.log_probs, atol=1e-5, rtol=1e-5)


def test_log_prob_scores_a_batch_of_mixed_depths():
    controller = peaked_controller(preset("zoph", 3))
    gen = torch.Generator().manual_seed(0)
    a = controller.sample(3, generator=gen, num_layers=3)
    b = controller.sample(2, generator=gen, num_layers=5)
    mixed = [a.architectures[0], b.architectures[0], a.architectures[1], b.architectures[1], a.architectures[2]]
    log_probs, _ = controller.log_prob(mixed)
    expected = torch.stack([a.log_probs[0], b.log_probs[0], a.log_probs[1], b.log_probs[1], a.log_probs[2]])
    torch.testing.assert_close(log_probs, expected, atol=1e-5, rtol=1e-5)


def test_uniform_init_gives_near_uniform_policy_with_paper_defaults():
    space = preset("zoph", 4)
    controller = Controller(space)
    assert len(controller.lstm) == 2 and all(cell.hidden_size == 35 for cell in controller.lstm)
    assert all(p.abs().max() <= 0.08 for p in controller.parameters())
    uniform = 4 * 3 * math.log(4) + 6 * math.log(2)
    with torch.no_grad():
        entropies = controller.sample(8, generator=torch.Generator().manual_seed(0)).entropies
    assert entropies.min().item() == pytest.approx(uniform, rel=0.01)


def test_decisions_round_trip_through_architectures():
    controller = peaked_controller(preset("zoph", 5))
    archs = controller.sample(10, generator=torch.Generator().manual_seed(0)).architectures
    space = preset("zoph", 5)
    assert decisions_to_architectures(space, architectures_to_decisions(space, archs)) == archs


def test_the_paper_preset_builds_the_papers_controller_that_shares_every_parameter_across_layers():
    from nasrl.config import load_config_file, make_config

    paper = make_config(load_config_file("paper")).strategy_settings()
    space = preset("zoph", 6)
    names = set(Controller(space, paper).state_dict())
    assert "pos" not in names and "skip_b" not in names
    assert {"pos", "skip_b"} <= set(Controller(space).state_dict())  # nasrl's default adds the position tables
    assert not paper.entropy_per_decision and paper.tanh_constant is None and paper.lr == 6e-4
