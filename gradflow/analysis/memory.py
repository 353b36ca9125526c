"""The curse of memory (Zucchet & Orvieto 2024): as a cell's memory lengthens, its state
Jacobian stops vanishing, but the sensitivity of its state to the parameter that sets the
memory explodes.

For the scalar linear recurrence h_t = lambda h_{t-1} + x_t driven by white unit-variance input
from h_0 = 0, h_T = sum_{k=0}^{T-1} lambda^k x_{T-k} and dh_T/dlambda = sum_{k>=1} k
lambda^(k-1) x_{T-k}, so

    E[(dh_T/dlambda)^2] = sum_{k=1}^{T-1} k^2 lambda^(2(k-1))  ->  (1 + lambda^2) / (1 - lambda^2)^3

(`closed_form`; 263.9 at lambda = 0.9): it grows like (1 - lambda)^-3 while E[h^2] =
1 / (1 - lambda^2) grows like (1 - lambda)^-1 only. The LRU's input normalisation
h_t = lambda h_{t-1} + gamma x_t, gamma = sqrt(1 - lambda^2), multiplies the input term by gamma;
gamma is a parameter of its own in the LRU (trained apart from lambda, as in the paper), so it is
held fixed while lambda is differentiated, and the sensitivity becomes gamma^2 times the above:
(1 + lambda^2) / (1 - lambda^2)^2 (`closed_form(..., normalized=True)`), one power of
(1 - lambda^2) less. (Tied to lambda, d gamma/d lambda = -lambda / gamma adds two terms and the
sum is exactly 1 / (1 - lambda^2)^2: no better.)

What `memory_curse` does, for each cell and target memory factor lambda (the factor per step of
the state Jacobian; memory timescale 1 / (1 - lambda)): it draws the cell's weights as
`gradflow.cells.initializers.init_params` does, then sets the parameters that carry memory from
one scalar, `memory_factor` = lambda (`MEMORY_KNOBS`):

  lru, lru_nogamma: `lru_cell(r_min=lambda, r_max=lambda)` with and without gamma, every
    |lambda_k| = lambda (nu_log = log(-log lambda)); the phases from the ring, gamma fixed.
  indrnn_linear: u = lambda (the identity-activation IndRNN; the relu of `indrnn` switches half
    the units off at each step, and all of them at zero input, so its factor is not lambda).
  indrnn: the relu IndRNN, u = lambda, for comparison.
  mingru: the z bias -logit(lambda), so 1 - z = lambda at zero input.
  minlstm: f bias logit(lambda), i bias -logit(lambda), so f' = f / (f + i) = lambda at zero input.
  rnn: the tanh RNN with W_hh = lambda Q, Q Haar-orthogonal (at zero input ds_t/ds_{t-1} =
    lambda Q, whose powers have norm lambda^d).
  lstm: the forget-gate bias logit(lambda) (f = lambda at zero input).
  gru: Cho's GRU with the update-gate bias -logit(lambda) (1 - z = lambda at zero input).

and measures, over `samples` i.i.d. N(0, 1) input sequences of length T = min(steps,
ceil(HORIZON / (1 - lambda))) (several timescales, capped):
  (a) the factor per step achieved: the rate fitted by `decay_profile` to the mean log10
      ||ds_T/ds_t||_2 (exactly lambda for the linear cells on any input, and at zero input for
      minGRU, minLSTM and the RNN; 0 for the relu IndRNN there; for the LSTM and GRU the
      spectral radius of lambda I + W_g / 4 and lambda I + (1 - lambda) W_n / 2, their recurrent
      weights adding to the gate);
  (b) the sensitivity: the mean over sequences of ||ds_T/dlambda||^2 / H, the derivative taken
      with respect to the scalar memory_factor through the parameters it sets (the other
      parameters fixed), per hidden unit H (for the diagonal cells, the mean over units of
      E[(dh_i/dlambda_i)^2], the paper's quantity; for the LRU |dh_i/d|lambda_i||^2 of the
      complex h_i, which the phase does not change), with its standard error.
For the linear diagonal cells the expected sensitivity is `closed_form` times the mean input
variance per unit (the mean of ||W_i||^2 over the rows of the input weights, 1 on average).

Reference:
  Zucchet & Orvieto (2024), Recurrent neural networks: vanishing and exploding gradients are not
  the end of the story. NeurIPS, arXiv:2405.21064.
"""

import math
from dataclasses import dataclass, field
from typing import Mapping

import autograd.numpy as anp
import numpy as np

from ..cells.builtin import get_cell
from ..cells.initializers import init_params, recurrent_block
from ..cells.lru import lru_cell
from ..cells.modern import indrnn, indrnn_linear, mingru, minlstm
from .decay import decay_profile
from .network import Network
from .parameters import parameter_sensitivity

__all__ = ["MEMORY_CELLS", "DEFAULT_MEMORY_CELLS", "DEFAULT_LAMBDAS", "HORIZON", "MEMORY_COLUMNS",
           "MemoryCurse", "closed_form", "memory_network", "memory_steps", "memory_curse",
           "memory_to_table", "memory_from_table"]

MEMORY_CELLS = ("lru", "lru_nogamma", "indrnn_linear", "indrnn", "mingru", "minlstm", "rnn",
                "lstm", "gru")
DEFAULT_MEMORY_CELLS = ("lru", "lru_nogamma", "indrnn_linear", "mingru", "rnn", "lstm", "gru")
DEFAULT_LAMBDAS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
HORIZON = 10  # timescales per sequence: lambda^(2T) = exp(-20), the finite-T sum has converged
MEMORY_COLUMNS = ("cell", "memory_factor", "steps", "factor_achieved", "sensitivity",
                  "sensitivity_se", "closed_form")


def closed_form(lam, steps=None, normalized=False):
    """E[(dh_T/dlambda)^2] for h_t = lambda h_{t-1} + gamma x_t, h_0 = 0, x white of unit
    variance, gamma = 1 or, `normalized`, sqrt(1 - lambda^2) held fixed: the finite sum
    gamma^2 sum_{k=1}^{T-1} k^2 lambda^(2(k-1)) for T = `steps`, its limit
    gamma^2 (1 + lambda^2) / (1 - lambda^2)^3 when `steps` is None. `lam` a float or array in
    [0, 1) (the limit) or [0, 1]."""
    lam = np.asarray(lam, dtype=float)
    gamma2 = 1 - lam ** 2 if normalized else 1.0
    if steps is None:
        return gamma2 * (1 + lam ** 2) / (1 - lam ** 2) ** 3
    k = np.arange(1, int(steps), dtype=float)
    return gamma2 * np.sum(k ** 2 * lam[..., None] ** (2 * (k - 1)), axis=-1)


def memory_steps(lam, steps):
    """T for memory factor `lam`: HORIZON timescales 1 / (1 - lam), at least 2, at most `steps`."""
    return int(min(steps, max(2, math.ceil(HORIZON / (1 - lam)))))


def _logit(p):
    return anp.log(p) - anp.log1p(-p)


def _replace_block(vector, block, H, value):
    """`vector` (G H,) with block `block` (H entries) set to `value` (a scalar, traced)."""
    parts = [vector[:block * H], value * anp.ones(H), vector[(block + 1) * H:]]
    return anp.concatenate(parts)


def _lru(normalize):
    def base(lam, H, D, rng):
        cell = lru_cell(r_min=lam, r_max=lam, normalize=normalize)
        return cell, cell.init_params(H, D, rng=rng)

    def knob(params, lam, H):
        return {**params, "nu_log": anp.log(-anp.log(lam)) * anp.ones(H)}
    return base, knob


def _drawn(cell):
    def base(lam, H, D, rng):
        return cell, init_params(cell, H, D, seed=rng)
    return base


def _rnn_base(lam, H, D, rng):
    cell = get_cell("rnn")
    params = init_params(cell, H, D, seed=rng)
    params["weight_hh"] = recurrent_block(H, "orthogonal", 1.0, rng)  # Q; the knob scales it
    return cell, params


# name -> (base(lam, H, D, rng) -> (cell, params), knob(params, lam, H) -> params)
MEMORY_KNOBS = {
    "lru": _lru(True),
    "lru_nogamma": _lru(False),
    "indrnn_linear": (_drawn(indrnn_linear),
                      lambda p, lam, H: {**p, "weight_hh": lam * anp.ones(H)}),
    "indrnn": (_drawn(indrnn), lambda p, lam, H: {**p, "weight_hh": lam * anp.ones(H)}),
    "mingru": (_drawn(mingru),
               lambda p, lam, H: {**p, "bias_ih": _replace_block(p["bias_ih"], 0, H,
                                                                 -_logit(lam))}),
    "minlstm": (_drawn(minlstm),
                lambda p, lam, H: {**p, "bias_ih": _replace_block(
                    _replace_block(p["bias_ih"], 0, H, _logit(lam)), 1, H, -_logit(lam))}),
    "rnn": (_rnn_base, lambda p, lam, H: {**p, "weight_hh": lam * p["weight_hh"]}),
    "lstm": (_drawn(get_cell("lstm")),
             lambda p, lam, H: {**p, "bias_ih": _replace_block(p["bias_ih"], 1, H, _logit(lam))}),
    "gru": (_drawn(get_cell("gru")),
            lambda p, lam, H: {**p, "bias_ih": _replace_block(p["bias_ih"], 1, H, -_logit(lam))}),
}


def _check(name, lam):
    if name not in MEMORY_KNOBS:
        raise ValueError(f"unknown cell {name!r}; choose from {', '.join(MEMORY_CELLS)}")
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.number)) \
            or not 0 < lam < 1:
        raise ValueError(f"memory factors must lie strictly between 0 and 1, got {lam!r}")


def memory_network(cell, lam, *, hidden=16, input_size=4, steps=1000, samples=20, seed=0):
    """The `Network` of `cell` (a name of MEMORY_CELLS) set to memory factor `lam` (module doc),
    whose one parameter is `memory_factor` (1,) = [lam]: the others are drawn from child 0 of
    SeedSequence(seed) and fixed. Its cell function carries `inner_cell`, the cell it runs, and
    `inner_params`, that cell's parameters as drawn (before the knob sets lambda). Its inputs
    are `samples` N(0, 1) sequences of `memory_steps(lam, steps)` steps. Raises ValueError for
    an unknown cell or lam outside (0, 1).
    """
    _check(cell, lam)
    base, knob = MEMORY_KNOBS[cell]
    H, D = hidden, input_size
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    inner, fixed = base(float(lam), H, D, rng)
    n = inner.state_size(fixed)

    def tuned(params, state, x):
        return inner(knob(fixed, params["memory_factor"][0], H), state, x)

    tuned.name = tuned.__name__ = cell
    tuned.state_size = lambda params: n
    tuned.hidden_size = lambda params: H
    tuned.input_size = lambda params: D
    tuned.recurrent_params = ("memory_factor",)
    tuned.inner_cell, tuned.inner_params = inner, fixed  # what it runs, at lambda = lam
    return Network(cell=tuned, params={"memory_factor": np.array([float(lam)])},
                   steps=memory_steps(lam, steps), samples=samples, seed=seed,
                   state0=np.zeros(n))


@dataclass(frozen=True)
class MemoryCurse:
    """One cell's curse-of-memory curves over the target memory factors.

    `memory_factor` (L,) the targets lambda, ascending; `steps` (L,) the T used for each;
    `factor_achieved` (L,) the fitted factor per step of ||ds_T/ds_t||_2; `sensitivity` (L,) the
    mean over sequences of ||ds_T/dlambda||^2 / H and `sensitivity_se` (L,) its standard error
    (sample standard deviation / sqrt(samples)); `closed_form` (L,) that of the scalar linear
    recurrence at the same T (module doc). `metadata`: hidden, input_size, samples, seed, steps
    (the cap).
    """
    cell: str
    memory_factor: np.ndarray
    steps: np.ndarray
    factor_achieved: np.ndarray
    sensitivity: np.ndarray
    sensitivity_se: np.ndarray
    closed_form: np.ndarray
    metadata: Mapping[str, object] = field(default_factory=dict)

    @property
    def timescale(self):
        """1 / (1 - lambda), the target memory timescale in steps."""
        return 1.0 / (1.0 - self.memory_factor)


def _measure(network):
    """(factor achieved, mean sensitivity per unit, its standard error) of one network."""
    rate = decay_profile(network).summary.rate
    result = parameter_sensitivity(network, wrt=("memory_factor",))
    per_sample = 10.0 ** (2 * result.total["memory_factor"]) / network.sizes()[0]
    se = per_sample.std(ddof=1) / np.sqrt(len(per_sample)) if len(per_sample) > 1 else np.nan
    return rate, float(per_sample.mean()), float(se)


def memory_curse(cells=DEFAULT_MEMORY_CELLS, lambdas=DEFAULT_LAMBDAS, *, hidden=16,
                 input_size=4, steps=1000, samples=20, seed=0, progress=None):
    """The curse of memory for each cell: a list of `MemoryCurse`, one per cell.

    Args:
      cells: names of MEMORY_CELLS. lambdas: target memory factors, each in (0, 1).
      hidden, input_size: H and D. steps: the cap on T (`memory_steps`). samples: input
        sequences per point (at least 2 for a standard error). seed: weights and inputs.
      progress: called with 1 after each (cell, lambda) point.

    Raises ValueError for an unknown cell, a factor outside (0, 1), or no cells or factors.
    """
    cells, lambdas = list(cells), sorted(float(v) for v in lambdas)
    if not cells or not lambdas:
        raise ValueError("give at least one cell and one memory factor")
    for name in cells:
        _check(name, 0.5)
    for lam in lambdas:
        _check(cells[0], lam)
    out = []
    for name in cells:
        rows = []
        for lam in lambdas:
            net = memory_network(name, lam, hidden=hidden, input_size=input_size, steps=steps,
                                 samples=samples, seed=seed)
            rows.append((net.length,) + _measure(net) + (float(closed_form(lam, net.length)),))
            if progress is not None:
                progress(1)
        T, rate, sens, se, closed = (np.array(c) for c in zip(*rows))
        out.append(MemoryCurse(cell=name, memory_factor=np.array(lambdas), steps=T.astype(int),
                               factor_achieved=rate, sensitivity=sens, sensitivity_se=se,
                               closed_form=closed,
                               metadata={"cell": name, "hidden": hidden,
                                         "input_size": input_size, "samples": samples,
                                         "seed": seed, "steps": steps}))
    return out


def memory_to_table(results):
    """A long `Table` (kind 'memory'): one row per cell and memory factor, columns
    MEMORY_COLUMNS; the metadata holds each cell's under 'cells'."""
    from ..io.results import Table

    columns = {name: [] for name in MEMORY_COLUMNS}
    for r in results:
        columns["cell"] += [r.cell] * len(r.memory_factor)
        for name in MEMORY_COLUMNS[1:]:
            columns[name] += np.asarray(getattr(r, name)).tolist()
    return Table({k: np.array(v) for k, v in columns.items()},
                 {"kind": "memory", "cells": {r.cell: dict(r.metadata) for r in results}})


def memory_from_table(table):
    """The `MemoryCurse`s of a memory table read back, one per cell in the order of the file,
    each sorted by memory factor. Raises ValueError naming the first missing column."""
    for name in MEMORY_COLUMNS:
        if name not in table.columns:
            raise ValueError(f"not a memory table: no column {name!r}")
    meta = table.metadata.get("cells", {}) or {}
    out = []
    for cell in dict.fromkeys(np.asarray(table.columns["cell"]).astype(str).tolist()):
        rows = table.where("cell", cell)
        get = {name: np.asarray(rows.columns[name], dtype=float) for name in MEMORY_COLUMNS[1:]}
        order = np.argsort(get["memory_factor"])
        get = {k: v[order] for k, v in get.items()}
        out.append(MemoryCurse(cell=cell, memory_factor=get["memory_factor"],
                               steps=get["steps"].astype(int),
                               factor_achieved=get["factor_achieved"],
                               sensitivity=get["sensitivity"],
                               sensitivity_se=get["sensitivity_se"],
                               closed_form=get["closed_form"],
                               metadata=dict(meta.get(cell, {"cell": cell}))))
    return out
