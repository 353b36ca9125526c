"""Step Jacobians J = ds_t/ds_{t-1} of a cell, from autograd's forward mode.

The cell is evaluated once at the unbatched state (n,) while a batch of k tangents (k, n) rides
along, so the nonlinearities are evaluated once, not n times. A cell that autograd cannot see
through (plain numpy functions mixed in, integer outputs) would give a Jacobian of exact zeros
and every norm -inf; `Linearization` says so instead.

A cell that carries its last k states along (a skip connection of length k) and says how
(`link`, see `gradflow.cells.skips`) is not differentiated whole: its base cell is, on the n
entries of the state that reach it, and the (k n)-square Jacobian is assembled from that and
the connection's constant blocks, so that the augmented state does not multiply the cost by k.
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

    A cell that carries its last k states along and says how (`link`: skip:k, dense:k) is
    differentiated through its base cell and its Jacobian assembled (`_Augmented`), unless
    `structured` is False; `augmented` is then None, as it becomes when the first assembled
    result disagrees with the generic route.

    Raises NotDifferentiableError when the cell's output does not depend on the state as
    autograd sees it although it does numerically (see `_untraced`).
    """

    def __init__(self, cell, params, *, structured=True):
        self.cell, self.params = cell, params
        self.batched = None  # unknown until the first call
        self.time_batched = None  # likewise for `steps`
        # the base cell alone is differentiated (`_Augmented`); None for every other cell
        self.augmented = _Augmented.of(cell, params) if structured else None

    def __call__(self, state, x, tangents, t=0):
        """Rows J t_i for the rows t_i of `tangents` (k, n); J = d cell / d state at (state, x),
        with the parameters of step t + 1 (`gradflow.cells.feedforward.PerStep`)."""
        tangents = np.asarray(tangents, dtype=float)
        if self._assembles(state):
            with np.errstate(over="ignore", invalid="ignore"):
                out = self.augmented(state, x, tangents, t)
            if self.augmented.checked:
                return out
            generic = self._generic(state, x, tangents, t)
            if self.augmented.agrees(out, generic):
                return out
            self.augmented = None
            return generic
        return self._generic(state, x, tangents, t)

    def _assembles(self, state):
        return self.augmented is not None and np.shape(state)[-1] == self.augmented.size

    def _generic(self, state, x, tangents, t):
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
        if self._assembles(states):
            with np.errstate(over="ignore", invalid="ignore"):
                J = self.augmented.steps(states, inputs, t0)
            if J is None or self.augmented.checked:
                return J
            n = states.shape[1]
            if self.augmented.agrees(J[0], self._generic(states[0], inputs[0], np.eye(n), t0).T):
                return J
            self.augmented = None
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
                single = self._generic(states[j], inputs[j], np.eye(n), t0 + j).T
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


class _Augmented:
    """The step Jacobians of a cell that carries its last k states along, from its base cell's.

    Such a cell (`gradflow.cells.skips`: skip:k and dense:k for k > 1) has the augmented state
    a = (s, s_{-1}, ..., s_{-k+1}), N = k n entries, and says how it steps: `lag` = k, `base`
    = f, `base_size(params)` = n and `link(params, a)`, linear in a, with

        cell(params, a, x) = (f(params, a[:n], x) + link(params, a), a[:(k - 1) n]).

    Its Jacobian is then [J_f 0; 0 0] + [L; S]: J_f = d f / d s (n, n) at (a[:n], x), L = d link
    / d a (n, N) a constant, S = [I 0] the shift. Differentiating the whole cell would push N
    tangents through f, of which only n reach it: k times the base cell's cost. Here f alone is
    differentiated, by its own `Linearization` (batched over steps, and itself assembled when
    f carries past states too), and L once per parameters, by autograd's forward mode.

    The owning `Linearization` compares the first result with its generic route and drops this
    one (for good) if they differ: a cell that copied these attributes but steps differently
    (`functools.wraps` around a skip cell) gets the generic route, never a wrong Jacobian.
    """

    def __init__(self, cell, params, k, n):
        self.base = Linearization(cell.base, params)
        self.link = Linearization(lambda p, a, x: cell.link(p, a), params, structured=False)
        self.params, self.k, self.n, self.size = params, k, n, k * n
        self.checked = False  # True once a result has agreed with the generic route
        self._cached = (None, None)  # (parameters, L^T (N, n)): the last step's

    @classmethod
    def of(cls, cell, params):
        """An `_Augmented` for a cell that says how it carries past states along, else None."""
        k = getattr(cell, "lag", 1)
        if not (hasattr(cell, "link") and hasattr(cell, "base") and hasattr(cell, "base_size")
                and isinstance(k, int) and k > 1):
            return None
        try:
            n = int(cell.base_size(params_at(params, 0)))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return None
        return cls(cell, params, k, n) if n > 0 else None

    def __call__(self, state, x, tangents, t):
        """Rows J t_i for the rows t_i of `tangents` (m, N): the base cell takes m tangents."""
        n, m = self.n, len(tangents)
        out = np.empty((m, self.size))
        out[:, :n] = self.base(state[:n], x, tangents[:, :n], t) + tangents @ self._link(t)
        out[:, n:] = tangents[:, :self.size - n]
        return out

    def steps(self, states, inputs, t0):
        """J (K, N, N) for the K states (K, N), as `Linearization.steps`; None when the base
        cell's route is closed (then the caller goes one step at a time, through __call__)."""
        n, N = self.n, self.size
        Jf = self.base.steps(states[:, :n], inputs, t0)
        if Jf is None:
            return None
        J = np.zeros((len(Jf), N, N))
        J[:, :n, :] = self._link(t0).T
        J[:, :n, :n] += Jf
        J[:, np.arange(n, N), np.arange(N - n)] = 1.0  # the shift: a_t[n:] = a_{t-1}[:N - n]
        return J

    def agrees(self, assembled, generic):
        """Whether an assembled result equals the generic route's (to rounding); remembers a
        success, so that the comparison is paid once."""
        scale = 1.0 + np.abs(generic).max(initial=0.0)
        same = assembled.shape == generic.shape and np.allclose(
            assembled, generic, rtol=1e-12, atol=1e-14 * scale)
        self.checked = bool(same)
        return self.checked

    def _link(self, t):
        """L^T (N, n) with the parameters of step t + 1, kept while they stay the same."""
        p = params_at(self.params, t)
        if self._cached[0] is not p:
            # L^T e_i = row i: the N unit tangents through link, at a = 0 (L is constant)
            self._cached = (p, self.link(np.zeros(self.size), None, np.eye(self.size), t))
        return self._cached[1]


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
    # one call: an assembled Jacobian would be compared with the generic one, which is the cost
    return Linearization(cell, params, structured=False)(state, x, np.eye(state.shape[-1])).T
