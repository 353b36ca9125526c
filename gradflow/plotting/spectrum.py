"""Spectra side by side: Lyapunov exponents, or the singular values of ds_T/ds_t at a distance."""

import matplotlib.pyplot as plt
import numpy as np

from .decay import describe
from .style import cell_color, get_ax

__all__ = ["plot_spectrum", "plot_spectra"]


def plot_spectrum(spectra, *, ax=None, distance=None, legend=True, line_kws=None):
    """Draw each cell's spectrum against the index as a fraction i/n of its state size.

    With `distance` None: the Lyapunov exponents, in log10 per step (a direction with exponent
    lambda grows or shrinks by 10**lambda per step; above 0 it explodes). With `distance` d:
    the log10 singular values of ds_T/ds_{T-d}. The fraction i/n puts the LSTM (n = 2H) and the
    RNN and GRU (n = H) on one axis.

    Args:
      spectra: a `Spectrum` or a sequence of them (one line each, coloured by cell).
      legend: draw a legend on this Axes (`plot_spectra` draws one for the figure instead).

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    spectra = [spectra] if hasattr(spectra, "lyapunov") else list(spectra)
    labels, shared = describe(spectra)
    for i, (sp, label) in enumerate(zip(spectra, labels)):
        if distance is None:
            values = sp.lyapunov
        elif distance in sp.singular_values:
            values = sp.singular_values[distance]
        else:
            continue
        values = np.where(np.isfinite(values), values, np.nan)
        x = np.arange(1, len(values) + 1) / sp.state_size  # the top k of n: x up to k / n
        ax.plot(x, values, **{"color": cell_color(sp.cell, i), "label": label,
                              "marker": "o", "markersize": 1.5, **(line_kws or {})})
    ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
    ax.set_xlabel("index i / state size n")
    if distance is None:
        ax.set_ylabel(r"Lyapunov exponent ($\log_{10}$ per step)")
    else:
        ax.set_ylabel(rf"$\log_{{10}}\,\sigma_i(\partial s_T/\partial s_{{T-{distance}}})$")
        ax.set_title(f"distance T - t = {distance} steps", loc="left")
    ax.set_xlim(0, 1)
    if legend:
        ax.legend(frameon=False, title=shared or None, alignment="left",
                  title_fontsize=plt.rcParams["legend.fontsize"])
    return ax


def plot_spectra(spectra, axes, distances=()):
    """The Lyapunov spectra on axes[0] and the singular values at each of `distances` on the
    following Axes, with one legend for the figure, above the panels (off the data), titled
    with the settings the spectra share.

    Returns the Axes.
    """
    axes = list(axes)
    if len(axes) != 1 + len(distances):
        raise ValueError(f"need {1 + len(distances)} Axes for {len(distances)} distances, "
                         f"got {len(axes)}")
    plot_spectrum(spectra, ax=axes[0], legend=False)
    for ax, d in zip(axes[1:], distances):
        plot_spectrum(spectra, ax=ax, distance=d, legend=False)
    spectra = [spectra] if hasattr(spectra, "lyapunov") else list(spectra)
    _, shared = describe(spectra)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, labels, loc="outside upper center", ncols=len(labels),
                          frameon=False, title=shared.replace("\n", ", ") or None,
                          title_fontsize=plt.rcParams["legend.fontsize"])
    return axes
