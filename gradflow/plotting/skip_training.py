"""What skip connections do to learning: held-out accuracy against the delay, one line per model
(the base cell's variants and the other cells), for one task."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator

from ..training.skip_training import SOLVED, accuracy_by_delay
from .decay import cell_name
from .style import CELL_COLORS, OKABE_ITO, RC, get_ax
from .training_flow import running_mean

__all__ = ["plot_skip_training", "plot_loss_curves", "model_styles"]

# The base cell's variants: black for the cell alone, then colours no built-in cell uses; the
# other cells keep their own colour (CELL_COLORS) and a dashed line.
_VARIANT_COLORS = ["#000000", OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[6], OKABE_ITO[5],
                   OKABE_ITO[3]]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def model_styles(models):
    """{model: matplotlib keyword dict}: one colour and marker per model, the same in every
    panel. Variants ('rnn', 'rnn+skip:4', ...) are solid; the other cells dashed, in their
    colour."""
    plain = {m.partition("+")[0] for m in models if "+" in m}
    styles, variant = {}, 0
    for i, model in enumerate(models):
        base = model.partition("+")[0]
        if "+" in model or base in plain:
            color = _VARIANT_COLORS[variant % len(_VARIANT_COLORS)]
            variant += 1
            dashes = "-"
        else:
            color = CELL_COLORS.get(model, OKABE_ITO[i % len(OKABE_ITO)])
            dashes = "--"
        styles[model] = {"color": color, "marker": _MARKERS[i % len(_MARKERS)],
                         "linestyle": dashes}
    return styles


def plot_skip_training(result, task, *, ax=None, band=True, level=SOLVED, legend=True):
    """Held-out accuracy against the delay on `task` for every model of `result` (a
    `gradflow.training.skip_training.SkipTraining`): the mean over the seeds (line and markers)
    and the smallest to largest seed (a band), chance (grey, dashed) and the level counted as
    solved (grey, dotted). The delay axis is logarithmic with a tick at every delay. Returns the
    Axes."""
    summary = accuracy_by_delay(result, task, level)
    ax = get_ax(ax)
    styles = model_styles(summary.models)
    delays = np.asarray(summary.delays, dtype=float)
    with plt.rc_context(RC):
        for i, model in enumerate(summary.models):
            style = styles[model]
            ax.plot(delays, summary.mean[i], label=cell_name(model), markersize=3.5,
                    **style)
            if band:
                ax.fill_between(delays, summary.low[i], summary.high[i], color=style["color"],
                                alpha=0.12, linewidth=0)
        ax.axhline(summary.chance, color="0.5", linestyle="--", linewidth=0.8,
                   label=f"chance ({summary.chance:g})")
        ax.axhline(level, color="0.5", linestyle=":", linewidth=0.8,
                   label=f"solved (mean $\\geq$ {level:g})")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(delays))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{d:g}" for d in delays])
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("delay T (steps)")
        ax.set_ylabel("held-out accuracy")
        ax.set_title({"recall": "delayed recall", "copy": "copy memory"}.get(task, task))
        if legend:
            ax.legend(frameon=False)
    return ax


CEILING = 4.0  # the loss curves' panel reaches this many times the memoryless loss


def plot_loss_curves(result, task, delay, *, ax=None, window=10, legend=True):
    """The training loss against the updates done of every model of `result` (a
    `SkipTraining` with flow checkpoints, whose `flows` hold each run's per-update loss) on
    `task` at `delay`: per model, the mean over the seeds of the loss averaged over the last
    `window` updates (a run that stopped early counts while it ran), on a log axis; the
    memoryless loss dashed (for copy 10 ln 8 / (T + 20)): a model whose curve stays above it
    has learnt nothing a model without memory could not. The y axis runs from just below the
    lowest curve (or the memoryless loss) to CEILING times the memoryless loss. Returns the
    Axes."""
    if result.flows is None:
        raise ValueError("these runs hold no training curves: train them with flow checkpoints "
                         "(flow_every, --flow-every)")
    ax = get_ax(ax)
    picked = [(r, f) for r, f in zip(result.runs, result.flows)
              if r.task == task and r.delay == delay]
    if not picked:
        raise ValueError(f"no run of {task} at delay {delay}")
    models = list(dict.fromkeys(r.model for r, _ in picked))
    styles = model_styles(models)
    length = max(len(f.loss) for _, f in picked)
    lowest = np.inf
    with plt.rc_context(RC):
        for model in models:
            curves = np.full((sum(r.model == model for r, _ in picked), length), np.nan)
            for row, (_, f) in enumerate(f for f in picked if f[0].model == model):
                loss = np.where(np.isfinite(f.loss), f.loss, np.nan)
                curves[row, :len(loss)] = running_mean(loss, window)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an update no seed reached
                mean = np.nanmean(curves, axis=0)
            style = {**styles[model], "linestyle": "-"}  # dashed is the memoryless loss
            del style["marker"]
            ax.plot(np.arange(length), mean, label=cell_name(model), **style)
            lowest = min(lowest, np.nanmin(mean, initial=np.inf))
        baseline = picked[0][0].baseline
        ax.set_yscale("log")
        if np.isfinite(baseline):
            ax.axhline(baseline, color="0.5", linestyle=(0, (4, 2)), linewidth=0.9,
                       label="memoryless")
            # what the figure is for is near the memoryless loss: from the lowest curve to
            # CEILING times it (the first updates, which learn the blanks, leave the top)
            ax.set_ylim(0.9 * min(lowest, baseline), CEILING * baseline)
        ax.set_xlabel("updates done")
        ax.set_ylabel(f"training loss (mean of {window})")
        name = {"recall": "delayed recall", "copy": "copy memory"}.get(task, task)
        ax.set_title(f"{name}, T = {delay}", loc="left")
        if legend:
            ax.legend(frameon=False)
    return ax
