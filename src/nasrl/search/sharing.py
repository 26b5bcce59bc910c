"""Weight sharing: ENAS's search (Pham et al. 2018, section 2.2; melodyguan/enas src/cifar10/main.py, `train`).

Each epoch:

1. the shared network (`nets.shared`) takes one pass over the training split; each minibatch runs through one
   architecture sampled from the current policy, and only that path's weights learn (the policy is fixed
   meanwhile, so the epoch's architectures are drawn in one batch);
2. the controller takes `controller_steps` steps; each samples `--children` architectures, scores each on one
   validation minibatch with the shared weights in evaluation mode (BN's moving statistics, as
   `build_valid_rl`), and updates on their accuracies (`controller_train_steps` x `controller_num_aggregate`);
3. the epoch, every sampled architecture with its minibatch reward, and the controller's steps are stored, and the
   checkpoint (shared weights, their optimizer, the strategy and its generator) is written atomically.

Every random draw comes from the strategy's generator (checkpointed) or from a generator seeded by (seed, epoch),
so a run killed anywhere and resumed equals an uninterrupted one. At the end `derive` picks the architecture.

Shared-weight training follows cifar10_macro_search.sh: SGD with Nesterov momentum 0.9, lr 0.05 -> 0.0005 on a
cosine with warm restarts (T0 10, Tmul 2), L2 2.5e-4, keep probability 0.9 before the classifier, gradient norm
5. Deviation: ENAS clips each tensor's gradient norm; we clip the global norm, as nasrl's children do.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nasrl.config import SearchConfig
from nasrl.data import Loader, Preprocess
from nasrl.nets.builder import build_shared
from nasrl.run.records import ChildRecord, ChildResult
from nasrl.run.store import RunStore
from nasrl.search.costs import Geometry
from nasrl.search.evaluators.base import child_seed
from nasrl.search.objective import Objective
from nasrl.search.strategies import Strategy
from nasrl.space import Architecture
from nasrl.train.loop import sgdr_lr


@dataclass
class EpochStats:
    train_loss: float
    train_acc: float
    lr: float
    mean_reward: float
    entropy: float
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class SharedWeights:
    """The shared network, its optimizer and the loaders it trains and is scored on, for one search."""

    def __init__(self, cfg: SearchConfig, train: Any, val: Any, num_classes: int, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.train_split, self.val_split, self.num_classes = train, val, num_classes
        space = cfg.search_space()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.run.seed)  # the initial weights depend on the seed alone
            self.network = build_shared(space, num_classes, int(train.x.shape[1])).to(device)
        if isinstance(getattr(self.network, "dropout", None), torch.nn.Dropout):  # the macro network's, not nb201's
            self.network.dropout.p = cfg.evaluator.shared_dropout
        self.optimizer = torch.optim.SGD(
            self.network.parameters(),
            lr=cfg.evaluator.shared_lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=cfg.evaluator.shared_weight_decay,
        )
        preprocess = Preprocess.fit(train.x)
        batch = cfg.evaluator.shared_batch_size
        self.train_batches = Loader(
            train, batch, preprocess, device, train=True, augment=cfg.child.augment, seed=cfg.run.seed
        )
        self.reward_batches = Loader(val, batch, preprocess, device, train=True, augment=False, seed=cfg.run.seed + 1)
        self.val_batches = Loader(val, 2 * batch, preprocess, device)

    @property
    def geometry(self) -> Geometry:
        """What the derived children are built for: the data's classes, channels and image side."""
        x = self.train_split.x
        return Geometry(self.num_classes, int(x.shape[1]), int(x.shape[-1]))

    def lr_at(self, epoch: int) -> float:
        cfg = self.cfg
        return sgdr_lr(
            epoch,
            cfg.evaluator.shared_lr,
            cfg.evaluator.shared_lr_min,
            cfg.evaluator.shared_lr_t0,
            cfg.evaluator.shared_lr_tmul,
        )

    def train_epoch(self, epoch: int, architectures: list[Architecture]) -> tuple[float, float]:
        """One pass over the training split, minibatch k through `architectures[k]`; (mean loss, accuracy)."""
        lr = self.lr_at(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(child_seed(self.cfg.run.seed, epoch, -1))  # dropout's draws
        self.train_batches.set_epoch(epoch)
        self.network.train()
        loss_sum = correct = seen = 0.0
        for (x, y), arch in zip(self.train_batches, architectures):
            logits = self.network(x, arch)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)  # the paths not taken have no gradient and do not decay
            loss.backward()
            if self.cfg.evaluator.shared_grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.cfg.evaluator.shared_grad_clip)
            self.optimizer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += float((logits.argmax(1) == y).sum())
            seen += len(y)
        return loss_sum / seen, correct / seen

    def reward_stream(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Validation minibatches for the controller's rewards, reshuffled each time the split runs out."""
        for cycle in range(1_000_000):
            self.reward_batches.set_epoch(epoch * 1_000_000 + cycle)
            yield from self.reward_batches

    @torch.no_grad()
    def accuracy(self, arch: Architecture, batches: Any) -> float:
        """The share of `batches`' images that `arch`'s path classifies correctly (evaluation mode; with
        `shared_bn_stats` "batch", BN normalises by each batch's statistics, see `batch_statistics`)."""
        self.network.eval()
        correct = seen = 0
        with batch_statistics(self.network, self.cfg.evaluator.shared_bn_stats == "batch"):
            for x, y in batches:
                correct += int((self.network(x, arch).argmax(1) == y).sum())
                seen += len(y)
        return correct / seen

    def state_dict(self) -> dict[str, Any]:
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])


@contextlib.contextmanager
def batch_statistics(network: torch.nn.Module, on: bool) -> Iterator[None]:
    """While on, every BN of `network` normalises by the statistics of the batch it sees and leaves its moving
    averages untouched. The moving averages of a shared network mix every path's statistics, so they misjudge the
    one path being scored; its own batch's statistics do not (NAS-Bench-201's search cells without
    `track_running_stats`; SPOS recomputes them per path, Guo et al. 2020, section 3.4)."""
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    kept = [(m.running_mean, m.running_var) for m in norms]
    if on:
        for m in norms:  # a BN without moving averages uses the batch's, in eval mode too (BatchNorm.forward)
            m.running_mean, m.running_var = None, None
    try:
        yield
    finally:
        for m, (mean, var) in zip(norms, kept):
            m.running_mean, m.running_var = mean, var


def run_epoch(
    shared: SharedWeights,
    strategy: Strategy,
    store: RunStore,
    epoch: int,
    on_step: Any = None,
    objective: Objective | None = None,
) -> EpochStats:
    """Steps 1 and 2 of the module docstring for one epoch; its children and controller steps are stored. With an
    `objective`, a sample over its limits is not scored (its reward is the penalty) and the others' rewards are the
    objective's of their minibatch accuracy."""
    cfg, objective = shared.cfg, objective or Objective()
    start = time.perf_counter()
    loss, acc = shared.train_epoch(epoch, strategy.propose(len(shared.train_batches)))
    batches = shared.reward_stream(epoch)
    rewards_seen: list[float] = []
    entropy = 0.0
    for step in range(cfg.evaluator.controller_steps):
        architectures = strategy.propose(cfg.run.children)
        results = [_path_result(shared, objective, arch, batches) for arch in architectures]
        rewards = [r.reward for r in results]
        episode = epoch * cfg.evaluator.controller_steps + step
        for k, (arch, result) in enumerate(zip(architectures, results)):
            store.record_child(ChildRecord.of(episode, k, arch, result))
        stats = strategy.update(architectures, rewards)
        store.record_step(episode, stats, cfg.max_layers)
        rewards_seen += rewards
        entropy = float(stats["entropy"])
        if on_step is not None:
            on_step(step + 1)
    mean_reward = sum(rewards_seen) / len(rewards_seen)
    return EpochStats(loss, acc, shared.lr_at(epoch), mean_reward, entropy, time.perf_counter() - start)


def _path_result(shared: SharedWeights, objective: Objective, arch: Architecture, batches: Any) -> ChildResult:
    """A sampled path's reward on the next minibatch, or the objective's penalty when it is over a limit."""
    judged = objective.judge(arch)
    if judged.over_limit:
        return objective.over_limit_result(judged)
    acc = shared.accuracy(arch, [next(batches)])
    return objective.score(arch, ChildResult(reward=acc, val_acc=acc))


@dataclass
class Derived:
    """An architecture sampled from the final policy and its accuracy on the whole validation split."""

    architecture: Architecture
    val_acc: float


def derive(shared: SharedWeights, strategy: Strategy, samples: int) -> list[Derived]:
    """ENAS's last step (section 2.2, "Deriving Architectures"): sample from the trained policy, score each sample
    with the shared weights, keep the best. The paper scores on one minibatch; we score on the whole validation
    split (a steadier ranking for the same few samples), best first. The strategy's generator is restored after,
    so deriving never changes what a resumed search would sample."""
    state = strategy.state_dict()
    try:
        architectures = strategy.propose(samples)
    finally:
        strategy.load_state_dict(state)
    unique = {arch.hash(): arch for arch in architectures}
    scored = [Derived(arch, shared.accuracy(arch, shared.val_batches)) for arch in unique.values()]
    return sorted(scored, key=lambda d: -d.val_acc)


def random_baseline(shared: SharedWeights, samples: int, seed: int) -> list[Derived]:
    """Shared-weight validation accuracies of uniformly random architectures of the same space, best first.

    Weight sharing's weak point made visible: if the policy's samples score no better than random ones with the
    same weights, the search has not found anything (Li & Talwalkar 2019 found random search with weight sharing
    matching ENAS; Yu et al. 2020, shared-weight rankings barely correlating with stand-alone ones)."""
    from nasrl.search.strategies.random_search import RandomSearch

    architectures = RandomSearch(shared.network.space, seed).propose(samples)
    scored = [Derived(arch, shared.accuracy(arch, shared.val_batches)) for arch in architectures]
    return sorted(scored, key=lambda d: -d.val_acc)
