"""Gradient flow while a network learns: the training loss, the decay horizon, the leading
Lyapunov exponent and (where the cells have one) the memory gate against the update, one panel
each, several runs overlaid."""

import matplotlib.pyplot as plt
import numpy as np

from .style import CELL_COLORS, OKABE_ITO, RC, get_ax

__all__ = ["PANELS", "flow_styles", "plot_flow_quantity", "plot_training_flow", "running_mean"]

PANELS = ("loss", "horizon", "lyapunov", "gate")
# Runs that are not a built-in cell alone: colours no built-in cell uses, black first.
_OTHER_COLORS = ["#000000", OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[6], OKABE_ITO[3]]
_GATE_WORDS = {"forget": "forget gate", "keep": "keep fraction", "carry": "highway carry"}
# One marker per run, so that runs at the same value (a horizon beyond the sequence) stay
# distinguishable: a circle inside a square, not one hiding the other.
_MARKERS = ["o", "s", "D", "^", "v", "P", "X", "*"]


def flow_styles(labels):
    """{label: (colour, marker)}: a built-in cell's own colour for a run labelled by its name,
    the other runs in turn from colours no cell uses; a marker per run."""
    styles, other = {}, 0
    for i, label in enumerate(labels):
        if label in CELL_COLORS:
            color = CELL_COLORS[label]
        else:
            color = _OTHER_COLORS[other % len(_OTHER_COLORS)]
            other += 1
        styles[label] = (color, _MARKERS[i % len(_MARKERS)])
    return styles


def running_mean(y, window):
    """The mean of the last `window` finite values up to each index (fewer at the start)."""
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    sums = np.cumsum(np.where(ok, y, 0.0))
    counts = np.cumsum(ok)
    lo = np.maximum(np.arange(len(y)) - window, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums - np.where(lo >= 0, sums[np.maximum(lo, 0)], 0.0)) / \
            (counts - np.where(lo >= 0, counts[np.maximum(lo, 0)], 0))


def plot_flow_quantity(runs, quantity, *, ax=None, window=10, styles=None):
    """Draw one `quantity` of PANELS against the number of updates done, one line per run.

    `runs` are `gradflow.training.flow.FlowRun`s (a label, the per-update loss, the flow
    record, the memoryless baseline). x is the number of updates done before the weights a
    value is of: the checkpoint at u is of the weights after u updates, and the loss of update
    u + 1 (measured before it) is drawn at u, so a vertical line meets one set of weights.

    - 'loss': the mini-batch loss, faint, and its mean over the last `window` updates, on a log
      axis; the memoryless baseline dashed (from the first run that knows it).
    - 'horizon': the first distance at which ||ds_L/ds_t||_2 leaves [1e-3, 1e3]; where it never
      does within the held-out sequences, the sequence length L, drawn hollow (a lower bound).
      The task's delay (the distance the answer needs) is a grey dotted line.
    - 'lyapunov': the leading Lyapunov exponent, log10 per step, with 0 (neither growth nor
      decay) dotted.
    - 'gate': the mean memory gate: the LSTM's forget gate, the GRU's keep fraction, a highway's
      carry (runs without one are left out).

    Returns the Axes.
    """
    if quantity not in PANELS:
        raise ValueError(f"quantity must be one of {', '.join(PANELS)}, got {quantity!r}")
    runs = list(runs)
    labels = [r.label for r in runs]
    if len(set(labels)) < len(labels):
        raise ValueError("every run needs its own label")
    ax = get_ax(ax)
    styles = styles or flow_styles(labels)
    with plt.rc_context(RC):
        for r in runs:
            (color, marker), f = styles[r.label], r.flow
            if quantity == "loss":
                x = np.arange(len(r.loss))
                shown = np.where(np.isfinite(r.loss), r.loss, np.nan)
                ax.plot(x, shown, color=color, alpha=0.25, linewidth=0.6)
                ax.plot(x, running_mean(shown, window), color=color, label=r.label)
            elif quantity == "horizon":
                inside = np.isnan(f.horizon)
                y = np.where(inside, f.length, f.horizon)
                ax.plot(f.update, y, color=color, label=r.label)
                ax.plot(f.update[inside], y[inside], linestyle="none", marker=marker,
                        markersize=4, markerfacecolor="none", color=color)
                ax.plot(f.update[~inside], y[~inside], linestyle="none", marker=marker,
                        markersize=3, color=color)
            elif quantity == "lyapunov":
                ax.plot(f.update, f.lyapunov[:, 0], color=color, marker=marker, markersize=3,
                        label=r.label)
            else:
                for gate, values in f.gates.items():
                    ax.plot(f.update, values, color=color, marker=marker, markersize=3,
                            label=f"{r.label} ({_GATE_WORDS[gate]})")
        ax.set_xlabel("updates done")
        if quantity == "loss":
            baseline = next((r.baseline for r in runs if np.isfinite(r.baseline)), None)
            if baseline is not None:
                ax.axhline(baseline, color="0.5", linestyle="--", linewidth=0.8,
                           label="memoryless")
            ax.set_yscale("log")
            ax.set_ylabel(f"training loss (mean of {window})")
        elif quantity == "horizon":
            delays = sorted({r.flow.delay for r in runs})
            for d in delays:
                ax.axhline(d, color="0.5", linestyle=":", linewidth=0.8)
            ax.set_ylabel("horizon (steps)")
            if delays:
                ax.plot([], [], color="0.5", linestyle=":", linewidth=0.8, label="task's delay")
            ax.plot([], [], linestyle="none", marker="o", markersize=4, markerfacecolor="none",
                    color="0.3", label="none within L")
            ax.set_ylim(0, 1.1 * max(r.flow.length for r in runs))  # room above L
        elif quantity == "lyapunov":
            ax.axhline(0.0, color="0.5", linestyle=":", linewidth=0.8)
            ax.set_ylabel("leading exponent (log10/step)")
        else:
            ax.set_ylabel("mean memory gate")
    return ax


def plot_training_flow(runs, axes=None, *, window=10, gates=None, legend=True):
    """Loss, horizon, leading exponent and (with `gates`, by default when a run has a gate)
    the memory gate against the number of updates done, one panel each, every run overlaid
    (see `plot_flow_quantity`). `axes` is a sequence of Axes, one per panel, or None (then a
    new figure). Returns the Axes, in that order."""
    runs = list(runs)
    if not runs:
        raise ValueError("give at least one run")
    if gates is None:
        gates = any(r.flow.gates for r in runs)
    panels = PANELS if gates else PANELS[:3]
    if axes is None:
        with plt.rc_context(RC):
            _, axes = plt.subplots(1, len(panels), figsize=(7.0, 2.6), layout="constrained")
    axes = list(np.ravel(axes))
    if len(axes) != len(panels):
        raise ValueError(f"{len(panels)} panels ({', '.join(panels)}) need {len(panels)} Axes, "
                         f"got {len(axes)}")
    styles = flow_styles([r.label for r in runs])
    for ax, quantity in zip(axes, panels):
        plot_flow_quantity(runs, quantity, ax=ax, window=window, styles=styles)
    if legend:
        with plt.rc_context(RC):
            axes[0].legend(frameon=False)
            axes[1].legend(*[h[len(runs):] for h in axes[1].get_legend_handles_labels()],
                           frameon=False)
    return axes
