"""Pascanu's cliff: the single-unit recurrent network of Pascanu, Mikolov & Bengio (2013),
"On the difficulty of training recurrent neural networks", sections 2.2-3.

The model is x_t = w sigmoid(x_{t-1}) + b, started at x_0 and run for `steps` steps, with the loss
(x_T - target)^2. Where (w, b) crosses a saddle-node bifurcation of the map, the attractor that x_0
falls into changes abruptly, x_T jumps, and the loss surface has a wall of huge curvature. A
gradient step taken on that wall throws the parameters far away; norm clipping (Pascanu et al.,
Algorithm 1) bounds the step. Everything here is pure and vectorised over arrays of w and b.
"""

from typing import NamedTuple

import numpy as np
from autograd import grad

from ..cells.ops import sigmoid

__all__ = ["CliffSetup", "final_state", "cliff_loss", "CliffSurface", "loss_surface",
           "Trajectory", "gd_trajectory", "bifurcation_curve", "trajectories_to_table",
           "trajectories_from_table"]


class CliffSetup(NamedTuple):
    """Initial state x_0, number of steps T and the target for x_T."""
    x0: float = 0.5
    steps: int = 50
    target: float = 0.7


def final_state(w, b, setup=CliffSetup()):
    """x_T of x_t = w sigmoid(x_{t-1}) + b from x_0; w, b broadcast against each other."""
    x = setup.x0 + 0.0 * (w + b)
    for _ in range(setup.steps):
        x = w * sigmoid(x) + b
    return x


def cliff_loss(w, b, setup=CliffSetup()):
    """(x_T - target)^2; arrays broadcast, autograd-differentiable."""
    return (final_state(w, b, setup) - setup.target) ** 2


class CliffSurface(NamedTuple):
    """w (n_w,), b (n_b,), loss (n_b, n_w): loss[i, j] at (w[j], b[i])."""
    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    setup: CliffSetup


def loss_surface(w_range=(-2.0, 14.0), b_range=(-10.0, 4.0), n=301, setup=CliffSetup()):
    """The loss on an n x n grid over w_range x b_range."""
    w = np.linspace(*w_range, n)
    b = np.linspace(*b_range, n)
    return CliffSurface(w, b, np.asarray(cliff_loss(w[None, :], b[:, None], setup)), setup)


class Trajectory(NamedTuple):
    """Gradient descent in (w, b): points (N+1, 2), loss (N+1,), grad_norm (N,) before
    clipping, clipped (N,) flags; threshold None for plain gradient descent."""
    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    threshold: float | None
    lr: float


_loss_grad = grad(lambda p, setup: cliff_loss(p[0], p[1], setup))


def gd_trajectory(start, *, lr=0.1, updates=30, threshold=None, setup=CliffSetup()):
    """Gradient descent p <- p - lr g from `start` = (w, b), with norm clipping
    (g <- threshold g / ||g|| when ||g|| >= threshold) if `threshold` is given.

    Stops early, keeping what it has, if the gradient or the point stops being finite.
    """
    if threshold is not None and not threshold > 0:
        raise ValueError(f"the clipping threshold must be positive, got {threshold}")
    p = np.array(start, dtype=float)
    points, norms, clipped = [p], [], []
    with np.errstate(all="ignore"):
        for _ in range(updates):
            g = _loss_grad(p, setup)
            norm = float(np.linalg.norm(g))
            if not np.isfinite(norm):
                break
            hit = threshold is not None and norm >= threshold
            if hit:
                g = g * (threshold / norm)
            p = p - lr * g
            if not np.all(np.isfinite(p)):
                break
            points.append(p)
            norms.append(norm)
            clipped.append(hit)
        points = np.array(points)
        loss = np.asarray(cliff_loss(points[:, 0], points[:, 1], setup))
    return Trajectory(points, loss, np.array(norms), np.array(clipped, dtype=bool), threshold, lr)


def bifurcation_curve(x_star):
    """The saddle-node bifurcations of x -> w sigmoid(x) + b, parametrised by the fixed point x*.

    A fixed point x* = w sigmoid(x*) + b is born or dies where the map's slope there is 1:
    w sigmoid'(x*) = 1, so w = 1 / sigmoid'(x*) and b = x* - w sigmoid(x*). Returns (w, b), each
    shaped like x_star; the two branches (x* < 0 and x* > 0) meet in a cusp at (4, -2).
    """
    x_star = np.asarray(x_star, dtype=float)
    s = 1.0 / (1.0 + np.exp(-x_star))
    w = 1.0 / (s * (1.0 - s))
    return w, x_star - w * s


def _path_name(trajectory):
    return "plain" if trajectory.threshold is None else "clipped"


def trajectories_to_table(trajectories, setup, metadata=None):
    """A long `Table` (kind 'cliff'): one row per path and point.

    Columns: path ('plain' or 'clipped'), step (0 = the start), w, b, loss at the point, then
    grad_norm (||g|| at the point, before clipping) and clipped (1 or 0: the step taken from the
    point was clipped), both empty at a path's last point, from which no step was taken. The
    metadata holds the `CliffSetup` (x0, steps, target), lr, each path's threshold and
    `metadata`.
    """
    from ..io.results import Table

    columns = {k: [] for k in ("path", "step", "w", "b", "loss", "grad_norm", "clipped")}
    for tr in trajectories:
        n = len(tr.points)
        columns["path"] += [_path_name(tr)] * n
        columns["step"] += list(range(n))
        columns["w"] += [float(v) for v in tr.points[:, 0]]
        columns["b"] += [float(v) for v in tr.points[:, 1]]
        columns["loss"] += [float(v) for v in tr.loss]
        columns["grad_norm"] += [float(v) for v in tr.grad_norm] + [None]
        columns["clipped"] += [int(v) for v in tr.clipped] + [None]
    meta = {"kind": "cliff", "x0": setup.x0, "steps": setup.steps, "target": setup.target,
            "lr": trajectories[0].lr,
            "thresholds": {_path_name(tr): tr.threshold for tr in trajectories},
            **(metadata or {})}
    return Table({k: np.array(v, dtype=object) for k, v in columns.items()}, meta)


def trajectories_from_table(table):
    """The `Trajectory` list written by `trajectories_to_table`, in the order of the rows."""
    paths = list(dict.fromkeys(str(p) for p in table.columns["path"]))
    thresholds = table.metadata.get("thresholds") or {}
    out = []
    for name in paths:
        rows = table.where("path", name).columns
        grad_norm = np.asarray(rows["grad_norm"], dtype=float)[:-1]
        clipped = np.asarray(rows["clipped"], dtype=float)[:-1].astype(bool)
        threshold = thresholds.get(name)
        out.append(Trajectory(np.column_stack([rows["w"], rows["b"]]).astype(float),
                              np.asarray(rows["loss"], dtype=float), grad_norm, clipped,
                              None if threshold is None else float(threshold),
                              float(table.metadata.get("lr", np.nan))))
    return out
