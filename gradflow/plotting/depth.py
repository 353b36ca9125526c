"""The depth figures: the depth x time map of a stack as a heatmap (layer against distance), and
dy_L/dy_l of deep feed-forward networks against the layer (seed 004: vanishing gradients are not
only an RNN problem)."""

import re

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from .decay import cell_name, weights_text
from .phase import DIVERGING_CMAP, colorbar_extend, fitted_diverging
from .style import OKABE_ITO, get_ax

__all__ = ["plot_depth", "plot_depth_maps", "depth_color_range", "finish_colorbar",
           "plot_feedforward", "network_name", "ZERO_COLOR", "CONTOURS", "LINE_COLORS",
           "LEGEND_FRAME"]

# A derivative that is exactly zero (log10 norm -inf: no path, e.g. layers joined by zero
# weights) gets a colour the diverging map never takes, so it is not read as "very small".
ZERO_COLOR = "#000000"
# Contours drawn on each map: norm 1 (solid) and the 1e-3 of the decay table's horizon (dashed).
CONTOURS = {0.0: "-", -3.0: "--"}

# Lines of several networks (or variants) in one panel: black first, then colours that stay
# apart on white (the palette without its yellow).
LINE_COLORS = ["#000000", OKABE_ITO[4], OKABE_ITO[5], OKABE_ITO[2], OKABE_ITO[6], OKABE_ITO[0],
               OKABE_ITO[1]]

# Legends over curves: a white box that hides what runs behind it, without a border.
LEGEND_FRAME = {"frameon": True, "facecolor": "white", "edgecolor": "none", "framealpha": 0.85}

_SUBSCRIPT = {"spectral": "2", "frobenius": "F"}


def _quantity_label(quantity):
    """log10 ||d s^(L-1)_T / d s^(l)_{T-d}||_2 for 'spectral', with h or c for the LSTM's
    blocks and F for the Frobenius norms."""
    block, _, norm = quantity.rpartition("_")
    if norm not in _SUBSCRIPT:
        return f"log10 {quantity} norm"
    s = block or "s"
    return (rf"$\log_{{10}}\,\|\partial {s}^{{(L-1)}}_T/\partial {s}^{{(l)}}_{{T-d}}"
            rf"\|_{_SUBSCRIPT[norm]}$")


def network_name(cell, metadata=None):
    """The name a reader knows for a network: '8-layer RNN (tanh)', '2-layer bidirectional
    LSTM', 'RNN (tanh) + skip:4', with ', residual layers' for identity connections between
    layers. `cell` is a result's cell name ('8xrnn+res', '2xlstm+bi', 'rnn+skip:4'),
    `metadata` its metadata (layers, bidirectional, layer_residual, activation)."""
    m = metadata or {}
    name = str(cell)
    bidirectional = bool(m.get("bidirectional")) or name.endswith(("+bi", "+bi+res"))
    residual = bool(m.get("layer_residual")) or name.endswith("+res")
    name = re.sub(r"(\+bi)?(\+res)?$", "", name)
    found = re.match(r"^(\d+)x(.+)$", name)
    layers = int(m.get("layers") or (found.group(1) if found else 1))
    if found:
        name = found.group(2)
    if "/" in name:  # layers of different cells: name them in order
        text = " / ".join(cell_name(c, m.get("activation")) for c in name.split("/"))
    else:
        text = cell_name(name, m.get("activation"))
    text = ("bidirectional " if bidirectional else "") + text
    if layers > 1:
        text = f"{layers}-layer {text}"
    return text + (", residual layers" if residual else "")


def _values(depth_map, quantity):
    if quantity not in depth_map.mean:
        have = ", ".join(depth_map.mean)
        raise ValueError(f"the map of {depth_map.cell} has no quantity {quantity!r} ({have})")
    return np.asarray(depth_map.mean[quantity], dtype=float)


def depth_color_range(maps, quantity="spectral", limit=None, cmap=DIVERGING_CMAP):
    """(colormap, Normalize) shared by several depth maps: the diverging map of
    `fitted_diverging` over the finite values of all of them (white at norm 1), at most
    +/- `limit` decades. Draw maps side by side with it so one colour means one norm."""
    values = np.concatenate([_values(m, quantity).ravel() for m in maps])
    return fitted_diverging(np.where(np.isfinite(values), values, np.nan), limit, cmap)


def _edges(n):
    return np.arange(n + 1) - 0.5


def plot_depth(depth_map, *, ax=None, quantity="spectral", limit=None, color_range=None,
               colorbar=True, contours=True, title=True, mesh_kws=None):
    """Draw a `DepthMap` as a heatmap: distance d (x, steps back from T) against layer l (y,
    layer 0 at the bottom); colour log10 ||d s^(L-1)_T / d s^(l)_{T-d}|| (blue vanishes, red
    explodes, white is norm 1).

    Cells where the derivative is exactly zero (-inf) are ZERO_COLOR (black), which the colour
    map never takes, and the colour bar's label says so when there are any; nan (not defined) is
    grey. Thin black contours mark the norm 1 (solid) and 1e-3 (dashed), also on the colour bar.

    Args:
      quantity: 'spectral', 'frobenius', or for the LSTM 'h_spectral', 'c_spectral', ...
      limit: colour range at most +/- limit in decades (default: the data's range).
      color_range: (colormap, Normalize) to use instead of the map's own, e.g. from
        `depth_color_range` over several maps drawn side by side (then `limit` is ignored).
      colorbar: add a colour bar beside the Axes.
      contours: draw the contours at norm 1 and 1e-3.
      title: the network's name as the title (`network_name`).

    Returns:
      The Axes. The mesh is `ax.collections[0]`; its array holds the finite values, clipped to
      the colour range.
    """
    ax = get_ax(ax)
    Z = _values(depth_map, quantity)
    L, T = Z.shape
    colors, norm = color_range or depth_color_range([depth_map], quantity, limit)
    finite = np.where(np.isfinite(Z), Z, np.nan)
    mesh = ax.pcolormesh(_edges(T), _edges(L),
                         np.ma.masked_invalid(np.clip(finite, norm.vmin, norm.vmax)),
                         **{"cmap": colors, "norm": norm, "shading": "flat", "rasterized": True,
                            **(mesh_kws or {})})
    zero = np.isneginf(Z)
    if zero.any():
        ax.pcolormesh(_edges(T), _edges(L), np.ma.masked_where(~zero, np.ones_like(Z)),
                      cmap=ListedColormap([ZERO_COLOR]), shading="flat", rasterized=True)
    lines = _contours(ax, finite) if contours else None
    if colorbar:
        bar = ax.figure.colorbar(mesh, ax=ax, pad=0.02, extend=colorbar_extend(finite, norm))
        finish_colorbar(bar, [depth_map], quantity, lines)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(-0.5, L - 0.5)  # layer 0 at the bottom, as the layers are stacked
    ax.set_yticks(np.arange(L) if L <= 12 else np.unique(np.linspace(0, L - 1, 7).round()))
    ax.set_xlabel("distance d (steps back from T)")
    ax.set_ylabel("layer l")
    if title:
        ax.set_title(network_name(depth_map.cell, depth_map.metadata), loc="left")
    return ax


def _contours(ax, finite):
    """The norm-1 and 1e-3 contours of a map (where it crosses them), or None."""
    levels = [v for v in sorted(CONTOURS) if np.nanmin(finite) < v < np.nanmax(finite)] \
        if np.isfinite(finite).any() else []
    if not levels or min(finite.shape) < 2:
        return None
    L, T = finite.shape
    return ax.contour(np.arange(T), np.arange(L), np.ma.masked_invalid(finite), levels=levels,
                      colors="k", linewidths=0.7, linestyles=[CONTOURS[v] for v in levels])


def finish_colorbar(bar, maps, quantity, lines=None):
    """Label a depth map's colour bar (saying that black is exactly zero when any of `maps`
    has such a cell) and draw the contour `lines` on it."""
    label = _quantity_label(quantity)
    if any(np.isneginf(_values(m, quantity)).any() for m in maps):
        label += "\nblack: exactly 0 ($-\\infty$)"
    bar.set_label(label)
    if lines is not None:
        bar.add_lines(lines)
        bar.lines[-1].set_linestyles(lines.get_linestyles())  # add_lines draws them solid


def plot_depth_maps(maps, axes, *, quantity="spectral", limit=None, contours=True):
    """Draw several `DepthMap`s side by side on `axes` (one each) with one colour range and one
    colour bar for all (`depth_color_range`), layer labels on the first panel only. Returns the
    colour bar."""
    axes = list(np.ravel(axes))
    if len(axes) != len(maps):
        raise ValueError(f"{len(maps)} maps need {len(maps)} axes, got {len(axes)}")
    color_range = depth_color_range(maps, quantity, limit)
    for i, (m, ax) in enumerate(zip(maps, axes)):
        plot_depth(m, ax=ax, quantity=quantity, color_range=color_range, colorbar=False,
                   contours=contours)
        if i:
            ax.set_ylabel("")
    finite = np.concatenate([np.where(np.isfinite(v), v, np.nan).ravel()
                             for v in (_values(m, quantity) for m in maps)])
    bar = axes[0].figure.colorbar(axes[0].collections[0], ax=axes, pad=0.02,
                                  extend=colorbar_extend(finite, color_range[1]))
    finish_colorbar(bar, maps, quantity, _widest(axes) if contours else None)
    return bar


def _widest(axes):
    """The contour set with the most levels among the panels (for the colour bar), or None."""
    found = [c for ax in axes for c in ax.collections if hasattr(c, "levels")]
    return max(found, key=lambda c: len(c.levels), default=None)


_SKIP_NAMES = {None: "plain", "none": "plain", "residual": "residual (ResNet)",
               "highway": "highway"}


def _feedforward_label(flow):
    skip = flow.metadata.get("skip")
    if isinstance(skip, str) and skip.startswith("dense:"):
        return f"{skip} (DenseNet)"
    return _SKIP_NAMES.get(skip, str(skip))


def plot_feedforward(flows, *, ax=None, quantity="spectral", labels=None, legend=True,
                     line_kws=None):
    """Draw log10 ||dy_L/dy_l|| against the layer l for each `FeedForwardFlow` (a deep
    feed-forward network, plain or with skip connections), one line each (LINE_COLORS: black
    for the first). The title says the network they share (depth, width), the legend's title
    its weights.

    Args:
      quantity: 'spectral' (2-norm) or 'frobenius'.
      labels: one legend label per flow (default: plain, residual (ResNet), dense:K
        (DenseNet), highway, from each flow's metadata).

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    flows = [flows] if hasattr(flows, "layer") else list(flows)
    labels = list(labels) if labels is not None else [_feedforward_label(f) for f in flows]
    if len(labels) != len(flows):
        raise ValueError(f"{len(flows)} flows need {len(flows)} labels, got {len(labels)}")
    for i, (flow, label) in enumerate(zip(flows, labels)):
        y = np.asarray(getattr(flow, f"log10_{quantity}_norm"), dtype=float)
        ax.plot(flow.layer, np.where(np.isfinite(y), y, np.nan),
                **{"color": LINE_COLORS[i % len(LINE_COLORS)], "label": label,
                   **(line_kws or {})})
    ax.axhline(0.0, color="0.7", linewidth=0.6, zorder=0)
    ax.set_xlabel("layer l")
    ax.set_ylabel(rf"$\log_{{10}}\,\|\partial y_L/\partial y_l\|_{_SUBSCRIPT[quantity]}$")
    ax.set_xlim(left=0)
    m, shared = flows[0].metadata, None
    if all(f.metadata.get(k) == m.get(k) for f in flows for k in ("depth", "width", "scale")):
        ax.set_title(f"deep tanh MLP, L = {m['depth']}, n = {m['width']}", loc="left")
        shared = weights_text("gaussian", m["scale"]).replace("/H", "/n")
    if legend:
        # The curves meet near norm 1 at the top layer (one layer's Jacobian) and fan out
        # towards layer 0: the corner on the right away from the fan is free for the legend,
        # given some room (a third of the data's range).
        starts = [np.asarray(getattr(f, f"log10_{quantity}_norm"), float)[0] for f in flows]
        below = min(starts) < 0
        lo, hi = ax.get_ylim()
        room = (hi - lo) / 3
        ax.set_ylim((lo - room, hi) if below else (lo, hi + room))
        ax.legend(title=shared, alignment="left", loc="lower right" if below else "upper right",
                  frameon=False, title_fontsize=plt.rcParams["legend.fontsize"])
    return ax
