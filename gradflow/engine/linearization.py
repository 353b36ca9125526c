"""Step Jacobians J = ds_t/ds_{t-1} of a cell, from autograd's forward mode.

The cell is evaluated once at the unbatched state (n,) while a batch of k tangents (k, n) rides
along, so the nonlinearities are evaluated once, not n times. A cell that autograd cannot see
through (plain numpy functions mixed in, integer outputs) would give a Jacobian of exact zeros
and every norm -inf; `Linearization` says so instead.
"""

import warnings

import numpy as np
from autograd.core import JVPNode
from autograd.tracer import trace

from ..cells.feedforward import PerStep, params_at

__all__ = ["Linearization", "NotDifferentiableError", "step_jacobian"]


class NotDifferentiableError(ValueError):
    """autograd cannot differentiate the cell with respect to its state."""


class Linearization:
    """J t for a batch of tangents t, from autograd's forward mode.

    The batched pass needs every primitive in the cell to broadcast its JVP over a leading
    tangent axis. The built-in cells do; a user cell might not (autograd's `concatenate`, a sum
    over all axes, a state of size 1). So the first call checks the batched result against one
    unbatched JVP, which is always right, and if they disagree every later call pushes the
    tangents through one at a time: slower, never wrong. `batched` tells which route was taken.

    Raises NotDifferentiableError when the cell's output does not depend on the state as
    autograd sees it although it does numerically (see `_untraced`).
    """

    def __init__(self, cell, params):
        self.cell, self.params = cell, params
        self.batched = None  # unknown until the first call
        self.time_batched = None  # likewise for `steps`

    def __call__(self, state, x, tangents, t=0):
        """Rows J t_i for the rows t_i of `tangents` (k, n); J = d cell / d state at (state, x),
        with the parameters of step t + 1 (`gradflow.cells.feedforward.PerStep`)."""
        tangents = np.asarray(tangents, dtype=float)
        k = tangents.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):
            jvp = self._jvp(state, x, params_at(self.params, t))
            if self.batched is not False:
                out = self._batched(jvp, tangents)
                if out is not None:
                    return out
            return np.stack([np.asarray(jvp(t), dtype=float) for t in tangents])[:k]

    def steps(self, states, inputs, t0):
        """The step Jacobians J_{t0+1}, ..., J_{t0+K} at once: (K, n_out, n) or None.

        `states` (K, n) are s_{t0}, ..., s_{t0+K-1} and `inputs` the K inputs that follow them
        (a list of Nones for a cell without input). The cell runs once on the stacked states,
        with an (n, K, n) identity tangent that is constant along the step axis (a broadcast
        view: see `gradflow.cells.ops.dot`). None when that route is closed: parameters that
        change with the step, or a cell that does not broadcast over a leading axis (written
        with `dot(W, h)`, indexing `h[0]`, ...), which the first call finds by checking two of
        the K Jacobians against the one-step route (then every later call returns None).
        """
        if self.time_batched is False or isinstance(self.params, PerStep) or len(states) < 2:
            return None
        K, n = states.shape
        x = None if inputs[0] is None else np.asarray(inputs)
        tangent = np.broadcast_to(np.eye(n)[:, None, :], (n, K, n))
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                out = self._jvp(states, x, self.params)(tangent)
            out = np.asarray(out, dtype=float)
        except (ValueError, IndexError, TypeError) as err:
            if isinstance(err, NotDifferentiableError):
                raise
            out = None
        if out is None or out.ndim != 3 or out.shape[:2] != (n, K):
            self.time_batched = False
            return None
        J = out.transpose(1, 2, 0)  # J[j] = ds_{t0+j+1}/ds_{t0+j}
        if self.time_batched is None:
            for j in (0, K - 1):
                single = self(states[j], inputs[j], np.eye(n), t0 + j).T
                scale = 1.0 + np.abs(single).max()
                if single.shape != J[j].shape or not np.allclose(J[j], single, rtol=1e-12,
                                                                 atol=1e-14 * scale):
                    self.time_batched = False
                    return None
            self.time_batched = True
        return J

    def _jvp(self, state, x, params):
        def fun(s):
            return self.cell(params, s, x)

        def jvp(tangent):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Output seems independent of input")
                value, node = trace(JVPNode.new_root(tangent), fun, state)
            if node is None:
                _untraced(fun, state, value)
                return np.zeros(np.shape(tangent)[:-1] + np.shape(value))
            return node.g

        return jvp

    def _batched(self, jvp, tangents):
        k, n = tangents.shape
        # A leading axis of length 1 is mistaken for a broadcast axis by autograd's `add` JVP.
        padded = tangents if k > 1 else np.vstack([tangents, np.zeros_like(tangents)])
        try:
            out = np.asarray(jvp(padded), dtype=float)
        except (ValueError, IndexError, TypeError) as err:
            if isinstance(err, NotDifferentiableError):
                raise
            out = None
        if out is None or out.shape[0] != padded.shape[0] or out.ndim != 2:
            self.batched = False
            return None
        if self.batched is None:
            mix = np.random.default_rng(0).standard_normal(padded.shape[0])
            single = np.asarray(jvp(mix @ padded), dtype=float)
            self.batched = bool(single.shape == out.shape[1:] and np.allclose(
                single, mix @ out, rtol=1e-9, atol=1e-12 * (1 + np.abs(single).max())))
            if not self.batched:
                return None
        return out[:k]


def _untraced(fun, state, value):
    """The cell's output carries no derivative: fine if it truly ignores the state, else raise.

    autograd traces only its own functions on floats. A plain `numpy.concatenate` turns the
    traced arrays into an object array, and comparisons or integer casts drop the trace, so
    the output looks constant to autograd. A finite-difference probe tells a cell that ignores
    its state (Jacobian zero, correctly) from one whose dependence autograd cannot see.
    """
    value = np.asarray(value)
    hint = ("write the cell with autograd.numpy (import autograd.numpy as np) and "
            "gradflow.concat instead of numpy's functions, and return floats")
    if value.dtype == object:
        raise NotDifferentiableError(f"the cell returned an array of autograd boxes: a plain "
                                     f"numpy function (such as numpy.concatenate) was applied "
                                     f"to traced values; {hint}")
    if value.dtype.kind in "biu":
        raise NotDifferentiableError(f"the cell returned {value.dtype} values, which autograd "
                                     f"cannot differentiate; {hint}")
    state = np.asarray(state, dtype=float)
    probe = np.random.default_rng(0).standard_normal(state.shape)
    step = 1e-6 * (1.0 + np.linalg.norm(state)) / np.linalg.norm(probe)
    with np.errstate(all="ignore"):
        moved = np.asarray(fun(state + step * probe), dtype=float)
    if np.any(moved != value):
        raise NotDifferentiableError(f"the cell's output changes with the state, but autograd "
                                     f"sees no dependence on it; {hint}")


def step_jacobian(cell, params, state, x):
    """The step Jacobian d cell(params, state, x) / d state, shape (n_out, n).

    `state` has shape (n,), `x` shape (D,) (None for a cell without input). One batched
    forward-mode pass.
    """
    state = np.asarray(state, dtype=float)
    return Linearization(cell, params)(state, x, np.eye(state.shape[-1])).T
