"""Training curves of a clipping ablation: loss and gradient norm per update, log scale."""

import matplotlib.pyplot as plt
import numpy as np

from .style import OKABE_ITO, RC, get_ax

__all__ = ["MODE_COLORS", "mode_color", "plot_training", "plot_training_panels", "ablation_title"]

MODE_COLORS = {"none": OKABE_ITO[5], "norm": OKABE_ITO[4], "value": OKABE_ITO[2]}
_DASHES = ["-", "--", ":", "-."]


def mode_color(mode):
    """The colour of a clipping mode in every figure (Okabe-Ito)."""
    return MODE_COLORS.get(mode, OKABE_ITO[7])


def _label(result):
    m = result.metadata
    if m["clip_mode"] == "none":
        return "no clipping"
    return f"{m['clip_mode']} clip at {m['threshold']:g}"


def _styles(results):
    seen = {}
    for r in results:
        mode = r.metadata["clip_mode"]
        k = seen.get(mode, 0)
        seen[mode] = k + 1
        yield mode_color(mode), _DASHES[k % len(_DASHES)]


def plot_training(results, *, ax=None, quantity="loss", explosion_factor=10.0, legend=True):
    """Draw `quantity` ('loss' or 'grad_norm') against the update for one TrainingResult or a
    sequence of them, on a log y axis, one colour per clipping mode.

    'grad_norm' draws the norm before clipping; the threshold of the first clipped run is a grey
    dotted line, and updates whose norm exceeds `explosion_factor` times that threshold (the
    explosion events) get a small marker. 'loss' draws the task's memoryless baseline dashed.
    A run that diverged ends in a large cross. Returns the Axes.

    `results` are `gradflow.training.TrainingResult`s, from `clipping_ablation` or read back by
    `ablation_from_table`.
    """
    if quantity not in ("loss", "grad_norm"):
        raise ValueError(f"quantity must be 'loss' or 'grad_norm', got {quantity!r}")
    results = [results] if hasattr(results, "loss") else list(results)
    ax = get_ax(ax)
    with plt.rc_context(RC):
        thresholds = [r.metadata["threshold"] for r in results
                      if r.metadata["clip_mode"] != "none"] or [results[0].metadata["threshold"]]
        for r, (color, dash) in zip(results, _styles(results)):
            y = r.loss if quantity == "loss" else r.grad_norm_before
            x = np.arange(1, len(y) + 1)
            shown = np.where(np.isfinite(y), y, np.nan)
            ax.plot(x, shown, color=color, linestyle=dash, label=_label(r))
            if quantity == "grad_norm":
                spikes = np.isfinite(y) & (y > explosion_factor * thresholds[0])
                ax.plot(x[spikes], y[spikes], linestyle="none", marker="^", markersize=3,
                        color=color)
            if r.diverged:
                last = np.flatnonzero(np.isfinite(y))
                if last.size:
                    ax.plot(x[last[-1]], y[last[-1]], marker="X", markersize=9, color=color,
                            markeredgecolor="black", markeredgewidth=0.6, linestyle="none")
        ax.set_yscale("log")
        ax.set_xlabel("update")
        if quantity == "loss":
            if np.isfinite(results[0].baseline):  # unknown when read back from a CSV
                ax.axhline(results[0].baseline, color="0.5", linestyle="--", linewidth=0.8,
                           label="memoryless baseline")
            ax.set_ylabel("training loss (mini-batch)")
        else:
            ax.axhline(thresholds[0], color="0.5", linestyle=":", linewidth=0.8,
                       label=f"threshold {thresholds[0]:g}")
            ax.plot([], [], linestyle="none", marker="^", markersize=3, color="0.3",
                    label=rf"$\|g\| > {explosion_factor:g} \times$ threshold")
            ax.set_ylabel("gradient norm before clipping")
        if any(r.diverged for r in results):
            ax.plot([], [], linestyle="none", marker="X", markersize=7, color="0.5",
                    markeredgecolor="black", markeredgewidth=0.6, label="diverged, stopped")
        if legend:
            ax.legend(frameon=False)
    return ax


def plot_training_panels(results, axes=None, **kws):
    """Loss (left) and gradient norm (right) side by side; `axes` is a pair of Axes or None
    (then a new figure). Returns the pair of Axes."""
    if axes is None:
        with plt.rc_context(RC):
            _, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), layout="constrained")
    ax_loss, ax_norm = axes
    plot_training(results, ax=ax_loss, quantity="loss", **kws)
    plot_training(results, ax=ax_norm, quantity="grad_norm", **kws)
    return ax_loss, ax_norm


def ablation_title(metadata):
    """What made an ablation, in one line ("RNN on the adding task (T = 50, H = 16, ...)"), or
    None when the metadata does not say (a CSV file has none)."""
    m = metadata
    try:
        return (f"{str(m['cell']).upper()} on the {m['task']} task (T = {m['steps']}, "
                f"H = {m['hidden']}, {m['optimizer']} lr {m['lr']:g}, recurrent scale "
                f"{m['scale']:g}, seed {m['seed']})")
    except (KeyError, TypeError, ValueError):
        return None
