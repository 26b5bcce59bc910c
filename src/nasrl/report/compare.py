"""`nasrl compare`: several search runs side by side, grouped by how they searched, their seeds pooled.

A single search says little: the controller's luck and the first children's draw move a run's best
reward by more than most differences between strategies. So runs are grouped by what was meant to
differ (strategy, evaluator, rungs), every run in a group counts as one seed, and each group is drawn
as the median across its seeds with the min-max band. Runs are only compared when they searched the
same space on the same data: otherwise their rewards do not measure the same thing.

Every run is read read-only (`read_search`), so runs still searching can be compared too; the
comparison is a snapshot. Its pictures and `compare.html` go to an output folder of their own.
"""

from __future__ import annotations

import html
import math
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nasrl.errors import UserError
from nasrl.report.html import figure_section, html_table, write_page
from nasrl.report.runs import SearchRun, format_table, read_search
from nasrl.search.evaluators.registry import known_evaluator

#: Children in the running mean's window: long enough to smooth one episode's luck (the paper samples 8 to
#: 15 children per episode), short enough to show what the policy samples now rather than what it sampled.
WINDOW = 50
#: Points of the common time grid on which seeds' best-so-far curves are compared against seconds.
SECONDS_GRID = 400
#: What must match for rewards to be comparable: the space searched and the data the children learn from.
SPACE_FIELDS = ("space", "layers")
DATA_FIELDS = ("data", "train_subset", "val_size")
PICTURES = {"children": "compare_children.png", "seconds": "compare_seconds.png"}

Axis = Literal["children", "seconds"]

# ----- reading and checking the runs ---------------------------------------------------------------------


@dataclass
class RunCurve:
    """One run's children in the order they finished, as the curves the comparison draws."""

    name: str
    seed: object
    rewards: np.ndarray  # each child's reward (a failed child has its defined reward, 0)
    best: np.ndarray  # best reward so far, after each child
    mean: np.ndarray  # mean reward of the last `window` children (fewer at the start)
    seconds: np.ndarray  # cumulative training seconds, after each child (a cached child adds none)
    test_of_best: float | None = None  # a benchmark's held-out accuracy of the best-by-reward child
    test_optimum: float | None = None  # the benchmark's best held-out accuracy of any architecture
    baseline: dict[str, Any] | None = None  # the default network beside the run (`nasrl baseline`), if known

    @property
    def final_best(self) -> float:
        return float(self.best[-1])


@dataclass
class Group:
    """Runs that searched the same way (strategy, evaluator, rungs): one per seed."""

    label: str
    runs: list[RunCurve]


def load_runs(paths: Sequence[str | Path]) -> list[SearchRun]:
    """Read every run folder, refusing (in one sentence) what cannot be compared, before anything is drawn."""
    if len(paths) < 2:
        raise UserError("compare needs at least two runs: give two or more search run folders.")
    seen: set[Path] = set()
    runs = []
    for path in map(Path, paths):
        if not (path / "results.sqlite").is_file() or not (path / "config.yaml").is_file():
            raise UserError(
                f"{path} is not a nasrl search run (no results.sqlite and config.yaml): "
                "give folders that `nasrl search` wrote."
            )
        if path.resolve() in seen:
            raise UserError(f"{path} is given twice: give each run once.")
        seen.add(path.resolve())
        run = read_search(path)
        if not run.children:
            raise UserError(f"{path} has no evaluated children yet, so there is nothing of it to compare.")
        runs.append(run)
    check_comparable(runs)
    return runs


def check_comparable(runs: Sequence[SearchRun]) -> None:
    """Refuse runs whose rewards measure different things: another space, other data, another hidden target."""
    first = runs[0]
    for run in runs[1:]:
        for fields, what in ((SPACE_FIELDS, "search different spaces"), (DATA_FIELDS, "use different data")):
            differ = [f for f in fields if first.config.get(f) != run.config.get(f)]
            if differ:
                raise UserError(
                    f"{first.run_dir} and {run.run_dir} {what} ({_differences(first, run, differ)}): "
                    "compare only runs of one search space on the same data."
                )
    _same_reward_fields(runs)


def _same_reward_fields(runs: Sequence[SearchRun]) -> None:
    """Runs of one evaluator must agree on the settings that decide what its reward means (its `reward_fields`:
    the synthetic evaluator's target seed, say), and every run on its objective (a limit, MnasNet's target)."""
    from nasrl.config import FLAT_FIELDS, flat_default

    timing = {"measure_latency", "latency_device", "latency_seconds"}  # how latency is timed, not what is rewarded
    objective = [k for k, (section, _) in FLAT_FIELDS.items() if section == "objective" and k not in timing]
    for field in objective:
        values = [r.config.get(field, flat_default(field)) for r in runs]
        differ = next((i for i, v in enumerate(values) if v != values[0]), None)
        if differ is not None:
            raise UserError(
                f"{runs[0].run_dir} and {runs[differ].run_dir} maximise different objectives ({field} "
                f"{values[0]} vs {values[differ]}): compare runs with one --{field.replace('_', '-')}."
            )
    for name in dict.fromkeys(r.config.get("evaluator") for r in runs):
        kind = known_evaluator(name)
        same = [r for r in runs if r.config.get("evaluator") == name]
        for field, what in (kind.reward_fields if kind is not None else {}).items():
            for run in same[1:]:
                if run.config.get(field) != same[0].config.get(field):
                    raise UserError(
                        f"{same[0].run_dir} and {run.run_dir} {what} ({_differences(same[0], run, [field])}): "
                        f"compare runs with one --{field.replace('_', '-')}."
                    )


def _differences(a: SearchRun, b: SearchRun, fields: Sequence[str]) -> str:
    return ", ".join(f"{f} {a.config.get(f)} vs {b.config.get(f)}" for f in fields)


def group_key(config: dict[str, Any]) -> tuple[str, str, str]:
    """What a comparison contrasts: strategy, evaluator and rungs (`-` where a config has no rungs)."""
    rungs = config.get("rungs")
    return (
        str(config.get("strategy", "?")),
        str(config.get("evaluator", "?")),
        "-" if rungs in (None, "") else str(rungs),
    )


def run_curve(run: SearchRun, window: int = WINDOW) -> RunCurve:
    """A run's curves over its children in finishing order: children evaluated is what a search spends,
    whichever child (of an episode, or of those in flight) finished first."""
    children = sorted(run.children, key=lambda c: (c.finished_at, c.episode, c.child))
    rewards = np.array([c.reward for c in children], dtype=float)
    sums = np.concatenate([[0.0], np.cumsum(rewards)])
    counts = np.minimum(np.arange(1, len(rewards) + 1), window)
    mean = (sums[1:] - sums[np.arange(1, len(rewards) + 1) - counts]) / counts
    seconds = np.cumsum([c.train_seconds or 0.0 for c in children])
    name = run.run_dir.resolve().name
    best = run.best
    test = best.test_acc if best is not None else None
    optimum = run.meta.get("test_optimum") if isinstance(run.meta.get("test_optimum"), (int, float)) else None
    seed = run.config.get("seed", "?")
    curves = (rewards, np.maximum.accumulate(rewards), mean, seconds)
    return RunCurve(name, seed, *curves, test_of_best=test, test_optimum=optimum, baseline=run.baseline)


def group_runs(runs: Sequence[SearchRun], window: int = WINDOW) -> list[Group]:
    """The runs grouped by `group_key`, groups by label and seeds in order."""
    groups: dict[tuple[str, str, str], list[RunCurve]] = {}
    for run in runs:
        groups.setdefault(group_key(run.config), []).append(run_curve(run, window))
    return [
        Group(_label(key), sorted(curves, key=lambda c: (str(c.seed), c.name)))
        for key, curves in sorted(groups.items())
    ]


def _label(key: tuple[str, str, str]) -> str:
    strategy, evaluator, rungs = key
    return f"{strategy} / {evaluator}" + ("" if rungs == "-" else f" / rungs {rungs}")


# ----- the numbers ---------------------------------------------------------------------------------------


@dataclass
class GroupRow:
    """One line of the table, as numbers (formatting is `table_rows`'s job)."""

    label: str
    seeds: list[object]
    children: tuple[int, int]  # fewest and most children of a seed
    best_mean: float
    best_sd: float | None  # sample standard deviation; None with one seed
    auc_mean: float
    auc_sd: float | None
    needed: float | None  # median children (or seconds) to reach the target; inf: not reached; None: no times
    reached: int  # seeds that reached the target
    test_mean: float | None = None  # a benchmark's held-out accuracy of each seed's best child, over seeds
    test_sd: float | None = None
    regret_mean: float | None = None  # the optimum's held-out accuracy minus that, over seeds
    baseline_mean: float | None = None  # the default network's accuracy (`nasrl baseline`), over seeds that have one
    baseline_on: str = "val_acc"  # which accuracy the baselines compare: val_acc, or a table's test_acc
    paid_off: tuple[int, int] = (0, 0)  # seeds whose search beat the default network, of those with a verdict


def default_target(groups: Sequence[Group]) -> float:
    """The median over all runs of their final best: a level about half the runs reached, so the column
    separates groups instead of reading 'not reached' (too high) or '1' (too low) everywhere."""
    return float(statistics.median(r.final_best for g in groups for r in g.runs))


def common_budget(groups: Sequence[Group]) -> int:
    """The fewest children of any run: the area under the curve is taken over this many children in every
    run, so a run that went on longer is not credited for it."""
    return min(len(r.best) for g in groups for r in g.runs)


def to_reach(curve: RunCurve, target: float, by: Axis) -> float:
    """Children (1-based) or cumulative training seconds until the first reward >= target; inf if never."""
    hits = np.flatnonzero(curve.best >= target)
    if not hits.size:
        return math.inf
    return float(hits[0] + 1) if by == "children" else float(curve.seconds[hits[0]])


def summarise(group: Group, target: float, budget: int, by: Axis) -> GroupRow:
    """A group's line: spread across seeds of the final best and of the normalised area, and the median
    cost to reach the target (a seed that never reached it counts as infinitely far, so the median
    reads 'not reached' once half the seeds or more never got there)."""
    bests = [r.final_best for r in group.runs]
    aucs = [float(r.best[:budget].mean()) for r in group.runs]
    needs = [to_reach(r, target, by) for r in group.runs]
    timed = by == "children" or all(r.seconds[-1] > 0 for r in group.runs)
    tests = [r.test_of_best for r in group.runs if r.test_of_best is not None]
    regrets = [r.test_optimum - r.test_of_best for r in group.runs if r.test_of_best is not None and r.test_optimum]
    return GroupRow(
        label=group.label,
        seeds=[r.seed for r in group.runs],
        children=(min(len(r.best) for r in group.runs), max(len(r.best) for r in group.runs)),
        best_mean=statistics.fmean(bests),
        best_sd=statistics.stdev(bests) if len(bests) > 1 else None,
        auc_mean=statistics.fmean(aucs),
        auc_sd=statistics.stdev(aucs) if len(aucs) > 1 else None,
        needed=float(np.median(needs)) if timed else None,
        reached=sum(math.isfinite(n) for n in needs),
        test_mean=statistics.fmean(tests) if len(tests) == len(group.runs) else None,
        test_sd=statistics.stdev(tests) if len(tests) == len(group.runs) > 1 else None,
        regret_mean=statistics.fmean(regrets) if len(regrets) == len(group.runs) else None,
        **_baselines(group),
    )


def _baselines(group: Group) -> dict[str, Any]:
    """The default network's accuracy over the group's seeds that have one, and how many of their searches beat
    it (a seed without a verdict, a weight-sharing search not yet retrained, counts in neither)."""
    known = [r.baseline for r in group.runs if r.baseline is not None and r.baseline.get("baseline_value") is not None]
    if not known:
        return {}
    judged = [b for b in known if b.get("paid_off") is not None]
    return {
        "baseline_mean": statistics.fmean(b["baseline_value"] for b in known),
        "baseline_on": str(known[0].get("compared_on", "val_acc")),
        "paid_off": (sum(bool(b["paid_off"]) for b in judged), len(judged)),
    }


def table_rows(rows: Sequence[GroupRow], target: float, by: Axis) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The table as text cells, shared by the terminal and the page so both say the same."""
    unit = "children" if by == "children" else "train seconds"
    header = (
        "group",
        "seeds",
        "children",
        "final best (mean ± sd)",
        "mean best-so-far (± sd)",
        f"{unit} to reach {target:.4g} (median)",
    )
    tested = all(r.test_mean is not None for r in rows)
    if tested:
        header += ("benchmark test acc of best (mean ± sd, %)", "regret (mean, %)")
    baselined = any(r.baseline_mean is not None for r in rows)
    if baselined:
        header += ("default network (mean)", "searching paid off")
    cells = []
    for r in rows:
        low, high = r.children
        if r.needed is None:
            need = "n/a (no training time recorded)"
        elif math.isinf(r.needed):
            need = f"not reached ({r.reached}/{len(r.seeds)} seeds did)"
        else:
            need = f"{r.needed:.4g}" + ("" if r.reached == len(r.seeds) else f" ({r.reached}/{len(r.seeds)} seeds)")
        cells.append(
            (
                r.label,
                f"{len(r.seeds)} ({', '.join(map(str, r.seeds))})",
                str(low) if low == high else f"{low}-{high}",
                _spread(r.best_mean, r.best_sd),
                _spread(r.auc_mean, r.auc_sd),
                need,
                *(_test_cells(r) if tested else ()),
                *(_baseline_cells(r) if baselined else ()),
            )
        )
    return header, cells


def _baseline_cells(row: GroupRow) -> tuple[str, str]:
    """The default network's mean accuracy (`nasrl baseline`; percent for a table's test accuracy) and in how many
    seeds the search beat it; `-` for a group without one."""
    if row.baseline_mean is None:
        return "-", "-"
    paid, judged = row.paid_off
    on_test = row.baseline_on == "test_acc"
    mean = f"{100 * row.baseline_mean:.2f} % test" if on_test else f"{row.baseline_mean:.4f} val"
    return mean, f"{paid}/{judged} seeds" if judged else "retrain first"


def _test_cells(row: GroupRow) -> tuple[str, str]:
    """A benchmark's held-out accuracy of the best child (percent, as benchmarks publish it) and its regret."""
    assert row.test_mean is not None
    test = f"{100 * row.test_mean:.2f}" + ("" if row.test_sd is None else f" ± {100 * row.test_sd:.2f}")
    return test, "-" if row.regret_mean is None else f"{100 * row.regret_mean:.2f}"


def _spread(mean: float, sd: float | None) -> str:
    return f"{mean:.4f}" if sd is None else f"{mean:.4f} ± {sd:.4f}"


# ----- the pictures --------------------------------------------------------------------------------------


def band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max across seeds (rows) at each x (column), over the seeds that reach that x
    (NaN beyond a seed's last child); a column no seed reaches stays NaN and is not drawn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: before the first child finished
        return np.nanmedian(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)


def on_children(runs: Sequence[RunCurve], which: str) -> tuple[np.ndarray, np.ndarray]:
    """Children evaluated (1..most) and each seed's `which` curve, NaN after its last child."""
    length = max(len(r.best) for r in runs)
    values = np.full((len(runs), length), np.nan)
    for i, r in enumerate(runs):
        curve = getattr(r, which)
        values[i, : len(curve)] = curve
    return np.arange(1, length + 1), values


def on_seconds(runs: Sequence[RunCurve], which: str, end: float) -> tuple[np.ndarray, np.ndarray]:
    """A common grid of training seconds and each seed's `which` curve on it: the value after the last child
    finished by then, NaN before its first child and after its last."""
    grid = np.linspace(0.0, end, SECONDS_GRID)
    values = np.full((len(runs), len(grid)), np.nan)
    for i, r in enumerate(runs):
        index = np.searchsorted(r.seconds, grid, side="right") - 1
        inside = (index >= 0) & (grid <= r.seconds[-1])
        values[i, inside] = getattr(r, which)[index[inside]]
    return grid, values


def compare_plot(groups: Sequence[Group], by: Axis, window: int, path: Path) -> Path | None:
    """Best so far and the running mean per group against children or training seconds: median line, min-max
    band. None against seconds when no run recorded training time (the synthetic evaluator trains nothing)."""
    from nasrl.report import figures  # loads matplotlib with the headless Agg backend, before any pyplot

    plt = figures.plt

    timed = [Group(g.label, [r for r in g.runs if r.seconds[-1] > 0]) for g in groups]
    shown = groups if by == "children" else [g for g in timed if g.runs]
    if not shown:
        return None
    end = max((r.seconds[-1] for g in shown for r in g.runs), default=0.0)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for colour, group in zip(plt.get_cmap("tab10").colors * 10, shown):
        for ax, which in zip(axes, ("best", "mean")):
            x, values = on_children(group.runs, which) if by == "children" else on_seconds(group.runs, which, end)
            median, low, high = band(values)
            seeds = len(group.runs)
            label = f"{group.label} ({seeds} seed{'' if seeds == 1 else 's'})"
            steps = "steps-post" if by == "children" else "default"  # a curve changes only when a child finishes
            ax.plot(x, median, c=colour, lw=2, label=label, drawstyle=steps)
            ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0, step="post" if by == "children" else None)
    xlabel = "children evaluated" if by == "children" else "training seconds (cumulative, children in order)"
    axes[0].set(xlabel=xlabel, ylabel="reward", title="Best reward so far")
    axes[1].set(xlabel=xlabel, ylabel="reward", title=f"Mean reward of the last {window} children")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        if by == "children":
            ax.xaxis.set_major_locator(figures.MaxNLocator(integer=True))
    return figures.save_figure(fig, path)


# ----- the command ---------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """What `nasrl compare` found and wrote: the groups, the table as text and the page."""

    groups: list[Group]
    rows: list[GroupRow]
    header: tuple[str, ...]
    cells: list[tuple[str, ...]]
    target: float
    budget: int
    html_path: Path

    @property
    def text(self) -> str:
        return format_table(self.header, self.cells)


def compare(
    paths: Sequence[str | Path],
    out: str | Path = "compare",
    by: Axis = "children",
    target: float | None = None,
    window: int = WINDOW,
) -> Comparison:
    """Read, check and group the runs, then write OUT/compare.html and its two PNG pictures."""
    if window < 1:
        raise UserError(f"--window {window} is not a number of children: give 1 or more.")
    groups = group_runs(load_runs(paths), window)
    goal = default_target(groups) if target is None else float(target)
    budget = common_budget(groups)
    rows = [summarise(g, goal, budget, by) for g in groups]
    header, cells = table_rows(rows, goal, by)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = {axis: compare_plot(groups, axis, window, out / name) for axis, name in PICTURES.items()}
    for axis, name in PICTURES.items():
        if made[axis] is None:
            (out / name).unlink(missing_ok=True)  # never leave a stale picture from an earlier comparison
    body = _page_body(groups, header, cells, goal, target is None, budget, by, window, made, out)
    page = out / "compare.html"
    write_page(
        page,
        f"nasrl compare: {len(groups)} group{'' if len(groups) == 1 else 's'}",
        body,
        f"<code>nasrl compare</code> at {time.strftime('%Y-%m-%d %H:%M:%S')}",
    )
    return Comparison(groups, rows, header, cells, goal, budget, page)


def _page_body(
    groups: Sequence[Group],
    header: tuple[str, ...],
    cells: list[tuple[str, ...]],
    target: float,
    default: bool,
    budget: int,
    by: Axis,
    window: int,
    made: dict[str, Path | None],
    out: Path,
) -> list[str]:
    """The page: the table with what each column means, then the primary picture and the other one."""
    where = "the median over all runs of their final best reward" if default else "given with --target"
    unit = "children evaluated" if by == "children" else "cumulative training seconds"
    notes = [
        "Each group is one strategy / evaluator / rungs; each of its runs is a seed.",
        "Final best: the best reward a seed found; mean and sample standard deviation across seeds.",
        f"Mean best-so-far: the area under the best-so-far curve over the first {budget} children (the fewest "
        f"any run has), divided by {budget}; so a mean best-so-far, in [0, 1] for rewards in [0, 1]; across seeds.",
        f"To reach: {unit} until a seed first found a reward of at least {target:.4g} ({where}); the median "
        "across seeds, where a seed that never reached it counts as infinitely far.",
    ]
    if "searching paid off" in header:
        notes.append(
            "Default network: each run's space's default network (`nasrl baseline RUN_DIR`: trained for the search's "
            "wall time, or a benchmark table's figures), its mean over the seeds that have one; searching paid off: "
            "the seeds whose best child beat it."
        )
    runs = [(g.label, str(r.seed), r.name, str(len(r.best)), f"{r.final_best:.4f}") for g in groups for r in g.runs]
    body = [
        "<section><h2>Groups</h2>"
        + html_table(header, cells)
        + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
        + "</section>"
    ]
    captions = {
        "children": "against children evaluated (in the order they finished)",
        "seconds": "against training seconds (each run's children's train_seconds added up in order; "
        "cached children add none)",
    }
    missing = "No run recorded training time (the synthetic evaluator trains nothing), so there is no time axis."
    for axis in (by, "seconds" if by == "children" else "children"):
        caption = (
            f"Reward {captions[axis]}: each group's median across its seeds (line) and min-max (band); "
            f"right: the mean reward of the last {window} children (fewer at the start). Beyond a seed's "
            "last child the median is over the seeds still going."
        )
        title = f"Reward {captions[axis].split(' (')[0]}" + (" (primary)" if axis == by else "")
        body.append(figure_section(title, out, PICTURES[axis], made[axis], caption, missing))
    runs_table = html_table(("group", "seed", "run", "children", "best"), runs)
    body.append(f"<section><h2>Runs</h2>{runs_table}</section>")
    return body
