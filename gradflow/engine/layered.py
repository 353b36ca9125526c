"""Deep and bidirectional networks: the forward pass, and total derivatives by a reverse sweep.

A network (`gradflow.cells.layers`: a stack, a bidirectional network, or one cell) is a grid of
chains, layer l's forward chain s_t = f(s_{t-1}, u_t) and, bidirectionally, its backward chain
s_t = f(s_{t+1}, u_t), u_t what the layer reads at step t. `forward` runs it. `reverse_sweep` computes
total derivatives of one quantity Z (the top layer's state at step T, or the output y_tau) with
respect to every chain's state at every step and every input, by reverse-mode accumulation over
the grid with matrix adjoints: for each chain, from the far end of its time order,

    lam_t = A_t E + lam_next J_next,          G_t = lam_t K_t,

lam_t = dZ/ds_t (s_t perturbed after it is computed, every path to Z counted), A_t = dZ/dy_t for
the chain's output y_t (from the layer above, or the seed), E the output's embedding into the
state, J_next = ds_next/ds_t, K_t = ds_t/du_t, and G_t = dZ/du_t, which (plus A_t through an
identity connection) is the next lower layer's A_t. The Jacobians come from autograd
(`Linearization`), never stored: each adjoint is held as a matrix of unit Frobenius norm and
its own log10 scale (`Scaled`), and sums of adjoints are taken on a common scale, so nothing
overflows or underflows at any length. Cost per step and chain: two matrix products with m rows
(m = the size of Z), O(m n^2); memory O(T m n) for the adjoints passed between layers.
"""

from typing import List, NamedTuple

import numpy as np

from ..cells.layers import layer_params, layered, output_slice
from .linearization import Linearization
from .spectral_norm import frobenius
from .unroll import unroll

__all__ = ["LayeredRun", "forward", "reverse_sweep", "ScaledRows"]


class LayeredRun(NamedTuple):
    """A forward pass. `reads[l]` (T, in_l): what layer l read at each step (reads[0] the
    inputs). `states[l][c]` (T + 1, n): chain c of layer l, row t = s_t (its state once it
    has read u_t) for t = 1..T and row 0 its initial state (s_0 for a forward chain, s_{T+1}
    for a backward one). `outputs` (T, out): the network's output y_1..y_T."""
    reads: List[np.ndarray]
    states: List[List[np.ndarray]]
    outputs: np.ndarray


def forward(net, params, inputs, state0=None):
    """Run a network (stack, bidirectional network or cell) over `inputs` (T, D).

    `state0`: None for zero initial states, or a list per layer of a list per chain of (n,)
    initial states. Returns a `LayeredRun`.
    """
    net = layered(net)
    inputs = np.asarray(inputs, dtype=float)
    reads, states, u = [], [], inputs
    for l, layer in enumerate(net.layers):
        reads.append(u)
        outs, chains = [], []
        for c, ch in enumerate(layer):
            p = layer_params(params, ch.end)
            s0 = np.zeros(ch.cell.state_size(p)) if state0 is None else \
                np.asarray(state0[l][c], dtype=float)
            if ch.reverse:
                run = unroll(ch.cell, p, u[::-1], s0)  # run[j]: after j inputs from the end
                traj = np.concatenate([run[:1], run[1:][::-1]])  # row t = s_t, row 0 = initial
            else:
                traj = unroll(ch.cell, p, u, s0)
            chains.append(traj)
            outs.append(traj[1:, output_slice(ch.cell, p)])
        y = np.concatenate(outs, axis=1)
        if net.residual and l > 0:
            if y.shape != u.shape:
                raise ValueError(f"residual connections between layers need equal sizes: layer "
                                 f"{l} reads {u.shape[1]} and gives {y.shape[1]}")
            y = y + u
        states.append(chains)
        u = y
    return LayeredRun(reads, states, u)


class ScaledRows:
    """A matrix held as `mantissa * 10**scale` with ||mantissa||_F = 1 (or 0 with scale -inf)."""
    __slots__ = ("mantissa", "scale")

    def __init__(self, mantissa, scale=0.0):
        norm = frobenius(mantissa)  # without the overflow of squaring entries near 1e200
        if norm == 0 or not np.isfinite(scale):
            self.mantissa, self.scale = np.zeros_like(mantissa), -np.inf
        else:
            self.mantissa, self.scale = mantissa / norm, scale + np.log10(norm)

    @classmethod
    def zeros(cls, shape):
        return cls(np.zeros(shape), -np.inf)

    def __add__(self, other):
        if other.scale == -np.inf:
            return self
        if self.scale == -np.inf:
            return other
        top = max(self.scale, other.scale)
        return ScaledRows(self.mantissa * 10.0 ** (self.scale - top)
                          + other.mantissa * 10.0 ** (other.scale - top), top)

    def __matmul__(self, matrix):
        if self.scale == -np.inf:
            return ScaledRows.zeros((self.mantissa.shape[0], matrix.shape[1]))
        return ScaledRows(self.mantissa @ matrix, self.scale)

    def embed(self, width, cols):
        """The same rows placed at columns `cols` of a zero matrix `width` wide."""
        out = np.zeros((self.mantissa.shape[0], width))
        out[:, cols] = self.mantissa
        return ScaledRows(out, self.scale)


def _jacobians(cell, params):
    """(J, K) at (s_{t-1}, u_t): J = ds_t/ds_{t-1} (n, n) and K = ds_t/du_t (n, D)."""
    state_map = Linearization(cell, params)
    input_map = Linearization(lambda p, u, s: cell(p, s, u), params)

    def at(state, u):
        n, d = np.shape(state)[-1], np.shape(u)[-1]
        return state_map(state, u, np.eye(n)).T, input_map(u, state, np.eye(d)).T

    return at


def reverse_sweep(net, params, run, *, seed_state=None, seed_output=None, visit=None):
    """Total derivatives of Z by reverse accumulation over the grid of chains (module doc).

    Exactly one seed: `seed_state` = (layer, chain, t, rows) for Z = rows @ s_t of that chain,
    or `seed_output` = (tau, rows) for Z = rows @ y_tau, the network's output. `rows` (m, n)
    or (m, out). `visit(layer, chain, t, lam)` is called with every lam_t = dZ/ds_t of every
    chain (a `ScaledRows`, m x n), t = 1..T. Returns [G_t = dZ/dx_t for t = 1..T] (ScaledRows,
    m x D), the input sensitivity.
    """
    net = layered(net)
    T = len(run.outputs)
    rows = (seed_state or seed_output)[-1]
    m = np.shape(rows)[0]
    above = [ScaledRows.zeros((m, run.outputs.shape[1])) for _ in range(T + 1)]  # index t
    if seed_output is not None:
        tau = seed_output[0]
        above[tau] = ScaledRows(np.asarray(rows, dtype=float))
    for l in range(len(net.layers) - 1, -1, -1):
        layer, u = net.layers[l], run.reads[l]
        below = [ScaledRows.zeros((m, u.shape[1])) for _ in range(T + 1)]
        lo = 0
        for c, ch in enumerate(layer):
            p = layer_params(params, ch.end)
            states = run.states[l][c]
            n = states.shape[1]
            out = range(n)[output_slice(ch.cell, p)]
            cols = slice(lo, lo + len(out))
            lo += len(out)
            jac = _jacobians(ch.cell, p)
            order = range(1, T + 1) if ch.reverse else range(T, 0, -1)
            lam, J_next = ScaledRows.zeros((m, n)), None
            for t in order:
                lam = lam @ J_next if J_next is not None else lam
                part = above[t]
                if part.scale > -np.inf:
                    lam = lam + ScaledRows(part.mantissa[:, cols], part.scale).embed(
                        n, output_slice(ch.cell, p))
                if seed_state is not None and seed_state[:3] == (l, c, t):
                    lam = lam + ScaledRows(np.asarray(seed_state[3], dtype=float))
                prev = t + 1 if ch.reverse else t - 1
                J_next, K = jac(states[prev] if not ch.reverse or t < T else states[0],
                                u[t - 1])
                if visit is not None:
                    visit(l, c, t, lam)
                below[t] = below[t] + lam @ K
        if net.residual and l > 0:
            below = [b + a for b, a in zip(below, above)]
        above = below
    return above[1:]
