"""Regularized evolution (Real et al. 2019): tournaments, one-decision mutations, aging, learning a target."""

import pytest

from nasrl.cli import main
from nasrl.errors import UserError
from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.evolution import RegularizedEvolution, population_entropy
from nasrl.search.strategies.random_search import RandomSearch
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import Architecture, preset


def differing_decisions(a: Architecture, b: Architecture) -> int:
    """How many tokens and skip bits differ between two architectures of one depth."""
    count = 0
    for i, (x, y) in enumerate(zip(a.layers, b.layers, strict=True)):
        count += sum(x[name] != y[name] for name, _ in x.values)
        count += sum((j in x.inputs) != (j in y.inputs) for j in range(i))
    return count


def test_a_mutation_changes_exactly_one_token_or_skip_bit():
    space = preset("zoph", 5)
    evolution = RegularizedEvolution(space, seed=0, population_size=4, tournament_size=2)
    parents = RandomSearch(space, seed=1).propose(200)
    children = [evolution._mutate(p) for p in parents]
    assert all(differing_decisions(p, c) == 1 for p, c in zip(parents, children))
    skip_changes = sum(p.layers[i].inputs != c.layers[i].inputs for p, c in zip(parents, children) for i in range(5))
    assert 0 < skip_changes < 200  # both kinds of decision are mutated (10 skip bits of 25 decisions)


def test_the_population_is_filled_at_random_then_children_descend_from_tournament_winners():
    space = preset("zoph", 4)
    target = synthetic_target(space, 0)
    evolution = RegularizedEvolution(space, seed=0, population_size=6, tournament_size=6)
    first = evolution.propose(6)
    evolution.update(first, [synthetic_reward(a, target) for a in first])
    best = max(evolution.population, key=lambda m: m[1])[0]
    # A tournament over the whole population always picks its best: every child is one mutation away from it.
    assert all(differing_decisions(best, child) == 1 for child in evolution.propose(5))


def test_the_oldest_member_leaves_not_the_worst():
    space = preset("zoph", 3)
    evolution = RegularizedEvolution(space, seed=0, population_size=3, tournament_size=1)
    archs = RandomSearch(space, seed=2).propose(5)
    evolution.update(archs[:3], [0.9, 0.1, 0.5])
    evolution.update(archs[3:], [0.2, 0.3])
    assert [a for a, _ in evolution.population] == archs[2:]
    assert [r for _, r in evolution.population] == [0.5, 0.2, 0.3]  # 0.9 aged out although it was the best


def test_evolution_finds_the_synthetic_target_far_above_random_search():
    space = preset("zoph", 4)
    target = synthetic_target(space, 3)
    evolution = make_strategy("evolution", space, seed=0)
    rewards = []
    for _ in range(150):
        archs = evolution.propose(10)
        rewards += [synthetic_reward(a, target) for a in archs]
        evolution.update(archs, rewards[-10:])
    assert sum(rewards[-100:]) / 100 > 0.8  # random search sits near 1/3


def test_population_entropy_is_zero_for_clones_and_higher_for_a_mixed_population():
    archs = RandomSearch(preset("zoph", 3), seed=0).propose(50)
    assert population_entropy([archs[0]] * 10) == 0.0
    assert population_entropy(archs) > 5.0


def test_a_tournament_larger_than_the_population_is_refused(tmp_path, capsys):
    with pytest.raises(UserError, match="tournament"):
        RegularizedEvolution(preset("zoph", 3), seed=0, population_size=5, tournament_size=6)
    argv = [
        "search",
        "--strategy",
        "evolution",
        "--evaluator",
        "synthetic",
        "--population-size",
        "4",
        "--tournament-size",
        "8",
        "--run-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--tournament-size 8 is larger than --population-size 4" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
