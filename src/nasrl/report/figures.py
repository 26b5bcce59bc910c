"""The search report's figures (matplotlib, headless Agg), one function per picture.

Each function takes plain data read from the run store and writes one PNG atomically (a browser
refreshing `report.html` while a report is rewritten never sees half a picture). A function
returns None when its data cannot make a meaningful picture; the report then says why in words,
because an empty plot looks like a bug.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from nasrl.run.atomic import write_bytes_atomic
from nasrl.run.records import ChildRecord, ChildStatus  # noqa: E402
from nasrl.search.objective import COSTS, accuracy_of, format_cost, pareto_front  # noqa: E402
from nasrl.search.strategies.registry import known_strategy  # noqa: E402
from nasrl.space import Architecture, SearchSpace  # noqa: E402

#: Most columns of the policy heatmap: episodes are grouped into at most this many blocks.
MAX_BLOCKS = 20
DPI = 110


def save_figure(fig: plt.Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    path.chmod(0o644)  # atomic writes make private files; a report is for sharing
    return path


def child_position(rec: ChildRecord, per_episode: int) -> float:
    """A child's place on an episode axis: episode 3's children spread over [3, 4) in sampling order."""
    return rec.episode + (rec.child + 0.5) / max(per_episode, 1)


def rewards_plot(children: Sequence[ChildRecord], steps: Sequence[dict], per_episode: int, path: Path) -> Path | None:
    """Every child's reward over the search, the controller's moving-average baseline and the best so far:
    the one picture that says whether the search is learning."""
    if not children:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.2))
    groups = (
        ("trained", [c for c in children if c.ok and not c.cached], dict(c="tab:blue", marker="o")),
        (
            "cached (seen before)",
            [c for c in children if c.ok and c.cached],
            dict(c="tab:gray", marker="."),
        ),
        ("failed", [c for c in children if c.status == ChildStatus.FAILED], dict(c="tab:red", marker="x")),
        (
            "over the limit (not trained)",
            [c for c in children if c.status == ChildStatus.OVER_LIMIT],
            dict(c="tab:orange", marker="v"),
        ),
    )
    for label, recs, style in groups:
        if recs:
            xs = [child_position(c, per_episode) for c in recs]
            ax.scatter(xs, [c.reward for c in recs], s=16, alpha=0.6, label=f"{label} ({len(recs)})", zorder=3, **style)
    ordered = sorted(children, key=lambda c: (c.episode, c.child))
    best, best_x, best_y = -math.inf, [], []
    for c in ordered:
        if c.ok and c.reward > best:
            best = c.reward
        if best > -math.inf:
            best_x.append(child_position(c, per_episode))
            best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", c="tab:green", lw=2, label=f"best so far ({best:.4f})")
    if steps:
        # The baseline after episode e's update is what episode e + 1's advantages were measured against.
        xs = [s["episode"] + 1 for s in steps]
        if any(s.get("baseline") is not None for s in steps):
            ax.plot(
                xs, [_num(s.get("baseline")) for s in steps], c="tab:orange", lw=2, label="baseline (moving average)"
            )
        ax.plot(
            xs,
            [_num(s.get("mean_reward")) for s in steps],
            c="tab:purple",
            lw=1,
            alpha=0.6,
            ls="--",
            label="episode mean",
        )
    ax.set(xlabel="episode", ylabel="reward", title="Reward of every child")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def controller_plot(
    steps: Sequence[dict],
    path: Path,
    uniform_entropy: Sequence[float] | None = None,
    collapse_fraction: float | None = None,
    collapse_episode: int | None = None,
    strategy: str = "reinforce",
) -> Path | None:
    """Policy entropy and loss per episode (for evolution: the population's diversity, no loss); a collapsing
    policy shows as entropy near zero early on.

    `uniform_entropy` (one value per step: the most a policy over that depth can have) gives the entropy its
    scale, and the collapse threshold is that times `collapse_fraction`."""
    if not steps:
        return None
    episodes = [s["episode"] + 1 for s in steps]
    fig, (ax_ent, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.8))
    kind = known_strategy(strategy)
    what = kind.entropy_label if kind is not None else "policy entropy"
    ax_ent.plot(episodes, [_num(s.get("entropy")) for s in steps], "o-", ms=3, c="tab:blue", label=what)
    if uniform_entropy is not None:
        ax_ent.plot(episodes, uniform_entropy, c="gray", ls="--", lw=1, label="uniform policy (maximum)")
        if collapse_fraction:
            ax_ent.plot(
                episodes,
                [collapse_fraction * u for u in uniform_entropy],
                c="tab:red",
                ls=":",
                lw=1,
                label=f"collapse threshold ({collapse_fraction:.0%} of uniform)",
            )
    loss_name = kind.loss_label if kind is not None else "no loss"
    ax_loss.plot(episodes, [_num(s.get("loss")) for s in steps], "o-", ms=3, c="tab:orange", label=loss_name)
    ax_loss.axhline(0, c="gray", lw=0.8)
    if collapse_episode is not None:
        for ax in (ax_ent, ax_loss):
            ax.axvline(collapse_episode + 1, c="tab:red", lw=1.5, alpha=0.7, label="collapse warning")
    ax_ent.set(xlabel="episode", ylabel="entropy (nats)", title="Controller entropy")
    ax_loss.set(xlabel="episode", ylabel="loss", title="Controller loss")
    ax_ent.set_ylim(bottom=0)
    for ax in (ax_ent, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def shared_plot(epochs: Sequence[dict], path: Path) -> Path | None:
    """A weight-sharing search per epoch: the shared network's training loss and accuracy, its learning rate
    (cosine with warm restarts: the jumps are restarts, not bugs), and the controller's mean reward and entropy
    over the steps after it. Shows whether the shared weights learn and whether the controller follows them.
    None without a finished epoch (an interrupted first epoch, a run that does not share weights)."""
    if not epochs:
        return None
    xs = [e["epoch"] + 1 for e in epochs]
    fig, (ax_train, ax_lr, ax_ctrl) = plt.subplots(1, 3, figsize=(14, 3.8))
    ax_train.plot(xs, [_num(e.get("train_loss")) for e in epochs], "o-", ms=3, c="tab:red", label="training loss")
    ax_acc = ax_train.twinx()
    ax_acc.plot(xs, [_num(e.get("train_acc")) for e in epochs], "s-", ms=3, c="tab:blue", label="training accuracy")
    ax_train.set(xlabel="epoch", ylabel="loss", title="Shared network training")
    ax_acc.set_ylabel("accuracy")
    ax_lr.plot(xs, [_num(e.get("lr")) for e in epochs], "o-", ms=3, c="tab:gray", label="learning rate")
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title="Learning rate (cosine, warm restarts)")
    ax_ctrl.plot(
        xs,
        [_num(e.get("mean_reward")) for e in epochs],
        "o-",
        ms=3,
        c="tab:purple",
        label="mean reward (one minibatch each)",
    )
    ax_ent = ax_ctrl.twinx()
    ax_ent.plot(xs, [_num(e.get("entropy")) for e in epochs], "s--", ms=3, c="tab:green", label="policy entropy")
    ax_ctrl.set(xlabel="epoch", ylabel="reward", title="Controller")
    ax_ent.set_ylabel("entropy (nats)")
    for ax, twin in ((ax_train, ax_acc), (ax_lr, None), (ax_ctrl, ax_ent)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if twin is not None:  # one legend for both axes of a panel
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.legend(handles, labels, fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


def policy_heatmap(
    sampled: Sequence[tuple[int, Architecture]], space: SearchSpace | None, path: Path
) -> tuple[Path, int] | None:
    """For each token, the share of each value among all layers sampled in a block of episodes: shows what
    the controller learned to prefer and how fast. Returns the path and the block size in episodes."""
    if not sampled:
        return None
    tokens = _token_choices(sampled, space)
    num_episodes = max(e for e, _ in sampled) + 1
    block = math.ceil(num_episodes / MAX_BLOCKS)
    num_blocks = math.ceil(num_episodes / block)
    skips = space.skips if space is not None else any(len(layer.inputs) > 1 for _, a in sampled for layer in a.layers)
    rows = [(name, choices) for name, choices in tokens] + ([("skip connections", ("",))] if skips else [])
    heights = [max(len(c), 1) + 0.6 for _, c in rows]
    fig, axes = plt.subplots(
        len(rows),
        1,
        figsize=(min(4 + 0.5 * num_blocks, 12), 0.32 * sum(heights) + 1.2),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (name, choices) in zip(axes[:, 0], rows):
        counts = np.zeros((len(choices), num_blocks))
        for episode, arch in sampled:
            b = episode // block
            for layer in arch.layers:
                if name == "skip connections":
                    counts[0, b] += len(layer.inputs)  # divided below by the connections possible
                elif name in layer.as_dict and layer[name] in choices:
                    counts[choices.index(layer[name]), b] += 1
        if name == "skip connections":
            possible = np.zeros(num_blocks)
            for episode, arch in sampled:
                possible[episode // block] += sum(range(arch.num_layers))
            share = counts / np.maximum(possible, 1)
            labels = ["share on"]  # of the connections to earlier layers a layer could have
        else:
            share = counts / np.maximum(counts.sum(0, keepdims=True), 1)
            labels = [str(c) for c in choices]
        image = ax.imshow(share, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        if share.size <= 120:
            for (r, col), v in np.ndenumerate(share):
                ax.text(col, r, f"{v:.0%}", ha="center", va="center", fontsize=6.5, color="white" if v < 0.6 else "k")
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylabel(name.replace(" ", "\n"), fontsize=8, rotation=0, ha="right", va="center", labelpad=8)
        ax.set_xticks([])
    ticks = range(num_blocks)
    labels = [_block_label(b, block, num_episodes) for b in ticks]
    step = max(1, math.ceil(num_blocks / 12))
    axes[-1, 0].set_xticks(list(ticks)[::step], labels[::step], fontsize=7, rotation=30 if block > 1 else 0)
    axes[-1, 0].set_xlabel(f"episodes (blocks of {block})")
    fig.colorbar(image, ax=axes[:, 0].tolist(), fraction=0.03, pad=0.02, label="share of sampled layers")
    axes[0, 0].set_title("How the policy's choices evolve", fontsize=10)
    return save_figure(fig, path), block


def pareto_plot(children: Sequence[ChildRecord], path: Path, limits: dict[str, float] | None = None) -> Path | None:
    """Accuracy against parameters, FLOPs and (when measured) latency, the Pareto front (no cheaper child is as
    accurate) marked, and each hard limit of the run's objective drawn: what a smaller network costs. None when no
    child has a parameter count (synthetic runs)."""
    children = list(children)
    if not any(c.ok and not c.cached and c.params for c in children):
        return None
    limits = limits or {}
    axes_of = [k for k in COSTS if any(getattr(c, k) for c in children if c.ok)]
    fig, axes = plt.subplots(1, len(axes_of), figsize=(5.5 * len(axes_of), 4.2), squeeze=False)
    over = sum(c.status == ChildStatus.OVER_LIMIT for c in children)
    for ax, key in zip(axes[0], axes_of):
        label = COST_LABELS[key]
        pts = [(float(getattr(c, key)), accuracy_of(c)) for c in children if c.ok and not c.cached and getattr(c, key)]
        front = [(float(getattr(c, key)), accuracy_of(c)) for c in pareto_front(children, key)]
        ax.scatter(*zip(*pts), s=16, alpha=0.5, c="tab:blue", label=f"children ({len(pts)})")
        ax.step(*zip(*front), where="post", c="tab:red", lw=1.5)
        ax.scatter(*zip(*front), s=36, c="tab:red", label=f"Pareto front ({len(front)})", zorder=3)
        if key in limits:
            note = f", {over} over it, not trained" if over else ""
            ax.axvline(limits[key], c="black", ls="--", lw=1.2, label=f"limit {format_cost(key, limits[key])}{note}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short log axis overlap
        ax.set(xlabel=label, ylabel="validation accuracy", title=f"Accuracy against {label}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


#: The axis label of each cost.
COST_LABELS = {"params": "parameters", "flops": "FLOPs per image", "latency_ms": "batch-1 latency (ms)"}


def architecture_graph(arch: Architecture, path: Path, title: str = "Best architecture") -> Path:
    """The architecture as a drawing: one box per layer (kernel, filters, stride, pool), the chain and skip
    connections as arrows, the loose ends feeding the classifier. Drawn with matplotlib, no graphviz needed.
    A macro architecture (ENAS) draws its own way, see `_macro_graph`."""
    from nasrl.nets.builder import loose_ends

    if arch.family.network == "macro":  # drawn as the network it builds into
        return _macro_graph(arch, path, title)
    if arch.family.network == "nb201":  # the cell, which every one of the network's 15 cells repeats
        return _cell_graph(arch, path, title)
    n = arch.num_layers
    pitch, width, height, rad = 0.62, 3.6, 0.5, 0.45  # inches per layer; box size in inches (x) and layers (y)
    ends = loose_ends(arch)
    right = max((i - j for i, layer in enumerate(arch.layers) for j in layer.inputs if j != i - 1), default=0)
    left = max([0] + [i + 1 for i, la in enumerate(arch.layers) if not la.inputs and i] + [n - j for j in ends[:-1]])
    # An arc3 arrow bulges by rad/2 times its length (in inches) at its middle.
    margin_r, margin_l = 0.3 + rad / 2 * pitch * right, 0.3 + rad / 2 * pitch * left
    fig, ax = plt.subplots(figsize=(width + margin_l + margin_r, pitch * (n + 2.2) + 0.4))
    ys = {"image": 0.0, **{i: float(i + 1) for i in range(n)}, "output": float(n + 1)}
    filters = [layer.filters for layer in arch.layers]
    low, high = min(filters), max(filters)
    skip_style = dict(lw=0.8, alpha=0.7) if right and sum(len(la.inputs) for la in arch.layers) > 2 * n else {}
    canvas = _Canvas(ax, width, height, rad)
    box, arrow = canvas.box, canvas.arrow

    box(ys["image"], "image (3 x 32 x 32)", "#dddddd")
    cmap = plt.get_cmap("Blues")
    for i, layer in enumerate(arch.layers):
        kh, kw = layer.kernel
        text = f"C{i + 1}   {kh}x{kw} conv, {layer.filters} filters"
        if layer.stride != (1, 1):
            text += f", stride {layer.stride[0]}x{layer.stride[1]}"
        if layer.pool > 1:
            text += f", pool {layer.pool}"
        shade = 0.15 + 0.45 * ((layer.filters - low) / (high - low) if high > low else 0.5)
        box(ys[i], text, cmap(shade))
        if not layer.inputs:
            arrow(ys["image"], ys[i], -1, "tab:green", straight=(i == 0))
        for j in layer.inputs:
            if j == i - 1:
                arrow(ys[j], ys[i], 0, "dimgray", straight=True)
            else:
                arrow(ys[j], ys[i], 1, "tab:blue", **skip_style)
    box(ys["output"], "concat -> global avg pool -> linear", "#f6d7b0")
    for j in ends:
        arrow(ys[j], ys["output"], -1, "tab:orange", straight=(j == n - 1))
    ax.set_xlim(-width / 2 - margin_l, width / 2 + margin_r)
    ax.set_ylim(n + 1.6, -0.6)
    ax.axis("off")
    handles = [
        plt.Line2D([], [], c="dimgray", label="previous layer"),
        plt.Line2D([], [], c="tab:blue", label="skip connection"),
        plt.Line2D([], [], c="tab:green", label="reads the image"),
        plt.Line2D([], [], c="tab:orange", label="to the classifier"),
    ]
    ax.legend(handles=handles, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


class _Canvas:
    """Rounded boxes and arrows between them on an axis whose x is in inches and whose y counts layers."""

    def __init__(self, ax: plt.Axes, width: float, height: float, rad: float) -> None:
        self.ax, self.width, self.height, self.rad = ax, width, height, rad

    def box(self, y: float, text: str, colour: object) -> None:
        width, height = self.width, self.height
        self.ax.add_patch(
            FancyBboxPatch(
                (-width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0.02",
                fc=colour,
                ec="black",
                lw=0.8,
                zorder=2,
            )
        )
        self.ax.text(0, y, text, ha="center", va="center", fontsize=8, zorder=3)

    def arrow(self, y0: float, y1: float, side: int, colour: str, straight: bool = False, **style: float) -> None:
        """A straight arrow between box centres' edges, or an arc from the box's `side` (-1 left, 1 right)."""
        x = 0.0 if straight else side * self.width / 2
        lift = self.height / 2 if straight else 0.0
        props = dict(
            arrowstyle="-|>",
            color=colour,
            lw=1.1,
            shrinkA=0,
            shrinkB=0,
            connectionstyle=f"arc3,rad={0.0 if straight else -self.rad * side}",
        )
        self.ax.annotate("", xy=(x, y1 - lift), xytext=(x, y0 + lift), arrowprops={**props, **style}, zorder=1)


#: Edge colours of NAS-Bench-201's operations.
_CELL_COLOURS = {
    "skip_connect": "dimgray",
    "nor_conv_1x1": "tab:green",
    "nor_conv_3x3": "tab:blue",
    "avg_pool_3x3": "tab:orange",
}


def _cell_graph(arch: Architecture, path: Path, title: str) -> Path:
    """A NAS-Bench-201 cell: nodes 0 (the cell's input) to 3 (its output) top to bottom, one arrow per edge named
    by its operation; a `none` edge (no connection) is not drawn."""
    from nasrl.space.families.nb201 import EDGES

    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    for node in range(4):
        name = {0: "node 0 (input)", 3: "node 3 (output)"}.get(node, f"node {node}")
        ax.add_patch(FancyBboxPatch((-0.9, node - 0.18), 1.8, 0.36, boxstyle="round,pad=0.02", fc="#eeeeee", lw=0.8))
        ax.text(0, node, name, ha="center", va="center", fontsize=9, zorder=3)
    for (to, src), layer in zip(EDGES, arch.layers):
        if layer.op == "none":
            continue
        gap, colour = to - src, _CELL_COLOURS[layer.op]
        side = 0 if gap == 1 else (-1 if src == 0 else 1)  # edges from the input on the left, the rest right
        x, lift = 0.9 * side, 0.18 if side == 0 else 0.0
        props = dict(arrowstyle="-|>", color=colour, lw=1.4, connectionstyle=f"arc3,rad={-0.3 * side}")
        ax.annotate("", xy=(x, to - lift), xytext=(x, src + lift), arrowprops=props)
        label_x = 0.05 if side == 0 else x + side * (0.2 + 0.45 * gap)
        ha = "right" if side < 0 else "left"
        ax.text(label_x, (src + to) / 2, layer.op, fontsize=7.5, color=colour, va="center", ha=ha)
    ax.set_xlim(-3.2, 3.2)
    ax.set_ylim(3.5, -0.5)
    ax.axis("off")
    ax.set_title(f"{title}\n(the cell each of the network's 15 cells repeats; 'none' edges not drawn)", fontsize=9)
    return save_figure(fig, path)


#: Box colours of macro operations by family (the name's prefix): convolutions blue (grouped ones a deeper blue, SE
#: a violet), separable green, pools orange.
OP_COLOURS = {
    "conv": "#c6dbef",
    "gconv": "#9ecae1",
    "se": "#dadaeb",
    "sep": "#c7e9c0",
    "avgpool": "#fdd0a2",
    "maxpool": "#fdae6b",
}


def operation_colour(op: str) -> str:
    """A macro operation's box colour (`OP_COLOURS` by its family, grey for one without)."""
    from nasrl.space.families.macro import operation_kind

    return OP_COLOURS.get(operation_kind(op), "#dddddd")


def _macro_graph(arch: Architecture, path: Path, title: str) -> Path:
    """A macro architecture: the stem, one box per layer (operation, final-form width) fed by the previous output,
    skip arrows from earlier outputs (the stem is output 0), a dashed line where a reduction halves the maps."""
    from nasrl.space.describe import macro_widths
    from nasrl.space.families.macro import operation_label

    n, widths = arch.num_layers, macro_widths(arch)
    pitch, width, height, rad = 0.62, 3.6, 0.5, 0.45  # as `architecture_graph`: inches per layer, box size
    right = max((i + 1 - j for i, layer in enumerate(arch.layers) for j in layer.inputs), default=0)
    margin = 0.3 + rad / 2 * pitch * right
    fig, ax = plt.subplots(figsize=(width + 0.6 + margin, pitch * (n + 2.2) + 0.4))
    canvas = _Canvas(ax, width, height, rad)
    dense = sum(len(la.inputs) for la in arch.layers) > 2 * n
    skip_style = dict(lw=0.8, alpha=0.7) if dense else {}
    # Output j (0 the stem, j layer j) sits at y = j, as a macro layer's skips index them.
    canvas.box(0, f"image -> stem: 3x3 conv, BN, {arch.channels} ch", "#dddddd")
    for i, layer in enumerate(arch.layers):
        label = operation_label(layer.op, dict(arch.op_settings))
        canvas.box(i + 1, f"L{i + 1}   {label}, {widths[i]} ch", operation_colour(layer.op))
        canvas.arrow(i, i + 1, 0, "dimgray", straight=True)
        for j in layer.inputs:
            canvas.arrow(j, i + 1, 1, "tab:blue", **skip_style)
        if i in arch.reductions:
            ax.axhline(i + 1.5, color="tab:red", ls="--", lw=0.9, zorder=0)
            ax.text(
                -width / 4,
                i + 1.5,
                f"reduce x2: {widths[i]} -> {2 * widths[i]} ch",
                ha="center",
                va="center",
                fontsize=7,
                color="tab:red",
                zorder=3,
                bbox=dict(fc="white", ec="none", pad=0.5),
            )
    canvas.box(n + 1, "global avg pool -> linear", "#f6d7b0")
    canvas.arrow(n, n + 1, 0, "dimgray", straight=True)
    ax.set_xlim(-width / 2 - 0.3, width / 2 + margin)
    ax.set_ylim(n + 1.6, -0.6)
    ax.axis("off")
    handles = [
        plt.Line2D([], [], c="dimgray", label="previous output"),
        plt.Line2D([], [], c="tab:blue", label="skip connection"),
        plt.Line2D([], [], c="tab:red", ls="--", label="reduction (half size, twice the width)"),
    ]
    ax.legend(handles=handles, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


# ----- small pieces ---------------------------------------------------------------------------------


def _num(value: object) -> float:
    return float("nan") if value is None else float(value)  # type: ignore[arg-type]


def _token_choices(
    sampled: Sequence[tuple[int, Architecture]], space: SearchSpace | None
) -> list[tuple[str, tuple[int, ...]]]:
    """The space's tokens with all their choices (values never sampled show as 0%); without the space,
    the values seen."""
    if space is not None:
        return [(t.name, t.choices) for t in space.tokens]
    seen: dict[str, set[int]] = {}
    for _, arch in sampled:
        for layer in arch.layers:
            for name, value in layer.values:
                seen.setdefault(name, set()).add(value)
    return [(name, tuple(sorted(values))) for name, values in seen.items()]


def _block_label(b: int, block: int, num_episodes: int) -> str:
    first, last = b * block + 1, min((b + 1) * block, num_episodes)
    return str(first) if first == last else f"{first}-{last}"
