"""A reward with a known answer: how much of a hidden target architecture a sample matches.

It trains nothing, so it shows in seconds whether the controller learns (the
reward can reach 1.0 only by finding the target) and drives the demo and the
resume tests. Chance level is about 1/len(choices) per token and 1/2 per skip.
"""

from __future__ import annotations

import random

from nasrl.space import Architecture, SearchSpace


def synthetic_target(space: SearchSpace, seed: int) -> Architecture:
    """The hidden target: uniform choices and skips from `random.Random(seed)` (stable across versions)."""
    rng = random.Random(seed)
    values = [{t.name: rng.choice(t.choices) for t in space.tokens} for _ in range(space.num_layers)]
    inputs = None
    if space.skips:
        inputs = [[j for j in range(i) if rng.random() < 0.5] for i in range(space.num_layers)]
    return space.architecture(values, inputs).validate(space)


def synthetic_reward(arch: Architecture, target: Architecture, skips: bool = True) -> float:
    """The fraction of decisions (tokens, and skip bits where searched) equal to the target's."""
    matches = total = 0
    for i, (layer, goal) in enumerate(zip(arch.layers, target.layers, strict=True)):
        for name, value in goal.values:
            matches += layer[name] == value
            total += 1
        if skips:
            for j in range(i):
                matches += (j in layer.inputs) == (j in goal.inputs)
                total += 1
    return matches / total
