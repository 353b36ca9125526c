"""What skip connections do to learning: held-out accuracy against the delay, one line per model
(the base cell's variants and the other cells), for one task."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator

from ..training.skip_training import SOLVED, accuracy_by_delay
from .decay import cell_name
from .style import CELL_COLORS, OKABE_ITO, RC, get_ax

__all__ = ["plot_skip_training", "model_styles"]

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
