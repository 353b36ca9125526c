"""The curse of memory (Zucchet & Orvieto 2024): against the target memory timescale
1 / (1 - lambda), the timescale the state Jacobian achieves (left) and the sensitivity of the
state to the memory factor (right), with the closed form of the scalar linear recurrence dashed."""

import numpy as np

from ..analysis.memory import closed_form
from .style import CELL_COLORS, get_ax

__all__ = ["plot_memory_timescale", "plot_memory_sensitivity", "plot_memory_panels"]

LABELS = {"lru": "LRU (with gamma)", "lru_nogamma": "LRU without gamma",
          "indrnn_linear": "IndRNN (linear)", "indrnn": "IndRNN (relu)", "mingru": "minGRU",
          "minlstm": "minLSTM", "rnn": "RNN (tanh, W = lambda Q)", "lstm": "LSTM", "gru": "GRU"}

# The classic cells keep their house colours; the others get the rest of Okabe & Ito's palette
# (and one grey-purple), so that no two of the nine share a colour.
COLORS = {**CELL_COLORS, "lru": "#E69F00", "lru_nogamma": "#56B4E9", "indrnn_linear": "#CC79A7",
          "indrnn": "#7F5F9F", "mingru": "#F0E442", "minlstm": "#000000"}


def _color(cell, index):
    return COLORS.get(cell, f"C{index % 10}")


def _achieved_timescale(rate):
    """1 / (1 - rate); inf for a factor of 1 or more (no decay), nan for nan."""
    rate = np.asarray(rate, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(rate < 1, 1.0 / (1.0 - np.minimum(rate, 1)), np.inf)


def _log_x(ax, lo, hi):
    """A log x axis from lo to hi, widened around a single point."""
    if lo == hi:  # before the log scale, which otherwise warns of a singular range
        ax.set_xlim(lo / 1.5, hi * 1.5)
    ax.set_xscale("log")


def plot_memory_timescale(results, *, ax=None):
    """The memory timescale achieved, 1 / (1 - fitted factor of ||ds_T/ds_t||_2), against the
    target 1 / (1 - lambda), log-log, the diagonal dotted. `results` a sequence of
    `MemoryCurse`."""
    ax = get_ax(ax)
    lo, hi = np.inf, 0.0
    for i, r in enumerate(results):
        ax.plot(r.timescale, _achieved_timescale(r.factor_achieved), marker="o", markersize=3,
                color=_color(r.cell, i), label=LABELS.get(r.cell, r.cell))
        lo, hi = min(lo, r.timescale.min()), max(hi, r.timescale.max())
    ax.plot([lo, hi], [lo, hi], color="0.5", linestyle=":", linewidth=1, label="target")
    _log_x(ax, lo, hi)
    ax.set_yscale("log")
    ax.set_xlabel(r"target memory timescale $1/(1-\lambda)$ (steps)")
    ax.set_ylabel(r"timescale achieved $1/(1-\mathrm{rate})$")
    return ax


def plot_memory_sensitivity(results, *, ax=None):
    """log10 of the sensitivity E||ds_T/dlambda||^2 / H against the target timescale (log x),
    error bars of two standard errors (on the log scale), and the closed form
    (1 + lambda^2) / (1 - lambda^2)^3 of the scalar linear recurrence dashed."""
    ax = get_ax(ax)
    lams = []
    for i, r in enumerate(results):
        s, se = r.sensitivity, np.nan_to_num(r.sensitivity_se)
        with np.errstate(divide="ignore", invalid="ignore"):
            low = np.log10(s) - np.log10(np.maximum(s - 2 * se, s * 1e-3))
            high = np.log10(s + 2 * se) - np.log10(s)
        ax.errorbar(r.timescale, np.log10(s), yerr=[low, high], marker="o", markersize=3,
                    capsize=1.5, color=_color(r.cell, i), label=LABELS.get(r.cell, r.cell))
        lams.extend(r.memory_factor.tolist())
    grid = np.linspace(min(lams), max(lams), 200)
    ax.plot(1 / (1 - grid), np.log10(closed_form(grid)), color="0.2", linestyle="--",
            linewidth=1, label=r"$(1+\lambda^2)/(1-\lambda^2)^3$")
    _log_x(ax, 1 / (1 - grid[0]), 1 / (1 - grid[-1]))
    ax.set_xlabel(r"target memory timescale $1/(1-\lambda)$ (steps)")
    ax.set_ylabel(r"$\log_{10}\ \mathbb{E}\,\|ds_T/d\lambda\|^2 / H$")
    return ax


def plot_memory_panels(results, axes, *, legend=True):
    """Both panels on `axes` (two Axes); one legend above them."""
    plot_memory_timescale(results, ax=axes[0])
    plot_memory_sensitivity(results, ax=axes[1])
    if legend:
        handles, labels = axes[1].get_legend_handles_labels()
        extra = [(h, l) for h, l in zip(*axes[0].get_legend_handles_labels()) if l == "target"]
        for h, l in extra:
            handles.append(h)
            labels.append("target timescale")
        axes[0].figure.legend(handles, labels, loc="outside upper center",
                              ncols=min(5, len(labels)), frameon=False)
    return axes
