"""A configured cell, its weights and its input sequences, drawn from one seed.

Every analysis (`decay`, `phase`, `pairwise`, `gates`, `spectra`) draws its network and inputs
here, so for the same arguments they all see the same thing: child 0 of `SeedSequence(seed)` makes the
weights, children 1..samples the input sequences. So a heatmap, a gate trace and a decay curve
made with the same options describe the same network on the same inputs.
"""

from typing import Mapping, NamedTuple, Sequence

import numpy as np

from ..cells.builtin import get_cell
from ..cells.initializers import init_params

__all__ = ["Setup", "setup", "random_inputs"]


def random_inputs(steps, input_size, seed):
    """A (steps, input_size) sequence of i.i.d. standard normal inputs; `seed` an int or a
    Generator."""
    return np.random.default_rng(seed).standard_normal((steps, input_size))


class Setup(NamedTuple):
    """cell: the cell function; name: its name; params: dict of arrays; sequences: list of
    (T, D) input arrays, one per sample."""
    cell: object
    name: str
    params: Mapping[str, np.ndarray]
    sequences: Sequence[np.ndarray]


def setup(cell="rnn", *, hidden=64, input_size=8, steps=100, init="gaussian", scale=1.0,
          forget_bias=1.0, activation="tanh", seed=0, samples=1, params=None, inputs=None):
    """The cell, weights and input sequences `decay_profile` would use for the same arguments.

    `params` (trained weights) replace the drawn ones; `inputs` (T, D) replaces the random
    sequences and then `samples` must be 1. `seed` is a non-negative integer (the entropy of a
    `numpy.random.SeedSequence`). Raises ValueError for an unknown cell, bad sizes, a negative
    seed, or weights `init_params` refuses.
    """
    fn = get_cell(cell, activation) if isinstance(cell, str) else cell
    name = cell if isinstance(cell, str) else getattr(cell, "name", getattr(cell, "__name__", "cell"))
    if samples < 1:
        raise ValueError(f"samples must be positive, got {samples}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if inputs is None and steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    children = np.random.SeedSequence(seed).spawn(samples + 1)
    if params is None:
        params = init_params(fn, hidden, input_size, init=init, scale=scale,
                             forget_bias=forget_bias, seed=np.random.default_rng(children[0]))
    else:
        input_size = params["weight_ih"].shape[1]
    if inputs is not None:
        if samples != 1:
            raise ValueError("a fixed input sequence is one sample: use samples=1")
        sequences = [np.asarray(inputs, dtype=float)]
        if sequences[0].ndim != 2 or len(sequences[0]) == 0:
            raise ValueError(f"inputs must have shape (T, D) with T >= 1, got "
                             f"{sequences[0].shape}")
    else:
        sequences = [random_inputs(steps, input_size, np.random.default_rng(c))
                     for c in children[1:]]
    return Setup(fn, name, params, sequences)
