"""Evolution strategies: the estimate on a quadratic, antithetic proposals, ranks, learning a target, exact resume."""

import torch

from nasrl.search.strategies import make_strategy
from nasrl.search.strategies.es import EvolutionStrategies, centered_ranks, es_gradient, noise
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import preset


def quadratic(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -0.5 * x @ a @ x + b @ x


def test_the_antithetic_estimate_of_a_quadratic_is_its_gradient_along_each_noise_and_converges():
    torch.manual_seed(0)
    d, sigma = 6, 0.3
    q = torch.randn(d, d, dtype=torch.float64)
    a, b = q @ q.T + torch.eye(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    theta = torch.randn(d, dtype=torch.float64)
    gradient = -a @ theta + b
    eps = torch.randn(1, d, dtype=torch.float64)
    pair = torch.cat([eps, eps])
    fitness = torch.stack([quadratic(theta + sigma * eps[0], a, b), quadratic(theta - sigma * eps[0], a, b)])
    one_pair = es_gradient(pair, torch.tensor([1.0, -1.0]), fitness, sigma)
    # The even terms of a quadratic cancel in a mirrored pair: the estimate is (eps . grad) eps exactly.
    torch.testing.assert_close(one_pair, (eps[0] @ gradient) * eps[0], rtol=1e-10, atol=1e-10)
    # Averaged over many pairs it approaches the gradient (E[eps eps^T] = I).
    many = torch.randn(4000, d, dtype=torch.float64)
    noises = torch.cat([many, many])
    signs = torch.cat([torch.ones(4000), -torch.ones(4000)])
    points = theta + sigma * signs.unsqueeze(1).double() * noises
    values = -0.5 * ((points @ a) * points).sum(1) + points @ b
    estimate = es_gradient(noises, signs, values, sigma)
    assert torch.linalg.norm(estimate - gradient) / torch.linalg.norm(gradient) < 0.1
    # With ranks in place of the values the scale changes but not the direction.
    ranked = es_gradient(noises, signs, centered_ranks(values.tolist()).double(), sigma)
    assert torch.nn.functional.cosine_similarity(ranked, gradient, dim=0) > 0.9


def test_centered_ranks_span_minus_half_to_half_and_ties_share_their_rank():
    assert centered_ranks([3.0, 1.0, 2.0]).tolist() == [0.5, -0.5, 0.0]
    assert centered_ranks([0.4, 0.4, 0.1, 0.9]).tolist() == [0.0, 0.0, -0.5, 0.5]
    assert centered_ranks([0.7]).tolist() == [0.0]


def test_proposals_come_from_mirrored_perturbations_and_leave_the_mean_unchanged():
    es = EvolutionStrategies(preset("zoph", 3), seed=0)
    before = [p.clone() for p in es.controller.parameters()]
    es.propose(5)
    assert all(torch.equal(p, q) for p, q in zip(es.controller.parameters(), before))
    seeds = [(p.seed, p.sign) for p in es.pending]
    assert [s for _, s in seeds] == [1, -1, 1, -1, 1]
    assert seeds[0][0] == seeds[1][0] and seeds[2][0] == seeds[3][0] and seeds[0][0] != seeds[2][0]
    es.propose(1)  # the open pair closes in the next episode
    assert (es.pending[-1].seed, es.pending[-1].sign) == (seeds[4][0], -1)


def test_an_update_steps_along_the_ranked_noise_and_children_find_their_own_noise_in_any_order():
    space = preset("zoph", 3)
    target = synthetic_target(space, seed=0)
    runs = []
    for order in (slice(None), slice(None, None, -1)):
        es = EvolutionStrategies(space, seed=2, es_weight_decay=0.0)
        archs = es.propose(6)
        rewards = [synthetic_reward(a, target) for a in archs]
        seen = {}
        original = es.optimizer.step

        def record(*args, es=es, seen=seen, original=original, **kwargs):
            seen["grad"] = torch.cat([p.grad.flatten() for p in es.params])
            return original(*args, **kwargs)

        es.optimizer.step = record
        pending = list(es.pending)
        es.update(archs[order], rewards[order])
        runs.append(seen["grad"])
    ranks = centered_ranks(rewards)
    want = sum(r * p.sign * noise(p.seed, es.size) for r, p in zip(ranks, pending)) / 6
    torch.testing.assert_close(runs[0], -want, rtol=1e-5, atol=1e-7)  # -sigma * g, the starter's scale
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-5, atol=1e-7)
    assert not es.pending


def test_es_learns_the_synthetic_target_well_above_chance():
    space = preset("zoph", 3)  # chance is 0.3125
    target = synthetic_target(space, seed=0)
    es = make_strategy("es", space, seed=0)
    rewards = []
    for _ in range(60):
        archs = es.propose(10)
        r = [synthetic_reward(a, target) for a in archs]
        es.update(archs, r)
        rewards += r
    first, last = sum(rewards[:100]) / 100, sum(rewards[-100:]) / 100
    assert first < 0.4 and last > 0.6, (first, last)  # measured: 0.35 -> 0.70


def test_resumed_es_continues_exactly_with_a_pair_open_across_the_checkpoint():
    space = preset("zoph", 4)
    target = synthetic_target(space, seed=1)

    def play(strategy, episodes: int) -> list:
        out = []
        for _ in range(episodes):
            archs = strategy.propose(5)  # odd: every other episode starts with the second half of a pair
            strategy.update(archs, [synthetic_reward(a, target) for a in archs])
            out += archs
        return out

    expected = play(make_strategy("es", space, seed=5), 6)
    first = make_strategy("es", space, seed=5)
    head = play(first, 3)
    assert first.open_pair is not None
    resumed = make_strategy("es", space, seed=5)
    resumed.load_state_dict(first.state_dict())
    assert head + play(resumed, 3) == expected
