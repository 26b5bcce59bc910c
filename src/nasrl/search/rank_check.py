"""The honest check of weight sharing: do shared-weight accuracies rank architectures as training them does?

`nasrl derive RUN_DIR --rank-check K` trains K architectures stand-alone (their final form, from scratch, with the
run's child settings for `--rank-epochs` epochs on the run's training split) and compares their validation
accuracies with their shared-weight ones by Kendall's tau-b and Spearman's rho. The K are spread evenly over the
ranking of the derived samples and the random baseline, so both good and bad shared-weight scores are tested. A tau
near 0, as Yu et al. (2020) measured in a reduced space, means the shared weights do not say which architecture is
better; ENAS never reported this number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nasrl.nets import builder
from nasrl.search.evaluators.base import child_seed, reward_from_history
from nasrl.search.sharing import Derived, SharedWeights
from nasrl.train.loop import fit


@dataclass
class RankCheck:
    """Shared-weight and stand-alone validation accuracy of each checked architecture, and their agreement."""

    entries: list[dict]  # hash, shared_acc, standalone_acc, params
    kendall_tau: float
    spearman_rho: float
    epochs: int

    def as_dict(self) -> dict:
        return {
            "kendall_tau": self.kendall_tau,
            "spearman_rho": self.spearman_rho,
            "epochs": self.epochs,
            "architectures": self.entries,
        }


def spread(candidates: Sequence[Derived], k: int) -> list[Derived]:
    """k of the candidates, evenly spaced over their shared-weight ranking (best and worst included)."""
    unique = {d.architecture.hash(): d for d in reversed(list(candidates))}  # the first of each architecture
    ranked = sorted(unique.values(), key=lambda d: -d.val_acc)
    if k >= len(ranked):
        return ranked
    return [ranked[round(i * (len(ranked) - 1) / (k - 1))] for i in range(k)] if k > 1 else ranked[:1]


def rank_check(shared: SharedWeights, candidates: Sequence[Derived], k: int, epochs: int) -> RankCheck:
    """Train `k` of `candidates` stand-alone and correlate; each trains with a seed of its own (the run's seed and
    its rank), so the check repeats exactly."""
    cfg = shared.cfg
    entries = []
    for i, derived in enumerate(spread(candidates, k)):
        arch = derived.architecture
        seed = child_seed(cfg.run.seed, -2, i)
        torch.manual_seed(seed)
        model = builder.build(arch, shared.num_classes, int(shared.train_split.x.shape[1]))
        result = fit(
            model,
            shared.train_split,
            shared.val_split,
            cfg.child_training(seed).model_copy(update={"epochs": epochs}),
            device=shared.device,
            progress=False,
        )
        entries.append(
            {
                "hash": arch.hash(),
                "shared_acc": derived.val_acc,
                "params": builder.count_parameters(model),
                "standalone_acc": reward_from_history(result.history, "best"),
            }
        )
    shared_accs = [e["shared_acc"] for e in entries]
    alone = [e["standalone_acc"] for e in entries]
    return RankCheck(entries, kendall_tau(shared_accs, alone), spearman_rho(shared_accs, alone), epochs)


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either list reduce the denominator, as scipy.stats.kendalltau); nan when a list
    is constant."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denominator if denominator else float("nan")


def spearman_rho(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho: Pearson's correlation of the ranks (ties share their average rank)."""
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    norm = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / norm if norm else float("nan")


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
