"""Pascanu's cliff: the single-unit loss surface with gradient-descent paths and the
bifurcation curve (Pascanu, Mikolov & Bengio 2013)."""

import matplotlib.pyplot as plt
import numpy as np

from ..cliff import bifurcation_curve
from .style import OKABE_ITO, RC, get_ax
from .training import mode_color

__all__ = ["plot_cliff"]


def plot_cliff(surface, trajectories=(), *, ax=None, colorbar=True, x_star=None):
    """Draw log10 of the loss over the (w, b) grid of `surface` (a `gradflow.cliff.CliffSurface`),
    the saddle-node bifurcation curve, and each `gradflow.cliff.Trajectory` (plain gradient
    descent in the 'none' colour, norm-clipped in the 'norm' colour). A path that leaves the
    plotted region is drawn up to its edge and labelled with where it was thrown. Returns the Axes.
    """
    ax = get_ax(ax)
    with plt.rc_context(RC):
        log_loss = np.log10(np.maximum(surface.loss, 1e-6))
        mesh = ax.pcolormesh(surface.w, surface.b, log_loss, shading="auto", cmap="viridis",
                             vmin=max(np.min(log_loss), -4.0), rasterized=True)
        if colorbar:
            ax.figure.colorbar(mesh, ax=ax, label="log10 loss (x_T - target)^2")
        x_star = np.linspace(-8, 8, 801) if x_star is None else x_star
        w, b = bifurcation_curve(x_star)
        ax.plot(w, b, color="white", linestyle="--", linewidth=1.0,
                label="bifurcation w = 1/sig'(x*)")
        (w0, w1), (b0, b1) = surface.w[[0, -1]], surface.b[[0, -1]]
        for traj in trajectories:
            mode = "none" if traj.threshold is None else "norm"
            color = mode_color(mode)
            label = ("gradient descent" if traj.threshold is None
                     else f"norm-clipped at {traj.threshold:g}")
            p = traj.points
            inside = (p[:, 0] >= w0) & (p[:, 0] <= w1) & (p[:, 1] >= b0) & (p[:, 1] <= b1)
            plain = traj.threshold is None
            ax.plot(p[:, 0], p[:, 1], color=color, marker="o", markersize=3.5 if plain else 2,
                    linewidth=1.4 if plain else 1.0, zorder=4 if plain else 3, label=label)
            ax.plot(*p[0], marker="s", markersize=5, color=OKABE_ITO[7], linestyle="none")
            if not inside.all():
                first_out = int(np.argmin(inside))
                q = p[first_out]
                ax.annotate(f"thrown to ({q[0]:.0f}, {q[1]:.0f})\nby one step",
                            xy=p[first_out - 1], xytext=(0.98, 0.62),
                            textcoords="axes fraction", ha="right", va="top", color="black",
                            fontsize=7, bbox={"facecolor": "white", "alpha": 0.85,
                                              "edgecolor": "none"},
                            arrowprops={"arrowstyle": "->", "color": "black", "linewidth": 0.8})
            else:
                ax.plot(*p[-1], marker="*", markersize=8, color=color,
                        markeredgecolor="white", markeredgewidth=0.5, linestyle="none")
        ax.set_xlim(w0, w1)
        ax.set_ylim(b0, b1)
        ax.set_xlabel("recurrent weight w")
        ax.set_ylabel("bias b")
        ax.legend(loc="lower left", frameon=True, framealpha=0.85)
    return ax
