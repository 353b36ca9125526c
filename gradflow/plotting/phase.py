"""The phase diagram: decay of ||ds_T/ds_t|| against the recurrent weight scale.

Two panels: `plot_phase` draws one cell's heatmap of log10 ||ds_T/ds_{T-d}||_2 over scale and
distance with the boundary ||.|| = 1; `plot_phase_rates` draws every cell's fitted log10 decay
factor per step against scale, with the tanh RNN's theoretical marks (Pascanu et al. 2013;
mean-field theory, Poole et al. 2016 and Chen et al. 2018).
"""

from types import SimpleNamespace

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, Normalize

from .decay import profile_label
from .style import MISSING_COLOR, cell_color, get_ax

__all__ = ["plot_phase", "plot_phase_rates", "DIVERGING_CMAP", "fitted_diverging",
           "colorbar_extend"]

# ColorBrewer's RdBu (reversed: blue vanishes, red explodes) stays readable under the common
# colour blindnesses; it is diverging because log10 norm = 0 is the neutral point.
DIVERGING_CMAP = "RdBu_r"
SCALE_LABEL = r"recurrent weight scale $g$"
PASCANU_LABEL = r"$\|W_{hh}\|_2 = 1/\gamma$ (Pascanu et al.)"


def fitted_diverging(values, limit=None, cmap=DIVERGING_CMAP):
    """A diverging colour map cut to the range of the data, and its norm.

    A log10 norm v gets the colour that the full, symmetric map over [-L, L] gives it (white at
    0, the same shade for the same number of decades either way), with L = `limit` or the
    data's largest magnitude; but the map and the colour bar cover only [lo, hi], the finite
    `values` clipped to [-L, L], so no colour is spent on values that do not occur. Missing
    values (nan) are drawn in MISSING_COLOR, a grey that no diverging colour takes.

    Returns (colormap, Normalize(lo, hi)).
    """
    finite = np.asarray(values, float)[np.isfinite(values)]
    big = limit if limit is not None else (np.abs(finite).max() if finite.size else 1.0)
    big = max(float(big), 1e-3)
    lo = max(float(finite.min()), -big) if finite.size else -big
    hi = min(float(finite.max()), big) if finite.size else big
    if hi - lo < 1e-3 * big:  # a constant: a little room either side
        lo, hi = lo - 1e-3 * big, hi + 1e-3 * big
        big = max(big, -lo, hi)
    base = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    cut = base(np.linspace((lo + big) / (2 * big), (hi + big) / (2 * big), 1024))
    fitted = ListedColormap(cut, name=f"{base.name}_{lo:.3g}_{hi:.3g}")
    return fitted.with_extremes(bad=MISSING_COLOR), Normalize(lo, hi)


def colorbar_extend(values, norm):
    """'min', 'max', 'both' or 'neither': which ends of the colour bar the data overrun."""
    finite = np.asarray(values, float)[np.isfinite(values)]
    if not finite.size:
        return "neither"
    low, high = finite.min() < norm.vmin, finite.max() > norm.vmax
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (bool(low), bool(high)), "neither")


def _edges(centres):
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def plot_phase(diagram, *, ax=None, cell=None, limit=None, colorbar=True, cmap=DIVERGING_CMAP,
               mesh_kws=None):
    """Heatmap of log10 ||ds_T/ds_{T-d}||_2 for one cell: scale on x, distance on y.

    The black contour is the boundary ||ds_T/ds_t||_2 = 1 between vanishing (blue, below/left)
    and exploding (red); for the tanh RNN the dashed line marks the scale where the measured
    ||W_hh||_2 = 1/gamma, left of which Pascanu et al. (2013) guarantee vanishing.

    Args:
      diagram: a `PhaseDiagram`.
      cell: which cell (default: the RNN if present, else the first).
      limit: colour range at most +/- limit in decades (default: the data's range); see
        `fitted_diverging`.
      colorbar: add a colour bar beside the Axes.

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    cell = cell or ("rnn" if "rnn" in diagram.cells else diagram.cells[0])
    if cell not in diagram.log10_norm:
        raise ValueError(f"no cell {cell!r} in this phase diagram ({', '.join(diagram.cells)})")
    Z = np.asarray(diagram.log10_norm[cell], float).T  # (T, S): distance down the rows
    shown = np.where(np.isfinite(Z), Z, np.nan)
    colors, norm = fitted_diverging(shown, limit, cmap)
    mesh = ax.pcolormesh(_edges(diagram.scales), _edges(diagram.distance),
                         np.ma.masked_invalid(np.clip(shown, norm.vmin, norm.vmax)),
                         **{"cmap": colors, "norm": norm, "shading": "flat", "rasterized": True,
                            **(mesh_kws or {})})
    if np.nanmin(shown) < 0 < np.nanmax(shown) and len(diagram.scales) > 1:
        ax.contour(diagram.scales, diagram.distance, shown, levels=[0.0], colors="k",
                   linewidths=0.9)
    if cell == "rnn" and diagram.pascanu_scale is not None:
        lo, hi = _edges(diagram.scales)[[0, -1]]
        if lo <= diagram.pascanu_scale <= hi:
            ax.axvline(diagram.pascanu_scale, color="k", linestyle="--", linewidth=0.9)
    if colorbar:
        bar = ax.figure.colorbar(mesh, ax=ax, pad=0.02, extend=colorbar_extend(shown, norm))
        bar.set_label(r"$\log_{10}\,\|\partial s_T/\partial s_t\|_2$")
    ax.set_xlabel(SCALE_LABEL)
    ax.set_ylabel("distance T - t (steps)")
    ax.set_title(f"{cell.upper().replace('_TORCH', ' (torch)')}: black line "
                 r"$\|\partial s_T/\partial s_t\|_2 = 1$", loc="left")
    return ax


def plot_phase_rates(diagram, *, ax=None, meanfield=True, pascanu=True, line_kws=None):
    """The fitted log10 factor per step of ||ds_T/ds_t||_2 against scale, one line per cell.

    Above the grey line log10 rate = 0 gradients explode, below they vanish. For the tanh RNN:
    the mean-field prediction 0.5 log10 chi (dashed, Poole et al. 2016; Chen, Pennington &
    Schoenholz 2018) and the scale where the measured ||W_hh||_2 = 1/gamma (vertical dashed;
    Pascanu et al. 2013: vanishing is guaranteed left of it).

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    for i, cell in enumerate(diagram.cells):
        color = cell_color(cell, i)
        rate = np.where(np.isfinite(diagram.log10_rate[cell]), diagram.log10_rate[cell], np.nan)
        label = _label(diagram, cell)
        ax.plot(diagram.scales, rate, **{"color": color, "marker": "o", "markersize": 2.5,
                                         "label": label, **(line_kws or {})})
    if meanfield and diagram.meanfield_log10_rate is not None and "rnn" in diagram.cells:
        ax.plot(diagram.scales, diagram.meanfield_log10_rate, color=cell_color("rnn"),
                linestyle="--", linewidth=1.0, label=r"RNN mean field $\frac{1}{2}\log_{10}\chi$")
    if pascanu and diagram.pascanu_scale is not None:
        ax.axvline(diagram.pascanu_scale, color="k", linestyle="--", linewidth=0.8,
                   dashes=(2, 2), label=PASCANU_LABEL)
    ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
    ax.set_xlabel(SCALE_LABEL)
    ax.set_ylabel(r"$\log_{10}$ factor per step of $\|\partial s_T/\partial s_t\|_2$")
    ax.legend(frameon=False)
    return ax


def _label(diagram, cell):
    return profile_label(SimpleNamespace(cell=cell, metadata={**diagram.metadata, "scale": None}))
