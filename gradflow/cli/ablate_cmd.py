"""`gradflow ablate clipping`, and `gradflow plot clipping`, which draws its figure again from
the results file it wrote."""

import os
import zipfile

import click
from click.core import ParameterSource

from ..cells.builtin import CELLS, get_cell
from ..cells.layers import stack
from ..cells.skips import transform
from ..io.results import FORMATS, read_table, table_to_text
from ..training.clipping import CLIP_MODES
from ..training.flow import FlowRun
from ..training.clipping_ablation import (ABLATION_COLUMNS, ablation_from_table,
                                          ablation_to_table, clipping_ablation, summarize)
from ..training.optimizers import OPTIMIZERS
from ..training.tasks import TASKS
from .base import ablate, check_results_path, fail, plot, progress_bar, write_results
from .figures import (FIGURE_FORMATS, check_figure_path, figure_options, new_figure,
                      save_figure)
from .checkpoints import check_flow_exponents, checkpoint_options, flow_lines
from .flossing_options import floss_lines, floss_options, floss_settings
from .options import LAYER_OPTIONS, check_lag, skip_options
from .params import FiniteFloat

FINAL_LOSS_WINDOW = 10  # updates averaged into the final loss (one mini-batch is noisy)
FIGURE_SIZE = (7.0, 2.8)  # inches: two panels at the full text width


def _thresholds(ctx, param, values):
    out = []
    for value in values:
        for part in value.split(","):
            t = FiniteFloat(min=0, min_open=True).convert(part.strip(), param, ctx)
            if t in out:
                raise click.BadParameter(f"threshold {part.strip()} is given twice")
            out.append(t)
    return tuple(out) or (1.0,)


def _modes(ctx, param, value):
    modes = [m.strip() for m in value.split(",")]
    for i, mode in enumerate(modes):
        if mode not in CLIP_MODES:
            raise click.BadParameter(f"unknown clipping mode {mode!r} in {value!r}; choose "
                                     f"from {', '.join(CLIP_MODES)}")
        if mode in modes[:i]:
            raise click.BadParameter(f"clipping mode {mode!r} is given twice in {value!r}")
    return tuple(modes)


def _suffix(choices, what):
    def check(ctx, param, value):
        if value is None:
            return None
        suffix = os.path.splitext(value)[1].lstrip(".").lower()
        if suffix not in choices:
            raise click.BadParameter(f"{value!r}: {what} must end in "
                                     f"{', '.join('.' + c for c in choices)}")
        return value
    return check


def _table(results):
    header = (f"{'mode':<6} {'threshold':>9} {'final loss':>11} {'best loss':>10} "
              f"{'||g||>thr':>9} {'clipped':>7} {'updates':>7}  diverged")
    lines = [header]
    for r in results:
        s = summarize(r, FINAL_LOSS_WINDOW)
        lines.append(f"{s.mode:<6} {s.threshold:>9g} {s.final_loss:>11.4g} {s.best_loss:>10.4g} "
                     f"{s.above_threshold:>9d} {s.clipped:>7d} {s.updates:>7d}  "
                     f"{'yes, at update ' + str(s.updates) if s.diverged else 'no'}")
    lines.append(f"memoryless baseline loss {results[0].baseline:.4g}; final loss = mean of the "
                 f"last {FINAL_LOSS_WINDOW} updates; for mode none the threshold is only the "
                 "reference for ||g||>thr")
    return "\n".join(lines)


def _run_label(result):
    m = result.metadata
    return "none" if m["clip_mode"] == "none" else f"{m['clip_mode']} {m['threshold']:g}"


def draw_ablation(results, path, *, dpi=300, width=FIGURE_SIZE[0], height=FIGURE_SIZE[1],
                  title=None):
    """Loss and gradient-norm curves of the runs, side by side, saved to `path`."""
    from ..plotting.style import RC
    from ..plotting.training import ablation_title, plot_training_panels

    fig, axes = new_figure(width, height, ncols=2)
    plot_training_panels(results, axes)
    title = title or ablation_title(results[0].metadata)
    if title:
        fig.suptitle(title, fontsize=RC["font.size"])
    save_figure(fig, path, dpi)


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
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=0.1,
              show_default=True, metavar="RATE", help="Learning rate (step size, unitless; "
                                                      "positive and finite).")
@click.option("--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default="sgd",
              show_default=True, help="Optimizer.")
@click.option("--scale", type=FiniteFloat(min=0), default=2.0, show_default=True,
              metavar="GAIN", help="Recurrent weight scale (Gaussian init: spectral radius "
                                   "about GAIN; finite, at least 0).")
@click.option("--truncation", type=click.IntRange(min=1), default=None, metavar="K",
              help="Truncated BPTT window in time steps (default: full BPTT).")
@click.option("--clip-threshold", "thresholds", multiple=True, callback=_thresholds,
              metavar="T1[,T2...]", help="Clipping threshold(s), each positive and finite: "
              "global gradient norm for 'norm', largest element for 'value'. Repeat or give a "
              "comma list. [default: 1]")
@click.option("--modes", default=",".join(CLIP_MODES), show_default=True, callback=_modes,
              metavar="M1,M2", help="Clipping modes to run, each once, from none, norm, value.")
@click.option("--max-loss", type=FiniteFloat(min=0, min_open=True, allow_inf=True),
              default=1e6, show_default=True, metavar="LOSS", help="A loss above this counts "
              "as a blow-up: the run is stopped and reported as diverged (inf: no limit).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="Seed for the initial weights and the stream of batches (same for all modes).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="What is printed on stdout without -o: the summary "
              "table, or the records as CSV or JSON. With -o the file's suffix decides its "
              "format and stdout shows the summary table; a --format csv or json that "
              "disagrees with the suffix of -o is an error.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              callback=_suffix(FORMATS, "the results file"), metavar="FILE",
              help="Write the records to FILE, as CSV, JSON or NPZ by its suffix (.csv, .json, "
                   ".npz); `gradflow plot clipping FILE` draws them again.")
@click.option("--figure", type=click.Path(dir_okay=False), default=None,
              callback=_suffix(FIGURE_FORMATS, "the figure file"), metavar="FILE",
              help="Also draw loss and gradient-norm curves to FILE (.png, .pdf or .svg).")
@skip_options
@LAYER_OPTIONS[0]
@LAYER_OPTIONS[2]
@checkpoint_options
@floss_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def clipping(cell, task, steps, hidden, batch, updates, lr, optimizer, scale, truncation,
             thresholds, modes, max_loss, seed, fmt, output, figure, skip, skip_scale,
             highway_bias, layers, layer_residual, flow_every, flow_samples, flow_exponents,
             floss, floss_weight, floss_every, prefloss, quiet):
    """Train one cell on one task from one seed under each clipping mode and threshold.

    Records, one row per run and update: mode, threshold, update (1-based), loss (mini-batch
    loss before the update), grad_norm_before, grad_norm_after (global gradient norm before and
    after clipping; nan when not finite), clipped (1 if clipping changed the gradient),
    nonfinite (1 if the loss, gradient or new parameters had nan or inf). JSON and NPZ are
    gradflow results files (kind 'clipping') whose metadata holds what made the runs and the
    summary table. A run that blows up is stopped and reported, not raised. With --flow-every
    the records gain the flow columns (README, output formats) and a row at update 0. With
    --floss K every run flosses alike (the same preflossing, the same flossed updates), and the
    records gain the column flossing_loss.
    """
    ctx = click.get_current_context()
    if output is not None:
        suffix = os.path.splitext(output)[1].lstrip(".").lower()
        if ctx.get_parameter_source("fmt") == ParameterSource.COMMANDLINE and \
                fmt != "table" and fmt != suffix:
            raise click.UsageError(f"--format {fmt} and -o {output} disagree: -o writes by its "
                                   f"suffix ({suffix}); drop --format or name a .{fmt} file")
        check_results_path(output)
    if figure is not None:
        check_figure_path(figure)
    check_lag(skip, steps)
    model = transform(get_cell(cell), skip, scale=skip_scale, highway_bias=highway_bias)
    if (layers or 1) > 1 or layer_residual:
        model = stack([model] * (layers or 1), residual=layer_residual)
    if flow_every is not None:
        check_flow_exponents(flow_exponents, model.state_blocks * hidden)
    flow = {} if flow_every is None else {"flow_every": flow_every, "flow_samples": flow_samples,
                                          "flow_exponents": flow_exponents}
    flossing = floss_settings(floss, floss_weight, floss_every, prefloss,
                              model.state_blocks * hidden)
    runs = sum(1 if m == "none" else len(thresholds) for m in modes)
    with progress_bar(runs * updates, "training", quiet) as bar:
        try:
            results = clipping_ablation(model, task, thresholds=thresholds, modes=modes,
                                        steps=steps, hidden=hidden, batch=batch, updates=updates,
                                        lr=lr, optimizer=optimizer, scale=scale,
                                        truncation=truncation, seed=seed, max_loss=max_loss,
                                        progress=lambda: bar.update(1), **flow, **flossing)
        except ValueError as err:
            fail(str(err))
        except MemoryError as err:  # the up-front estimate (training.memory_needed) fell short
            fail(f"out of memory ({err or 'no detail'}): make the model, the task or the batch "
                 "smaller")
    table = ablation_to_table(results, FINAL_LOSS_WINDOW)
    text = _table(results)
    if flossing:
        text = "\n".join([text] + floss_lines([(_run_label(r), r) for r in results]))
    if flow:
        text = "\n".join([text] + flow_lines([FlowRun(_run_label(r), r.loss, r.flow, r.baseline)
                                               for r in results]))
    if output is not None:
        write_results(output, table)
        click.echo(text)
    elif fmt == "table":
        click.echo(text)
    else:
        click.echo(table_to_text(table, fmt), nl=False)
    if figure is not None:
        draw_ablation(results, figure)


@plot.command("clipping")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@figure_options(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1])
@click.option("--title", default=None, help="Title above the figure [default: what made the "
                                            "runs, from the file's metadata].")
def plot_clipping(results, output, dpi, width, height, title):
    """Loss and gradient norm per update of a clipping ablation, from the RESULTS file that
    `gradflow ablate clipping -o` wrote (CSV, JSON or NPZ): the figure of its --figure.

    A CSV has no metadata: its figure has no memoryless baseline and no title, and a run that
    stopped before the others is marked as diverged.
    """
    check_figure_path(output)
    try:
        table = read_table(results)
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as err:
        message = str(err)
        fail(message if message.startswith(results) else f"{results}: cannot read ({message})")
    if table.kind not in (None, "clipping"):
        fail(f"{results}: holds {table.kind!r} results, not 'clipping' (from gradflow ablate "
             "clipping -o)")
    try:
        runs = ablation_from_table(table)
    except ValueError as err:
        fail(f"{results}: {err} (expected the columns {', '.join(ABLATION_COLUMNS)})")
    if not runs:
        fail(f"{results}: holds no records")
    draw_ablation(runs, output, dpi=dpi, width=width, height=height, title=title)
