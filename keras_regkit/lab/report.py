"""The lab's report: tables, one sentence per recipe, figures, CSV/JSON,
Markdown and HTML.

`write_report` fills the scratch folder of a `ReportFolder`
(`report_folder.py`), results first (`summary.json`, then the histories),
figures last.
"""

import csv
import dataclasses
import html
import json
import os

from keras_regkit._files import write_text
from keras_regkit.lab.stats import LEVEL
from keras_regkit.lab.stats import Comparison
from keras_regkit.lab.stats import compare
from keras_regkit.lab.stats import mean_std

BASELINE = "baseline"


@dataclasses.dataclass
class RecipeRuns:
    """A recipe's runs (one per seed) and its comparison with the baseline
    (None for the baseline itself, or when no baseline was run)."""

    name: str
    description: str
    runs: list
    comparison: Comparison = None

    def stat(self, attr):
        """(mean, standard deviation) of `attr` over the seeds."""
        return mean_std([getattr(run, attr) for run in self.runs])

    def epochs_text(self):
        values = sorted({run.epochs_run for run in self.runs})
        if len(values) == 1:
            return str(values[0])
        return f"{values[0]}-{values[-1]}"


def group_runs(results, seed=0):
    """`RecipeRuns` per recipe (first-seen order), each compared with the
    recipe named `baseline` where it was run."""
    grouped = {}
    for result in results:
        grouped.setdefault(result.name, []).append(result)
    base = grouped.get(BASELINE)
    return [
        RecipeRuns(
            name, runs[0].description, runs,
            None if base is None or name == BASELINE
            else compare(runs, base, seed=seed),
        )
        for name, runs in grouped.items()
    ]


def _mean(attr, scale=1.0, digits=3):
    """A cell: the mean of `attr` over the seeds, with `±sd` when asked
    for and there are several seeds."""

    def cell(recipe, spread):
        mean, std = recipe.stat(attr)
        text = f"{scale * mean:.{digits}f}"
        if spread and len(recipe.runs) > 1:
            text += f"±{scale * std:.{digits}f}"
        return text

    return cell


# How a table marks a verdict (see `main_caption`).
_MARK = {"better": "+", "worse": "-", "noise": ""}


def _difference(recipe):
    c = recipe.comparison
    if c is None:
        return "-"
    low, high = c.accuracy_interval
    mark = _MARK[c.accuracy_verdict]
    return f"{100 * c.accuracy:+.1f} [{100 * low:+.1f},{100 * high:+.1f}]{mark}"


def _loss_difference(recipe):
    c = recipe.comparison
    if c is None:
        return "-"
    mark = _MARK[c.loss_verdict]
    return f"{c.loss:+.3f}{mark}"


# (header, cell(recipe, spread), spread on a terminal) of the main table:
# what each recipe did. Markdown and HTML show the spread in every column;
# the 80-column terminal table only where it matters most.
MAIN_COLUMNS = (
    ("recipe", lambda r, spread: r.name, False),
    ("test acc %", _mean("test_accuracy", 100, 1), True),
    ("vs baseline", lambda r, spread: _difference(r), False),
    ("test loss", _mean("test_loss"), False),
    ("vs base", lambda r, spread: _loss_difference(r), False),
    ("loss gap", _mean("loss_gap"), False),
)
# The same for the second table: how each recipe trained.
DETAIL_COLUMNS = (
    ("recipe", lambda r, spread: r.name, False),
    ("train %", _mean("train_accuracy", 100, 1), False),
    ("val %", _mean("val_accuracy", 100, 1), False),
    ("acc gap", _mean("gap", 100, 1), False),
    ("best val", _mean("best_epoch", digits=0), False),
    ("weights", _mean("weights_epoch", digits=0), False),
    ("epochs", lambda r, spread: r.epochs_text(), False),
    ("time s", lambda r, spread: f"{sum(x.wall_time for x in r.runs):.0f}",
     False),
)


def _robust_difference(recipe):
    c = recipe.comparison
    if c is None or c.robust is None:
        return "-"
    low, high = c.robust_interval
    mark = _MARK[c.robust_verdict]
    return f"{100 * c.robust:+.1f} [{100 * low:+.1f},{100 * high:+.1f}]{mark}"


# The third table, when the lab ran with --robustness: clean against
# robust accuracy, the trade-off adversarial training makes.
ROBUST_COLUMNS = (
    ("recipe", lambda r, spread: r.name, False),
    ("test acc %", _mean("test_accuracy", 100, 1), True),
    ("robust %", _mean("robust_accuracy", 100, 1), True),
    ("vs baseline", lambda r, spread: _robust_difference(r), False),
)


def _robust(recipes):
    """The attack's radius when every run was attacked, else None."""
    radii = {run.robustness for r in recipes for run in r.runs}
    return radii.pop() if len(radii) == 1 and None not in radii else None


def robust_caption(recipes):
    return (
        f"robust %: accuracy on the test examples under a 10-step L-inf PGD "
        f"attack of radius {_robust(recipes):g} (input units; inputs "
        "clipped to the training data's range), mean over seeds; vs "
        f"baseline: its paired difference from the baseline with its "
        f"{LEVEL:.0%} bootstrap interval over seeds and test examples, "
        "marked as in the first table. test acc %: clean accuracy, as "
        "there.")


def _tables(recipes, title):
    """(columns, title, caption) of each table the report shows."""
    tables = [(MAIN_COLUMNS, title, main_caption(recipes)),
              (DETAIL_COLUMNS, "How each recipe trained", DETAIL_CAPTION)]
    if _robust(recipes) is not None:
        tables.append((ROBUST_COLUMNS, "Clean and robust accuracy",
                       robust_caption(recipes)))
    return tables


def _seeds(recipes):
    return max(len(r.runs) for r in recipes)


def main_caption(recipes):
    seeds = _seeds(recipes)
    over = (f"mean±sd over {seeds} seeds" if seeds > 1
            else "one seed")
    return (
        f"test acc %: accuracy on the test examples ({over}). vs baseline: "
        f"paired difference in test accuracy from the baseline, in points, "
        f"with its {LEVEL:.0%} bootstrap interval over seeds and test "
        "examples; a trailing + or - marks a difference whose interval "
        "excludes 0 (better or worse than the baseline), none: within the "
        "noise. test loss: test cross-entropy (no weight penalty); vs base: "
        "its difference from the baseline, marked the same way (+: lower). "
        "loss gap: test minus train cross-entropy; lower means less "
        "overfitting. Other numbers: means over seeds (the report files add "
        "±sd to each)."
    )


DETAIL_CAPTION = (
    "train / val %: accuracy of the final model on the training and "
    "validation examples (inference mode). acc gap: train minus test "
    "accuracy, in points. best val: epoch of the best validation accuracy. "
    "weights: epoch whose weights the final model has (the last one, or "
    "the one early stopping restored). epochs: epochs run. time s: "
    "training time of all seeds. Means over seeds (±sd in the report "
    "files)."
)


def table_rows(recipes, columns, wide=True):
    """Cells of `columns` per recipe; `wide=False` (the terminal) shows
    the spread over seeds only in the columns marked for it."""
    return [[cell(r, wide or terminal) for _, cell, terminal in columns]
            for r in recipes]


def rich_tables(recipes, title):
    """The main and the detail table (and the robustness table after
    `--robustness`), each fitting 80 columns."""
    from rich import box
    from rich.table import Table

    tables = []
    for columns, table_title, caption in _tables(recipes, title):
        rows = table_rows(recipes, columns, wide=False)
        table = Table(title=table_title, caption=caption,
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      collapse_padding=True, caption_justify="left")
        for index, (header, _, _) in enumerate(columns):
            if index == 0:  # a long recipe name wraps; numbers never do
                table.add_column(header, overflow="fold")
                continue
            width = max([len(header), *(len(row[index]) for row in rows)])
            table.add_column(header, justify="right", no_wrap=True,
                             min_width=width)
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    return tables


def sentence(recipe, baseline):
    """One sentence on what `recipe` did, generated from its numbers."""
    c = recipe.comparison
    if c is None or baseline is None:
        gap = recipe.stat("loss_gap")[0]
        return (f"{recipe.name}: the reference; train accuracy "
                f"{100 * recipe.stat('train_accuracy')[0]:.1f}%, test "
                f"accuracy {100 * recipe.stat('test_accuracy')[0]:.1f}%, "
                f"loss gap {gap:.3f}.")
    before, after = baseline.stat("loss_gap")[0], recipe.stat("loss_gap")[0]
    if f"{before:.3f}" == f"{after:.3f}":
        change = f"left the loss gap at {after:.3f}"
    else:
        verb = "narrowed" if after < before else "widened"
        change = f"{verb} the loss gap from {before:.3f} to {after:.3f}"
    low, high = c.accuracy_interval
    verdict = {
        "better": "larger than the noise",
        "worse": "a real loss, larger than the noise",
        "noise": "within the noise",
    }[c.accuracy_verdict]
    loss = {"better": "lower beyond the noise",
            "worse": "higher beyond the noise",
            "noise": "within the noise"}[c.loss_verdict]
    return (
        f"{recipe.name}: {change}; "
        f"test accuracy {100 * c.accuracy:+.1f} points "
        f"({LEVEL:.0%} interval {100 * low:+.1f} to {100 * high:+.1f}), "
        f"{verdict}; test cross-entropy {c.loss:+.3f}, {loss}."
    )


def sentences(recipes):
    baseline = next((r for r in recipes if r.name == BASELINE), None)
    return [sentence(r, baseline) for r in recipes]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _band(histories, key):
    """Per-epoch mean, min and max of `key` over the runs that reached
    each epoch (early stopping ends runs at different epochs)."""
    import numpy as np

    curves = [h[key] for h in histories if key in h]
    if not curves:
        return None
    length = max(len(c) for c in curves)
    mean, low, high = [], [], []
    for epoch in range(length):
        values = np.array([c[epoch] for c in curves if epoch < len(c)])
        mean.append(values.mean())
        low.append(values.min())
        high.append(values.max())
    return np.arange(1, length + 1), np.array(mean), low, high


def _plot_band(ax, histories, key, label, color=None):
    band = _band(histories, key)
    if band is None:
        return
    epochs, mean, low, high = band
    (line,) = ax.plot(epochs, mean, label=label, color=color)
    if len(histories) > 1:
        ax.fill_between(epochs, low, high, alpha=0.2, color=line.get_color())


def plot_curves(recipe, path):
    """Train vs validation loss and accuracy over epochs (mean over seeds,
    the band spans their min to max), one PNG."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    histories = [run.history for run in recipe.runs]
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        _plot_band(ax, histories, metric, f"train {metric}")
        _plot_band(ax, histories, f"val_{metric}", f"val {metric}")
        ax.axvline(recipe.stat("weights_epoch")[0], color="grey",
                   linestyle=":", label="final weights' epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    seeds = len(recipe.runs)
    spread = f" ({seeds} seeds: mean, band min-max)" if seeds > 1 else ""
    fig.suptitle(f"{recipe.name}: train vs validation{spread}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_gaps(recipes, path):
    """One figure comparing the recipes: test accuracy against the
    baseline (with intervals), loss gaps (with spread) and the loss gap
    during training."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
    names = [r.name for r in recipes]
    rows = range(len(recipes))[::-1]  # first recipe at the top
    ax = axes[0]
    for y, r in zip(rows, recipes, strict=True):
        c = r.comparison
        if c is None:
            continue
        low, high = c.accuracy_interval
        color = {"better": "#55a868", "worse": "#c44e52",
                 "noise": "#8c8c8c"}[c.accuracy_verdict]
        ax.barh(y, 100 * c.accuracy, color=color)
        ax.errorbar(100 * c.accuracy, y, fmt="none", ecolor="black",
                    xerr=[[100 * (c.accuracy - low)],
                          [100 * (high - c.accuracy)]], capsize=3)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_title(f"test accuracy vs baseline ({LEVEL:.0%} interval)")
    ax.set_xlabel("points (right is better)")
    ax = axes[1]
    means = [r.stat("loss_gap") for r in recipes]
    ax.barh(list(rows), [m for m, _ in means], xerr=[s for _, s in means],
            color="#4c72b0", capsize=3)
    ax.set_title("loss gap (test - train cross-entropy)")
    ax.set_xlabel("lower is better")
    for ax in axes[:2]:
        ax.set_yticks(list(rows), names)
        ax.grid(axis="x", alpha=0.3)
    ax = axes[2]
    for r in recipes:  # RegularizationMonitor's per-epoch loss gap
        _plot_band(ax, [run.history for run in r.runs], "regkit/gap/loss",
                   r.name)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val loss - train loss")
    ax.set_title("loss gap during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _write_histories(results, folder):
    by_recipe = {}
    for r in results:
        by_recipe.setdefault(r.name, {})[str(r.seed)] = r.history
    with open(os.path.join(folder, "histories.json"), "w") as f:
        json.dump(by_recipe, f, indent=1)
    metrics = sorted({m for r in results for m in r.history})
    with open(os.path.join(folder, "histories.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["recipe", "seed", "epoch", *metrics])
        for r in results:
            for epoch in range(len(r.history.get("loss", []))):
                values = [
                    r.history[m][epoch] if epoch < len(r.history.get(m, []))
                    else "" for m in metrics
                ]
                writer.writerow([r.name, r.seed, epoch + 1, *values])


def _aggregate(recipe):
    row = {"recipe": recipe.name, "seeds": [r.seed for r in recipe.runs]}
    for attr in ("train_accuracy", "val_accuracy", "test_accuracy",
                 "train_loss", "val_loss", "test_loss", "gap", "loss_gap",
                 "epochs_run", "wall_time"):
        row[attr], row[f"{attr}_std"] = recipe.stat(attr)
    robust = [r.robust_accuracy for r in recipe.runs]
    if all(v is not None for v in robust):
        row["robust_accuracy"], row["robust_accuracy_std"] = recipe.stat(
            "robust_accuracy")
        row["robustness"] = recipe.runs[0].robustness
    c = recipe.comparison
    if c is not None:
        row["vs_baseline"] = {
            "test_accuracy": c.accuracy,
            "test_accuracy_interval": list(c.accuracy_interval),
            "test_accuracy_verdict": c.accuracy_verdict,
            "test_loss": c.loss,
            "test_loss_interval": list(c.loss_interval),
            "test_loss_verdict": c.loss_verdict,
        }
        if c.robust is not None:
            row["vs_baseline"].update({
                "robust_accuracy": c.robust,
                "robust_accuracy_interval": list(c.robust_interval),
                "robust_accuracy_verdict": c.robust_verdict})
    return row


def _write_summary(results, recipes, folder, meta):
    rows = [r.summary() for r in results]
    with open(os.path.join(folder, "summary.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # Written whole or not at all: the report's first file, the one kept
    # when the rest cannot be written.
    write_text(os.path.join(folder, "summary.json"), json.dumps(
        {"meta": meta, "recipes": [_aggregate(r) for r in recipes],
         "results": rows}, indent=1))


def _setup_line(meta):
    return (f"Epochs: {meta['epochs']}, batch size: {meta['batch_size']}, "
            f"seeds: {', '.join(str(s) for s in meta['seeds'])}, "
            f"jit_compile: {meta['jit']}, backend: {meta['backend']}.")


def _markdown_table(recipes, columns):
    headers = [h for h, _, _ in columns]
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |"
              for row in table_rows(recipes, columns)]
    return lines


def _markdown(recipes, meta, title):
    lines = [f"# {title}", "", meta["data"], "", _setup_line(meta), ""]
    lines += _markdown_table(recipes, MAIN_COLUMNS)
    lines += ["", main_caption(recipes), "", "## What each recipe did", ""]
    lines += [f"- {text}" for text in sentences(recipes)]
    lines += ["", "![Recipes compared](gaps.png)", "",
              "## How each recipe trained", ""]
    lines += _markdown_table(recipes, DETAIL_COLUMNS)
    lines += ["", DETAIL_CAPTION, ""]
    if _robust(recipes) is not None:
        lines += ["## Clean and robust accuracy", ""]
        lines += _markdown_table(recipes, ROBUST_COLUMNS)
        lines += ["", robust_caption(recipes), ""]
    lines += ["## Learning curves", ""]
    for r in recipes:
        lines += [f"### {r.name}", "", r.description, "",
                  f"![{r.name} learning curves](curves/{r.name}.png)", ""]
    return "\n".join(lines)


_CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: auto;
       padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #999; padding: 4px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
th { background: #eee; }
caption { caption-side: bottom; text-align: left; font-size: 0.9em;
          color: #444; padding-top: 4px; }
img { max-width: 100%; height: auto; }
"""


def _html_table(recipes, columns, caption):
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h, _, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
        for row in table_rows(recipes, columns)
    )
    return (f"<table><caption>{esc(caption)}</caption>"
            f"<tr>{head}</tr>{body}</table>")


def _html(recipes, meta, title):
    esc = html.escape
    said = "".join(f"<li>{esc(text)}</li>" for text in sentences(recipes))
    curves = "".join(
        f"<h3>{esc(r.name)}</h3><p>{esc(r.description)}</p>"
        f'<img src="curves/{esc(r.name)}.png" alt="{esc(r.name)} curves">'
        for r in recipes
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(meta['data'])}</p>"
        f"<p>{esc(_setup_line(meta))}</p>"
        + _html_table(recipes, MAIN_COLUMNS, main_caption(recipes))
        + f"<h2>What each recipe did</h2><ul>{said}</ul>"
        '<img src="gaps.png" alt="recipes compared">'
        "<h2>How each recipe trained</h2>"
        + _html_table(recipes, DETAIL_COLUMNS, DETAIL_CAPTION)
        + ("" if _robust(recipes) is None else
           "<h2>Clean and robust accuracy</h2>"
           + _html_table(recipes, ROBUST_COLUMNS, robust_caption(recipes)))
        + f"<h2>Learning curves</h2>{curves}</body></html>"
    )


def write_report(folder, results, recipes, meta, title="Regularization lab"):
    """Writes every output file of a lab run into `folder`.

    Args:
        folder: the report folder.
        results: `RecipeResult`s, any number of seeds per recipe.
        recipes: the recipe dicts that were run (saved as `recipes.json`).
        meta: dict with `data`, `epochs`, `batch_size`, `seeds`, `jit`,
            `backend` (and anything else worth keeping).
    """
    meta = {**meta}
    meta.setdefault("seeds", sorted({r.seed for r in results}))
    grouped = group_runs(results, seed=meta["seeds"][0])
    _write_summary(results, grouped, folder, meta)
    _write_histories(results, folder)
    with open(os.path.join(folder, "recipes.json"), "w") as f:
        json.dump(recipes, f, indent=1)
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write(_markdown(grouped, meta, title))
    with open(os.path.join(folder, "report.html"), "w") as f:
        f.write(_html(grouped, meta, title))
    os.makedirs(os.path.join(folder, "curves"), exist_ok=True)
    for recipe in grouped:
        plot_curves(recipe, os.path.join(folder, "curves",
                                         f"{recipe.name}.png"))
    plot_gaps(grouped, os.path.join(folder, "gaps.png"))
    return grouped
