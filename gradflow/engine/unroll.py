"""Running a cell over an input sequence."""

import numpy as np

__all__ = ["unroll", "default_state"]


def default_state(cell, params):
    """The zero initial state of a built-in cell; user cells must pass their own state0."""
    if not hasattr(cell, "state_size"):
        name = getattr(cell, "__name__", repr(cell))
        raise ValueError(f"cell {name} does not say its state size: pass state0")
    return np.zeros(cell.state_size(params))


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
            states[t + 1] = cell(params, states[t], x)
    return states
