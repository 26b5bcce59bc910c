"""Local search (White et al. 2020): one-decision neighbourhoods, the climb from the best random start, restarts
at a local optimum, no architecture evaluated twice, and the synthetic target reached."""

from test_evolution import differing_decisions

from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.local_search import LocalSearch
from nasrl.search.strategies.random_search import RandomSearch
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import preset
from nasrl.space.families.nb201 import parse_cell

CELL = parse_cell("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")


def test_a_cell_has_24_neighbours_each_one_edge_away():
    local = LocalSearch(preset("nb201"), seed=0)
    neighbours = local.neighbours(CELL)
    assert len({n.hash() for n in neighbours}) == 24 == len(neighbours)
    assert all(differing_decisions(CELL, n) == 1 for n in neighbours)


def test_a_zoph_layer_neighbourhood_counts_every_token_value_and_skip_bit():
    space = preset("zoph", 3)  # 3 tokens of 4 choices per layer, 3 skip bits
    arch = RandomSearch(space, seed=0).propose(1)[0]
    neighbours = LocalSearch(space, seed=0).neighbours(arch)
    assert len(neighbours) == 3 * 3 * 3 + 3 and all(differing_decisions(arch, n) == 1 for n in neighbours)


def test_the_climb_starts_from_the_best_random_start_and_moves_to_a_better_neighbour():
    local = LocalSearch(preset("nb201"), seed=1, local_init=5)
    starts = local.propose(5)
    rewards = [0.1, 0.5, 0.3, 0.2, 0.4]
    local.update(starts, rewards)
    assert local.centre == starts[1].to_json()
    first = local.propose(3)
    assert all(differing_decisions(starts[1], n) == 1 for n in first)
    local.update(first, [0.4, 0.6, 0.7])  # two beat the centre: it moves to the best of them
    assert local.centre == first[2].to_json()
    assert all(differing_decisions(first[2], n) == 1 for n in local.propose(4))


def test_a_local_optimum_restarts_from_random_architectures():
    local = LocalSearch(preset("nb201"), seed=2, local_init=1)
    start = local.propose(1)
    local.update(start, [0.9])
    neighbours = local.propose(24)
    assert all(differing_decisions(start[0], n) == 1 for n in neighbours)
    local.update(neighbours, [0.5] * 24)  # none beats the centre
    assert local.centre is None
    restart = local.propose(1)[0]
    assert differing_decisions(start[0], restart) != 1 or restart.to_json() not in local.known


def test_no_architecture_is_proposed_once_it_was_evaluated():
    local = LocalSearch(preset("nb201"), seed=3, local_init=3)
    target = synthetic_target(preset("nb201"), 0)
    seen = []
    for _ in range(40):
        archs = local.propose(5)
        seen += [a.hash() for a in archs]
        local.update(archs, [synthetic_reward(a, target) for a in archs])
    assert len(seen) == len(set(seen))


def test_local_search_reaches_the_synthetic_target():
    space = preset("zoph", 4)
    target = synthetic_target(space, 3)
    local = make_strategy("local", space, seed=0)
    best = 0.0
    for _ in range(60):
        archs = local.propose(5)
        rewards = [synthetic_reward(a, target) for a in archs]
        local.update(archs, rewards)
        best = max(best, *rewards)
    assert best == 1.0  # an additive reward has no local optimum but the target
