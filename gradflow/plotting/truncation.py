"""What truncated BPTT throws away: the cosine between the truncated and the full gradient, or
the share of it lost, against the truncation length k; a colour per cell, a line style per loss."""

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from .decay import describe
from .style import cell_color, get_ax

__all__ = ["plot_truncation", "plot_truncation_panels", "LOSS_STYLES"]

# The loss at the last step solid, the loss summed over the steps dashed.
LOSS_STYLES = {"last": {"linestyle": "-", "marker": "o"},
               "sum": {"linestyle": "--", "marker": "s"}}
LOSS_LABELS = {"last": "loss at the last step", "sum": "loss summed over the steps"}
_YLABEL = {"cosine": r"$\cos(g_k,\, g_T)$",
           "lost_share": r"lost share $\|g_T - g_k\|\,/\,\|g_T\|$"}


def _describe(results):
    """Legend labels and the shared settings (`describe`), the batch said as what it is: the
    gradient is summed over the sequences, not averaged over curves."""
    bare = [dataclasses.replace(r, metadata={k: v for k, v in r.metadata.items()
                                             if k != "samples"}) for r in results]
    labels, shared = describe(bare)
    first = results[0].metadata
    if all(r.metadata.get("vocabulary") == first.get("vocabulary") and
           r.metadata.get("samples") == first.get("samples") for r in results) \
            and first.get("vocabulary") is not None and first.get("samples") is not None:
        n = int(first["samples"])
        batch = f"vocabulary {first['vocabulary']}, " + \
            ("1 sequence" if n == 1 else f"a batch of {n} sequences")
        lines = shared.split("\n") if shared else []
        shared = "\n".join(lines[:1] + [batch] + lines[1:])  # after the sizes
    return labels, shared


def _handles(results, labels):
    """Legend entries: a coloured line per cell, then a black line per loss style."""
    cells = [Line2D([], [], color=cell_color(r.cell, i), label=label)
             for i, (r, label) in enumerate(zip(results, labels))]
    losses = list(dict.fromkeys(loss for r in results for loss in r.losses))
    styles = [Line2D([], [], color="0.2", markersize=3, label=LOSS_LABELS[loss],
                     **LOSS_STYLES[loss]) for loss in losses]
    return cells + styles


def plot_truncation(results, *, ax=None, quantity="cosine", level=0.9, legend=True,
                    line_kws=None):
    """Draw `quantity` against the truncation length k (log axis) for every `Truncation`.

    Args:
      results: a `gradflow.analysis.truncation.Truncation` or a sequence of them (a colour
        each, by cell); each of its losses is a line, solid for 'last' and dashed for 'sum'.
      quantity: 'cosine' (cos(g_k, g_T), with a dotted line at `level`) or 'lost_share'
        (||g_T - g_k|| / ||g_T||).
      level: the cosine drawn as the line "keeps this much" (None: no line).
      legend: draw a legend on this Axes (`plot_truncation_panels` draws one for the figure).
      line_kws: extra keyword arguments for `plot` (copied).

    Returns:
      The Axes.
    """
    if quantity not in _YLABEL:
        raise ValueError(f"unknown quantity {quantity!r}; choose from {', '.join(_YLABEL)}")
    ax = get_ax(ax)
    results = [results] if hasattr(results, "cosine") else list(results)
    labels, _ = _describe(results)
    for i, r in enumerate(results):
        values = getattr(r, quantity)
        for j, loss in enumerate(r.losses):
            y = np.where(np.isfinite(values[j]), values[j], np.nan)
            ax.plot(r.truncations, y, **{"color": cell_color(r.cell, i), "markersize": 2.5,
                                          "label": f"{labels[i]}, {LOSS_LABELS[loss]}",
                                          **LOSS_STYLES[loss], **(line_kws or {})})
    if quantity == "cosine":
        if level is not None:
            ax.axhline(level, color="0.5", linestyle=":", linewidth=0.8, zorder=0)
            ax.annotate(f"{level:g}", (0, level), xycoords=("axes fraction", "data"),
                        xytext=(2, -2), textcoords="offset points", va="top", fontsize=6,
                        color="0.4")
        ax.axhline(1.0, color="0.8", linewidth=0.6, zorder=0)
    else:
        ax.axhline(0.0, color="0.8", linewidth=0.6, zorder=0)
    ax.set_xscale("log")
    ks = np.concatenate([r.truncations for r in results])
    ax.set_xlim(ks.min() / 1.15, ks.max() * 1.15)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda k, _: f"{k:g}"))
    ax.set_xlabel("truncation length k (steps)")
    ax.set_ylabel(_YLABEL[quantity])
    if legend:
        ax.legend(handles=_handles(results, labels), frameon=False)
    return ax


def plot_truncation_panels(results, axes, level=0.9):
    """The cosine on axes[0] and the lost share on axes[1], with one legend for the figure
    above the panels (off the data), titled with the settings the networks share.

    Returns the Axes.
    """
    axes = list(axes)
    if len(axes) != 2:
        raise ValueError(f"need 2 Axes (cosine, lost share), got {len(axes)}")
    results = [results] if hasattr(results, "cosine") else list(results)
    plot_truncation(results, ax=axes[0], quantity="cosine", level=level, legend=False)
    plot_truncation(results, ax=axes[1], quantity="lost_share", legend=False)
    labels, shared = _describe(results)
    handles = _handles(results, labels)
    axes[0].figure.legend(handles=handles, loc="outside upper center", ncols=len(handles),
                          frameon=False, title=shared.replace("\n", ", ") or None,
                          title_fontsize=plt.rcParams["legend.fontsize"])
    return axes
