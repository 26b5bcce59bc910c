"""The warning that a learned policy stopped exploring: what the search checks for a strategy with a policy."""

from __future__ import annotations

from collections.abc import Sequence


def collapse_warning(
    entropy_history: Sequence[float],
    reward_history: Sequence[float],
    threshold: float,
    window: int = 10,
    min_improvement: float = 0.0,
) -> str | None:
    """A sentence for the log when the policy has (nearly) stopped exploring while rewards stopped rising.

    Fires when the mean entropy of the last `window` episodes is below `threshold` and the mean reward of the
    last `window` episodes is not above the previous window's by more than `min_improvement`. A solved problem
    (reward at its maximum) looks the same, so the sentence says "may". A threshold of about 5-10% of
    `uniform_entropy(space)` is a reasonable start."""
    if len(entropy_history) < window or len(reward_history) < 2 * window:
        return None
    entropy = sum(entropy_history[-window:]) / window
    recent = sum(reward_history[-window:]) / window
    before = sum(reward_history[-2 * window : -window]) / window
    if entropy >= threshold or recent - before > min_improvement:
        return None
    return (
        f"The controller may have collapsed: its policy entropy is {entropy:.3f} nats (below {threshold:.3f}) "
        f"and the mean reward did not rise over the last {window} episodes ({before:.4f} -> {recent:.4f}). "
        f"Raise the entropy weight or the temperature, or lower the learning rate, if this is not convergence."
    )
