"""The pairwise picture: log10 ||ds_s/ds_t||_2 for every t < s, as a lower triangle."""

import numpy as np

from .decay import cell_name, weights_text
from .phase import DIVERGING_CMAP, colorbar_extend, fitted_diverging
from .style import MISSING_COLOR, get_ax

__all__ = ["plot_heatmap"]


def _edges(times):
    t = np.asarray(times, dtype=float)
    step = t[1] - t[0] if t.size > 1 else 1.0
    return np.concatenate([t - step / 2, [t[-1] + step / 2]])


def plot_heatmap(result, *, ax=None, limit=None, colorbar=True, cmap=DIVERGING_CMAP,
                 mesh_kws=None):
    """Draw a `PairwiseNorms` as a matrix: row s (later time, downwards), column t (earlier).

    Colour is log10 ||ds_s/ds_t||_2, i.e. the norm on a log scale, centred on 1 (white): blue
    vanishes, red explodes; the colour bar covers the range of the data (`fitted_diverging`).
    Only the lower triangle t < s is defined; the rest is grey (MISSING_COLOR), a colour the
    map never takes, and says so. Along a diagonal band s - t is constant, so a horizontal cut
    at s is one decay curve.

    Args:
      limit: colour range at most +/- limit in decades (default: the data's range).
      colorbar: add a colour bar beside the Axes.

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    Z = np.asarray(result.log10_norm, dtype=float)
    shown = np.where(np.isfinite(Z), Z, np.nan)
    colors, norm = fitted_diverging(shown, limit, cmap)
    edges = _edges(result.times)
    mesh = ax.pcolormesh(edges, edges, np.ma.masked_invalid(np.clip(shown, norm.vmin, norm.vmax)),
                         **{"cmap": colors, "norm": norm, "shading": "flat", "rasterized": True,
                            **(mesh_kws or {})})
    ax.text(0.97, 0.97, "not defined\n($t \\geq s$)", transform=ax.transAxes, ha="right",
            va="top", color="0.3", fontsize="small",
            bbox={"facecolor": MISSING_COLOR, "edgecolor": "none", "pad": 1})
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(edges[-1], edges[0])  # matrix orientation: s grows downwards
    if colorbar:
        bar = ax.figure.colorbar(mesh, ax=ax, pad=0.02, extend=colorbar_extend(shown, norm))
        bar.set_label(r"$\log_{10}\,\|\partial s_s/\partial s_t\|_2$")
    ax.set_xlabel("earlier time t (steps)")
    ax.set_ylabel("later time s (steps)")
    m = result.metadata
    parts = [cell_name(result.cell, m.get("activation"))]
    if m.get("init") and m.get("scale") is not None:
        parts.append(weights_text(m["init"], m["scale"]))
    if m.get("stride", 1) > 1:
        parts.append(f"every {m['stride']} steps")
    ax.set_title(", ".join(parts), loc="left")
    return ax
