"""The input-sensitivity figure: log10 ||dy_tau/dx_t|| against the input step t, networks
overlaid, the output step tau marked; how far back (and, bidirectionally, ahead) the output at
tau sees."""

import matplotlib.pyplot as plt
import numpy as np

from .decay import cell_name, describe
from .depth import LEGEND_FRAME, LINE_COLORS, network_name
from .style import get_ax

__all__ = ["plot_sensitivity", "HALF_STYLES"]

# A bidirectional network's whole output is solid; its top layer's two halves, in the same
# colour, dashed (forward) and dotted (reverse).
HALF_STYLES = {"both": "-", "forward": "--", "reverse": ":"}
_NORMS = {"spectral": "2", "frobenius": "F"}


def _labels(profiles):
    """One label per profile, the network's name and the settings in which it differs, and
    the settings they share (as `describe` gives them for the decay figure)."""
    labels, shared = describe(profiles)
    out = []
    for p, label in zip(profiles, labels):
        own = cell_name(p.cell, p.metadata.get("activation"))
        out.append(network_name(p.cell, p.metadata) + label[len(own):])
    return out, shared


def plot_sensitivity(profiles, *, ax=None, quantity="spectral", band=True, halves=True,
                     settings=True, legend="auto", line_kws=None):
    """Draw log10 ||dy_tau/dx_t|| against the input step t for each `SensitivityProfile`.

    The output step tau is a vertical grey line (one per distinct tau). A network that runs
    forwards in time cannot see inputs after tau: its norm there is exactly zero (-inf) and is
    not drawn. A bidirectional network's whole output is solid, its top layer's forward and
    reverse halves dashed and dotted in the same colour (`halves=False` leaves them out).

    Args:
      profiles: a `SensitivityProfile` or a sequence of them.
      quantity: 'spectral' (2-norm) or 'frobenius'.
      band: shade mean +/- one standard deviation over samples (whole outputs only).
      settings: write what the networks share (H, T, input sequences, weights) as the legend's
        title.
      legend: 'inside' (where it hides least, on a white box), 'outside' (right of the
        Axes), or 'auto': outside when it has more than 4 entries.
      line_kws: extra keyword arguments for `plot` (copied).

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    profiles = [profiles] if hasattr(profiles, "step") else list(profiles)
    labels, shared = _labels(profiles)
    for i, (p, label) in enumerate(zip(profiles, labels)):
        color = LINE_COLORS[i % len(LINE_COLORS)]
        for direction, values in p.mean.items():
            if direction != "both" and not halves:
                continue
            y = np.asarray(values[quantity], dtype=float)
            y = np.where(np.isfinite(y), y, np.nan)
            text = label if direction == "both" else f"{direction} half"
            kws = {"color": color, "label": text,
                   "linestyle": HALF_STYLES.get(direction, "-"),
                   "linewidth": plt.rcParams["lines.linewidth"] * (1 if direction == "both"
                                                                   else 0.8),
                   **(line_kws or {})}
            ax.plot(p.step, y, **kws)
            spread = p.std.get(direction, {}).get(quantity)
            if band and direction == "both" and spread is not None and np.any(spread > 0):
                ax.fill_between(p.step, y - spread, y + spread, color=color, alpha=0.15,
                                linewidth=0)
    for tau in sorted({p.output_step for p in profiles}):
        ax.axvline(tau, color="0.45", linewidth=0.8, linestyle=(0, (4, 2)), zorder=0,
                   label=rf"output step $\tau$ = {tau}")
    ax.axhline(0.0, color="0.7", linewidth=0.6, zorder=0)
    ax.set_xlabel("input step t")
    ax.set_ylabel(rf"$\log_{{10}}\,\|\partial y_\tau/\partial x_t\|_{_NORMS[quantity]}$")
    ax.set_xlim(min(p.step[0] for p in profiles), max(p.step[-1] for p in profiles))
    entries = len(ax.get_legend_handles_labels()[1])
    outside = legend == "outside" or (legend == "auto" and entries > 4)
    place = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if outside else {}
    ax.legend(title=shared if settings and shared else None, alignment="left",
              title_fontsize=plt.rcParams["legend.fontsize"], **place,
              **({"frameon": False} if outside else LEGEND_FRAME))
    return ax
