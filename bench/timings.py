"""Wall-clock timings that used to be asserts in the tests (a loaded machine made them fail at random).

    python bench/timings.py                    # every measurement, best and median of 5 repeats
    python bench/timings.py --repeats 1 --threads 1

One line per measurement, best and median over `--repeats` runs in this process:

  build nascnn15        `builder.build(zoo.NASCNN15)` (tests/test_child.py; the test used to ask for < 1 s)
  forward nascnn15      one forward pass of 2 images of 32x32 pixels, no gradient, after one warm-up pass
  learning test         tests/test_strategy.py::test_controller_learns_the_synthetic_target_clearly_better_than_random:
                        REINFORCE then random search, 1,000 children each in episodes of 10 on the zoph space with
                        3 layers (the test used to ask for < 30 s); its two rewards are printed too
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from nasrl.nets import builder
from nasrl.search.strategies import Strategy
from nasrl.search.strategies.random_search import RandomSearch
from nasrl.search.strategies.reinforce import Reinforce
from nasrl.search.synthetic import synthetic_reward, synthetic_target
from nasrl.space import preset, zoo


def timed(work: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(best, median) seconds of `repeats` calls of `work`, and what its last call returned."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds), result


def report(name: str, best: float, median: float, repeats: int, note: str = "") -> None:
    print(f"{name:18s} best {best:8.3f} s   median {median:8.3f} s   ({repeats} runs){'   ' + note if note else ''}")


def mean_reward_of_last(strategy: Strategy, target, children: int = 1000, per_episode: int = 10, last: int = 100):
    rewards: list[float] = []
    for _ in range(children // per_episode):
        archs = strategy.propose(per_episode)
        r = [synthetic_reward(a, target) for a in archs]
        strategy.update(archs, r)
        rewards += r
    return sum(rewards[-last:]) / last


def learning_test() -> tuple[float, float]:
    space = preset("zoph", 3)
    target = synthetic_target(space, seed=0)
    return (
        mean_reward_of_last(Reinforce(space, seed=0), target),
        mean_reward_of_last(RandomSearch(space, seed=0), target),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--learning-repeats", type=int, default=1, help="runs of the learning test (default 1)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")

    best, median, model = timed(lambda: builder.build(zoo.NASCNN15), args.repeats)
    report("build nascnn15", best, median, args.repeats, f"{builder.count_parameters(model):,} parameters")

    images = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        model(images)  # warm-up: the first pass pays for allocations
        best, median, _ = timed(lambda: model(images), args.repeats)
    report("forward nascnn15", best, median, args.repeats, "2 images, 32x32, no grad")

    best, median, (learned, random) = timed(learning_test, args.learning_repeats)
    report("learning test", best, median, args.learning_repeats, f"reward {learned:.3f} vs random {random:.3f}")


if __name__ == "__main__":
    main()
