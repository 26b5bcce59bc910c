"""A2C on the controller: the actor's and the critic's gradients by hand, it learns a target, it resumes exactly."""

import torch
import torch.nn.functional as F

from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.a2c import A2C
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import SearchSpace, Token, preset

#: One layer, two tokens, no skips: two decision steps, each a softmax whose gradient is known in closed form.
TINY = SearchSpace("tiny", 1, (Token("filters", (16, 32)), Token("filter_height", (1, 3, 5))), skips=False)


def test_actor_and_critic_gradients_equal_a_hand_computation():
    w, c = 0.3, 0.7  # entropy weight, value weight
    a2c = A2C(TINY, seed=0, tanh_constant=None, entropy_weight=w, value_weight=c, grad_clip=None)
    archs = [
        TINY.architecture([{"filters": 16, "filter_height": 5}]),
        TINY.architecture([{"filters": 32, "filter_height": 1}]),
        TINY.architecture([{"filters": 32, "filter_height": 3}]),
    ]
    rewards = torch.tensor([0.2, 0.9, 0.5])
    m, steps = len(archs), 2
    # The forward quantities, from the controller's own pass: h_t per step, then everything else by hand.
    with torch.no_grad():
        hidden = a2c.controller.steps(archs).hidden  # [m, 2, H]
        values = a2c.value_head(hidden).squeeze(-1)  # [m, 2]
    tokens = [t.name for t in TINY.tokens]  # the controller's order of decisions within a layer
    expected_heads, expected_value_bias, expected_value_weight = [], torch.tensor(0.0), torch.zeros_like(hidden[0, 0])
    for t, name in enumerate(tokens):
        head = a2c.controller.heads[t]
        grad = torch.zeros(len(TINY.tokens[t].choices))
        for k, arch in enumerate(archs):
            with torch.no_grad():
                log_p = F.log_softmax(head(hidden[k, t]), dim=-1)
            p = log_p.exp()
            chosen = F.one_hot(torch.tensor(TINY.tokens[t].index(arch.layers[0][name])), len(p)).float()
            entropy = -(p * log_p).sum()
            advantage = rewards[k] - values[k, t]
            # d/dz of -A log p_a is -A (e_a - p); of -w H / D (D = 2 decisions) is w p (log p + H) / D.
            grad += (-advantage * (chosen - p) + w * p * (log_p + entropy) / steps) / m
            # d/dV of c (V - R)^2 averaged over the steps and the children.
            expected_value_bias = expected_value_bias + c * 2 * (values[k, t] - rewards[k]) / (steps * m)
            expected_value_weight = expected_value_weight + c * 2 * (values[k, t] - rewards[k]) * hidden[k, t] / (
                steps * m
            )
        expected_heads.append(grad)
    seen = {}
    original = a2c.optimizer.step

    def record(*args, **kwargs):
        seen["heads"] = [head.bias.grad.clone() for head in a2c.controller.heads]
        seen["value_bias"] = a2c.value_head.bias.grad.clone()
        seen["value_weight"] = a2c.value_head.weight.grad.clone()
        seen["trunk"] = a2c.controller.lstm[0].weight_ih.grad.clone()
        return original(*args, **kwargs)

    a2c.optimizer.step = record
    a2c.baseline = 0.0  # the logged moving average plays no part in the actor-critic loss
    a2c.update(archs, rewards.tolist())
    for got, want in zip(seen["heads"], expected_heads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(seen["value_bias"], expected_value_bias.reshape(1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(seen["value_weight"], expected_value_weight.reshape(1, -1), rtol=1e-5, atol=1e-6)
    assert seen["trunk"].abs().sum() > 0  # actor and critic share the LSTM, as in A3C


def test_a2c_learns_the_synthetic_target_clearly_better_than_chance():
    space = preset("zoph", 3)  # chance is 0.3125
    target = synthetic_target(space, seed=0)
    a2c = make_strategy("a2c", space, seed=0)
    rewards = []
    for _ in range(100):
        archs = a2c.propose(10)
        r = [synthetic_reward(a, target) for a in archs]
        stats = a2c.update(archs, r)
        rewards += r
    assert sum(rewards[-100:]) / 100 > 0.8  # measured: 0.97 (REINFORCE: 0.82)
    assert stats["value_loss"] < 0.05 and 0.8 < stats["baseline"] < 1.0  # the critic tracks the rising reward (0.98)


def test_resumed_a2c_continues_exactly_including_the_critic():
    space = preset("zoph", 4)
    target = synthetic_target(space, seed=1)

    def play(strategy, episodes: int) -> list:
        out = []
        for _ in range(episodes):
            archs = strategy.propose(6)
            strategy.update(archs, [synthetic_reward(a, target) for a in archs])
            out += archs
        return out

    whole = make_strategy("a2c", space, seed=5, lr_decay=0.99)
    expected = play(whole, 6)
    first = make_strategy("a2c", space, seed=5, lr_decay=0.99)
    head = play(first, 3)
    state = first.state_dict()
    resumed = make_strategy("a2c", space, seed=5, lr_decay=0.99)
    resumed.load_state_dict(state)
    assert head + play(resumed, 3) == expected
    for got, want in zip(resumed.value_head.parameters(), whole.value_head.parameters(), strict=True):
        assert torch.equal(got, want)
