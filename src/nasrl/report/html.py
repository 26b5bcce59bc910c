"""`nasrl report`: what a run folder holds, as PNG pictures and one self-contained HTML page.

The report only reads the run (through `report_runs`, which opens `results.sqlite` read-only), so it
works on a finished, an interrupted and a running search alike and writes nothing outside
`RUN_DIR/report/`. The search's figures live in `report_plots`; those of a `nasrl train` run come
from `plots`, the module that command draws them with. Pictures are inlined as base64 (the page can
be mailed or archived alone) and each links to its PNG file beside the page.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from nasrl.benchmarks import test_outcome
from nasrl.errors import UserError
from nasrl.report.runs import SearchRun, read_json, read_search, when
from nasrl.run.atomic import write_text_atomic
from nasrl.run.records import ChildRecord, ChildStatus
from nasrl.search.evaluators.registry import known_evaluator
from nasrl.search.objective import objective_limits, objective_text

if TYPE_CHECKING:
    from nasrl.space import Architecture

TOP_CHILDREN = 10
#: Every picture a report may write; one not made this time is removed so report/ never shows a stale one.
PICTURES = ("rewards.png", "controller.png", "shared.png", "policy.png", "pareto.png", "best_architecture.png")
TRAIN_PICTURES = ("training_curves.png", "confusion_matrix.png", "predictions.png")
#: Captions of a weight-sharing run: its rewards are one-minibatch accuracies, which readers must know to read them.
SHARED_REWARDS = (
    "Every sampled architecture's reward: its accuracy on one validation minibatch with the shared weights (noisy), "
    "the controller's moving-average baseline and the best reward so far; an episode is one controller step "
    "(epoch x controller steps per epoch + step)."
)
SHARED_NO_COST = (
    "A weight-sharing search trains no child on its own, so it records no parameter or FLOP counts: there is no "
    "accuracy-against-cost plot."
)
SHARED_CURVES = (
    "Per epoch: the shared network's training loss and accuracy (one sampled architecture per batch), its learning "
    "rate (cosine with warm restarts), and the controller's mean reward and policy entropy over the steps after it. "
    "Rewards are accuracies of the shared weights on one validation minibatch each, so they are noisy and "
    "lower than a network trained alone would reach."
)


# ----- the report ----------------------------------------------------------------------------------------


def write_report(run_dir: str | Path) -> Path:
    """Write `RUN_DIR/report/` (PNG files and report.html) for a search or a `nasrl train` run; returns the HTML."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} does not exist: give the folder of a nasrl search or train run.")
    if (run_dir / "results.sqlite").is_file():
        return _search_report(read_search(run_dir))
    if (run_dir / "run.json").is_file() or (run_dir / "metrics.json").is_file():
        return _train_report(run_dir)
    raise UserError(
        f"{run_dir} is not a nasrl run folder (no results.sqlite, run.json or metrics.json): "
        "give the folder a `nasrl search` or `nasrl train` wrote."
    )


def _search_report(run: SearchRun) -> Path:
    """The search's pictures (or a sentence for each that cannot be drawn yet), then the page around them."""
    out = run.run_dir / "report"
    out.mkdir(exist_ok=True)
    made, notes, heat_block = _search_pictures(run, out)
    for name in PICTURES:
        if made.get(name) is None:
            (out / name).unlink(missing_ok=True)
    body = _search_body(run, out, made, notes, heat_block)
    return _write_html(out, f"nasrl search report: {run.run_dir.resolve().name}", body)


def _search_pictures(run: SearchRun, out: Path) -> tuple[dict[str, Path | None], dict[str, str], int]:
    """Every PNG of a search report: what was drawn, a note for what was not, the policy heatmap's block size."""
    from nasrl.report import figures as rp
    from nasrl.space import Architecture, uniform_entropy
    from nasrl.space.files import load_space

    space_name = run.config.get("space")
    num_layers = max((c.num_layers for c in run.children), default=run.config.get("layers"))
    try:
        space = load_space(str(space_name), num_layers)
    except UserError:
        space = None  # a space file moved away since the run: its pictures that need the space are left out
    made: dict[str, Path | None] = {}
    notes: dict[str, str] = {}
    made["rewards.png"] = rp.rewards_plot(run.children, run.steps, run.per_episode, out / "rewards.png")
    if made["rewards.png"] is None:
        notes["rewards.png"] = "No children yet: the search has not finished evaluating its first child."
    uniform = None
    if space is not None:
        uniform = [uniform_entropy(space, s.get("num_layers") or space.num_layers) for s in run.steps]
    collapse_episode = run.meta.get("collapse_warned")
    made["controller.png"] = rp.controller_plot(
        run.steps,
        out / "controller.png",
        uniform,
        run.config.get("collapse_entropy"),
        collapse_episode if isinstance(collapse_episode, int) else None,
        str(run.config.get("strategy", "reinforce")),
    )
    if made["controller.png"] is None:
        notes["controller.png"] = "No controller steps yet: the first update comes after the first episode's children."
    made["shared.png"] = rp.shared_plot(run.shared_epochs, out / "shared.png")
    if made["shared.png"] is None and run.shared:
        notes["shared.png"] = "No epoch of the shared weights has finished yet."
    sampled = [(c.episode, Architecture.from_json(c.arch_json)) for c in run.children]
    heat = rp.policy_heatmap(sampled, space, out / "policy.png")
    made["policy.png"] = heat[0] if heat else None
    if heat is None:
        notes["policy.png"] = "No architectures sampled yet."
    made["pareto.png"] = rp.pareto_plot(run.children, out / "pareto.png", objective_limits(run.config))
    if made["pareto.png"] is None:
        notes["pareto.png"] = (
            "This run used the synthetic evaluator, which trains no network and so records no parameter or FLOP "
            "counts: there is no accuracy-against-cost plot."
            if not run.shared and not _trains_children(run.config)
            else SHARED_NO_COST
            if run.shared
            else "No successfully trained child with a parameter count yet."
        )
    made["best_architecture.png"] = _best_picture(run, out / "best_architecture.png")
    if made["best_architecture.png"] is None:
        notes["best_architecture.png"] = "No successful child yet, so no best architecture to draw."
    return made, notes, heat[1] if heat else 1


def _best_picture(run: SearchRun, path: Path) -> Path | None:
    """The best architecture's drawing. For a weight-sharing run with a derivation, the derived rank 1 (scored on
    the whole validation split), not the child whose one-minibatch reward happened to be highest."""
    from nasrl.report import figures as rp
    from nasrl.space import Architecture

    if run.shared and run.derived:
        top = run.derived[0]
        title = f"Derived architecture: shared-weight validation accuracy {top['val_acc']:.4f}"
        return rp.architecture_graph(Architecture.from_dict(top["architecture"]), path, title)
    best = run.best
    if best is None:
        return None
    title = f"Best {'sampled ' if run.shared else ''}architecture: reward {best.reward:.4f}"
    return rp.architecture_graph(Architecture.from_json(best.arch_json), path, title)


def _search_body(
    run: SearchRun, out: Path, made: dict[str, Path | None], notes: dict[str, str], heat_block: int
) -> list[str]:
    """The report page's sections: summary, warnings, the figures with their captions, the best children."""
    from nasrl.space.describe import dna_string

    body = [_search_summary(run)]
    collapse_episode = run.meta.get("collapse_warned")
    if run.collapse_messages or collapse_episode is not None:
        text = run.collapse_messages[-1] if run.collapse_messages else "The policy's entropy collapsed."
        where = f" (episode {collapse_episode + 1})" if isinstance(collapse_episode, int) else ""
        body.append(f'<div class="warn"><b>Collapse warning{where}:</b> {html.escape(text)}</div>')
    failed = [c for c in run.children if c.status == ChildStatus.FAILED]
    if failed:
        first = html.escape(str(failed[0].error or "no message"))
        body.append(f'<div class="warn">{len(failed)} children failed; the first error: <code>{first}</code></div>')
    sections = [
        (
            "Reward over the search",
            "rewards.png",
            SHARED_REWARDS
            if run.shared
            else "Every child's reward (validation accuracy, or its cube), the controller's moving-average baseline "
            "after each episode's update, and the best reward so far.",
        ),
        (
            "Controller",
            "controller.png",
            "The policy's entropy (exploration left; for evolution, the population's diversity) and the "
            "strategy's loss per episode.",
        ),
        *([("Shared weights", "shared.png", SHARED_CURVES)] if run.shared else []),
        (
            "How the policy's choices evolve",
            "policy.png",
            f"For each token, the share of each value among all layers sampled in a block of {heat_block} episode(s).",
        ),
        (
            "Accuracy against cost",
            "pareto.png",
            "Every trained child (cached repeats counted once); red: the Pareto front, where no smaller child "
            "is as accurate.",
        ),
    ]
    for title, name, caption in sections:
        body.append(figure_section(title, out, name, made.get(name), caption, notes.get(name)))
    if run.shared and run.derived:
        body += [_derived_best(run, out, made["best_architecture.png"]), _derived_table(run), _rank_check(run)]
    else:
        body.append(_best_child(run, out, made["best_architecture.png"], notes.get("best_architecture.png")))
    body.append(_top_children(run, dna_string))
    return body


def _arch_details(arch: Architecture) -> str:
    """An architecture's layer table and one-line DNA, shown beside its drawing."""
    from nasrl.space.describe import dna_string, layer_columns, layer_rows

    dna = html.escape(dna_string(arch))
    return f"{html_table(layer_columns(arch), layer_rows(arch))}<p>DNA: <code>{dna}</code></p>"


def _best_child(run: SearchRun, out: Path, made: Path | None, missing: str | None) -> str:
    """The best child by reward; for a weight-sharing run without derived.json, a noisy pick, and says so
    together with how to derive the real result."""
    from nasrl.space import Architecture

    beside, hint, best = "", "", run.best
    if best is not None:
        beside = (
            f"<p>Episode {best.episode + 1}, child {best.child + 1}: reward <b>{best.reward:.4f}</b>"
            f"{_params_text(best)}.</p>{_arch_details(Architecture.from_json(best.arch_json))}"
        )
    if run.shared:
        when_done = "The search derives it when it finishes; or run" if run.status == "running" else "Run"
        hint = (
            "<div class='warn'>No derived.json yet, so this is the sampled child with the highest one-minibatch "
            f"reward, a noisy pick. {when_done} <code>nasrl derive {html.escape(str(run.run_dir))}</code>: it "
            "samples architectures from the policy, scores them on the whole validation split with the shared "
            "weights, and writes best_architecture.json and derived.json.</div>"
        )
    title = "Best sampled architecture" if run.shared else "Best architecture"
    section = figure_section(title, out, "best_architecture.png", made, "", missing, beside)
    return section.replace("</h2>", "</h2>" + hint, 1) if hint else section


def _derived_best(run: SearchRun, out: Path, made: Path | None) -> str:
    """A weight-sharing run's result: the derived rank 1, its shared-weight accuracy (against random architectures
    with the same weights when best_architecture.json has them) and how to get its real accuracy."""
    from nasrl.space import Architecture

    assert run.derived
    top = run.derived[0]
    best_json = read_json(run.run_dir / "best_architecture.json")
    best_json = best_json if isinstance(best_json, dict) else {}
    sampled = best_json.get("sampled")
    among = f" (from {sampled} sampled)" if isinstance(sampled, int) else ""
    randoms = best_json.get("random_baseline")
    versus = ""
    if isinstance(randoms, dict) and isinstance(randoms.get("median"), (int, float)):
        versus = f"; random architectures of the space score a median of {randoms['median']:.4f} with the same weights"
    beside = (
        f"<p>Rank 1 of {len(run.derived)} distinct architectures drawn from the final policy{among}: "
        f"shared-weight validation accuracy <b>{top['val_acc']:.4f}</b>{versus}.</p>"
        f"{_arch_details(Architecture.from_dict(top['architecture']))}"
    )
    retrain = html.escape(str(run.run_dir / "best_architecture.json"))
    caption = (
        "<p class='note'>These accuracies are with the shared weights, which rank architectures only roughly: "
        f"retrain the architecture from scratch for its real accuracy, with <code>nasrl train --arch {retrain}</code>."
        "</p>"
    )
    return figure_section("Derived architecture", out, "best_architecture.png", made, "", None, beside).replace(
        "</section>", caption + "</section>", 1
    )


def _derived_table(run: SearchRun) -> str:
    """The top of derived.json: what else the final policy favours, by shared-weight validation accuracy."""
    from nasrl.space import Architecture
    from nasrl.space.describe import dna_string

    derived = run.derived or []
    rows = [
        (
            str(d.get("rank", i)),
            f"{d['val_acc']:.4f}",
            f"<code>{html.escape(str(d.get('hash', '')))}</code>",
            f"<code>{html.escape(dna_string(Architecture.from_dict(d['architecture'])))}</code>",
        )
        for i, d in enumerate(derived[:TOP_CHILDREN], 1)
    ]
    header = ("rank", "val acc (shared weights)", "hash", "DNA")
    return (
        f"<section><h2>Top {len(rows)} derived architectures</h2><p class='note'>Of {len(derived)} distinct "
        "architectures sampled from the final policy, each scored on the whole validation split with the shared "
        f"weights (derived.json).</p>{html_table(header, rows, escape=False)}</section>"
    )


def _rank_check(run: SearchRun) -> str:
    """rank_check.json: whether the shared weights rank architectures as stand-alone training does (`nasrl derive
    --rank-check K`) and, on a benchmark's space, as the benchmark's table does; without either, how to make one."""
    path = run.run_dir / "rank_check.json"
    try:
        check = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        check = {}
    parts = [_table_check(check["table"])] if "table" in check else []
    if "architectures" in check:
        parts.append(_standalone_check(check))
    elif not parts:
        parts.append(
            "<p class='note'>Not run: <code>nasrl derive RUN_DIR --rank-check 20</code> "
            "trains 20 of the scored architectures stand-alone and reports how well the shared-weight accuracies "
            "rank them (Kendall tau, Spearman rho).</p>"
        )
    return f"<section><h2>Rank check</h2>{''.join(parts)}</section>"


def _standalone_check(check: dict) -> str:
    rows = [
        (
            f"<code>{html.escape(str(e['hash']))}</code>",
            f"{e['shared_acc']:.4f}",
            f"{e['standalone_acc']:.4f}",
            f"{e['params']:,}",
        )
        for e in check["architectures"]
    ]
    header = ("hash", "val acc, shared weights", f"val acc, stand-alone ({check['epochs']} epochs)", "parameters")
    return (
        f"<p>Stand-alone: Kendall tau <b>{check['kendall_tau']:.3f}</b>, Spearman rho "
        f"<b>{check['spearman_rho']:.3f}</b> over {len(rows)} architectures (1: the shared weights order them as "
        f"training them does; 0: no relation).</p>{html_table(header, rows, escape=False)}"
    )


def _table_check(table: dict) -> str:
    """The check against NAS-Bench-201's table (no training): the correlations, the derived cell's full-training
    accuracy beside the table's best and median, and the top of the shared-weight ranking."""
    top = sorted(table["architectures"], key=lambda e: -e["shared_acc"])[:TOP_CHILDREN]
    rows = [
        (
            f"<code>{html.escape(e['cell'])}</code>",
            e["source"],
            f"{e['shared_acc']:.4f}",
            f"{e['valid_12ep']:.2f}",
            f"{e['test_200ep']:.2f}",
        )
        for e in top
    ]
    header = ("cell", "drawn by", "val acc, shared weights", "table: 12-epoch valid %", "table: 200-epoch test %")
    derived = table["derived"]
    return (
        f"<p>Against NAS-Bench-201's table ({html.escape(table['dataset'])}, {len(table['architectures'])} cells, "
        f"no training): Kendall tau <b>{table['kendall_tau']:.3f}</b>, Spearman rho "
        f"<b>{table['spearman_rho']:.3f}</b> with the 200-epoch test accuracy (12-epoch validation: tau "
        f"{table['kendall_tau_valid_12ep']:.3f}). The derived cell <code>{html.escape(derived['cell'])}</code> "
        f"reaches <b>{derived['test_200ep']:.2f}%</b> after 200 epochs of full training: the table's best cell "
        f"{table['optimum']:.2f}%, its median {table['median']:.2f}% (published weight-sharing searches on "
        f"CIFAR-10: 54.30 for ENAS and DARTS, 87.66 for random sampling with shared weights).</p>"
        f"<p class='note'>The {len(rows)} cells the shared weights score highest:</p>"
        f"{html_table(header, rows, escape=False)}"
    )


def _search_summary(run: SearchRun) -> str:
    cfg, meta = run.config, run.meta
    cached = sum(c.cached for c in run.children)
    failed = sum(c.status == ChildStatus.FAILED for c in run.children)
    over = sum(c.status == ChildStatus.OVER_LIMIT for c in run.children)
    objective = objective_text(cfg)
    best = run.best
    episodes = f"{meta.get('episodes_done', len({c.episode for c in run.children}))} of {meta.get('episodes', '?')}"
    rows = [
        ("status", run.status),
        *(
            [("shared epochs done", f"{len(run.shared_epochs)} of {cfg.get('shared_epochs', '?')}")]
            if run.shared
            else []
        ),
        ("controller steps done" if run.shared else "episodes done", episodes),
        (
            "children",
            f"{len(run.children)} ({len(run.children) - cached - failed - over} trained, {cached} cached, "
            f"{failed} failed{f', {over} over the limit (not trained)' if over else ''})",
        ),
        *([("objective", objective)] if objective else []),
        (
            "best minibatch reward" if run.shared else "best reward",
            f"{best.reward:.4f} (episode {best.episode + 1}, child {best.child + 1})" if best else "none yet",
        ),
        *([("derived best", _derived_text(run))] if run.shared else []),
        *(
            [("benchmark test accuracy of the best", test_outcome(best.test_acc, run.meta.get("test_optimum")))]
            if best is not None and best.test_acc is not None
            else []
        ),
        ("did searching pay off?", _baseline_text(run)),
        (
            "strategy / space",
            f"{cfg.get('strategy', '?')} over '{cfg.get('space', '?')}' ({cfg.get('layers') or 'default'} layers)",
        ),
        ("evaluator", _evaluator_text(cfg)),
        ("seed", str(cfg.get("seed", "?"))),
        ("last update", when(meta.get("updated"))),
        ("report made", when(run.read_at)),
    ]
    note = ""
    if run.status == "running":
        note = '<p class="note">The search is still running: this report is a snapshot; run it again to update.</p>'
    elif not run.children:
        note = '<p class="note">This run has no children yet, so most sections below are empty.</p>'
    return "<section><h2>Run</h2>" + html_table(("", ""), rows, header=False) + note + "</section>"


def _baseline_text(run: SearchRun) -> str:
    """The default network beside the search's best (`nasrl baseline`), or how to get it."""
    from nasrl.search.baseline import report_line

    if run.baseline is None:
        return (
            f"not trained yet: `nasrl baseline {run.run_dir}` trains it for the search's time and says whether "
            "searching paid off"
        )
    return report_line(run.baseline)


def _trains_children(cfg: dict[str, Any]) -> bool:
    kind = known_evaluator(cfg.get("evaluator", "train"))
    return kind is None or kind.trains_children


def _derived_text(run: SearchRun) -> str:
    if not run.derived:
        return "not yet (`nasrl derive RUN_DIR` makes it)"
    return f"{run.derived[0]['val_acc']:.4f} shared-weight validation accuracy (whole split)"


def _evaluator_text(cfg: dict[str, Any]) -> str:
    """How the run's children were rewarded, in the words of its registered evaluator."""
    kind = known_evaluator(cfg.get("evaluator", "train")) if cfg else None
    return kind.describe(cfg) if kind is not None else "?"


def _top_children(run: SearchRun, dna_string: Any) -> str:
    from nasrl.space import Architecture

    seen: set[str] = set()
    top: list[ChildRecord] = []
    for c in sorted((c for c in run.children if c.ok), key=lambda c: (-c.reward, c.episode, c.child)):
        if c.arch_hash not in seen:  # a cached repeat is the same architecture: list it once
            seen.add(c.arch_hash)
            top.append(c)
        if len(top) == TOP_CHILDREN:
            break
    if not top:
        return "<section><h2>Top children</h2><p class='note'>No successful child yet.</p></section>"
    rows = [
        (
            str(rank),
            f"{c.episode + 1}/{c.child + 1}",
            f"{c.reward:.4f}",
            "n/a" if c.val_acc is None else f"{c.val_acc:.4f}",
            _count(c.params),
            _count(c.flops),
            f"{c.train_seconds:.1f}",
            f"<code>{html.escape(dna_string(Architecture.from_json(c.arch_json)))}</code>",
        )
        for rank, c in enumerate(top, 1)
    ]
    header = ("#", "episode/child", "reward", "val acc", "parameters", "FLOPs", "seconds", "DNA")
    noisy = " (one validation minibatch with the shared weights: noisy)" if run.shared else ""
    return (
        f"<section><h2>Top {len(top)} children</h2><p class='note'>Distinct architectures by reward{noisy}; "
        "DNA per layer: kernel/filters&lt;inputs (img = the image).</p>"
        f"{html_table(header, rows, escape=False)}</section>"
    )


def _train_report(run_dir: Path) -> Path:
    """The report of a `nasrl train` run: its summary and the pictures the train command made."""
    from nasrl.train import plots

    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    metrics = read_json(run_dir / "metrics.json")
    history = read_json(run_dir / "history.json") or []
    body: list[str] = []
    rows: list[tuple[str, str]] = []
    if metrics:
        training = metrics.get("training", {}) or {}
        rows = [
            ("architecture", f"{metrics.get('architecture')} ({_count(metrics.get('parameters'))} parameters)"),
            (
                "data",
                f"{metrics.get('data')}: {metrics.get('train_images')} training, "
                f"{metrics.get('val_images')} validation, {metrics.get('test_images')} test images",
            ),
            ("test accuracy", "n/a" if metrics.get("test_acc") is None else f"{metrics['test_acc']:.2%}"),
            *((k.replace("_", " "), _value_text(k, v)) for k, v in training.items() if not isinstance(v, (dict, list))),
        ]
        body.append("<section><h2>Run</h2>" + html_table(("", ""), rows, header=False) + "</section>")
    else:
        body.append(
            "<section><h2>Run</h2><p class='note'>No metrics.json yet: the training has not finished "
            "(or was interrupted), so there is no test accuracy, confusion matrix or prediction grid.</p>"
            "</section>"
        )
    made: dict[str, Path | None] = dict.fromkeys(TRAIN_PICTURES)
    for name in TRAIN_PICTURES:
        if (run_dir / name).is_file():
            made[name] = Path(shutil.copyfile(run_dir / name, out / name))
            made[name].chmod(0o644)
    if made["training_curves.png"] is None and history:
        made["training_curves.png"] = plots.training_curves(history, out / "training_curves.png")
    if made["confusion_matrix.png"] is None and metrics and metrics.get("confusion_matrix"):
        import torch

        matrix = torch.tensor(metrics["confusion_matrix"])
        made["confusion_matrix.png"] = plots.confusion_matrix(matrix, metrics["classes"], out / "confusion_matrix.png")
    captions = {
        "training_curves.png": (
            "Training curves",
            "Loss and accuracy per epoch on the training and validation splits.",
            "No epoch has finished yet.",
        ),
        "confusion_matrix.png": (
            "Confusion matrix",
            "Test set: rows are the true classes, columns the predictions.",
            "No test evaluation yet (it runs once, after training).",
        ),
        "predictions.png": (
            "Predictions",
            "Test images the network got right (top) and wrong (bottom).",
            "No test evaluation yet (it runs once, after training).",
        ),
    }
    for name, (title, caption, missing) in captions.items():
        body.append(figure_section(title, out, name, made[name], caption, missing))
    if metrics and metrics.get("per_class_acc"):
        per_class = [(k, f"{v:.2%}") for k, v in metrics["per_class_acc"].items()]
        body.append(
            "<section><h2>Per-class test accuracy</h2>" + html_table(("class", "accuracy"), per_class) + "</section>"
        )
    return _write_html(out, f"nasrl train report: {run_dir.resolve().name}", body)


# ----- HTML pieces ---------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } code { font-size: .9em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { color: #666; } .warn { background: #fff3cd; border: 1px solid #e0c36a; padding: .6em; margin: 1em 0; }
.missing { background: #f4f4f4; padding: 1em; color: #555; }
.row { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }
"""


def figure_section(
    title: str, out: Path, name: str, made: Path | None, caption: str, missing: str | None, beside: str = ""
) -> str:
    """A section with the picture inlined (the page stays self-contained) and linked to its file;
    `beside` is HTML shown to its right (wrapping below on narrow screens)."""
    if made is None:
        return f"<section><h2>{title}</h2><p class='missing'>{html.escape(missing or 'Not available.')}</p></section>"
    data = base64.b64encode((out / name).read_bytes()).decode()
    picture = f"<a href='{quote(name)}'><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'></a>"
    if beside:
        picture = f"<div class='row'><div>{picture}</div><div>{beside}</div></div>"
    note = f"<p class='note'>{html.escape(caption)}</p>" if caption else ""
    return f"<section><h2>{title}</h2>{picture}{note}</section>"


def html_table(columns: tuple[str, ...], rows: list, header: bool = True, escape: bool = True) -> str:
    """An HTML table; without `header`, a key/value table whose keys are header cells."""
    cell = html.escape if escape else str
    if not header:
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{cell(v)}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in columns) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _write_html(out: Path, title: str, body: list[str]) -> Path:
    return write_page(out / "report.html", title, body, "<code>nasrl report</code>")


def write_page(path: Path, title: str, body: list[str], made_by: str) -> Path:
    """One self-contained HTML page (reports, comparisons), written atomically and readable by everyone."""
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{''.join(body)}"
        f"<p class='note'>Made by {made_by}; the pictures are also PNG files beside this page.</p>"
        "</body></html>\n"
    )
    write_text_atomic(path, page)
    path.chmod(0o644)  # atomic writes make private files; a page is for sharing
    return path


def _value_text(key: str, value: object) -> str:
    """A training summary value as people read it: accuracies in percent, seconds and losses rounded."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.2%}" if "acc" in key else f"{value:.4g}"
    return str(value)


def _params_text(rec: ChildRecord) -> str:
    return f", {rec.params:,} parameters" if rec.params else ""


def _count(value: object) -> str:
    if not isinstance(value, (int, float)) or not value:
        return "n/a"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return str(value)
