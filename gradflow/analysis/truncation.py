"""What truncated BPTT throws away: the cosine between the truncated and the full parameter
gradient, and the share of the gradient lost, against the truncation length k.

The setting is seed 003's character-level language model. The inputs are one-hot symbols of a
vocabulary of V = input_size symbols, drawn i.i.d. uniformly; a fixed linear readout
y_t = W_y out(s_t), W_y of shape (V, n_out) with i.i.d. N(0, 1/n_out) entries, where out(s) is
the cell's output: the h block of the LSTM (`cell.blocks(params)['h']`; any cell that names an
'h' block), else the network's own state (`primary`, which leaves out the past states a skip
connection carries). The loss at step tau is the softmax cross-entropy of y_tau against the next
symbol, L_tau = -log softmax(y_tau)[c_{tau+1}]. Two losses: 'last', L_T alone (a sequence
classified at its end), and 'sum', L_1 + ... + L_T (the language model's). The gradient is
taken with respect to the cell's parameters only (every key of `params`; the readout is fixed
and has no path through time) and summed over the `samples` sequences.

Truncation k is Williams & Peng's truncated BPTT with a window per loss term: the term L_tau
back-propagates through at most k steps, so the parameters' use at step t (computing s_t from
s_{t-1}) is counted for L_tau iff tau - k < t <= tau; k >= T is full BPTT. With the lag
j = tau - t and the contribution of lag j

    C_j = sum_tau dL_tau/ds_{tau-j} . d_theta s_{tau-j}      (d_theta: s_{tau-j-1} held fixed),

the truncated gradient is g_k = C_0 + ... + C_{k-1} and the full one g_T. All tau are carried
at once: lag j is one vector-Jacobian product of the cell over a batch of states, the step
tau - j of every loss term tau of every sequence, which gives C_j and the adjoints of lag
j + 1 together. That is T products per loss, over S T (T + 1) / 2 states in all for the summed
loss and S T for the last (S sequences); the memory is O(S T n) for the states and adjoints
plus one parameter vector per truncation length asked for. A skip connection's state carries
its last K states, so a window of k steps is k steps of the augmented state.

Seeds: the weights are the Network's (child 0 of SeedSequence(seed)). This analysis does not
use the Network's Gaussian input sequences; its own draws come from child 1 of
SeedSequence(seed) (the child that draws the Network's first Gaussian sequence, unused here):
that child's child 0 draws W_y, its child i the T + 1 symbols of sequence i (i = 1..samples),
so changing `samples` keeps the readout and the first sequences.

References:
  Williams & Peng (1990), An efficient gradient-based algorithm for on-line training of
  recurrent network trajectories. Sutskever (2013), Training recurrent neural networks (PhD
  thesis; truncation with the parameters k1 and k2). Tallec & Ollivier (2017), Unbiasing
  truncated backpropagation through time.
"""

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Sequence

import autograd.numpy as anp
import numpy as np
from autograd import elementwise_grad, make_vjp
from autograd.scipy.special import logsumexp

from ..engine.jacobians import primary_block

__all__ = ["LOSSES", "TRUNCATION_COLUMNS", "LanguageModel", "TruncatedGradients", "Truncation",
           "default_truncations", "language_model", "output_block", "truncated_gradients",
           "truncated_bptt", "keeps", "truncation_to_table", "truncation_from_table"]

LOSSES = ("last", "sum")
TRUNCATION_COLUMNS = ("cell", "loss", "truncation", "cosine", "lost_share")
_MANTISSAS = (1, 1.5, 2, 3, 4, 5, 6, 8)  # about eight points per decade on a log axis


class LanguageModel(NamedTuple):
    """The language model's draws: `symbols` (samples, T + 1) ints in [0, V), the inputs
    x_t = onehot(symbols[:, t - 1]) for t = 1..T and the targets symbols[:, t]; `readout` W_y
    (V, n_out)."""
    symbols: np.ndarray
    readout: np.ndarray


class TruncatedGradients(NamedTuple):
    """The parameter gradients of one loss: `truncations` (K,) the lengths k, `kept` (K, P)
    g_k, `lost` (K, P) g_T - g_k (summed from the lags beyond k, not subtracted), `full` (P,)
    g_T; P the parameters flattened key by key in sorted key order (`keys`)."""
    truncations: np.ndarray
    kept: np.ndarray
    lost: np.ndarray
    full: np.ndarray
    keys: Sequence[str]


@dataclass(frozen=True)
class Truncation:
    """One network's truncation curves.

    cell: its name; losses: ('last', 'sum') or one of them; truncations: (K,) the lengths k,
    increasing; cosine, lost_share: (len(losses), K), cos(g_k, g_T) and ||g_T - g_k|| / ||g_T||
    (nan where g_T = 0); metadata: the Network's, with the language model's settings.
    """
    cell: str
    losses: Sequence[str]
    truncations: np.ndarray
    cosine: np.ndarray
    lost_share: np.ndarray
    metadata: Mapping[str, object] = field(default_factory=dict)


def default_truncations(T):
    """A spread of k from 1 to T, T included: 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, ... (about eight
    per decade, evenly spread on a log axis)."""
    ks = {int(m * 10 ** d) for d in range(len(str(T))) for m in _MANTISSAS}
    return np.array(sorted(k for k in ks | {T} if 1 <= k <= T))


def output_block(cell, params):
    """The entries of the cell's state its readout sees: the 'h' block where the cell names one
    (the LSTM), else the network's own state (`primary`), else the whole state. A stack of
    layers (`gradflow.cells.layers.stack`) gives a function of the state instead: its output,
    the top layer's plus, with identity connections between layers, those below."""
    if hasattr(cell, "output"):
        return lambda state: cell.output(params, state)
    blocks = cell.blocks(params) if hasattr(cell, "blocks") else {}
    return blocks["h"] if "h" in blocks else primary_block(cell, params)


def language_model(network, n_out):
    """The symbols and the readout of `network`'s language model (module docstring, Seeds);
    `n_out` the size of the readout's input."""
    _, vocabulary = network.sizes()
    draws = np.random.SeedSequence(network.seed).spawn(2)[1].spawn(network.samples + 1)
    readout = np.random.default_rng(draws[0]).standard_normal((vocabulary, n_out)) \
        / np.sqrt(n_out)
    symbols = np.stack([np.random.default_rng(c).integers(vocabulary, size=network.length + 1)
                        for c in draws[1:]])
    return LanguageModel(symbols, readout)


def _flat(grads, keys):
    return np.concatenate([np.ravel(grads[k]) for k in keys])


def truncated_gradients(cell, params, inputs, targets, readout, *, state0, truncations,
                        loss="sum", out=slice(None), progress=None):
    """The truncated parameter gradients g_k of the language-model loss, for every k at once.

    Args:
      cell: a cell `cell(params, state, x)` that takes batches (..., n) and (..., D).
      params: its parameters (dict of arrays); the gradient is taken with respect to all.
      inputs: (S, T, D) S input sequences (one-hot symbols, or any inputs).
      targets: (S, T) ints in [0, V): the class the readout should give at each step.
      readout: (V, n_out) the fixed readout W_y, applied to state[..., out].
      state0: (n,) the initial state of every sequence.
      truncations: lengths k >= 1 (any order; k > T is the same as T).
      loss: 'last' (L_T) or 'sum' (L_1 + ... + L_T); the gradient is summed over sequences.
      out: the slice of the state the readout sees, or a function of the state giving it
        (`output_block`).
      progress: called with the number of lags done (T in all).

    Returns:
      `TruncatedGradients`, its rows in the order of sorted(set(truncations)).

    Raises ValueError for an unknown loss, an empty or non-positive truncation, or states or
    gradients that are not finite.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    ks = np.array(sorted({int(k) for k in truncations}))
    if ks.size == 0 or ks[0] < 1:
        raise ValueError(f"truncation lengths must be at least 1, got {list(truncations)}")
    inputs = np.swapaxes(np.asarray(inputs, dtype=float), 0, 1)  # (T, S, D): time first
    targets = np.asarray(targets).T
    T, S = inputs.shape[:2]
    keys = sorted(params)
    states = np.empty((T + 1, S) + np.shape(state0))
    states[0] = state0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            states[t + 1] = cell(params, states[t], inputs[t])
    if not np.all(np.isfinite(states)):
        t = int(np.argmin(np.all(np.isfinite(states.reshape(T + 1, -1)), axis=1)))
        raise ValueError(f"the state is not finite at step {t}: the forward pass overflowed")

    first = 1 if loss == "sum" else T  # the first step whose loss counts
    adjoint = _loss_gradient(states[first:], targets[first - 1:], readout, out)

    segments = np.zeros((len(ks) + 1, sum(np.size(params[k]) for k in keys)))
    low = first  # adjoint holds dL_tau/ds_t for the steps t = low..T - j, tau = t + j
    for j in range(T):
        rows = slice(low - 1, T - j)  # the steps t - 1 whose states feed steps low..T - j
        prev, x = states[rows], inputs[low - 1:T - j]
        batch = prev.shape[:2]

        def step(args, x=x.reshape((-1,) + x.shape[2:])):
            return cell(args[0], args[1], x)

        vjp, _ = make_vjp(step)((params, prev.reshape((-1,) + prev.shape[2:])))
        d_params, d_prev = vjp(adjoint.reshape((-1,) + adjoint.shape[2:]))
        segments[np.searchsorted(ks, j, side="right")] += _flat(d_params, keys)
        d_prev = d_prev.reshape(batch + d_prev.shape[1:])
        adjoint = d_prev[1:] if low == 1 else d_prev  # dL/ds_0 is no parameter's concern
        low = max(low - 1, 1)
        if progress is not None:
            progress(j + 1)
    if not np.all(np.isfinite(segments)):
        raise ValueError("the gradient is not finite: the backward pass overflowed")
    kept = np.cumsum(segments, axis=0)[:-1]  # g_k: the lags below k
    lost = np.cumsum(segments[::-1], axis=0)[::-1][1:]  # g_T - g_k: the lags from k on
    return TruncatedGradients(ks, kept, lost, kept[-1] + lost[-1], keys)


def _loss_gradient(states, targets, readout, out):
    """dL_tau/ds_tau for each given step: (steps, S, n) from states (steps, S, n) and targets
    (steps, S); autograd differentiates the softmax cross-entropy of the readout."""
    readout = np.asarray(readout)
    picked = np.eye(len(readout))[targets]  # (steps, S, V) one-hot of the targets

    def total(h):
        logits = anp.dot(h, readout.T)
        return anp.sum(logsumexp(logits, axis=-1) - anp.sum(logits * picked, axis=-1))

    if callable(out):  # a stack's output, a function of the whole state
        return elementwise_grad(lambda s: total(out(s)))(states)
    adjoint = np.zeros_like(states)
    adjoint[..., out] = elementwise_grad(total)(states[..., out])
    return adjoint


def truncated_bptt(network, truncations=None, losses=LOSSES, *, progress=None):
    """What truncated BPTT throws away, for `network` in the language-model setting.

    Args:
      network: a `gradflow.analysis.network.Network` with drawn inputs (its `input_size` is
        the vocabulary V; its Gaussian inputs are replaced by one-hot symbols, module
        docstring); trained weights are fine.
      truncations: lengths k, each 1 <= k <= T [default: `default_truncations(T)`].
      losses: 'last', 'sum' or both, each at most once.
      progress: called with the number of lags done over all losses (T per loss).

    Returns:
      A `Truncation`.

    Raises ValueError for a Network with a fixed input sequence, an unknown or repeated loss,
    and truncation lengths outside 1..T or repeated.
    """
    T = network.length
    if network.inputs is not None:
        raise ValueError("truncated BPTT draws its own one-hot symbols: give a Network without "
                         "fixed inputs")
    losses = tuple(losses)
    if not losses:
        raise ValueError("give at least one loss")
    for i, loss in enumerate(losses):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
        if loss in losses[:i]:
            raise ValueError(f"loss {loss!r} is given twice")
    ks = default_truncations(T) if truncations is None else np.asarray(truncations, dtype=int)
    if ks.size == 0:
        raise ValueError("give at least one truncation length")
    if ks.min() < 1 or ks.max() > T:
        bad = ks[(ks < 1) | (ks > T)][0]
        raise ValueError(f"truncation length {bad} is outside 1..T = 1..{T}")
    if len(set(ks.tolist())) < ks.size:
        raise ValueError(f"truncation lengths are repeated: {ks.tolist()}")
    built = network.build()
    out = output_block(built.cell, built.params)
    n_out = np.shape(out(built.state0))[-1] if callable(out) else \
        len(range(*out.indices(len(built.state0))))
    lm = language_model(network, n_out)
    vocabulary = len(lm.readout)
    inputs = np.eye(vocabulary)[lm.symbols[:, :-1]]
    cosine, lost_share = [], []
    for i, loss in enumerate(losses):
        tick = None if progress is None else (lambda j, base=i * T: progress(base + j))
        g = truncated_gradients(built.cell, built.params, inputs, lm.symbols[:, 1:],
                                lm.readout, state0=built.state0, truncations=ks, loss=loss,
                                out=out, progress=tick)
        full = np.linalg.norm(g.full)
        kept = np.linalg.norm(g.kept, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(kept * full > 0, g.kept @ g.full / (kept * full), np.nan)
            lost = np.where(full > 0, np.linalg.norm(g.lost, axis=1) / full, np.nan)
        cosine.append(cos)
        lost_share.append(lost)
    metadata = {**network.metadata(), "inputs": "iid uniform one-hot symbols",
                "task": "character-level language model (seed 003)", "vocabulary": vocabulary,
                "readout": f"fixed W_y ({vocabulary}, {n_out}) ~ N(0, 1/{n_out})",
                "loss_function": "softmax cross-entropy against the next symbol",
                "truncation": "per loss term (Williams & Peng): L_tau back-propagates k steps"}
    return Truncation(cell=built.name, losses=losses, truncations=g.truncations,
                      cosine=np.array(cosine), lost_share=np.array(lost_share),
                      metadata=metadata)


def keeps(result, loss, level=0.9):
    """The smallest k of `result`'s grid from which the cosine stays at least `level` (for
    that k and every larger one in the grid); None when even the largest k falls short."""
    cos = result.cosine[list(result.losses).index(loss)]
    below = np.flatnonzero(~(cos >= level))  # nan counts as short
    if below.size == 0:
        return int(result.truncations[0])
    if below[-1] + 1 == len(cos):
        return None
    return int(result.truncations[below[-1] + 1])


def truncation_to_table(results):
    """A long `Table` (kind 'truncation'): one row per network, loss and k.

    Columns TRUNCATION_COLUMNS: cell (its name, e.g. 'lstm' or 'rnn+skip:4'), loss ('last' or
    'sum'), truncation (k), cosine (cos(g_k, g_T)) and lost_share (||g_T - g_k|| / ||g_T||).
    The metadata holds each network's metadata under 'cells'.
    """
    from ..io.results import Table

    columns = {name: [] for name in TRUNCATION_COLUMNS}
    for r in results:
        for i, loss in enumerate(r.losses):
            K = len(r.truncations)
            columns["cell"] += [r.cell] * K
            columns["loss"] += [loss] * K
            columns["truncation"] += r.truncations.tolist()
            columns["cosine"] += r.cosine[i].tolist()
            columns["lost_share"] += r.lost_share[i].tolist()
    return Table({k: np.array(v) for k, v in columns.items()},
                 {"kind": "truncation", "cells": {r.cell: dict(r.metadata) for r in results}})


def truncation_from_table(table):
    """The `Truncation`s of a truncation table read back, one per cell in the order of the file.

    Raises ValueError naming the first required column that is missing, or a network whose
    losses do not share one list of truncation lengths.
    """
    for name in TRUNCATION_COLUMNS:
        if name not in table.columns:
            raise ValueError(f"not a truncation table: no column {name!r}")
    meta = table.metadata.get("cells", {}) or {}
    results = []
    for cell in dict.fromkeys(np.asarray(table.columns["cell"]).astype(str).tolist()):
        rows = table.where("cell", cell)
        losses = tuple(dict.fromkeys(np.asarray(rows.columns["loss"]).astype(str).tolist()))
        unknown = [loss for loss in losses if loss not in LOSSES]
        if unknown:
            raise ValueError(f"unknown loss {unknown[0]!r} for cell {cell!r}")
        per_loss = [rows.where("loss", loss) for loss in losses]
        ks = [np.asarray(r.columns["truncation"], dtype=int) for r in per_loss]
        if any(len(k) != len(ks[0]) or np.any(k != ks[0]) for k in ks):
            raise ValueError(f"cell {cell!r}: the losses have different truncation lengths")
        order = np.argsort(ks[0])
        results.append(Truncation(
            cell=cell, losses=losses, truncations=ks[0][order],
            cosine=np.array([np.asarray(r.columns["cosine"], dtype=float)[order]
                             for r in per_loss]),
            lost_share=np.array([np.asarray(r.columns["lost_share"], dtype=float)[order]
                                 for r in per_loss]),
            metadata=dict(meta.get(cell, {"cell": cell}))))
    return results
