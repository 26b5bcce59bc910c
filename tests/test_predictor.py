"""BANANAS' selection (`--predictor-candidates`): the encoding, the ensemble's fit, the choice among a strategy's
proposals, and resume."""

import torch
from test_strategy import round_trip

from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.predictor import Ensemble, PredictorSelection, encode
from nasrl.search.strategies.random_search import RandomSearch
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import preset


def test_the_encoding_is_one_hot_per_token_and_one_column_per_skip_bit():
    space = preset("zoph", 4)  # 3 tokens of 4 choices per layer, 6 skip bits
    archs = RandomSearch(space, seed=0).propose(8)
    x = encode(space, archs)
    assert x.shape == (8, 4 * 3 * 4 + 6)
    assert torch.equal(x[:, :48].sum(1), torch.full((8,), 12.0))
    skips = [sum(len(layer.inputs) for layer in a.layers) for a in archs]
    assert x[:, 48:].sum(1).tolist() == skips


def test_the_ensemble_ranks_unseen_architectures_of_an_additive_reward():
    space = preset("nb201")
    target = synthetic_target(space, 0)
    archs = RandomSearch(space, seed=1).propose(300)
    rewards = torch.tensor([synthetic_reward(a, target) for a in archs])
    ensemble = Ensemble(30, seed=0)
    ensemble.fit(encode(space, archs[:200]), rewards[:200])
    with torch.no_grad():
        predicted = ensemble(encode(space, archs[200:])).mean(0)
    order = torch.argsort(predicted, descending=True)
    held_out = rewards[200:]
    # Its top 10 lie closer to the best of the held-out architectures than to their average.
    assert held_out[order[:10]].mean() > held_out.mean() + 0.5 * (held_out.max() - held_out.mean())


def test_selection_takes_the_strategy_proposals_until_fitted_then_the_best_predicted_fresh_ones():
    space = preset("nb201")
    target = synthetic_target(space, 2)
    chooser = make_strategy("random", space, seed=3, predictor_candidates=8)
    assert isinstance(chooser, PredictorSelection) and chooser.name == "random"
    plain = RandomSearch(space, seed=3).propose(5)
    first = chooser.propose(5)
    assert first == plain  # no fit yet: the strategy's first proposals as they come
    chooser.update(first, [synthetic_reward(a, target) for a in first])
    gains = []
    for _ in range(12):
        archs = chooser.propose(5)
        assert not {a.to_json() for a in archs} & set(chooser.data)  # fresh proposals only
        rewards = [synthetic_reward(a, target) for a in archs]
        chooser.update(archs, rewards)
        gains.append(sum(rewards) / 5)
    uniform = [synthetic_reward(a, target) for a in RandomSearch(space, seed=9).propose(200)]
    chance = sum(uniform) / len(uniform)
    assert sum(gains[-6:]) / 6 > chance + 0.25 * (1 - chance)  # a quarter of the way from uniform to the target


def test_a_resumed_selection_proposes_what_the_uninterrupted_one_does():
    space = preset("nb201")
    target = synthetic_target(space, 4)

    def play(strategy, episodes: int) -> list:
        out = []
        for _ in range(episodes):
            archs = strategy.propose(4)
            strategy.update(archs, [synthetic_reward(a, target) for a in archs])
            out += archs
        return out

    whole = play(make_strategy("reinforce", space, seed=5, predictor_candidates=4), 8)
    first = make_strategy("reinforce", space, seed=5, predictor_candidates=4)
    head = play(first, 4)
    resumed = make_strategy("reinforce", space, seed=5, predictor_candidates=4)
    resumed.load_state_dict(round_trip(first.state_dict()))
    assert head + play(resumed, 4) == whole
