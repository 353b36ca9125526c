"""`gradflow ablate flossing`, and `gradflow plot flossing`, which draws its figure again from
the results file it wrote."""

import math

import click
import matplotlib.pyplot as plt

from ..cells.builtin import CELLS, get_cell
from ..cells.skips import parse_skip
from ..plotting.flossing import plot_flow_by_delay, plot_success_rate
from ..plotting.style import RC, TWO_COLUMN
from ..training.flossing_ablation import (FLOSS_DELAYS, FLOSS_K, FLOSS_REFERENCES, FLOSS_SEEDS,
                                          flossing_ablation, flow_by_delay)
from ..training.skip_training import (DELAYS, SOLVED, accuracy_by_delay,
                                      skip_training_from_table, skip_training_to_table)
from .base import ablate, check_results_path, emit, fail, one_line_errors, plot, progress_bar
from .checkpoints import check_flow_exponents, checkpoint_options
from .figures import check_figure_path, figure_options, legend_beside, new_figure, save_figure
from .flossing_options import floss_options, floss_settings
from .plot_cmds import read_results
from .skip_training_cmd import (accuracy_tables, check_lags, comparison_options, items,
                                resolve_delays)

FLOSS_PREFLOSS = 100  # the command's preflossing updates, before flossing during training
FLOSS_TASK_DELAYS = {"recall": FLOSS_DELAYS, "copy": DELAYS["copy"]}
PANEL_HEIGHT = 2.4   # inches per task
# The panels of a task's row: the success rate, then what `flow_by_delay` reads at the end.
FLOW_PANELS = ("lyapunov_1", "log10_norm_delay")


def _reference(text):
    if text == "none":
        raise ValueError("the cell alone is trained already, with and without flossing; give "
                         "connections (skip:4, residual, ...) or none alone for no references")
    parse_skip(text)
    return text


def _references(ctx, param, value):
    if value.strip() == "none":
        return ()
    return items("reference", _reference)(ctx, param, value)


def _fmt(value, spec):
    return "-" if value is None or math.isnan(value) else format(value, spec)


def flossing_tables(result):
    """The accuracy tables, then per task the success rate and the gradient flow before and
    after training per model and delay (means over the seeds): the text people read."""
    meta = result.metadata
    lines = [accuracy_tables(result)]
    if meta.get("floss"):
        every = meta["floss_every"]
        when = ("only before training" if every is None else "at every update" if every == 1
                else f"every {every} updates")
        lines += ["", f"+floss: the same weights, batches and held-out sequences, trained with "
                      f"gradient flossing of the leading {meta['floss']} Lyapunov exponents "
                      f"(weight {meta['floss_weight']:g}) {when}"
                  + (f", after {meta['prefloss']} preflossing updates" if meta["prefloss"]
                     else "")]
    for task in dict.fromkeys(r.task for r in result.runs):
        s = accuracy_by_delay(result, task)
        width = max(14, 2 + max(len(m) for m in s.models))
        seeds = len({r.seed for r in result.runs if r.task == task})
        lines += ["", f"{task}: success rate, the share of the {seeds} seeds whose held-out "
                      f"accuracy is at least {SOLVED:g}",
                  f"{'model':{width}}" + "".join(f"{d:>8}" for d in s.delays)]
        for i, model in enumerate(s.models):
            lines.append(f"{model:{width}}" + "".join(f"{_fmt(v, '.2f'):>8}"
                                                      for v in s.success[i]))
        if result.flows is None:
            continue
        for quantity, words in (("lyapunov_1", "leading Lyapunov exponent (log10 per step)"),
                                ("log10_norm_delay", "log10 ||ds_L/ds_{L-d}||_2 at the delay")):
            start, end = (flow_by_delay(result, task, quantity, w) for w in ("start", "end"))
            lines += ["", f"{task}: {words}, before -> after training, mean over the seeds",
                      f"{'model':{width}}" + "".join(f"{d:>18}" for d in s.delays)]
            for i, model in enumerate(start.models):
                lines.append(f"{model:{width}}" + "".join(
                    f"{_fmt(a, '.3f') + ' -> ' + _fmt(b, '.3f'):>18}"
                    for a, b in zip(start.mean[i], end.mean[i])))
    lines += ["", "before: the first checkpoint (after any preflossing), after: the last; on "
                  "held-out sequences; an exponent of 0 neither grows nor shrinks gradients, "
                  "a norm of -3 is the horizon's threshold"]
    return "\n".join(lines)


def draw_flossing(result, path, *, dpi=300, width=TWO_COLUMN[0], height=None, title=None):
    """Per task one row: the success rate, the leading exponent and the log10 norm at the
    task's delay after training, against the delay; the legend beside the first row."""
    tasks = list(dict.fromkeys(r.task for r in result.runs))
    height = height or PANEL_HEIGHT * len(tasks)
    fig, axes = new_figure(width, height, ncols=1 + len(FLOW_PANELS), nrows=len(tasks),
                           squeeze=False)
    with plt.rc_context(RC):
        for row, task in zip(axes, tasks):
            plot_success_rate(result, task, ax=row[0], legend=False)
            for ax, quantity in zip(row[1:], FLOW_PANELS):
                plot_flow_by_delay(result, task, quantity, ax=ax, legend=False)
            if len(tasks) > 1:
                row[0].set_title(f"{task}: " + row[0].get_title())
        legend_beside(fig, axes[0][-1], title)
    save_figure(fig, path, dpi)


@ablate.command("flossing")
@click.option("--cell", type=click.Choice(sorted(CELLS)), default="rnn", show_default=True,
              help="The cell trained with and without flossing (the RNN is tanh).")
@click.option("--references", default=",".join(FLOSS_REFERENCES), show_default=True,
              callback=_references, metavar="V1,V2,...|none",
              help="Connections around the cell trained without flossing, as references "
                   "(residual, skip:K, dense:K, highway).")
@comparison_options(tasks=("recall",), delays=FLOSS_TASK_DELAYS, seeds=FLOSS_SEEDS,
                    plot_command="flossing", figure_text="the success rate and the gradient "
                    "flow after training against delay (one row per task)")
@floss_options(floss=FLOSS_K, prefloss=FLOSS_PREFLOSS)
@checkpoint_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def flossing_command(cell, references, extra_cells, tasks, delay_lists, hidden, batch, updates,
                     lr, optimizer, clip_threshold, forget_bias, skip_scale, highway_bias, seeds,
                     eval_batch, workers, fmt, output, figure, floss, floss_weight, floss_every,
                     prefloss, flow_every, flow_samples, flow_exponents, quiet):
    """Train one cell with and without gradient flossing (Engelken 2023), and reference models
    without it, on tasks that need memory at several delays: the same weights, batches,
    held-out sequences and budget for the cell and its flossed twin (CELL+floss).

    Each run is judged on held-out sequences (accuracy at the outputs that need memory) and
    its gradient flow is measured before the first update and after the last (--flow-every N:
    also every N updates). Prints the accuracy and the success rate (the share of seeds whose
    accuracy is at least 0.9) per model and delay, and the leading Lyapunov exponent and the
    log10 norm at the task's delay before and after training.
    """
    if output is not None:
        check_results_path(output)
    if figure is not None:
        check_figure_path(figure)
    delays = resolve_delays(tasks, delay_lists, FLOSS_TASK_DELAYS)
    if cell in extra_cells:
        raise click.BadParameter(f"{cell} is the cell trained with and without flossing",
                                 param_hint="--extra-cells")
    check_lags(references, tasks, delays, "--references")
    flossing = floss_settings(floss, floss_weight, floss_every, prefloss,
                              get_cell(cell).state_blocks * hidden)
    check_flow_exponents(flow_exponents, hidden)  # the smallest state of any model: H
    runs = sum(map(len, delays.values())) * len(seeds) * (2 + len(references) + len(extra_cells))
    with one_line_errors(), progress_bar(runs, "training runs", quiet) as bar:
        result = flossing_ablation(cell, references=references, extra_cells=extra_cells,
                                   tasks=tasks, delays=delays, seeds=seeds, hidden=hidden,
                                   batch=batch, updates=updates, lr=lr, optimizer=optimizer,
                                   clip_threshold=clip_threshold, skip_scale=skip_scale,
                                   highway_bias=highway_bias, forget_bias=forget_bias,
                                   eval_batch=eval_batch, workers=workers,
                                   progress=lambda: bar.update(1), flow_every=flow_every,
                                   flow_samples=flow_samples, flow_exponents=flow_exponents,
                                   **flossing)
    emit(skip_training_to_table(result), lambda: flossing_tables(result), fmt, output)
    if figure is not None:
        draw_flossing(result, figure)


@plot.command("flossing")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@figure_options(width=TWO_COLUMN[0], height=PANEL_HEIGHT)
@click.option("--title", default=None, help="Title above the figure.")
def plot_flossing_command(results, output, dpi, width, height, title):
    """Success rate, leading Lyapunov exponent and log10 norm at the delay after training,
    against the delay, from the RESULTS file that `gradflow ablate flossing -o` wrote (CSV,
    JSON or NPZ): the figure of its --figure. A file of `gradflow ablate skip-training
    --flow-every N -o` draws the same panels."""
    check_figure_path(output)
    (result,) = read_results([results], ("flossing", "skip_training"), skip_training_from_table)
    if not result.runs:
        fail(f"{results}: holds no runs")
    if result.flows is None:
        fail(f"{results}: has no flow checkpoints (write it with gradflow ablate flossing -o, "
             "or ablate skip-training --flow-every N -o)")
    tasks = len({r.task for r in result.runs})
    draw_flossing(result, output, dpi=dpi, width=width, height=height * tasks, title=title)
