"""Jacobian products ds_T/ds_t across time, their norms at every distance, Lyapunov exponents.

The step Jacobian J_t = ds_t/ds_{t-1} comes from autograd differentiating the cell, in one
forward-mode pass per step: the cell is evaluated once at the unbatched state (n,) while a batch
of k tangents (k, n) rides along, so the nonlinearities are evaluated once, not n times. The
product P_d = ds_T/ds_{T-d} = J_T J_{T-1} ... J_{T-d+1} is accumulated backwards from T, kept at
unit Frobenius norm, with its log10 scale carried separately: nothing overflows or underflows at
any length. Memory is O(T n + n^2): the states are kept, the Jacobians are not.

References:
  Pascanu, Mikolov & Bengio (2013), On the difficulty of training recurrent neural networks.
  Benettin, Galgani, Giorgilli & Strelcyn (1980), Lyapunov characteristic exponents for smooth
  dynamical systems; a method for computing all of them.
"""

from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Optional

import numpy as np
import scipy.linalg
from autograd.core import make_jvp

from .unroll import default_state, unroll

__all__ = ["Linearization", "step_jacobian", "top_singular_value", "BlockNorms",
           "GradientFlow", "gradient_flow", "lyapunov_spectrum", "default_blocks"]


class Linearization:
    """J t for a batch of tangents t, from autograd's forward mode.

    The batched pass needs every primitive in the cell to broadcast its JVP over a leading
    tangent axis. The built-in cells do; a user cell might not (autograd's `concatenate`, a sum
    over all axes, a state of size 1). So the first call checks the batched result against one
    unbatched JVP, which is always right, and if they disagree every later call pushes the
    tangents through one at a time: slower, never wrong. `batched` tells which route was taken.
    """

    def __init__(self, cell, params):
        self.cell, self.params = cell, params
        self.batched = None  # unknown until the first call

    def __call__(self, state, x, tangents):
        """Rows J t_i for the rows t_i of `tangents` (k, n); J = d cell / d state at (state, x)."""
        tangents = np.asarray(tangents, dtype=float)
        k = tangents.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):
            jvp = make_jvp(lambda s: self.cell(self.params, s, x), state)
            if self.batched is not False:
                out = self._batched(jvp, tangents, state)
                if out is not None:
                    return out
            return np.stack([np.asarray(jvp(t)[1], dtype=float) for t in tangents])[:k]

    def _batched(self, jvp, tangents, state):
        k, n = tangents.shape
        # A leading axis of length 1 is mistaken for a broadcast axis by autograd's `add` JVP.
        padded = tangents if k > 1 else np.vstack([tangents, np.zeros_like(tangents)])
        try:
            out = np.asarray(jvp(padded)[1], dtype=float)
        except (ValueError, IndexError, TypeError):
            out = None
        if out is None or out.shape[0] != padded.shape[0] or out.ndim != 2:
            self.batched = False
            return None
        if self.batched is None:
            mix = np.random.default_rng(0).standard_normal(padded.shape[0])
            single = np.asarray(jvp(mix @ padded)[1], dtype=float)
            self.batched = bool(single.shape == out.shape[1:] and np.allclose(
                single, mix @ out, rtol=1e-9, atol=1e-12 * (1 + np.abs(single).max())))
            if not self.batched:
                return None
        return out[:k]


def step_jacobian(cell, params, state, x):
    """The step Jacobian d cell(params, state, x) / d state, shape (n_out, n).

    `state` has shape (n,), `x` shape (D,). One batched forward-mode pass.
    """
    state = np.asarray(state, dtype=float)
    return Linearization(cell, params)(state, x, np.eye(state.shape[-1])).T


def top_singular_value(P, U=None, *, block=3, depth=4, rtol=1e-8, maxiter=50):
    """Largest singular value of P (m, n), by warm-started block Krylov iteration.

    The Rayleigh-Ritz step is taken on span{U, A U, ..., A^depth U}, A = P P^T, U a block of
    `block` vectors: Krylov subspaces converge with the square root of the relative gap between
    the top singular values where plain power iteration converges with the gap itself (Musco &
    Musco 2015), which matters when the top of the spectrum is crowded. `U` (m, block)
    warm-starts it: the left singular vectors of ds_T/ds_t move little from one distance to the
    next, so one O(m n block depth) iteration usually suffices. It stops when the residual
    ||P v - sigma u|| of the top Ritz pair is below rtol * sigma, or when the estimate changes by
    less than 1e-12 of itself, and falls back to a full SVD after `maxiter` iterations.

    Returns (sigma, U), U the block to warm-start the next call.
    """
    m = P.shape[0]
    b = min(block, m, P.shape[1])
    if U is None or U.shape != (m, b):
        U = np.eye(m, b) + np.random.default_rng(0).standard_normal((m, b)) / np.sqrt(m)
    previous = 0.0
    for _ in range(maxiter):
        basis, V = [U], U
        for _ in range(depth):
            V = P @ (P.T @ V)
            V = V / np.maximum(np.linalg.norm(V, axis=0), np.finfo(float).tiny)
            basis.append(V)
        K = np.linalg.qr(np.hstack(basis))[0][:, :m]
        Ub, S, Vt = np.linalg.svd(K.T @ P, full_matrices=False)
        if S[0] == 0:
            return 0.0, U
        U = K @ Ub[:, :b]
        residual = np.linalg.norm(P @ Vt[0] - S[0] * U[:, 0])
        if residual <= rtol * S[0] or abs(S[0] - previous) <= 1e-12 * S[0]:
            return S[0], U
        previous = S[0]
    Uf, S, _ = _svd(P)
    return S[0], Uf[:, :b]


def _svd(P, compute_uv=True):
    """numpy's SVD (LAPACK gesdd), or gesvd where gesdd fails to converge, as it can."""
    try:
        return np.linalg.svd(P, full_matrices=False, compute_uv=compute_uv)
    except np.linalg.LinAlgError:
        return scipy.linalg.svd(P, full_matrices=False, compute_uv=compute_uv,
                                lapack_driver="gesvd")


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
    product there, descending. `states` (T+1, n) is the forward trajectory s_0, ..., s_T.
    """
    distance: np.ndarray
    log10_spectral_norm: np.ndarray
    log10_frobenius_norm: np.ndarray
    log10_loss_gradient_norm: np.ndarray
    blocks: Mapping[str, BlockNorms] = field(default_factory=dict)
    singular_values: Mapping[int, np.ndarray] = field(default_factory=dict)
    states: Optional[np.ndarray] = None


def default_blocks(cell, params):
    """The named diagonal blocks reported for a built-in cell: 'h' and 'c' for the LSTM."""
    if getattr(cell, "state_blocks", 1) == 2:
        H = cell.state_size(params) // 2
        return {"h": slice(0, H), "c": slice(H, 2 * H)}
    return {}


def gradient_flow(cell, params, inputs, state0=None, *, loss_grad=None, blocks=None,
                  spectrum_at=(), progress: Optional[Callable[[int], None]] = None):
    """Norms of the Jacobian products ds_T/ds_t for every t, from one forward and one backward sweep.

    Args:
      cell: `cell(params, state, x) -> state`, built in or written in autograd.numpy.
      params: the cell's parameters (dict of arrays).
      inputs: (T, D) input sequence.
      state0: (n,) initial state; zeros by default for a built-in cell, required otherwise.
      loss_grad: (n,) dL/ds_T whose pull-back dL/ds_t = dL/ds_T ds_T/ds_t is reported; by
        default the unit vector (1, ..., 1) / sqrt(n).
      blocks: {name: slice} diagonal blocks of the product to report as well; by default the
        LSTM's 'h' (dh_T/dh_t, the total derivative BPTT propagates) and 'c' (the cell highway).
      spectrum_at: distances at which to keep all singular values of the product, from a QR
        chain of the product (Benettin's method), accurate far below the largest one.
      progress: called with the number of backward steps done, for a progress bar.

    Returns:
      A `GradientFlow`.
    """
    inputs, state0, states = _trajectory(cell, params, inputs, state0)
    T, n = len(inputs), state0.shape[-1]
    blocks = default_blocks(cell, params) if blocks is None else dict(blocks)
    g = np.full(n, 1 / np.sqrt(n)) if loss_grad is None else np.asarray(loss_grad, dtype=float)
    spectrum_at = {int(d) for d in spectrum_at}

    linear = Linearization(cell, params)
    eye = np.eye(n)
    P = eye              # ds_T/ds_{T-d} divided by 10**scale, Frobenius norm 1 once d >= 1
    scale = 0.0          # log10 of the factor divided out of P
    u = {None: None, **{name: None for name in blocks}}  # warm starts, one per norm
    out = {key: np.full(T, -np.inf) for key in ("spec", "frob", "loss")}
    block_out = {name: (np.full(T, -np.inf), np.full(T, -np.inf)) for name in blocks}
    spectra = {}
    # For the full spectrum, P_d^T is also kept as Q R: J^T Q = Q' R', R <- R' R. The graded
    # triangular R keeps the small singular values that rounding erases from P itself.
    chain = (eye, eye, 0.0) if spectrum_at else None
    for d in range(1, T + 1):
        t = T - d  # J_{t+1} = ds_{t+1}/ds_t, evaluated at s_t and x_{t+1}
        J = linear(states[t], inputs[t], eye).T
        P = J if d == 1 else P @ J
        frob = np.linalg.norm(P)
        if not np.isfinite(frob):
            raise FloatingPointError(
                f"the Jacobian ds_{t + 1}/ds_{t} is not finite: the forward pass overflowed "
                f"(|s_{t}| = {np.linalg.norm(states[t]):.3g})")
        if frob == 0:
            break  # an exactly zero product stays zero: -inf at this and every longer distance
        P = P / frob
        scale += np.log10(frob)
        sigma, u[None] = top_singular_value(P, u[None])
        out["spec"][d - 1] = np.log10(sigma) + scale
        out["frob"][d - 1] = scale
        out["loss"][d - 1] = _log10_norm(g @ P) + scale
        for name, sl in blocks.items():
            B = P[sl, sl]
            b_frob = np.linalg.norm(B)
            if b_frob > 0:
                b_sigma, u[name] = top_singular_value(B, u[name])
                block_out[name][0][d - 1] = np.log10(b_sigma) + scale
                block_out[name][1][d - 1] = np.log10(b_frob) + scale
        if chain is not None and d <= max(spectrum_at):
            chain = _qr_chain_step(chain, J)
            if d in spectrum_at:
                spectra[d] = _log10_svals(chain[1]) + chain[2]
        if progress is not None:
            progress(d)
    return GradientFlow(
        distance=np.arange(1, T + 1),
        log10_spectral_norm=out["spec"],
        log10_frobenius_norm=out["frob"],
        log10_loss_gradient_norm=out["loss"],
        blocks={name: BlockNorms(*arrays) for name, arrays in block_out.items()},
        singular_values=spectra,
        states=states,
    )


def _trajectory(cell, params, inputs, state0):
    inputs = np.asarray(inputs, dtype=float)
    if inputs.ndim != 2 or len(inputs) == 0:
        raise ValueError(f"inputs must have shape (T, D) with T >= 1, got {inputs.shape}")
    state0 = default_state(cell, params) if state0 is None else np.asarray(state0, dtype=float)
    return inputs, state0, unroll(cell, params, inputs, state0)


def _log10_norm(v):
    norm = np.linalg.norm(v)
    return np.log10(norm) if norm > 0 else -np.inf


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
        return np.log10(_svd(P, compute_uv=False))


def lyapunov_spectrum(cell, params, inputs, state0=None, k=None, *, seed=0, progress=None):
    """Lyapunov exponents of the trajectory, natural log per step, in descending order.

    Benettin's QR method: an orthonormal frame Q (n, k) is pushed forward through each step
    Jacobian, Z = J_t Q, re-orthonormalised by Z = Q' R, and log |R_ii| accumulated; the
    exponents are the time averages. With k = n their sum is the mean of log |det J_t|.

    Args:
      k: how many exponents (the top k); all n by default.
      seed: seed of the random initial frame (only used when k < n).

    Returns:
      (k,) array, descending.
    """
    inputs, state0, states = _trajectory(cell, params, inputs, state0)
    n = state0.shape[-1]
    k = n if k is None else int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the state size {n}, got {k}")
    if k == n:
        Q = np.eye(n)
    else:
        Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))[0]
    linear = Linearization(cell, params)
    total = np.zeros(k)
    with np.errstate(divide="ignore"):
        for t, x in enumerate(inputs):
            Z = linear(states[t], x, Q.T).T
            Q, R = np.linalg.qr(Z)
            total += np.log(np.abs(np.diag(R)))
            if progress is not None:
                progress(t + 1)
    return np.sort(total / len(inputs))[::-1]
