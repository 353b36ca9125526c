"""The pairwise picture: log10 ||ds_s/ds_t||_2 for every t < s, as a lower triangle."""

import numpy as np

from .phase import DIVERGING_CMAP, colorbar_extend, diverging_norm
from .style import get_ax

__all__ = ["plot_heatmap"]


def _edges(times):
    t = np.asarray(times, dtype=float)
    step = t[1] - t[0] if t.size > 1 else 1.0
    return np.concatenate([t - step / 2, [t[-1] + step / 2]])


def plot_heatmap(result, *, ax=None, limit=None, colorbar=True, cmap=DIVERGING_CMAP,
                 mesh_kws=None):
    """Draw a `PairwiseNorms` as a matrix: row s (later time, downwards), column t (earlier).

    Colour is log10 ||ds_s/ds_t||_2, i.e. the norm on a log scale, centred on 1 (white): blue
    vanishes, red explodes. Only the lower triangle t < s is defined; the rest stays blank.
    Along a diagonal band s - t is constant, so a horizontal cut at s is one decay curve.

    Args:
      limit: colour range +/- limit in decades (default: the data's largest magnitude).
      colorbar: add a colour bar beside the Axes.

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    Z = np.asarray(result.log10_norm, dtype=float)
    shown = np.where(np.isfinite(Z), Z, np.nan)
    norm = diverging_norm(shown, limit)
    edges = _edges(result.times)
    mesh = ax.pcolormesh(edges, edges, np.clip(shown, norm.vmin, norm.vmax),
                         **{"cmap": cmap, "norm": norm, "shading": "flat", "rasterized": True,
                            **(mesh_kws or {})})
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(edges[-1], edges[0])  # matrix orientation: s grows downwards
    if colorbar:
        bar = ax.figure.colorbar(mesh, ax=ax, pad=0.02, extend=colorbar_extend(shown, norm))
        bar.set_label(r"$\log_{10}\,\|\partial s_s/\partial s_t\|_2$")
    ax.set_xlabel("earlier time t (steps)")
    ax.set_ylabel("later time s (steps)")
    m = result.metadata
    parts = [result.cell.upper().replace("_TORCH", " (torch)")]
    if m.get("init") and m.get("scale") is not None:
        parts.append(f"{m['init']} x{m['scale']:g}")
    if m.get("stride", 1) > 1:
        parts.append(f"every {m['stride']} steps")
    ax.set_title(", ".join(parts), loc="left")
    return ax
