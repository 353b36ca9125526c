"""The cells side by side: the decay of ||ds_T/ds_t||_2 (left) and the Lyapunov exponents
(right) of every cell of a `gradflow.analysis.comparison.CellComparison`."""

import matplotlib.pyplot as plt
import matplotlib.transforms as mtransforms
import numpy as np

from .decay import describe, plot_decay
from .spectrum import plot_spectrum
from .style import cell_color

__all__ = ["plot_exponents", "plot_comparison"]


def _bottom_marks(ax, marks, text):
    """Downward triangles on the bottom edge of `ax` at the x values of `marks` ({colour: x
    values}) with `text` saying what they mean; nothing when there are none."""
    edge = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for color, x in marks.items():
        ax.plot(x, np.zeros(len(x)), linestyle="none", marker="v", markersize=3, color=color,
                transform=edge, clip_on=False)
    if marks:
        ax.text(0.02, 0.05, r"$\blacktriangledown$: " + text, transform=ax.transAxes,
                ha="left", va="bottom", fontsize=plt.rcParams["legend.fontsize"])


def plot_exponents(spectra, *, ax, legend=False):
    """The Lyapunov exponents of each `Spectrum` against i/n (`plot_spectrum`), and those that
    are -inf (a direction switched off: a product exactly zero) as downward triangles on the
    bottom edge of the Axes, in the cell's colour. Returns the Axes."""
    plot_spectrum(spectra, ax=ax, legend=legend)
    marks = {}
    for i, sp in enumerate(spectra):
        off = np.flatnonzero(sp.lyapunov == -np.inf)
        if off.size:
            marks[cell_color(sp.cell, i)] = (off + 1) / sp.state_size
    _bottom_marks(ax, marks, r"$-\infty$ (switched off)")
    return ax


def plot_comparison(comparison, axes):
    """On axes[0] the mean log10 ||ds_T/ds_t||_2 of every cell against the distance (the
    spread over samples shaded; a triangle on the bottom edge where a product becomes exactly
    zero in some sample), on axes[1] their Lyapunov exponents (log10 per step against i/n).
    One legend for the figure, above the panels, titled with the settings the cells share.
    Returns axes."""
    decay_ax, exp_ax = axes
    plot_decay(comparison.profiles, ax=decay_ax, settings=False)
    decay_ax.get_legend().remove()
    zero = {}  # where a product first becomes exactly zero (its log10 norm -inf)
    for i, p in enumerate(comparison.profiles):
        gone = np.flatnonzero(p.mean["spectral"] == -np.inf)
        if gone.size:
            zero[cell_color(p.cell, i)] = p.distance[gone[:1]]
    _bottom_marks(decay_ax, zero, "exactly 0 from here on")
    plot_exponents(comparison.spectra, ax=exp_ax)
    decay_ax.set_title("decay of the gradient", loc="left")
    exp_ax.set_title("Lyapunov exponents", loc="left")
    _, shared = describe(comparison.profiles)
    # describe() words the weights as the RNN's; each cell reads init and scale its own way
    m = comparison.profiles[0].metadata if comparison.profiles else {}
    if m.get("init") is not None:
        lines = [line for line in shared.split("\n") if "weights" not in line]
        words = f"init {m['init']} \u00d7 {m.get('scale', 1):g} as each cell draws it"
        if m.get("forget_bias") is not None:
            words += f", forget bias {m['forget_bias']:g}"
        shared = "\n".join(lines + [words])
    handles, labels = exp_ax.get_legend_handles_labels()
    exp_ax.figure.legend(handles, labels, loc="outside upper center",
                         ncols=min(len(labels), 4), frameon=False,
                         title=shared.replace("\n", "; ") or None,
                         title_fontsize=plt.rcParams["legend.fontsize"])
    return axes
