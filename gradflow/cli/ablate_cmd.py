"""`gradflow ablate clipping`."""

import csv
import json
import math
import os

import click

from .. import __version__
from ..cells import CELLS
from ..clipping import CLIP_MODES
from ..files import atomic_path
from ..tasks import TASKS
from ..training import OPTIMIZERS, clipping_ablation, summarize
from .base import ablate, fail, progress_bar

CSV_COLUMNS = ["mode", "threshold", "update", "loss", "grad_norm_before", "grad_norm_after",
               "clipped", "nonfinite"]
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _thresholds(ctx, param, values):
    out = []
    for value in values:
        for part in value.split(","):
            try:
                t = float(part)
            except ValueError:
                raise click.BadParameter(f"{part!r} is not a number") from None
            if not (t > 0 and math.isfinite(t)):
                raise click.BadParameter(f"thresholds must be positive and finite, got {part}")
            out.append(t)
    return tuple(out) or (1.0,)


def _rows(results):
    for r in results:
        for i in range(len(r.loss)):
            yield {"mode": r.metadata["clip_mode"], "threshold": r.metadata["threshold"],
                   "update": i + 1, "loss": float(r.loss[i]),
                   "grad_norm_before": float(r.grad_norm_before[i]),
                   "grad_norm_after": float(r.grad_norm_after[i]),
                   "clipped": int(r.clipped[i]), "nonfinite": int(r.nonfinite[i])}


def _metadata(results):
    m = dict(results[0].metadata)
    for key in ("clip_mode", "threshold"):
        m.pop(key)
    m["gradflow_version"] = __version__
    return m


def _json_number(x):
    return x if math.isfinite(x) else str(x)  # JSON has no nan/inf


def _table(results):
    header = (f"{'mode':<6} {'threshold':>9} {'final loss':>11} {'best loss':>10} "
              f"{'||g||>thr':>9} {'clipped':>7} {'updates':>7}  diverged")
    lines = [header]
    for r in results:
        s = summarize(r)
        lines.append(f"{s.mode:<6} {s.threshold:>9g} {s.final_loss:>11.4g} {s.best_loss:>10.4g} "
                     f"{s.above_threshold:>9d} {s.clipped:>7d} {s.updates:>7d}  "
                     f"{'yes, at update ' + str(s.updates) if s.diverged else 'no'}")
    lines.append(f"memoryless baseline loss {results[0].baseline:.4g}; final loss = mean of the "
                 "last 10 updates; for mode none the threshold is only the reference for ||g||>thr")
    return "\n".join(lines)


def _write_records(results, fmt, path):
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            if fmt == "csv":
                writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
                writer.writeheader()
                writer.writerows(_rows(results))
            elif fmt == "json":
                records = [{k: _json_number(v) if isinstance(v, float) else v
                            for k, v in row.items()} for row in _rows(results)]
                summary = [{k: _json_number(v) if isinstance(v, float) else v
                            for k, v in summarize(r)._asdict().items()} for r in results]
                json.dump({"metadata": _metadata(results), "summary": summary,
                           "records": records}, f, indent=1)
            else:
                f.write(_table(results) + "\n")


@ablate.command("clipping")
@click.option("--cell", type=click.Choice(sorted(CELLS)), default="rnn", show_default=True,
              help="Recurrent cell to train.")
@click.option("--task", type=click.Choice(sorted(TASKS)), default="adding", show_default=True,
              help="Task: adding problem, copy memory, delayed recall, or the 'hello' "
                   "character model.")
@click.option("--steps", type=click.IntRange(min=1), default=50, show_default=True,
              metavar="T", help="Task length T in time steps (copy: T + 20 steps in all; "
                                "recall: T distractors).")
@click.option("--hidden", type=click.IntRange(min=1), default=16, show_default=True,
              metavar="H", help="Hidden units.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True,
              metavar="B", help="Sequences per mini-batch.")
@click.option("--updates", type=click.IntRange(min=1), default=200, show_default=True,
              metavar="N", help="Parameter updates per clipping mode.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1,
              show_default=True, metavar="RATE", help="Learning rate (step size, unitless).")
@click.option("--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default="sgd",
              show_default=True, help="Optimizer.")
@click.option("--scale", type=click.FloatRange(min=0), default=2.0, show_default=True,
              metavar="GAIN", help="Recurrent weight scale (Gaussian init: spectral radius "
                                   "about GAIN).")
@click.option("--truncation", type=click.IntRange(min=1), default=None, metavar="K",
              help="Truncated BPTT window in time steps (default: full BPTT).")
@click.option("--clip-threshold", "thresholds", multiple=True, callback=_thresholds,
              metavar="T1[,T2...]", help="Clipping threshold(s): global gradient norm for "
              "'norm', largest element for 'value'. Repeat or give a comma list. [default: 1]")
@click.option("--modes", default=",".join(CLIP_MODES), show_default=True, metavar="M1,M2",
              help="Clipping modes to run, from none, norm, value.")
@click.option("--max-loss", type=click.FloatRange(min=0, min_open=True), default=1e6,
              show_default=True, metavar="LOSS", help="A loss above this counts as a blow-up: "
              "the run is stopped and reported as diverged.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="Seed for the initial weights and the stream of batches (same for all modes).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Format of the records (table: the summary only).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE", help="Write the records here instead of stdout.")
@click.option("--figure", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Also draw loss and gradient-norm curves to FILE (.png, .pdf or .svg).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def clipping(cell, task, steps, hidden, batch, updates, lr, optimizer, scale, truncation,
             thresholds, modes, max_loss, seed, fmt, output, figure, quiet):
    """Train one cell on one task from one seed under each clipping mode and threshold.

    Records per update; CSV columns: mode, threshold, update (1-based), loss (mini-batch loss
    before the update), grad_norm_before, grad_norm_after (global gradient norm before and after
    clipping; nan when not finite), clipped (1 if clipping changed the gradient), nonfinite (1 if
    the loss, gradient or new parameters had nan or inf). JSON holds the same records plus the
    metadata and the summary table. A run that blows up is stopped and reported, not raised.
    """
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in CLIP_MODES]
    if bad or not mode_list:
        fail(f"unknown clipping mode {bad[0] if bad else modes!r}; choose from "
             f"{', '.join(CLIP_MODES)}")
    if figure is not None and os.path.splitext(figure)[1].lower() not in FIGURE_SUFFIXES:
        fail(f"figure file {figure} must end in .png, .pdf or .svg")
    for path in (output, figure):
        if path is not None and not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            fail(f"cannot write {path}: folder missing or not writable")
    runs = sum(1 if m == "none" else len(thresholds) for m in mode_list)
    with progress_bar(runs * updates, "training", quiet) as bar:
        try:
            results = clipping_ablation(cell, task, thresholds=thresholds, modes=mode_list,
                                        steps=steps, hidden=hidden, batch=batch, updates=updates,
                                        lr=lr, optimizer=optimizer, scale=scale,
                                        truncation=truncation, seed=seed, max_loss=max_loss,
                                        progress=lambda: bar.update(1))
        except ValueError as err:
            fail(str(err))
    if output is not None:
        _write_records(results, fmt, output)
    elif fmt == "table":
        click.echo(_table(results))
    elif fmt == "csv":
        click.echo(",".join(CSV_COLUMNS))
        for row in _rows(results):
            click.echo(",".join(str(row[c]) for c in CSV_COLUMNS))
    else:
        click.echo(json.dumps({"metadata": _metadata(results), "records": [
            {k: _json_number(v) if isinstance(v, float) else v for k, v in row.items()}
            for row in _rows(results)]}, indent=1))
    if output is not None and fmt != "table" and not quiet:
        click.echo(_table(results))
    if figure is not None:
        _draw(results, figure)


def _draw(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting.training import plot_training_panels

    ax_loss, ax_norm = plot_training_panels(results)
    m = results[0].metadata
    ax_loss.figure.suptitle(
        f"{m['cell'].upper()} on the {m['task']} task (T = {m['steps']}, H = {m['hidden']}, "
        f"{m['optimizer']} lr {m['lr']:g}, recurrent scale {m['scale']:g}, seed {m['seed']})",
        fontsize=8)
    with atomic_path(path) as tmp:
        ax_loss.figure.savefig(tmp, dpi=200, format=os.path.splitext(path)[1][1:].lower())
    plt.close(ax_loss.figure)
