"""Gradient flow through depth and time: the depth x time map of a stack and input sensitivity.

Both are total derivatives computed by `gradflow.engine.layered.reverse_sweep` (one reverse
sweep over the grid of layers and steps, adjoints held with their own log10 scale):

- `depth_flow`: for a network that runs forwards in time (a stack of cells, or one cell),
  D(l, d) = d s^(L-1)_T / d s^(l)_{T-d}: layer l's state at step T - d perturbed after it is
  computed, every path to the top layer's state at step T counted (up through layers
  l+1..L-1 at the same step, along the recurrences, and, with residual connections between
  layers, through them). At d = 0 only the path up through the layers; for the top layer at
  d >= 1 it is the top layer's own ds_T/ds_{T-d}. For a cell that carries past states (a skip
  connection of length k) s is its own state s_t, not the augmented one.
- `input_sensitivity`: S(t) = dy_tau / dx_t for every input step t, y_tau the network's output
  at step tau; for any network, bidirectional ones included, whose output halves (forward and
  backward direction of the top layer) are also reported on their own.
"""

from typing import Mapping, NamedTuple

import numpy as np

from ..cells.layers import layer_params, layered, output_slice
from .jacobians import check_inputs, state_rows
from .layered import forward, reverse_sweep
from .spectral_norm import frobenius, top_singular_value

__all__ = ["DepthFlow", "depth_flow", "Sensitivity", "input_sensitivity"]


class DepthFlow(NamedTuple):
    """log10 norms of d s^(L-1)_T / d s^(l)_{T-d}: arrays (L, T) indexed by layer l = 0..L-1
    and `distance` d = 0..T-1 (-inf where the derivative is exactly zero). `blocks` maps a
    block both the top layer and layer l have (the LSTM's 'h' and 'c') to its
    (spectral, frobenius) norms, (L, T) each: d h^(L-1)_T / d h^(l)_{T-d} for 'h'."""
    layer: np.ndarray
    distance: np.ndarray
    log10_spectral_norm: np.ndarray
    log10_frobenius_norm: np.ndarray
    blocks: Mapping[str, tuple]


class Sensitivity(NamedTuple):
    """log10 norms of dy_tau / dx_t for `step` t = 1..T (arrays (T,)), `output_step` tau.
    `directions`, for a bidirectional network, maps 'forward' and 'reverse' to the
    (spectral, frobenius) norms of the top layer's forward and backward output halves."""
    output_step: int
    step: np.ndarray
    log10_spectral_norm: np.ndarray
    log10_frobenius_norm: np.ndarray
    directions: Mapping[str, tuple]


def _norms(M, scale, warm, rng):
    """(log10 spectral, log10 Frobenius, warm start) of M * 10**scale."""
    frob = frobenius(M)
    if frob == 0 or scale == -np.inf:
        return -np.inf, -np.inf, warm
    sigma, warm = top_singular_value(M, warm, rng=rng)
    return np.log10(sigma) + scale, np.log10(frob) + scale, warm


def depth_flow(net, params, inputs, *, progress=None):
    """The depth x time map of a stack (or one cell) on one input sequence (T, D); zero
    initial states. Returns a `DepthFlow`. Raises ValueError for a bidirectional network."""
    net = layered(net)
    if net.directions != 1:
        raise ValueError("the depth x time map needs a network that runs forwards in time: a "
                         "bidirectional network's state at step t depends on later inputs "
                         "(use input_sensitivity)")
    inputs = check_inputs(inputs)
    run = forward(net, params, inputs)
    L, T = len(net.layers), len(inputs)
    cells = [layer[0].cell for layer in net.layers]
    ps = [layer_params(params, layer[0].end) for layer in net.layers]
    rows = [state_rows(cells[l], ps[l], cells[l].state_size(ps[l])) for l in range(L)]
    blocks = [_blocks(c, p) for c, p in zip(cells, ps)]  # each layer's named parts
    names = [name for name in blocks[-1] if all(name in b for b in blocks)]
    spec, frob = np.full((L, T), -np.inf), np.full((L, T), -np.inf)
    block_out = {name: (np.full((L, T), -np.inf), np.full((L, T), -np.inf)) for name in names}
    warm = {}
    rng = np.random.default_rng(0)  # the spectral norms' fresh Krylov columns: reproducible
    done = [0]

    def visit(l, c, t, lam):
        d = T - t
        M = lam.mantissa[:, rows[l]]
        spec[l, d], frob[l, d], warm[l] = _norms(M, lam.scale, warm.get(l), rng)
        for name in names:
            B = lam.mantissa[blocks[-1][name]][:, blocks[l][name]]
            (s_out, f_out) = block_out[name]
            s_out[l, d], f_out[l, d], warm[l, name] = _norms(B, lam.scale, warm.get((l, name)),
                                                             rng)
        done[0] += 1
        if progress is not None:
            progress(done[0])

    top = np.eye(cells[-1].state_size(ps[-1]))[rows[-1]]
    reverse_sweep(net, params, run, seed_state=(L - 1, 0, T, top), visit=visit)
    return DepthFlow(np.arange(L), np.arange(T), spec, frob, block_out)


def _blocks(cell, params):
    return dict(cell.blocks(params)) if hasattr(cell, "blocks") else {}


def input_sensitivity(net, params, inputs, output_step=None):
    """Norms of dy_tau / dx_t for t = 1..T on one input sequence (T, D), tau = `output_step`
    (1..T, the last step by default); zero initial states. Returns a `Sensitivity`."""
    net = layered(net)
    inputs = check_inputs(inputs)
    T = len(inputs)
    tau = T if output_step is None else int(output_step)
    if not 1 <= tau <= T:
        raise ValueError(f"output_step must lie between 1 and the length {T}, got {output_step}")
    run = forward(net, params, inputs)
    out = run.outputs.shape[1]
    halves = _halves(net, params, out)
    parts = {name: reverse_sweep(net, params, run, seed_output=(tau, np.eye(out)[cols]))
             for name, cols in halves.items()}
    rng = np.random.default_rng(0)
    spec, frob = np.full(T, -np.inf), np.full(T, -np.inf)
    directions = {name: (np.full(T, -np.inf), np.full(T, -np.inf)) for name in parts
                  if name != "whole"}
    warm = {}
    for t in range(T):
        pieces = [parts[name][t] for name in parts]
        top = max(p.scale for p in pieces)
        if top > -np.inf:
            M = np.vstack([p.mantissa * 10.0 ** (p.scale - top) if p.scale > -np.inf
                           else np.zeros_like(p.mantissa) for p in pieces])
            spec[t], frob[t], warm[None] = _norms(M, top, warm.get(None), rng)
        for name, (s_out, f_out) in directions.items():
            G = parts[name][t]
            s_out[t], f_out[t], warm[name] = _norms(G.mantissa, G.scale, warm.get(name), rng)
    return Sensitivity(tau, np.arange(1, T + 1), spec, frob, directions)


def _halves(net, params, out):
    """The rows of y to seed: all of them, or for a bidirectional network its top layer's
    forward and backward output halves, each seeded on its own (own scale, no underflow of
    one beside the other)."""
    if net.directions == 1:
        return {"whole": slice(None)}
    fwd = net.layers[-1][0]
    p = layer_params(params, fwd.end)
    width = len(range(fwd.cell.state_size(p))[output_slice(fwd.cell, p)])
    return {"forward": slice(0, width), "reverse": slice(width, out)}
