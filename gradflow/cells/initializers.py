"""Random and structured parameters for the built-in cells, every one from an explicit seed.

Recurrent weights (each gate block of `weight_hh` separately, each H x H):
- 'gaussian': i.i.d. N(0, (scale / sqrt(H))^2); spectral radius about `scale` for large H.
- 'orthogonal': scale * Q with Q Haar-orthogonal (Saxe et al. 2014); every singular value = scale.
- 'identity': scale * I, the IRNN initialisation (Le, Jaitly & Hinton 2015).
Input weights are N(0, (input_scale / sqrt(D))^2) and biases zero, except the gate that keeps
memory: the LSTM's forget gate gets `forget_bias` (Gers et al. 2000; Jozefowicz et al. 2015), and
the GRU's update gate gets the bias that makes it keep h_{t-1}: -forget_bias in Cho's form
(keep = 1 - z), +forget_bias in PyTorch's (keep = z).
"""

import math
import operator

import numpy as np

__all__ = ["INITS", "init_params", "recurrent_block"]

INITS = ("gaussian", "orthogonal", "identity")


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _finite(**values):
    """Refuse nan and inf: a non-finite weight makes every norm downstream nan."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")


def recurrent_block(H, init="gaussian", scale=1.0, seed=0):
    """One H x H recurrent weight block drawn by `init` and multiplied by `scale`.

    Raises ValueError for an unknown `init` or a non-finite `scale`.
    """
    _finite(scale=scale)
    rng = _rng(seed)
    if init == "gaussian":
        return rng.standard_normal((H, H)) * (scale / np.sqrt(H))
    if init == "orthogonal":
        q, r = np.linalg.qr(rng.standard_normal((H, H)))
        return scale * q * np.sign(np.diag(r))  # sign fix makes Q Haar-distributed
    if init == "identity":
        return scale * np.eye(H)
    raise ValueError(f"unknown init {init!r}; choose from {', '.join(INITS)}")


def init_params(cell, hidden, input_size, *, init="gaussian", scale=1.0, input_scale=1.0,
                forget_bias=1.0, seed=0):
    """Parameters for the built-in `cell` (a cell function or its name).

    Returns a dict with `weight_ih` (G H, D), `weight_hh` (G H, H), `bias_ih`, `bias_hh` (G H,),
    G = 1, 4 or 3 gate blocks for the RNN, LSTM and GRU. `seed` is an int or a Generator.

    Raises ValueError for sizes that are not positive integers and for a `scale`,
    `input_scale` or `forget_bias` that is nan or infinite (naming the argument). A negative
    `scale` is allowed: for 'orthogonal' and 'identity' it flips the sign of the recurrence.
    """
    from .builtin import get_cell

    cell = get_cell(cell) if isinstance(cell, str) else cell
    try:
        hidden, input_size = operator.index(hidden), operator.index(input_size)
    except TypeError:
        raise ValueError(f"sizes must be whole numbers, got hidden={hidden!r}, "
                         f"input_size={input_size!r}") from None
    if hidden < 1 or input_size < 1:
        raise ValueError(f"sizes must be positive, got hidden={hidden}, input_size={input_size}")
    _finite(scale=scale, input_scale=input_scale, forget_bias=forget_bias)
    rng = _rng(seed)
    if hasattr(cell, "init_params"):  # layers (`cells.layers`), cells of their own (`cells.modern`)
        return cell.init_params(hidden, input_size, rng=rng, init=init, scale=scale,
                                input_scale=input_scale, forget_bias=forget_bias)
    if hasattr(cell, "base"):  # a skip connection (`gradflow.cells.skips`): the base's, then its own
        params = init_params(cell.base, hidden, input_size, init=init, scale=scale,
                             input_scale=input_scale, forget_bias=forget_bias, seed=rng)
        return {**params, **cell.init_extra(params, hidden, input_size, rng)}
    G, H, D = cell.gate_blocks, hidden, input_size
    params = {
        "weight_ih": rng.standard_normal((G * H, D)) * (input_scale / np.sqrt(D)),
        "weight_hh": np.concatenate([recurrent_block(H, init, scale, rng) for _ in range(G)]),
        "bias_ih": np.zeros(G * H),
        "bias_hh": np.zeros(G * H),
    }
    if cell.name == "lstm":
        params["bias_ih"][H:2 * H] = forget_bias
    elif cell.name == "gru":
        params["bias_ih"][H:2 * H] = -forget_bias
    elif cell.name == "gru_torch":
        params["bias_ih"][H:2 * H] = forget_bias
    return params
