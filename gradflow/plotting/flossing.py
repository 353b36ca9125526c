"""What gradient flossing does to learning, against the delay: the success rate (the share of
seeds whose held-out accuracy reaches the level counted as solved) and the gradient flow after
training (the leading Lyapunov exponent; the log10 norm of ds_L/ds_{L-d} at the task's delay
d), one line per model, in the colours of the skip-training figure."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator

from ..training.flossing_ablation import flow_by_delay
from ..training.skip_training import SOLVED, accuracy_by_delay
from .decay import cell_name
from .skip_training import model_styles
from .style import RC, get_ax

__all__ = ["plot_success_rate", "plot_flow_by_delay"]

_FLOW_LABELS = {"lyapunov_1": ("leading Lyapunov exponent\n(log10 per step)", 0.0),
                "log10_norm_delay": ("log10 $\\|\\partial s_L/\\partial s_{L-d}\\|_2$ at the "
                                     "delay", -3.0)}


def _delay_axis(ax, delays):
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(delays))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{d:g}" for d in delays])
    ax.set_xlabel("delay T (steps)")


def plot_success_rate(result, task, *, ax=None, level=SOLVED, legend=True):
    """The share of seeds whose held-out accuracy on `task` is at least `level`, against the
    delay, for every model of `result` (a `gradflow.training.skip_training.SkipTraining`).
    Returns the Axes."""
    summary = accuracy_by_delay(result, task, level)
    ax = get_ax(ax)
    styles = model_styles(summary.models)
    delays = np.asarray(summary.delays, dtype=float)
    seeds = len({r.seed for r in result.runs if r.task == task})
    with plt.rc_context(RC):
        for i, model in enumerate(summary.models):
            ax.plot(delays, summary.success[i], label=cell_name(model), markersize=3.5,
                    **styles[model])
        _delay_axis(ax, delays)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(f"success rate ({seeds} seeds)")
        ax.set_title(f"held-out accuracy $\\geq$ {level:g}")
        if legend:
            ax.legend(frameon=False)
    return ax


def plot_flow_by_delay(result, task, quantity="lyapunov_1", *, ax=None, when="end",
                       band=True, legend=True):
    """`quantity` ('lyapunov_1' or 'log10_norm_delay') at the last checkpoint (`when`='end')
    or the first ('start') of every model of `result` on `task`, against the delay: the mean
    over the seeds (line and markers) and the smallest to largest (a band); a grey dotted line
    at 0 for the exponent (neither growth nor decay) and at -3 for the norm (the horizon's
    threshold, 1e-3). Returns the Axes."""
    summary = flow_by_delay(result, task, quantity, when)
    ax = get_ax(ax)
    styles = model_styles(summary.models)
    delays = np.asarray(summary.delays, dtype=float)
    label, reference = _FLOW_LABELS[quantity]
    with plt.rc_context(RC):
        for i, model in enumerate(summary.models):
            style = styles[model]
            ax.plot(delays, summary.mean[i], label=cell_name(model), markersize=3.5, **style)
            if band:
                ax.fill_between(delays, summary.low[i], summary.high[i], color=style["color"],
                                alpha=0.12, linewidth=0)
        ax.axhline(reference, color="0.5", linestyle=":", linewidth=0.8)
        _delay_axis(ax, delays)
        ax.set_ylabel(label)
        ax.set_title("after training" if when == "end" else "before training")
        if legend:
            ax.legend(frameon=False)
    return ax
