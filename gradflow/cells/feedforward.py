"""Parameters that change with the step, and the deep feed-forward network as such a chain.

Seed 004 asks whether vanishing and exploding gradients are only an RNN problem: a feed-forward
network of L layers, y_l = phi(W_l y_{l-1} + b_l), is the same chain of Jacobians as an RNN, with
a different weight matrix at each step and no input. gradflow's engine takes parameters that
change with the step (`PerStep`: element t - 1 is used at step t), so `gradient_flow(mlp,
PerStep(...), state0=y_0, steps=L)` gives dy_L/dy_{L-d} for every depth distance d, and the skip
connections of `gradflow.cells.skips` become ResNet (residual), DenseNet (dense:K) and highway
layers (Srivastava et al. 2015) without new code.
"""

import autograd.numpy as anp
import numpy as np

__all__ = ["PerStep", "params_at", "mlp", "mlp_params"]


class PerStep(tuple):
    """Parameters per step: `PerStep([p_1, ..., p_T])`, p_t (a dict) used at step t."""

    def __new__(cls, steps):
        steps = tuple(steps)
        if not steps or not all(isinstance(p, dict) for p in steps):
            raise ValueError("PerStep takes one dict of parameters per step (at least one)")
        return super().__new__(cls, steps)


def params_at(params, t):
    """The parameters used at step t + 1 (t = 0..T-1): `params` itself, or element t of a
    PerStep."""
    if isinstance(params, PerStep):
        if not 0 <= t < len(params):
            raise ValueError(f"the parameters are given for {len(params)} steps; step {t + 1} "
                             "has none")
        return params[t]
    return params


def mlp(params, state, x=None):
    """A feed-forward layer, y = tanh(W y_prev + b): `weight` (n, n), `bias` (n,); no input."""
    return anp.tanh(anp.dot(state, params["weight"].T) + params["bias"])


mlp.name = "mlp"
mlp.gate_blocks = mlp.state_blocks = 1
mlp.activation = "tanh"
mlp.state_size = lambda params: np.shape(params["weight"])[0]
mlp.blocks = lambda params: {}


def mlp_params(cell, depth, width, *, scale=1.0, seed=0):
    """PerStep parameters of a `depth`-layer network of `cell` (`mlp`, or `mlp` with a skip
    connection from `gradflow.cells.skips`), `width` units: W_l ~ N(0, scale^2 / width) i.i.d.,
    b_l = 0, each layer's skip weights as the connection initialises them; one Generator from
    `seed` draws the layers in order."""
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(int(depth)):
        own = {"weight": rng.standard_normal((width, width)) * (scale / np.sqrt(width)),
               "bias": np.zeros(width)}
        if hasattr(cell, "init_extra"):
            own.update(cell.init_extra(own, width, 0, rng))
        layers.append(own)
    return PerStep(layers)
