"""Gradient flossing: a loss on the leading Lyapunov exponents, differentiated by autograd.

Engelken (2023) keeps the gradients of a recurrent network from vanishing or exploding by
pushing the leading Lyapunov exponents of its forward dynamics towards 0, where products of
step Jacobians neither shrink nor grow. The exponents come from Benettin's QR method over the
training sequence: with a frame Q_0 (n, k) of orthonormal columns and J_t = ds_t/ds_{t-1},

    Z_t = J_t Q_{t-1} = Q_t R_t    (reduced QR, diag R_t > 0),   t = 1, ..., T,
    lambda_i = 1 / (T - discard) * sum_{t > discard} log (R_t)_ii    (natural log per step),

and the flossing loss is L = mean_i lambda_i^2 (and the mean over a batch of sequences).
Everything here is a function autograd differentiates in reverse mode with respect to the
parameters, through the states s_t, the tangents J_t Q_{t-1} (autograd's forward mode nested
inside the reverse mode, so the cell is differentiated by autograd, never by hand) and the QR
steps (`qr`, the one primitive autograd 1.9 lacks a derivative for).

Functions take the parameters first, so that `autograd.grad` differentiates them:
`flossing_loss`, `floss_gradient` (the term a training step adds), `preflossing` (flossing
alone before training, as in the paper). Plain numpy and autograd only: the training loop
imports this module, not the other way round.

References:
  Engelken (2023), Gradient flossing: improving gradient descent through dynamic control of
  Jacobians, NeurIPS (arXiv:2312.17306); code (Julia): RainerEngelken/GradientFlossing.
  Benettin, Galgani, Giorgilli & Strelcyn (1980), Lyapunov characteristic exponents for smooth
  dynamical systems; a method for computing all of them.
  Walter & Lehmann (2018), Algorithmic differentiation of linear algebra functions with
  application in optimum experimental design; Liao, Liu, Wang & Xiang (2019), Differentiable
  programming tensor networks (the QR derivative).
"""

import warnings
from typing import NamedTuple

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.core import JVPNode
from autograd.extend import defvjp, primitive
from autograd.tracer import getval, trace

__all__ = ["qr", "lyapunov_exponents", "flossing_loss", "Floss", "floss_gradient",
           "Preflossing", "preflossing"]


@primitive
def qr(A):
    """Reduced QR of A (..., n, k), k <= n, full column rank: (Q (..., n, k), R (..., k, k))
    with Q^T Q = I, R upper triangular with a positive diagonal, A = Q R. Differentiable in
    reverse mode (`_qr_vjp`); a stack of matrices is factorised matrix by matrix."""
    Q, R = np.linalg.qr(A)
    sign = np.sign(np.diagonal(R, axis1=-2, axis2=-1))
    sign = np.where(sign == 0, 1.0, sign)  # a zero column: R_ii = 0, any sign will do
    return Q * sign[..., None, :], R * sign[..., :, None]


def _t(X):
    return anp.swapaxes(X, -1, -2)


def _qr_vjp(ans, A):
    """A-bar = (Q-bar + Q copyltu(M)) R^{-T}, M = R R-bar^T - Q-bar^T Q, where copyltu(M) =
    tril(M) + tril(M, -1)^T is M's lower triangle mirrored into the upper one (Liao et al.
    2019, eq. 5; Walter & Lehmann 2018). It follows from dA = dQ R + Q dR with Q^T dQ + dQ^T Q
    = 0 and dR upper triangular, and holds for tall and square A of full column rank."""
    Q, R = ans

    def vjp(g):
        Q_bar, R_bar = g
        M = R @ _t(R_bar) - _t(Q_bar) @ Q
        M = anp.tril(M) + _t(anp.tril(M, -1))
        return _t(anp.linalg.solve(R, _t(Q_bar + Q @ M)))  # B R^{-T} = (R^{-1} B^T)^T

    return vjp


defvjp(qr, _qr_vjp)


def _frame(n, k, seed):
    """The starting frame Q_0 (n, k), the one `gradflow.engine.jacobians.lyapunov_spectrum`
    starts from: the identity for k = n, else the Q factor (diag R > 0) of an n x k matrix of
    standard normals from numpy.random.default_rng(seed)."""
    if k == n:
        return np.eye(n)
    return qr(np.random.default_rng(seed).standard_normal((n, k)))[0]


def _jvp(cell, params, state, x, tangents):
    """(s_t, J_t v for the tangents v) from one forward-mode pass of autograd through the cell.

    `state` (..., n) may be a reverse-mode box; `tangents` (..., n) is one tangent shaped like
    the state, or (k, ..., n) a batch of k, which needs a cell whose every operation
    broadcasts over a leading axis (the built-in cells do). Nested inside reverse mode, the
    tangents it returns are differentiable functions of the parameters, state and tangents.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Output seems independent of input")
        value, node = trace(JVPNode.new_root(tangents), lambda s: cell(params, s, x), state)
    if node is None:  # the new state does not depend on the old one: J = 0
        return value, anp.zeros(np.shape(tangents)[:-1] + np.shape(value)[-1:])
    return value, node.g


def _broadcasts(cell, params, state, x, V):
    """Whether pushing the k tangents through the cell at once gives what k separate pushes do
    (checked once, on plain numbers): a user cell written with `dot(W, h)`, `h[0]` or
    autograd's `concatenate` does not broadcast over the tangents' leading axis."""
    state, V, params = getval(state), getval(V), getval(params)
    params = {name: getval(p) for name, p in params.items()}  # a dict of boxes, too
    one = np.stack([_jvp(cell, params, state, x, v)[1] for v in V])
    try:
        with np.errstate(all="ignore"):
            many = np.asarray(_jvp(cell, params, state, x, V)[1], dtype=float)
    except (ValueError, IndexError, TypeError):
        return False
    return many.shape == one.shape and np.allclose(many, one, rtol=1e-12,
                                                   atol=1e-14 * (1 + np.abs(one).max()))


def lyapunov_exponents(params, cell, inputs, state0, k, *, seed=0, discard=0):
    """The leading k Lyapunov exponents of the trajectory (natural log per step), by
    Benettin's QR method, as a function autograd differentiates with respect to `params`.

    Args:
      params: the cell's parameters, a dict of arrays (other entries, such as a read-out, are
        ignored by the cell and get zero gradient).
      cell: `cell(params, state, x) -> state`, written in autograd.numpy.
      inputs: (T, D) one sequence, or (T, B, D) a batch of B sequences.
      state0: (n,) the initial state, or (B, n) one per sequence; not differentiated.
      k: how many exponents, 1 <= k <= n.
      seed: the starting frame, as in `gradflow.engine.jacobians.lyapunov_spectrum` (the
        identity for k = n).
      discard: the first `discard` steps move the frame but add no logs (a burn-in).

    Returns:
      (k,) for one sequence, (B, k) for a batch: the exponents in the frame's order (the
      first column's is the largest over long times; the order of close exponents over a
      finite T is not guaranteed, which the squared loss does not mind).
    """
    inputs, k, discard = np.asarray(inputs, dtype=float), int(k), int(discard)
    if inputs.ndim not in (2, 3) or len(inputs) == 0:
        raise ValueError(f"inputs must have shape (T, D) or (T, B, D), got {inputs.shape}")
    T, n = len(inputs), np.shape(state0)[-1]
    state = np.broadcast_to(np.asarray(state0, dtype=float), inputs.shape[1:-1] + (n,))
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the state size {n}, got {k}")
    if not 0 <= discard < T:
        raise ValueError(f"discard must be between 0 and T - 1 = {T - 1}, got {discard}")
    # The frame as k tangents, V (k, ..., n): the same frame for every sequence.
    V = np.moveaxis(np.broadcast_to(_frame(n, k, seed), state.shape[:-1] + (n, k)), -1, 0)
    batched = k > 1 and _broadcasts(cell, params, state, inputs[0], V)
    total = 0.0
    for t, x in enumerate(inputs):
        if batched:
            state_next, Z = _jvp(cell, params, state, x, V)
        else:  # one tangent at a time, always right (and k = 1 needs no more)
            pushed = [_jvp(cell, params, state, x, v) for v in V]
            state_next, Z = pushed[0][0], anp.stack([z for _, z in pushed])
        Q, R = qr(anp.moveaxis(Z, 0, -1))  # (..., n, k) = (..., n, k) (..., k, k)
        if t >= discard:
            total = total + anp.log(anp.diagonal(R, axis1=-1, axis2=-2))
        V, state = anp.moveaxis(Q, -1, 0), state_next
    return total / (T - discard)


def flossing_loss(params, cell, inputs, state0, k, *, seed=0, discard=0):
    """The flossing loss, the mean of the squared leading k Lyapunov exponents (and the mean
    over the sequences of a batch); arguments as for `lyapunov_exponents`. A float, or an
    autograd box when differentiated."""
    return anp.mean(lyapunov_exponents(params, cell, inputs, state0, k, seed=seed,
                                       discard=discard) ** 2)


class Floss(NamedTuple):
    """`loss`: weight times the flossing loss (the term added to the training loss);
    `grads`: its gradient, a dict with the keys of the parameters (zeros where it does not
    depend on them, such as the read-out)."""
    loss: float
    grads: dict


def floss_gradient(params, cell, batch_inputs, state0, k, weight=1.0, *, seed=0, discard=0):
    """The flossing term of a training step and its gradient: `Floss(weight * L, weight * dL/dp)`
    with L = `flossing_loss(params, cell, batch_inputs, state0, k)`.

    `batch_inputs` is (T, D) or (T, B, D) and `state0` (n,) or (B, n); the cost grows slowly
    with B (the B sequences go through the cell together), and the paper flosses on one
    sequence. Add `grads` to the task loss's gradient (before clipping) every M updates.
    Where a pushed frame J_t Q_{t-1} loses rank (a step Jacobian of rank below k, such as
    dead relu units), the loss is inf and the gradients nan: recorded as a blow-up, not raised.
    """
    try:
        loss, grads = value_and_grad(flossing_loss)(params, cell, batch_inputs, state0, k,
                                                    seed=seed, discard=discard)
    except np.linalg.LinAlgError:  # a frame J_t Q_{t-1} lost rank: R_t singular, no gradient
        loss = flossing_loss(params, cell, batch_inputs, state0, k, seed=seed, discard=discard)
        grads = {name: np.full(np.shape(p), np.nan) for name, p in params.items()}
    return Floss(weight * float(loss), {name: weight * g for name, g in grads.items()})


class Preflossing(NamedTuple):
    """`params` after flossing; `loss` (N,) the flossing loss before each update. The run
    stops at the first update whose loss, gradient or new parameters are not finite (its loss
    is the last one recorded; `params` are those before it)."""
    params: dict
    loss: np.ndarray


def preflossing(params, cell, batches, state0, k, optimizer, *, seed=0, discard=0):
    """Flossing alone, before training (Engelken 2023, pre-training flossing): one update of
    `optimizer` on `flossing_loss` for each input sequence in `batches`.

    Args:
      params: dict of arrays, the starting parameters.
      batches: an iterable of inputs, each (T, D) or (T, B, D) (for instance fresh task
        sequences, as in the paper, which flosses on one sequence at a time).
      state0: (n,) or (B, n), the initial state of every sequence.
      optimizer: a `gradflow.training.optimizers.Optimizer` (`adam(lr)` as in the paper, `sgd(lr)`);
        it starts from a fresh state. Its learning rate sets the strength of flossing.
      k, seed, discard: as for `lyapunov_exponents`.

    Returns:
      A `Preflossing`.
    """
    opt_state = optimizer.init(params)
    losses = []
    for inputs in batches:
        with np.errstate(all="ignore"):  # a blow-up is recorded and stops the run, not raised
            loss, grads = floss_gradient(params, cell, inputs, state0, k, seed=seed,
                                         discard=discard)
            losses.append(loss)
            bad = not (np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values()))
            if not bad:
                opt_state, new = optimizer.update(opt_state, grads)
                bad = not all(np.all(np.isfinite(p)) for p in new.values())
        if bad:
            break
        params = new
    return Preflossing(params, np.array(losses, dtype=float))
