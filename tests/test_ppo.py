"""PPO on the controller: its first epoch is REINFORCE's gradient, later epochs stay clipped, it learns a target."""

import math

import pytest
import torch

from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.ppo import PPO, approx_kl, clipped_surrogate
from nasrl.search.strategies.reinforce import Reinforce
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import preset


def recorded_gradients(strategy) -> list[list[torch.Tensor]]:
    """Every optimiser step's gradients, in order (the step still runs)."""
    steps: list[list[torch.Tensor]] = []
    original = strategy.optimizer.step

    def step(*args, **kwargs):
        steps.append([p.grad.clone() for p in strategy.controller.parameters() if p.grad is not None])
        return original(*args, **kwargs)

    strategy.optimizer.step = step
    return steps


def test_first_ppo_epoch_has_exactly_the_reinforce_gradient():
    space = preset("zoph", 5)
    target = synthetic_target(space, 0)
    reinforce, ppo = Reinforce(space, seed=3), PPO(space, seed=3, ppo_epochs=3)
    ppo.target_kl = None  # every epoch runs: Adam's first step alone moves the policy past the default target
    for _ in range(2):  # the second episode has a moving baseline and a trained policy
        archs = reinforce.propose(8)
        assert archs == ppo.propose(8)
        rewards = [synthetic_reward(a, target) for a in archs]
        seen_r, seen_p = recorded_gradients(reinforce), recorded_gradients(ppo)
        reinforce.update(archs, rewards)
        ppo.update(archs, rewards)
        assert len(seen_r) == 1 and len(seen_p) == 3
        for g_r, g_p in zip(seen_r[0], seen_p[0], strict=True):
            torch.testing.assert_close(g_p, g_r, rtol=0, atol=1e-7)
        # Later epochs differ: the policy moved, the ratio is no longer 1.
        assert any(not torch.allclose(a, b) for a, b in zip(seen_p[0], seen_p[1]))
        reinforce.load_state_dict(ppo.state_dict() | {"strategy": "reinforce"})  # same policy for the next episode


def test_a_tiny_kl_target_stops_the_later_epochs_and_the_policy_moves_less():
    space = preset("zoph", 5)
    target = synthetic_target(space, 0)
    moved = {}
    for target_kl in (None, 1e-9):
        ppo = PPO(space, seed=3, ppo_epochs=3)
        ppo.target_kl = target_kl
        steps = recorded_gradients(ppo)
        archs = ppo.propose(8)
        with torch.no_grad():
            before, _ = ppo.controller.log_prob(archs)
        stats = ppo.update(archs, [synthetic_reward(a, target) for a in archs])
        with torch.no_grad():
            after, _ = ppo.controller.log_prob(archs)
        moved[target_kl] = approx_kl(after, before)
        assert len(steps) == stats["epochs"] == (3 if target_kl is None else 1)
        assert stats["approx_kl"] > 1e-9  # measured before the second epoch, after the first step
    assert 0 < moved[1e-9] < moved[None] / 2


def test_the_kl_estimate_is_zero_for_the_same_policy_and_positive_otherwise():
    old = torch.tensor([-1.0, -2.0, -3.0])
    assert approx_kl(old, old) == 0
    assert approx_kl(old + torch.tensor([0.3, -0.3, 0.0]), old) > 0  # the plain mean of log ratios is 0 here


@pytest.mark.parametrize(
    ("ratio", "advantage", "gradient"),
    [
        (1.1, 2.0, 2.0 * 1.1),  # inside the clip: the plain ratio's gradient, r A
        (1.5, 2.0, 0.0),  # pushed past 1 + clip in the advantage's direction: no more push
        (0.5, 2.0, 2.0 * 0.5),  # below 1 - clip but the advantage wants it higher: still pulled up
        (0.5, -2.0, 0.0),  # below 1 - clip and the advantage wants it lower: no more push
        (1.5, -2.0, -2.0 * 1.5),  # above the clip but the advantage wants it lower: pulled down
    ],
)
def test_the_clipped_surrogate_stops_pushing_a_ratio_past_the_clip(ratio, advantage, gradient):
    old = torch.tensor([-3.0])
    log_probs = (old + math.log(ratio)).requires_grad_()
    clipped_surrogate(log_probs, old, torch.tensor([advantage]), clip=0.2).sum().backward()
    assert log_probs.grad.item() == pytest.approx(gradient, abs=1e-6)


def test_ppo_learns_the_synthetic_target():
    space = preset("zoph", 4)
    target = synthetic_target(space, 2)
    ppo = make_strategy("ppo", space, seed=0)
    rewards = []
    for _ in range(100):
        archs = ppo.propose(10)
        rewards += [synthetic_reward(a, target) for a in archs]
        ppo.update(archs, rewards[-10:])
    assert sum(rewards[-100:]) / 100 > 0.75  # random search: about 0.34
