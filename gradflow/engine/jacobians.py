"""Jacobian products ds_T/ds_t across time, their norms at every distance, Lyapunov exponents.

The step Jacobian J_t = ds_t/ds_{t-1} comes from autograd differentiating the cell
(`gradflow.engine.linearization`). The product P_d = ds_T/ds_{T-d} = J_T J_{T-1} ... J_{T-d+1} is
accumulated backwards from T, kept at unit Frobenius norm, with its log10 scale carried
separately: nothing overflows or underflows at any length. Memory is O(T n + n^2): the states
are kept, the Jacobians are not. Spectral norms come from `gradflow.engine.spectral_norm`.

References:
  Pascanu, Mikolov & Bengio (2013), On the difficulty of training recurrent neural networks.
  Benettin, Galgani, Giorgilli & Strelcyn (1980), Lyapunov characteristic exponents for smooth
  dynamical systems; a method for computing all of them.
"""

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Mapping, NamedTuple, Optional

import numpy as np
from scipy.linalg import lapack

from ..cells.feedforward import PerStep, params_at
from .linearization import Linearization, NotDifferentiableError, step_jacobian
from .spectral_norm import (frobenius, singular_values, top_singular_value,
                            top_singular_values)
from .unroll import default_state, run

__all__ = ["Linearization", "NotDifferentiableError", "step_jacobian", "top_singular_value",
           "Scaled", "BlockNorms", "GradientFlow", "gradient_flow", "lyapunov_spectrum",
           "default_blocks", "trajectory", "tangent_map", "check_inputs", "step_jacobians",
           "chunk_steps", "SparseProduct", "CHUNK_BYTES"]

CHUNK_BYTES = 256 * 2 ** 20  # default memory for one chunk of step Jacobians
_CHUNK_COPIES = 8           # n x n arrays per step of a chunk: Jacobians, tangents, products
_MAX_CHUNK = 64             # longer chunks gain nothing and lose the cache
_CHUNK_NUMBERS = 2 ** 19    # K n^2 at most (4 MiB of Jacobians), except that K >= 2


class Scaled(NamedTuple):
    """An array held as `mantissa * 10**log10_scale`, so that a product of thousands of
    Jacobians neither overflows nor underflows.

    For one product ds_T/ds_t: `mantissa` (n, n) has Frobenius norm 1 and `log10_scale` is a
    float. For the loss gradients: `mantissa` (T, n) has unit rows and `log10_scale` (T,) is
    log10 of each row's norm (-inf for an exactly zero gradient, whose row is zero).
    """
    mantissa: np.ndarray
    log10_scale: object

    def value(self):
        """The array itself, `mantissa * 10**log10_scale`: it may overflow to inf or underflow
        to 0 where the scale is beyond float64's range (about +-308)."""
        scale = np.asarray(self.log10_scale, dtype=float)
        scale = scale[..., None] if scale.ndim else scale
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            factor = 10.0 ** scale
            direct = self.mantissa * factor
            # Where the factor alone over- or underflows, add the logs instead (0 stays 0).
            logs = np.sign(self.mantissa) * 10.0 ** (np.log10(np.abs(self.mantissa)) + scale)
        exact = np.isfinite(factor) & (factor > 0)
        return np.where(exact, direct, np.where(self.mantissa == 0, 0.0, logs))


class BlockNorms(NamedTuple):
    """log10 norms of one diagonal block of ds_T/ds_t (e.g. the LSTM's dc_T/dc_t), shape (T,)."""
    log10_spectral_norm: np.ndarray
    log10_frobenius_norm: np.ndarray


@dataclass(frozen=True)
class GradientFlow:
    """How ds_T/ds_{T-d} behaves at every distance d = 1..T.

    Arrays have shape (T,) and are indexed by `distance` = [1, ..., T]. Norms are log10 and
    -inf where the product is exactly zero. `blocks` maps a block name (for the LSTM 'h' and
    'c') to its norms. `singular_values` maps a distance to the log10 singular values of the
    product there, descending. `products` maps a distance d to ds_T/ds_{T-d} as a `Scaled`
    (n, n) matrix. `loss_gradients`, when asked for, is a `Scaled` (T, n) whose row d - 1 is
    dL/ds_{T-d} = dL/ds_T ds_T/ds_{T-d}. `states` (T+1, n) is the forward trajectory
    s_0, ..., s_T (for a skip connection of length k, the network's own states, without the
    past states the augmented state carries).
    """
    distance: np.ndarray
    log10_spectral_norm: np.ndarray
    log10_frobenius_norm: np.ndarray
    log10_loss_gradient_norm: np.ndarray
    blocks: Mapping[str, BlockNorms] = field(default_factory=dict)
    singular_values: Mapping[int, np.ndarray] = field(default_factory=dict)
    states: Optional[np.ndarray] = None
    products: Mapping[int, Scaled] = field(default_factory=dict)
    loss_gradients: Optional[Scaled] = None


def default_blocks(cell, params):
    """The named diagonal blocks a cell reports besides the whole: its `blocks(params)`, e.g.
    the LSTM's 'h' and 'c'. (A skip connection's whole augmented product is not among them:
    it costs k times as much as ds_T/ds_t; ask for it with blocks={'augmented': slice(None)}.)"""
    return dict(cell.blocks(params_at(params, 0))) if hasattr(cell, "blocks") else {}


def primary_block(cell, params):
    """The part of the state that is the network's state s_t: all of it, except for a cell
    that carries past states along (a skip connection of length k > 1), whose
    `primary(params)` says which entries are s_t."""
    return cell.primary(params_at(params, 0)) if hasattr(cell, "primary") else slice(None)


def state_rows(cell, params, n):
    """The indices of the network's state s_t among the n entries of the cell's state (all of
    them, less the past states that skip connections carry along): the rows and columns
    ds_T/ds_t is reported on, and the length of a loss vector dL/ds_T."""
    return np.arange(n)[primary_block(cell, params)]


def square_block(Ps, sel):
    """Ps[..., sel, sel] for a slice or an index array `sel` (a stack whose layers carry past
    states: the layers' own states are not contiguous)."""
    if isinstance(sel, slice):
        return Ps[..., sel, sel]
    return Ps[..., sel, :][..., sel]


def gradient_flow(cell, params, inputs=None, state0=None, *, steps=None, loss_grad=None,
                  blocks=None, spectrum_at=(), products_at=(), keep_loss_gradients=False,
                  chunk_bytes=CHUNK_BYTES, progress: Optional[Callable[[int], None]] = None):
    """Norms of the Jacobian products ds_T/ds_t for every t, from one forward and one backward sweep.

    For a cell that carries past states along (a skip connection of length k, see
    `gradflow.cells.skips`) the product is that of the augmented Jacobians, and what is reported
    as ds_T/ds_t is its block on the network's state (`cell.primary`): s_t perturbed alone,
    every path to s_T counted.

    Args:
      cell: `cell(params, state, x) -> state`, built in or written in autograd.numpy.
      params: the cell's parameters (dict of arrays), or parameters that change with the step,
        `PerStep([p_1, ..., p_T])` (a deep feed-forward network, `gradflow.cells.feedforward`).
      inputs: (T, D) input sequence; None for a cell without input (an autonomous map
        s_t = f(s_{t-1}), which is then called with x = None), with `steps` = T.
      state0: (n,) initial state; zeros by default for a built-in cell, required otherwise.
      steps: the length T when there are no inputs (must equal len(inputs) otherwise).
      loss_grad: (n,) dL/ds_T whose pull-back dL/ds_t = dL/ds_T ds_T/ds_t is reported; by
        default the unit vector (1, ..., 1) / sqrt(n).
      blocks: {name: slice} diagonal blocks of the product to report as well; by default the
        LSTM's 'h' (dh_T/dh_t, the total derivative BPTT propagates) and 'c' (the cell highway).
        For a skip connection of length k > 1, {'augmented': slice(None)} reports the whole
        augmented product as well, at k times the cost: without it (and without
        `products_at` and `spectrum_at`) only the product's rows of s_T are carried.
      spectrum_at: distances at which to keep all singular values of the product, from a QR
        chain of the product (Benettin's method), accurate far below the largest one.
      products_at: distances d at which to keep the product ds_T/ds_{T-d} itself (of the
        whole state; for a skip connection the augmented product, whose top-left n x n block
        is ds_T/ds_{T-d}).
      keep_loss_gradients: keep every vector dL/ds_t, not only its norm (T n numbers).
      chunk_bytes: memory for the step Jacobians evaluated at once (`chunk_steps`); the
        numbers do not depend on it beyond rounding.
      progress: called with the number of backward steps done, for a progress bar.

    Returns:
      A `GradientFlow`.

    Raises:
      ValueError for inputs that are not a finite (T, D) array, NotDifferentiableError for a
      cell autograd cannot differentiate, FloatingPointError when a step Jacobian is not
      finite (naming the first step at which the forward pass stopped being finite).
    """
    inputs, state0, states = trajectory(cell, params, inputs, state0, steps)
    T, n = len(inputs), state0.shape[-1]
    blocks = default_blocks(cell, params) if blocks is None else dict(blocks)
    primary = primary_block(cell, params)
    g = _loss_vector(loss_grad, len(state_rows(cell, params, n)))
    spectrum_at = _distances(spectrum_at, T, "spectrum_at")
    products_at = _distances(products_at, T, "products_at")

    linear = Linearization(cell, params)
    rng = np.random.default_rng(0)  # the spectral norms' fresh Krylov columns: reproducible
    # Only the rows of the product that a reported norm reads are carried: for a skip
    # connection of length k, the n rows of s_T out of the k n of the augmented state.
    rows = n if products_at or spectrum_at else _rows_read(n, primary, blocks)
    P = None             # rows of ds_T/ds_{T-d} divided by 10**scale, Frobenius norm 1
    scale = 0.0          # log10 of the factor divided out of P
    norms = _Norms(T, primary, blocks, g, keep_loss_gradients, rng)
    spectra, products = {}, {}
    # For the full spectrum, P_d^T is also kept as Q R: J^T Q = Q' R', R <- R' R. The graded
    # triangular R keeps the small singular values that rounding erases from P itself.
    eye = np.eye(n)
    chain = (eye, eye, 0.0) if spectrum_at else None
    K = chunk_steps(n, chunk_bytes)
    plan = SparseProduct()
    buffer, scales = np.empty((K, rows, n)), np.empty(K)  # one chunk of products, reused
    d = 0
    zero = False
    for Js in step_jacobians(linear, states, inputs, K, reverse=True):
        first, done = d + 1, 0  # the chunk's first distance; its non-zero products
        multiply = plan(Js)
        for J in Js:
            d += 1
            out = buffer[done]
            if P is None:
                out[...] = J[:rows]
            else:
                multiply(P, J, out)
            frob = frobenius(out)
            if not np.isfinite(frob):
                raise FloatingPointError(_not_finite(states, inputs, T - d))
            if frob == 0:
                zero = True
                break
            out /= frob
            scale += np.log10(frob)
            P, scales[done] = out, scale
            done += 1
            if d in products_at:
                products[d] = Scaled(out.copy(), float(scale))
            if chain is not None and d <= max(spectrum_at):
                chain = _qr_chain_step(chain, J)
                if d in spectrum_at:
                    spectra[d] = _log10_svals(chain[1]) + chain[2]
        norms.record(buffer[:done], scales[:done], first)
        if zero:
            # an exactly zero product stays zero: -inf at this and every longer distance
            products.update({k: Scaled(np.zeros((n, n)), -np.inf) for k in products_at if k >= d})
            spectra.update({k: np.full(n, -np.inf) for k in spectrum_at if k >= d})
            break
        P = P.copy()  # the buffer is overwritten by the next chunk
        if progress is not None:
            progress(d)
    return GradientFlow(
        distance=np.arange(1, T + 1),
        log10_spectral_norm=norms.spec,
        log10_frobenius_norm=norms.frob,
        log10_loss_gradient_norm=norms.loss,
        blocks={name: BlockNorms(*arrays) for name, arrays in norms.blocks.items()},
        singular_values=spectra,
        states=states.own,
        products=products,
        loss_gradients=None if norms.gradients is None else Scaled(norms.gradients,
                                                                    norms.loss.copy()),
    )


def trajectory(cell, params, inputs=None, state0=None, steps=None):
    """Check the inputs and run the cell: (inputs, state0, states), states a `Trajectory`
    (indexed like the array of s_0, ..., s_T).

    `inputs` (T, D) must be finite; None means a cell without input, run for `steps` steps with
    x = None (then `inputs` is returned as a list of T Nones). Raises ValueError naming the
    first non-finite input.
    """
    if not callable(cell):
        raise ValueError(f"{getattr(cell, 'name', cell)} is not a cell: a bidirectional network's "
                         "state at step t depends on later inputs, so it has no step Jacobian "
                         "ds_t/ds_(t-1); analyse it by its input sensitivity")
    inputs = check_inputs(inputs, steps)
    if isinstance(params, PerStep) and len(params) != len(inputs):
        raise ValueError(f"the parameters are given for {len(params)} steps, the sequence has "
                         f"{len(inputs)}")
    state0 = default_state(cell, params) if state0 is None else np.asarray(state0, dtype=float)
    if not np.all(np.isfinite(state0)):
        raise ValueError("state0 is not finite")
    return inputs, state0, run(cell, params, inputs, state0)


def check_inputs(inputs=None, steps=None):
    """A finite (T, D) float array from `inputs`, or for None (a cell without input) a list of
    `steps` Nones. Raises ValueError naming the first non-finite input."""
    if inputs is None:
        if steps is None or int(steps) < 1:
            raise ValueError(f"without inputs, give the number of steps (>= 1), got {steps}")
        inputs = [None] * int(steps)
    else:
        inputs = np.asarray(inputs, dtype=float)
        if inputs.ndim != 2 or len(inputs) == 0:
            raise ValueError(f"inputs must have shape (T, D) with T >= 1, got {inputs.shape}")
        if steps is not None and int(steps) != len(inputs):
            raise ValueError(f"steps={steps} does not match the {len(inputs)} input rows")
        bad = np.argwhere(~np.isfinite(inputs))
        if len(bad):
            t, i = (int(v) for v in bad[0])
            raise ValueError(f"inputs[{t}, {i}] = {inputs[t, i]}: the input at step {t + 1} "
                             "is not finite")
    return inputs


def tangent_map(linear, states, inputs, t, tangents, finite):
    """J_{t+1} t_i for the rows t_i of `tangents`, J_{t+1} = ds_{t+1}/ds_t at (s_t, x_{t+1}).

    `finite` (T+1,) says which states are finite. A Jacobian taken at a state that overflowed
    is used only if it does not depend on the state (a linear recurrence, whose exploding
    trajectory is still well defined): a nonlinear cell evaluated at inf or nan gives numbers
    without meaning (relu at nan has slope 0), so FloatingPointError names the first step at
    which the forward pass stopped being finite.
    """
    out = linear(states[t], inputs[t], tangents, t)
    if not finite[t]:
        with np.errstate(all="ignore"):
            same = np.array_equal(out, linear(states[0], inputs[t], tangents, t))
        if not same:
            raise FloatingPointError(_not_finite(states, inputs, t))
    return out


def _not_finite(states, inputs, t):
    finite = states.finite
    if finite.all():
        return (f"the Jacobian ds_{t + 1}/ds_{t} is not finite at the state s_{t} (|s_{t}| = "
                f"{frobenius(states[t]):.3g}): the cell's derivative overflows there")
    k = int(np.argmin(finite))
    return (f"the Jacobian ds_{t + 1}/ds_{t} has no meaning: the forward pass is not finite "
            f"from step {k} on (|s_{k - 1}| = {frobenius(states[k - 1]):.3g}, then s_{k} has "
            "inf or nan)")


def _rows_read(n, primary, blocks):
    """How many leading rows of an n x n product the norms of `primary` and `blocks` read."""
    return max(int(np.arange(n)[sl].max(initial=-1)) + 1 for sl in (primary, *blocks.values()))


def _loss_vector(loss_grad, n):
    if loss_grad is None:
        return np.full(n, 1 / np.sqrt(n))
    g = np.asarray(loss_grad, dtype=float)
    if g.shape != (n,):
        raise ValueError(f"loss_grad must have shape ({n},) like the state, got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("loss_grad is not finite")
    return g


def _distances(distances, T, what):
    out = {int(d) for d in distances}
    if out and not 1 <= min(out) <= max(out) <= T:
        raise ValueError(f"{what}: distances must lie between 1 and the length {T}, "
                         f"got {sorted(out)}")
    return out


def chunk_steps(n, chunk_bytes=CHUNK_BYTES):
    """How many step Jacobians of an n-state are evaluated at once: as many as `chunk_bytes`
    holds (about 8 n x n arrays per step: the Jacobians, the gates' tangents, the products),
    at most 64, and at most 2^19 / n^2 (but 2) so that a chunk of Jacobians stays near 4 MiB:
    longer chunks save little fixed cost per call and lose the cache (measured: the LSTM at
    n = 256 takes 1.6x as long per step with K = 64 as with K = 8 to 16). At least 1 (one
    step at a time, the route of `tangent_map`)."""
    fits = chunk_bytes // (8 * _CHUNK_COPIES * n * n)
    return int(np.clip(min(fits, max(2, _CHUNK_NUMBERS // (n * n))), 1, _MAX_CHUNK))


def step_jacobians(linear, states, inputs, K, *, reverse=False):
    """The step Jacobians J_1, ..., J_T (J_t = ds_t/ds_{t-1}, n_out x n), in chunks of up to K
    steps, each an array (k, n_out, n): in time order, or with `reverse` from J_T down to J_1.

    A chunk of finite states is evaluated in one call (`Linearization.steps`); otherwise (a
    state that overflowed, a cell that does not broadcast over steps, parameters per step, or
    K = 1) one step at a time through `tangent_map`, which says where the forward pass stopped
    being finite.
    """
    T, finite = len(inputs), states.finite
    starts = range(0, T, K)
    for lo in reversed(starts) if reverse else starts:
        hi = min(T, lo + K)
        Js = None
        if hi - lo > 1 and finite[lo:hi].all():
            Js = linear.steps(states.window(lo, hi), inputs[lo:hi], lo)
        if Js is None:
            eye = np.eye(len(states[lo]))
            Js = np.stack([tangent_map(linear, states, inputs, t, eye, finite).T
                           for t in range(lo, hi)])
        yield Js[::-1] if reverse else Js


_SPARSE_ROWS = 2  # a column of J with at most this many non-zero rows is multiplied by hand
_MAX_GROUPS = 16  # runs of such columns, each one numpy call per step


class SparseProduct:
    """`plan(Js)` -> `multiply(P, J, out)`, out = P J for the step Jacobians J of the chunk Js
    (k, n_out, n), chunk after chunk (`_product`); the plan is made again only when the
    pattern of non-zeros changes (for most cells it never does)."""

    def __init__(self):
        self.pattern, self.multiply = None, None

    def __call__(self, Js):
        nonzero = (Js != 0).any(axis=0)
        if self.pattern is None or not np.array_equal(nonzero, self.pattern):
            self.pattern, self.multiply = nonzero, _product(nonzero)
        return self.multiply


def _product(nonzero):
    """`multiply(P, J, out)`: out = P J for step Jacobians J (n_out, n) whose non-zeros lie
    where `nonzero` (n_out, n) is True (those of a chunk of steps).

    Columns of J that have at most two non-zero rows in every step of the chunk, each on a
    diagonal of J (the LSTM's cell columns, diag(f) under diag(o tanh'(c) f); the shifted
    copies of past states in a skip connection's augmented state, and a diagonal skip weight;
    zero columns) are formed as sums of columns of P times those diagonals, O(n) each; only
    the other columns go through BLAS, a run of consecutive columns at a time, and only with
    the rows of J that have several non-zeros in the run (`_dense_part`). The LSTM's product
    then costs half a matrix product, a skip connection of length k about 1/k^2 of one (the
    base cell's block alone). The sums are the same, only the order of the additions differs.
    """
    counts = np.count_nonzero(nonzero, axis=0)
    sparse = np.flatnonzero(counts <= _SPARSE_ROWS)
    dense = _runs(np.flatnonzero(counts > _SPARSE_ROWS))
    if 4 * len(sparse) < nonzero.shape[1] or len(dense) > _MAX_GROUPS:  # not worth it
        return _matmul
    dense = [(cols, *_dense_part(nonzero[:, cols])) for cols in dense]
    # offsets[i, c]: the diagonal (row - column) of the i-th non-zero row of column sparse[c],
    # or a marker where the column has fewer
    rows = np.sort(np.where(nonzero[:, sparse], np.arange(len(nonzero))[:, None], len(nonzero)),
                   axis=0)[:_SPARSE_ROWS]
    none = sum(nonzero.shape)  # no diagonal has this offset
    offsets = np.where(rows < len(nonzero), rows - sparse, none)
    # runs of consecutive columns on the same diagonals
    starts = np.flatnonzero(np.concatenate([[True], (np.diff(sparse) != 1)
                                            | np.any(np.diff(offsets, axis=1) != 0, axis=0)]))
    if len(starts) > _MAX_GROUPS:
        return _matmul
    ends = np.append(starts[1:], len(sparse))
    groups = [(slice(int(sparse[a]), int(sparse[b - 1]) + 1),
               tuple(int(o) for o in offsets[:, a] if o != none))
              for a, b in zip(starts, ends)]

    def multiply(P, J, out):
        for cols, row_runs, singles in dense:
            if row_runs is None:  # every row of J takes part
                out[:, cols] = P @ J[:, cols]
                continue
            part = out[:, cols]
            if not row_runs:
                part[...] = 0.0
            for j, rows in enumerate(row_runs):
                if j == 0:
                    np.matmul(P[:, rows], J[rows, cols], out=part)
                else:
                    part += P[:, rows] @ J[rows, cols]
            for rows, within in singles:
                part[:, within] += P[:, rows] * J[rows, within.start + cols.start:
                                                   within.stop + cols.start].diagonal()
        for cols, offsets in groups:
            part = out[:, cols]
            if not offsets:
                part[...] = 0.0
            for j, offset in enumerate(offsets):
                rows = slice(cols.start + offset, cols.stop + offset)
                if j == 0:
                    np.multiply(P[:, rows], J[rows, cols].diagonal(), out=part)
                else:
                    part += P[:, rows] * J[rows, cols].diagonal()

    return multiply


def _dense_part(nonzero):
    """How a run of dense columns of J (`nonzero`: their pattern
    (n_out, width)) is multiplied: (row_runs, singles). `row_runs`, slices of the rows with two
    or more non-zeros in the run, go through BLAS; `singles` are (rows, columns within the run)
    pairs of rows with one non-zero each, on one diagonal (a skip connection's shifted
    identity), added as column scalings. (None, ()) when every row has two or more non-zeros
    or the pattern has too many pieces: the plain product P @ J[:, columns]."""
    count = nonzero.sum(axis=1)
    many = np.flatnonzero(count >= 2)
    if len(many) == len(nonzero):
        return None, ()
    one = np.flatnonzero(count == 1)
    column = np.argmax(nonzero[one], axis=1)
    # runs of consecutive rows whose single non-zeros sit in consecutive columns
    breaks = np.flatnonzero((np.diff(one) != 1) | (np.diff(column) != 1)) + 1
    singles = [(slice(int(r[0]), int(r[-1]) + 1), slice(int(c[0]), int(c[-1]) + 1))
               for r, c in zip(np.split(one, breaks), np.split(column, breaks)) if len(r)]
    row_runs = _runs(many)
    if len(row_runs) + len(singles) > _MAX_GROUPS:
        return None, ()
    return row_runs, singles


def _matmul(P, J, out):
    np.matmul(P, J, out=out)


def _runs(idx):
    """The sorted indices idx as slices of consecutive ones: [0, 1, 2, 7, 8] -> [0:3, 7:9]."""
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    return [slice(int(run[0]), int(run[-1]) + 1) for run in np.split(idx, breaks) if len(run)]


class _Norms:
    """The norms `gradient_flow` reports, filled in one chunk of products at a time."""

    def __init__(self, T, primary, blocks, g, keep_gradients, rng):
        self.primary, self.block_slices, self.g, self.rng = primary, blocks, g, rng
        self.whole = isinstance(primary, slice) and primary == slice(None)
        self.spec, self.frob, self.loss = (np.full(T, -np.inf) for _ in range(3))
        self.blocks = {name: (np.full(T, -np.inf), np.full(T, -np.inf)) for name in blocks}
        self.gradients = np.zeros((T, len(g))) if keep_gradients else None
        self.warm = {None: None, **{name: None for name in blocks}}  # Krylov warm starts

    def record(self, Ps, scales, first):
        """Norms of the products Ps (k, n, n) at distances first, ..., first + k - 1, each
        Ps[j] of Frobenius norm 1 times 10**scales[j]."""
        if not len(Ps):
            return
        at = slice(first - 1, first - 1 + len(Ps))
        M = Ps if self.whole else square_block(Ps, self.primary)
        m_frob = None if self.whole else np.sqrt(np.einsum("kij,kij->k", M, M))
        self._spectral(M, None, m_frob, scales, self.spec[at], self.frob[at])
        pulled = self.g @ M
        pulled_norm = np.sqrt(np.einsum("ki,ki->k", pulled, pulled))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.loss[at] = np.log10(pulled_norm) + scales
            if self.gradients is not None:
                self.gradients[at] = np.where(pulled_norm[:, None] > 0,
                                              pulled / pulled_norm[:, None], 0.0)
        for name, sl in self.block_slices.items():
            B = Ps[:, sl, sl]
            b_frob = np.sqrt(np.einsum("kij,kij->k", B, B))
            spec, frob = self.blocks[name]
            self._spectral(B, name, b_frob, scales, spec[at], frob[at])

    def _spectral(self, M, name, frob, scales, spec_out, frob_out):
        """log10 ||M_j||_2 + scale_j and log10 ||M_j||_F + scale_j where M_j is not zero."""
        live = slice(None) if frob is None else frob > 0
        sigma, self.warm[name] = top_singular_values(M[live], self.warm[name], rng=self.rng)
        spec_out[live] = np.log10(sigma) + scales[live]
        frob_out[live] = scales[live] if frob is None else np.log10(frob[live]) + scales[live]


def _qr_chain_step(chain, J):
    Q, R, log_scale = chain
    Q, R_step = np.linalg.qr(J.T @ Q)
    R = R_step @ R
    peak = np.abs(R).max()
    if peak == 0:
        return Q, R, -np.inf
    return Q, R / peak, log_scale + np.log10(peak)


def _log10_svals(P):
    with np.errstate(divide="ignore"):
        return np.log10(singular_values(P))


def lyapunov_spectrum(cell, params, inputs=None, state0=None, k=None, *, steps=None, discard=0,
                      seed=0, chunk_bytes=CHUNK_BYTES, progress=None):
    """Lyapunov exponents of the trajectory, natural log per step, in descending order.

    Benettin's QR method: an orthonormal frame Q (n, k) is pushed forward through each step
    Jacobian, Z = J_t Q, re-orthonormalised by Z = Q' R, and log |R_ii| accumulated; the
    exponents are the time averages. With k = n their sum is the mean of log |det J_t|.

    Args:
      inputs: (T, D), or None for a cell without input run for `steps` steps.
      k: how many exponents (the top k); all n by default.
      discard: a transient of this many steps is run first, the frame aligning with the
        dynamics, before the logs are accumulated over the remaining T - discard steps (the
        standard burn-in).
      seed: the frame for k < n is the Q factor (signs fixed so diag R > 0) of an n x k matrix
        of i.i.d. standard normals drawn by numpy.random.default_rng(seed); for k = n it is the
        identity.
      chunk_bytes: memory for the step Jacobians evaluated at once (see `gradient_flow`).

    Returns:
      (k,) array, descending.
    """
    inputs, state0, states = trajectory(cell, params, inputs, state0, steps)
    n, T = state0.shape[-1], len(inputs)
    k = n if k is None else int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the state size {n}, got {k}")
    discard = int(discard)
    if not 0 <= discard < T:
        raise ValueError(f"discard must be between 0 and T - 1 = {T - 1}, got {discard}")
    Q = np.eye(n) if k == n else _frame(n, k, seed)
    linear = Linearization(cell, params)
    finite = states.finite
    total = np.zeros(k)
    # whole step Jacobians, K steps per call, unless k << n and n is large (then n tangents
    # per step would cost far more than k)
    if 4 * k >= n or n <= 64:
        K = chunk_steps(n, chunk_bytes)
        maps = (J.__matmul__ for Js in step_jacobians(linear, states, inputs, K) for J in Js)
    else:  # the k tangents of the frame pushed through each step: k forward passes, not n
        maps = (partial(_push, linear, states, inputs, t, finite) for t in range(T))
    with np.errstate(divide="ignore"):
        for t, push in enumerate(maps):
            Q, diag = _qr(push(Q))
            if t >= discard:
                total += np.log(np.abs(diag))
            if progress is not None:
                progress(t + 1)
    return np.sort(total / (T - discard))[::-1]


def _qr(Z):
    """Z = Q R (Z n x k, k <= n): (Q, the diagonal of R), straight from LAPACK (geqrf, orgqr),
    without the fixed cost of numpy's wrapper, which dominates for small n."""
    qr, tau, _, info = lapack.dgeqrf(Z)
    if info:
        raise np.linalg.LinAlgError(f"QR failed (LAPACK info {info})")
    diag = qr.diagonal().copy()
    Q, _, info = lapack.dorgqr(qr, tau, overwrite_a=True)
    if info:
        raise np.linalg.LinAlgError(f"QR failed (LAPACK info {info})")
    return Q, diag


def _push(linear, states, inputs, t, finite, Q):
    """J_{t+1} Q, from the columns of Q pushed through the step as tangents."""
    return tangent_map(linear, states, inputs, t, Q.T, finite).T


def _frame(n, k, seed):
    Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))
    return Q * np.sign(np.diag(R))
