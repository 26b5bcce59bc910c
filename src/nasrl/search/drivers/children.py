"""What the two drivers that evaluate children one by one share (episodes, and children in flight): the start and
resume of a run from a search checkpoint, the executor, the episodes bar, and the outcome."""

from __future__ import annotations

import time

from nasrl.config import SearchConfig
from nasrl.run.records import ChildRecord
from nasrl.search.checkpoints import load_search_checkpoint, save_search_checkpoint
from nasrl.search.evaluators.base import Evaluator
from nasrl.search.executors import AsyncExecutor, make_executor
from nasrl.search.schedulers import Scheduler, make_scheduler
from nasrl.search.session import Session


class ChildrenDriver:
    """A search whose children are each evaluated (trained, or answered by a benchmark or a synthetic target)."""

    def __init__(self, cfg: SearchConfig, evaluator: Evaluator, note: str) -> None:
        self.cfg = cfg
        self.evaluator = evaluator
        self.note = note
        self.total_steps = cfg.run.episodes
        self.first_episode = 0
        self.executor: AsyncExecutor | None = None
        self.scheduler: Scheduler | None = make_scheduler(cfg)
        self.episode_start_state: dict | None = None
        self._task = None
        self._session_start = 0.0

    def start(self, session: Session) -> None:
        cfg, space = self.cfg, self.cfg.search_space()
        session.log.info(
            f"New search in {session.store.run_dir}: {cfg.strategy.name} over space '{cfg.space.name}' "
            f"({cfg.max_layers} layers, {len(space.tokens)} tokens per layer, skips {'on' if space.skips else 'off'}), "
            f"{cfg.run.episodes} episodes x {cfg.run.children} children, evaluator {cfg.evaluator.name}, "
            f"seed {cfg.run.seed}",
            event="start",
            config=cfg.flat(),
        )
        save_search_checkpoint(session.store, 0, session.strategy.state_dict(), cfg)
        self.first_episode = 0

    def resume(self, session: Session) -> None:
        state = load_search_checkpoint(session.store.checkpoint_path)
        session.strategy.load_state_dict(state["strategy"])
        self.first_episode = int(state["next_episode"])
        session.log.step(
            f"Resuming {session.store.run_dir} at episode {self.first_episode + 1} of {self.cfg.run.episodes} "
            f"({session.store.counts()['children']} children already stored)",
            event="resume",
            episode=self.first_episode,
        )

    def begin(self, session: Session) -> None:
        """The evaluator's note, the executor, the episodes bar and the best so far, before the first episode."""
        session.log.info(self.note, event="evaluator", evaluator=self.cfg.evaluator.name, data=self.cfg.data.source)
        session.episode = self.first_episode
        self.episode_start_state = session.strategy.state_dict()  # a snapshot: Strategy.state_dict copies
        if session.progress is not None:
            budget = self.cfg.run.max_evaluations
            if budget is None:
                self._task = session.progress.add_task(
                    "episodes", total=self.cfg.run.episodes, completed=self.first_episode, stats=""
                )
            else:  # the run ends at its budget, long before a cap of episodes
                done = session.store.distinct_evaluated()
                self._task = session.progress.add_task("evaluations", total=budget, completed=done, stats="")
        self.executor = make_executor(self.cfg, self.evaluator)
        session.log.info(self.executor.description, event="executor", executor=self.cfg.executor.name)
        self._session_start = time.perf_counter()
        session.restore_best()

    def episode_done(self, session: Session) -> None:
        """The ETA in the log and the episodes bar, after each episode (or update, in flight)."""
        done = session.episode - self.first_episode + 1
        elapsed, budget = time.perf_counter() - self._session_start, self.cfg.run.max_evaluations
        if budget is None:
            session.log_eta(done, elapsed, self.cfg.run.episodes)
        if session.progress is not None and self._task is not None:
            evaluated = session.store.distinct_evaluated() if budget is not None else None
            session.progress.update(self._task, completed=session.episode + 1 if budget is None else evaluated)

    def evaluations_left(self, session: Session, episode: int) -> int | None:
        """How many more distinct architectures the budget (`--max-evaluations`) allows before this episode's
        children (None: no budget). A resumed episode's own stored rows do not count against it."""
        budget = self.cfg.run.max_evaluations
        if budget is None:
            return None
        return max(0, budget - session.store.distinct_evaluated(before_episode=episode))

    def budget_spent(self, session: Session) -> None:
        """The log's line when the run ends at its budget of evaluations rather than its last episode."""
        session.log.step(
            f"Budget spent: {self.cfg.run.max_evaluations} distinct architectures evaluated "
            f"(--max-evaluations), after {session.store.proposed()} children",
            event="budget_spent",
            episode=session.episode,
        )

    def outcome(self, session: Session) -> tuple[int, ChildRecord | None]:
        return session.episode, session.store.best()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()
