"""REINFORCE learns what the reward favours, random search is uniform, and both resume exactly."""

import io

import pytest
import torch
from test_controller import TINY, every_architecture

from nasrl.errors import UserError
from nasrl.search.strategies import Strategy, make_strategy
from nasrl.search.strategies.collapse import collapse_warning
from nasrl.search.strategies.random_search import RandomSearch
from nasrl.search.strategies.reinforce import Reinforce
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import preset, uniform_entropy


def probability_that(strategy: Reinforce, condition) -> float:
    """The exact probability, under the current policy, of the architectures meeting `condition`."""
    archs = every_architecture(strategy.space)
    with torch.no_grad():
        probs = strategy.controller.log_prob(archs)[0].exp()
    return sum(p.item() for p, a in zip(probs, archs) if condition(a))


def round_trip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_reinforce_gradient_raises_the_probability_of_rewarded_choices():
    strategy = Reinforce(TINY, seed=0, lr=0.05, entropy_weight=0.0)
    likes = lambda arch: arch.layers[0]["b"] == 30 and 0 in arch.layers[1].inputs  # noqa: E731
    before = probability_that(strategy, likes)
    strategy.update(*_episode(strategy, 50, lambda a: 1.0 if likes(a) else 0.0))  # b = mean: pure ranking
    after_first = probability_that(strategy, likes)
    strategy.update(*_episode(strategy, 50, lambda a: 1.0 if likes(a) else 0.0))
    assert before < after_first < probability_that(strategy, likes)


def _episode(strategy, n, reward):
    archs = strategy.propose(n)
    return archs, [reward(a) for a in archs]


def test_first_update_uses_the_episode_mean_as_baseline_then_a_moving_average():
    strategy = Reinforce(TINY, seed=0, baseline_decay=0.9)
    stats = strategy.update(*_episode(strategy, 4, lambda a: 0.5))
    assert stats["baseline"] == pytest.approx(0.5)
    assert set(stats) >= {"loss", "baseline", "mean_reward", "entropy", "lr"}
    stats = strategy.update(*_episode(strategy, 4, lambda a: 1.0))
    assert stats["baseline"] == pytest.approx(0.5)  # judged against the baseline before this episode
    assert strategy.baseline == pytest.approx(0.9 * 0.5 + 0.1 * 1.0)


def test_cube_transform_and_lr_decay():
    strategy = Reinforce(TINY, seed=0, reward_transform="cube", lr=1e-2, lr_decay=0.5)
    assert strategy.transform(0.9) == pytest.approx(0.729)
    assert strategy.update(*_episode(strategy, 4, lambda a: 0.9))["lr"] == pytest.approx(1e-2)
    assert strategy.baseline == pytest.approx(0.729)
    assert strategy.update(*_episode(strategy, 4, lambda a: 0.9))["lr"] == pytest.approx(5e-3)


def _mean_reward_of_last(strategy: Strategy, target, children: int, per_episode: int, last: int) -> float:
    rewards = []
    for _ in range(children // per_episode):
        archs, r = _episode(strategy, per_episode, lambda a: synthetic_reward(a, target))
        strategy.update(archs, r)
        rewards += r
    return sum(rewards[-last:]) / last


def test_controller_learns_the_synthetic_target_clearly_better_than_random():
    space = preset("zoph", 3)  # 9 tokens and 3 skip bits: chance is (9 / 4 + 3 / 2) / 12 = 0.3125
    target = synthetic_target(space, seed=0)
    # How long this takes is a benchmark, not a test: `python bench/timings.py`.
    learned = _mean_reward_of_last(Reinforce(space, seed=0), target, children=1000, per_episode=10, last=100)
    random = _mean_reward_of_last(RandomSearch(space, seed=0), target, children=1000, per_episode=10, last=100)
    assert random == pytest.approx(0.3125, abs=0.06)
    assert learned > 0.7 and learned > random + 0.35, (learned, random)  # measured: 0.82 vs 0.31


@pytest.mark.parametrize("name", ["reinforce", "ppo", "evolution", "random", "local"])
def test_resumed_strategy_proposes_the_same_architectures(name):
    space = preset("zoph", 4)
    settings = {
        "reinforce": {"lr_decay": 0.99},
        "ppo": {"lr_decay": 0.99},
        "evolution": {"population_size": 10, "tournament_size": 3},
        "local": {"local_init": 4},
    }
    options = settings.get(name, {})

    def play(strategy, episodes: range) -> list:
        proposals = []
        for episode in episodes:
            if episode == 2:
                strategy.set_num_layers(5)  # the layer schedule is part of the state too
            target = synthetic_target(space.with_layers(strategy.num_layers), seed=1)
            archs, rewards = _episode(strategy, 6, lambda a, t=target: synthetic_reward(a, t))
            strategy.update(archs, rewards)
            proposals += archs
        return proposals

    whole = play(make_strategy(name, space, seed=5, **options), range(8))
    first = make_strategy(name, space, seed=5, **options)
    head = play(first, range(4))
    resumed = make_strategy(name, space, seed=5, **options)
    resumed.load_state_dict(round_trip(first.state_dict()))
    assert head + play(resumed, range(4, 8)) == whole


def test_state_dict_is_a_snapshot_that_later_updates_do_not_change():
    strategy = Reinforce(preset("zoph", 3), seed=0)
    state = strategy.state_dict()
    weights = {k: v.clone() for k, v in state["controller"].items()}
    strategy.update(*_episode(strategy, 4, lambda a: a.layers[0]["filters"] / 64))
    strategy.update(*_episode(strategy, 4, lambda a: a.layers[0]["filters"] / 64))
    assert all(torch.equal(state["controller"][k], v) for k, v in weights.items())
    assert state["step"] == 0 and strategy.step == 2


def test_same_seed_same_proposals_other_seed_other_proposals():
    space = preset("zoph", 4)
    for name in ("reinforce", "evolution", "random"):
        assert make_strategy(name, space, 3).propose(10) == make_strategy(name, space, 3).propose(10)
        assert make_strategy(name, space, 3).propose(10) != make_strategy(name, space, 4).propose(10)


def test_random_search_is_uniform():
    space = preset("zoph", 3)
    archs = RandomSearch(space, seed=0).propose(20_000)
    n = len(archs)
    for tok in space.tokens:
        for layer in range(space.num_layers):
            for value in tok.choices:
                freq = sum(a.layers[layer][tok.name] == value for a in archs) / n
                assert freq == pytest.approx(1 / len(tok.choices), abs=0.015)
    for i, j in [(1, 0), (2, 0), (2, 1)]:
        assert sum(j in a.layers[i].inputs for a in archs) / n == pytest.approx(0.5, abs=0.015)
    stats = RandomSearch(space, seed=0).update(archs[:5], [0.1, 0.2, 0.3, 0.4, 0.5])
    assert stats["loss"] == 0.0 and stats["mean_reward"] == pytest.approx(0.3)
    assert stats["entropy"] == pytest.approx(uniform_entropy(space))


def test_random_search_samples_grown_depths():
    strategy = RandomSearch(preset("zoph", 2), seed=0)
    strategy.set_num_layers(6)
    for arch in strategy.propose(5):
        arch.validate(preset("zoph", 6))


def test_make_strategy_names_and_options():
    space = preset("dna", 3)
    assert isinstance(make_strategy("reinforce", space, 0), Strategy)
    assert isinstance(make_strategy("random", space, 0, lr=1e-3, entropy_weight=0.1), RandomSearch)
    assert make_strategy("reinforce", space, 0, lr=1e-3).optimizer.param_groups[0]["lr"] == 1e-3
    with pytest.raises(UserError, match="Unknown strategy 'annealing'"):
        make_strategy("annealing", space, 0)
    with pytest.raises(UserError, match="learning_rate"):
        make_strategy("reinforce", space, 0, learning_rate=0.1)
    with pytest.raises(UserError, match="--reward-transform"):
        make_strategy("reinforce", space, 0, reward_transform="square")


def test_checkpoint_of_another_strategy_or_space_is_refused():
    state = round_trip(Reinforce(preset("zoph", 3), seed=0).state_dict())
    with pytest.raises(UserError, match="strategy 'reinforce'"):
        RandomSearch(preset("zoph", 3), seed=0).load_state_dict(state)
    with pytest.raises(UserError, match="search space"):
        Reinforce(preset("zoph-stride", 3), seed=0).load_state_dict(state)
    Reinforce(preset("zoph", 7), seed=0).load_state_dict(state)  # another depth is the layer schedule: fine


def test_collapse_warning_fires_only_when_entropy_is_low_and_rewards_flat():
    flat, rising = [0.5] * 20, [0.3] * 10 + [0.6] * 10
    assert collapse_warning([0.1] * 20, flat, threshold=1.0) is not None
    assert collapse_warning([0.1] * 20, rising, threshold=1.0) is None
    assert collapse_warning([5.0] * 20, flat, threshold=1.0) is None
    assert collapse_warning([0.1] * 5, flat[:5], threshold=1.0) is None  # too little history


def test_controller_learns_a_10_layer_target_far_above_random_search():
    """75 decisions (30 tokens, 45 skip bits): the depth where a controller sharing every parameter across layers
    stayed at chance; with position embeddings, skip biases and the per-decision entropy bonus it learns."""
    space = preset("zoph", 10)
    target = synthetic_target(space, seed=5)
    learned = _mean_reward_of_last(Reinforce(space, seed=0), target, children=1500, per_episode=10, last=100)
    random = _mean_reward_of_last(RandomSearch(space, seed=0), target, children=1500, per_episode=10, last=100)
    assert random < 0.45 and learned > 0.6
