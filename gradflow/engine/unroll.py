"""Running a cell over an input sequence."""

import numpy as np

from ..cells.feedforward import params_at

__all__ = ["unroll", "default_state", "Trajectory", "run"]


def default_state(cell, params):
    """The zero initial state of a built-in cell; user cells must pass their own state0."""
    if not hasattr(cell, "state_size"):
        name = getattr(cell, "__name__", repr(cell))
        raise ValueError(f"cell {name} does not say its state size: pass state0")
    return np.zeros(cell.state_size(params_at(params, 0)))


def unroll(cell, params, inputs, state0):
    """States s_0, ..., s_T of s_t = cell(params, s_{t-1}, x_t); shape (T+1,) + state0.shape.

    `inputs` has shape (T, ..., D). Overflow in the forward pass is not an error here (a linear
    RNN that explodes still has a well-defined Jacobian); callers check what they use.
    """
    state0 = np.asarray(state0, dtype=float)
    states = np.empty((len(inputs) + 1,) + state0.shape)  # filled in place: no second copy
    states[0] = state0
    with np.errstate(over="ignore", invalid="ignore"):
        for t, x in enumerate(inputs):
            states[t + 1] = cell(params_at(params, t), states[t], x)
    return states


class Trajectory:
    """The states a cell passes through, s_0, ..., s_T, indexed like an array of them.

    A cell that carries its last k states along (a skip connection of length k, which says so
    by `lag` = k) has states a_t = (s_t, s_{t-1}, ..., s_{t-k+1}) of k n entries; they are
    kept as the network's own states s_t only, and a_t is rebuilt when asked for, so the
    memory is O(T n), not O(T k n). For other cells the states are kept as they are.

    `trajectory[t]` is the cell's state at step t; `own` (T+1, n) the network's own states;
    `finite` (T+1,) whether each state is finite.
    """

    def __init__(self, own, lag=1):
        self._own = own  # (T + lag, n): s_{-lag+1}, ..., s_{-1} (from the initial state), s_0..
        self.lag = lag

    def __len__(self):
        return len(self._own) - self.lag + 1

    def __getitem__(self, t):
        if self.lag == 1:
            return self._own[t]
        t = range(len(self))[t]
        return self._own[t:t + self.lag][::-1].reshape(-1)

    def window(self, lo, hi):
        """The states s_lo, ..., s_{hi-1} as one (hi - lo, state size) array."""
        if self.lag == 1:
            return self._own[lo:hi]
        rows = np.arange(lo, hi)[:, None] + (self.lag - 1 - np.arange(self.lag))
        return self._own[rows].reshape(hi - lo, -1)

    @property
    def own(self):
        return self._own[self.lag - 1:]

    @property
    def finite(self):
        rows = np.all(np.isfinite(self._own.reshape(len(self._own), -1)), axis=1)
        if self.lag == 1:
            return rows
        bad = np.concatenate([[0], np.cumsum(~rows)])  # a_t is finite when its k rows are
        return bad[self.lag:] == bad[:len(self)]


def run(cell, params, inputs, state0):
    """`unroll`, kept as a `Trajectory`: in O(T n) memory for a cell that carries past states."""
    state0 = np.asarray(state0, dtype=float)
    k = getattr(cell, "lag", 1)
    if k == 1 or state0.ndim != 1 or len(state0) % k:
        return Trajectory(unroll(cell, params, inputs, state0))
    n = len(state0) // k
    own = np.empty((len(inputs) + k, n))
    own[:k] = state0.reshape(k, n)[::-1]  # s_{-k+1}, ..., s_0
    state = state0
    with np.errstate(over="ignore", invalid="ignore"):
        for t, x in enumerate(inputs):
            state = cell(params_at(params, t), state, x)
            own[t + k] = state[:n]
    return Trajectory(own, k)
