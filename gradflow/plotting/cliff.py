"""Pascanu's cliff: the single-unit loss surface with gradient-descent paths and the
bifurcation curve (Pascanu, Mikolov & Bengio 2013)."""

import matplotlib.patheffects as pe
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from ..training.cliff import bifurcation_curve
from .style import RC, get_ax
from .training import mode_color

__all__ = ["plot_cliff", "cliff_title", "frame_exit"]

_HALO = [pe.withStroke(linewidth=2.4, foreground="white")]  # paths stay visible on any colour


def cliff_title(setup, lr):
    """The model, its loss and the step size, in math text."""
    return (rf"$x_t = w\,\sigma(x_{{t-1}}) + b$, $x_0 = {setup.x0:g}$, "
            rf"loss $(x_{{{setup.steps}}} - {setup.target:g})^2$, lr {lr:g}")


def frame_exit(inside, outside, box):
    """Where the segment from `inside` to `outside` (points (2,)) crosses the edge of
    `box` = ((w0, w1), (b0, b1)); `inside` must lie in the box."""
    p, d = np.asarray(inside, float), np.asarray(outside, float) - np.asarray(inside, float)
    s = 1.0
    for k, (lo, hi) in enumerate(box):
        if d[k] > 0:
            s = min(s, (hi - p[k]) / d[k])
        elif d[k] < 0:
            s = min(s, (lo - p[k]) / d[k])
    return p + s * d


def plot_cliff(surface, trajectories=(), *, ax=None, colorbar=True, x_star=None):
    """Draw log10 of the loss over the (w, b) grid of `surface` (a
    `gradflow.training.cliff.CliffSurface`), the saddle-node bifurcation curve, and each
    `gradflow.training.cliff.Trajectory` (plain gradient descent in the 'none' colour, norm-clipped
    in the 'norm' colour).

    A path is drawn while it stays in the plotted region; a step that throws it out is an arrow
    to the edge, labelled with the step and the point where it lands. The start is a star, the
    end of a path that stays inside a circle. Returns the Axes.
    """
    ax = get_ax(ax)
    with plt.rc_context(RC):
        log_loss = np.log10(np.maximum(surface.loss, 1e-6))
        mesh = ax.pcolormesh(surface.w, surface.b, log_loss, shading="auto", cmap="viridis",
                             vmin=max(np.min(log_loss), -4.0), rasterized=True)
        if colorbar:
            ax.figure.colorbar(mesh, ax=ax,
                               label=r"$\log_{10}$ loss $(x_T - \mathrm{target})^2$")
        x_star = np.linspace(-8, 8, 801) if x_star is None else x_star
        w, b = bifurcation_curve(x_star)
        ax.plot(w, b, color="white", linestyle="--", linewidth=1.0,
                label=r"bifurcation $w = 1/\sigma'(x^*)$")
        box = (tuple(surface.w[[0, -1]]), tuple(surface.b[[0, -1]]))
        ends = starts = 0
        for traj in trajectories:
            plain = traj.threshold is None
            color = mode_color("none" if plain else "norm")
            label = "gradient descent" if plain else f"norm-clipped at {traj.threshold:g}"
            p = traj.points
            inside = ((p[:, 0] >= box[0][0]) & (p[:, 0] <= box[0][1])
                      & (p[:, 1] >= box[1][0]) & (p[:, 1] <= box[1][1]))
            stop = len(p) if inside.all() else int(np.argmin(inside))
            ax.plot(p[:stop, 0], p[:stop, 1], color=color, linewidth=1.4 if plain else 1.0,
                    zorder=4 if plain else 3, path_effects=_HALO)
            ax.plot(p[:stop, 0], p[:stop, 1], color=color, marker="o",
                    markersize=3.5 if plain else 1.8, linewidth=1.4 if plain else 1.0,
                    zorder=4 if plain else 3, label=label)
            if 0 < stop < len(p):
                _thrown(ax, p[stop - 1], p[stop], stop, box, color)
            elif stop == len(p):
                ax.plot(*p[-1], marker="o", markersize=6, color=color, markeredgecolor="black",
                        markeredgewidth=0.7, linestyle="none", zorder=6)
                ends += 1
            if inside[0]:
                ax.plot(*p[0], marker="*", markersize=11, color="white", markeredgecolor="black",
                        markeredgewidth=0.7, linestyle="none", zorder=7)
                starts += 1
        ax.set_xlim(*box[0])
        ax.set_ylim(*box[1])
        ax.set_xlabel("recurrent weight $w$")
        ax.set_ylabel("bias $b$")
        handles, labels = ax.get_legend_handles_labels()
        if starts:
            handles.append(Line2D([], [], marker="*", markersize=9, color="white",
                                  markeredgecolor="black", markeredgewidth=0.7, linestyle="none"))
            labels.append("start")
        if ends:
            handles.append(Line2D([], [], marker="o", markersize=5, color="0.6",
                                  markeredgecolor="black", markeredgewidth=0.7, linestyle="none"))
            labels.append(f"end after {len(trajectories[0].points) - 1} steps")
        ax.legend(handles, labels, loc="lower left", frameon=True, framealpha=0.85)
    return ax


def _thrown(ax, last, landing, step, box, color):
    """An arrow from the last point inside to the edge, towards where step `step` lands."""
    edge = frame_exit(last, landing, box)
    ax.annotate("", xy=edge, xytext=last, annotation_clip=False, zorder=5,
                arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.4,
                            "shrinkA": 0, "shrinkB": 0, "mutation_scale": 10})
    (w0, w1), (b0, b1) = box
    # The label goes inside the frame beside the arrow's head: away from the edge it crosses,
    # and on the side the arrow does not come from, unless that side has no room.
    fx, fy = (edge[0] - w0) / (w1 - w0), (edge[1] - b0) / (b1 - b0)
    rightwards = landing[0] > last[0]
    ha = "left" if (rightwards and fx < 0.8) or fx < 0.2 else "right"
    va = "top" if fy > 0.5 else "bottom"
    dx = -6 if ha == "right" else 6
    dy = -6 if va == "top" else 6
    ax.annotate(f"step {step} lands at\n$({landing[0]:.0f}, {landing[1]:.0f})$",
                xy=edge, xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                fontsize=7, zorder=8,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.5})
