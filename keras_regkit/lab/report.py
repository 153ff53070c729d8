"""The lab's report: a rich table, PNG figures, CSV/JSON data, Markdown/HTML.

Everything is written into a `.partial` folder first and moved into place
only when complete, so a crashed or interrupted run never leaves something
that looks like a finished report.
"""

import contextlib
import csv
import html
import json
import os
import shutil
import tempfile

from keras_regkit.lab.errors import LabError

COLUMNS = (
    ("recipe", "name", "{}"),
    ("train acc", "train_accuracy", "{:.3f}"),
    ("val acc", "val_accuracy", "{:.3f}"),
    ("test acc", "test_accuracy", "{:.3f}"),
    ("gap", "gap", "{:+.3f}"),
    ("loss gap", "loss_gap", "{:+.3f}"),
    ("best epoch", "best_epoch", "{}"),
    ("epochs", "epochs_run", "{}"),
    ("params", "params", "{:,}"),
    ("XLA", "jit_compile", "{}"),
    ("time (s)", "wall_time", "{:.1f}"),
)
MARKER = "summary.json"


def table_rows(results):
    return [
        [fmt.format(result.summary()[key]) for _, key, fmt in COLUMNS]
        for result in results
    ]


def rich_table(results, title):
    from rich.table import Table

    table = Table(
        title=title,
        caption="gap = train accuracy - test accuracy; "
        "loss gap = test loss - train loss",
    )
    for header, key, _ in COLUMNS:
        if key == "name":
            table.add_column(header, justify="left", no_wrap=True)
        else:
            table.add_column(header, justify="right")
    for row in table_rows(results):
        table.add_row(*row)
    return table


@contextlib.contextmanager
def staged_folder(out):
    """Yields a scratch folder that becomes `out` only if the block succeeds.

    An existing `out` is replaced only if it holds an earlier lab report;
    any other non-empty folder is refused.
    """
    if os.path.islink(out):
        raise LabError(f"--out {out} is a symbolic link; give a real folder "
                       "(the lab replaces --out, and a link would make it "
                       "write elsewhere).")
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise LabError(f"--out {out} exists and is not a folder.")
        if os.listdir(out) and not os.path.exists(os.path.join(out, MARKER)):
            raise LabError(
                f"--out {out} is a non-empty folder that is not a lab report; "
                "choose another --out."
            )
    parent = os.path.dirname(out)
    try:
        os.makedirs(parent, exist_ok=True)
        partial = tempfile.mkdtemp(
            prefix=os.path.basename(out) + ".partial-", dir=parent
        )
    except OSError as error:
        raise LabError(f"--out {out}: cannot write there "
                       f"({error.strerror or error}).") from None
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(partial, out)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(result, path):
    """Train vs validation loss and accuracy over epochs, one PNG."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    history = result.history
    epochs = range(1, len(history.get("loss", [])) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        if metric in history:
            ax.plot(epochs, history[metric], label=f"train {metric}")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label=f"val {metric}")
        ax.axvline(result.best_epoch, color="grey", linestyle=":",
                   label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{result.name}: train vs validation")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_gaps(results, path):
    """One figure comparing every recipe's gap and test accuracy."""
    plt = _pyplot()
    names = [r.name for r in results]
    fig, axes = plt.subplots(1, 4, figsize=(20, 3.8))
    panels = (
        ([r.gap for r in results], "train acc - test acc",
         "accuracy gap (lower is better)"),
        ([r.loss_gap for r in results], "test loss - train loss",
         "loss gap (lower is better)"),
    )
    for ax, (values, label, title) in zip(axes, panels):
        ax.bar(names, values,
               color=["#c44e52" if v > 0 else "#55a868" for v in values])
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylabel(label)
        ax.set_title(title)
    axes[2].bar(names, [r.test_accuracy for r in results], color="#4c72b0")
    axes[2].set_ylabel("test accuracy")
    axes[2].set_title("test accuracy (higher is better)")
    low = min(r.test_accuracy for r in results)
    axes[2].set_ylim(max(0.0, low - 0.05), 1.0)
    for r in results:  # RegularizationMonitor's per-epoch loss gap
        gaps = r.history.get("regkit/gap/loss")
        if gaps:
            axes[3].plot(range(1, len(gaps) + 1), gaps, label=r.name)
    axes[3].axhline(0.0, color="black", linewidth=0.8)
    axes[3].set_xlabel("epoch")
    axes[3].set_ylabel("val loss - train loss")
    axes[3].set_title("loss gap during training")
    axes[3].legend(fontsize=7)
    for ax in axes[:3]:
        ax.tick_params(axis="x", rotation=30)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _write_histories(results, folder):
    with open(os.path.join(folder, "histories.json"), "w") as f:
        json.dump({r.name: r.history for r in results}, f, indent=1)
    metrics = sorted({m for r in results for m in r.history})
    with open(os.path.join(folder, "histories.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["recipe", "epoch", *metrics])
        for r in results:
            for epoch in range(len(r.history.get("loss", []))):
                values = [
                    r.history[m][epoch] if epoch < len(r.history.get(m, []))
                    else "" for m in metrics
                ]
                writer.writerow([r.name, epoch + 1, *values])


def _write_summary(results, folder, meta):
    rows = [r.summary() for r in results]
    with open(os.path.join(folder, "summary.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(folder, MARKER), "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=1)


def _markdown(results, meta, title):
    headers = [h for h, _, _ in COLUMNS]
    lines = [
        f"# {title}",
        "",
        meta["data"],
        "",
        f"Epochs: {meta['epochs']}, batch size: {meta['batch_size']}, seed: "
        f"{meta['seed']}, jit_compile: {meta['jit']}, backend: "
        f"{meta['backend']}.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    lines += [
        "",
        "The gap is train accuracy minus test accuracy of the final model "
        "(after early stopping restored its best weights, where it did); the "
        "loss gap is test loss minus train loss (any weight penalty is in "
        "both and cancels out).",
        "",
        "![Generalization gap per recipe](gaps.png)",
        "",
        "## Learning curves",
        "",
    ]
    for r in results:
        lines += [
            f"### {r.name}",
            "",
            r.description,
            "",
            f"![{r.name} learning curves](curves/{r.name}.png)",
            "",
        ]
    return "\n".join(lines)


def _html(results, meta, title):
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h, _, _ in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
        for row in table_rows(results)
    )
    curves = "".join(
        f"<h3>{esc(r.name)}</h3><p>{esc(r.description)}</p>"
        f'<img src="curves/{esc(r.name)}.png" alt="{esc(r.name)} curves">'
        for r in results
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;"
        "max-width:1100px;margin:auto}}table{{border-collapse:collapse}}"
        "td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}"
        "img{{max-width:100%}}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(meta['data'])}</p>"
        f"<table><tr>{head}</tr>{body}</table>"
        '<img src="gaps.png" alt="generalization gap per recipe">'
        f"<h2>Learning curves</h2>{curves}</body></html>"
    )


def write_report(folder, results, recipes, meta, title="Regularization lab"):
    """Writes every output file of a lab run into `folder`."""
    os.makedirs(os.path.join(folder, "curves"), exist_ok=True)
    for result in results:
        path = os.path.join(folder, "curves", f"{result.name}.png")
        plot_curves(result, path)
    plot_gaps(results, os.path.join(folder, "gaps.png"))
    _write_histories(results, folder)
    with open(os.path.join(folder, "recipes.json"), "w") as f:
        json.dump(recipes, f, indent=1)
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write(_markdown(results, meta, title))
    with open(os.path.join(folder, "report.html"), "w") as f:
        f.write(_html(results, meta, title))
    _write_summary(results, folder, meta)
