"""Gradient flossing (Engelken 2023): the QR derivative and the flossing loss's gradient against
central finite differences, the exponents against the engine's independent Benettin QR chain and
closed forms (log g for W = g Q, the determinant identity), and flossing alone driving a linear
RNN's gain g to 1."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from scipy.stats import ortho_group

from gradflow import cells
from gradflow.cells.initializers import init_params
from gradflow.cells.ops import dot
from gradflow.cells.skips import skip
from gradflow.engine.jacobians import lyapunov_spectrum
from gradflow.training.flossing import (floss_gradient, flossing_loss, lyapunov_exponents,
                                        preflossing, qr)
from gradflow.training.loop import init_model
from gradflow.training.optimizers import sgd

from cell_oracles import ORACLES, oracle_trajectory, random_params


def _central(f, x, d, eps):
    return (f(x + eps * d) - f(x - eps * d)) / (2 * eps)


# ---- the QR primitive ------------------------------------------------------------------------

SHAPES = [(5, 5), (9, 4), (7, 1), (3, 6, 2)]  # square, tall, one column, a stack of tall


@pytest.mark.parametrize("shape", SHAPES)
def test_qr_factorises_with_positive_diagonal(shape):
    A = np.random.default_rng(0).standard_normal(shape)
    Q, R = qr(A)
    k = shape[-1]
    np.testing.assert_allclose(Q @ R, A, atol=1e-13)
    np.testing.assert_allclose(np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(k), R.shape),
                               atol=1e-13)
    assert np.all(np.tril(R, -1) == 0)
    assert np.all(np.diagonal(R, axis1=-2, axis2=-1) > 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES)
def test_qr_gradient_matches_central_differences_entrywise(shape, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal(shape)
    k = shape[-1]
    wq = rng.standard_normal(shape)
    wr = np.triu(rng.standard_normal(shape[:-2] + (k, k)))

    def f(A):  # a generic linear functional of both factors
        Q, R = qr(A)
        return anp.sum(wq * Q) + anp.sum(wr * R)

    g = grad(f)(A)
    fd = np.zeros(shape)
    for i in np.ndindex(shape):
        e = np.zeros(shape)
        e[i] = 1.0
        fd[i] = _central(f, A, e, 1e-6)
    # central differences at eps = 1e-6: truncation ~1e-12 |f'''|, rounding ~1e-10 |f|
    assert np.max(np.abs(g - fd)) < 1e-8 * (1 + np.max(np.abs(fd)))


# ---- the exponents ---------------------------------------------------------------------------

def _cell_and_params(name, H, D, seed):
    cell = skip(cells.rnn, 2, 0.5) if name == "rnn+skip:2" else cells.get_cell(name)
    return cell, init_params(cell, H, D, scale=1.5, seed=seed)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "rnn+skip:2"])
@pytest.mark.parametrize("k, discard", [(3, 0), (None, 5)])
def test_exponents_equal_the_engines_benettin_chain(name, k, discard):
    H, D, T = 6, 2, 60
    cell, params = _cell_and_params(name, H, D, seed=1)
    n = cell.state_size(params)
    k = n if k is None else k
    inputs = np.random.default_rng(2).standard_normal((T, D))
    s0 = 0.3 * np.random.default_rng(3).standard_normal(n)
    ours = lyapunov_exponents(params, cell, inputs, s0, k, seed=4, discard=discard)
    ref = lyapunov_spectrum(cell, params, inputs, s0, k, seed=4, discard=discard)
    assert ours.shape == (k,)
    np.testing.assert_allclose(np.sort(ours)[::-1], ref, rtol=0, atol=1e-10)


def test_batch_of_sequences_equals_each_sequence_alone():
    H, D, T, B, k = 5, 3, 40, 3, 2
    cell, params = _cell_and_params("lstm", H, D, seed=0)
    rng = np.random.default_rng(1)
    inputs, s0 = rng.standard_normal((T, B, D)), 0.2 * rng.standard_normal((B, 2 * H))
    ours = lyapunov_exponents(params, cell, inputs, s0, k)
    assert ours.shape == (B, k)
    for b in range(B):
        ref = lyapunov_spectrum(cell, params, inputs[:, b], s0[b], k)
        np.testing.assert_allclose(np.sort(ours[b])[::-1], ref, rtol=0, atol=1e-10)
    loss = flossing_loss(params, cell, inputs, s0, k)
    assert abs(loss - np.mean(ours ** 2)) < 1e-15


def test_a_cell_that_does_not_broadcast_over_tangents_is_pushed_one_tangent_at_a_time():
    # dot(W, h) cannot take a (k, n) batch of tangents: the route one tangent at a time is taken
    def cell(p, s, x):
        return anp.tanh(anp.dot(p["W"], s) + anp.dot(p["U"], x))

    rng = np.random.default_rng(0)
    n, T = 5, 50
    params = {"W": 1.4 * rng.standard_normal((n, n)) / np.sqrt(n), "U": rng.standard_normal((n, 2))}
    inputs = rng.standard_normal((T, 2))
    ours = lyapunov_exponents(params, cell, inputs, np.zeros(n), 3)
    ref = lyapunov_spectrum(cell, params, inputs, np.zeros(n), 3)
    np.testing.assert_allclose(np.sort(ours)[::-1], ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["rnn", "gru"])
def test_all_exponents_sum_to_the_mean_log_determinant_of_closed_form_jacobians(name):
    H, D, T = 4, 2, 50
    rng = np.random.default_rng(5)
    params = random_params(name, H, D, rng, scale=1.5)
    inputs = rng.standard_normal((T, D))
    s0 = np.zeros(ORACLES[name][1] * H)
    _, jacs = oracle_trajectory(name, params, inputs, s0)
    mean_logdet = np.mean([np.linalg.slogdet(J)[1] for J in jacs])
    exps = lyapunov_exponents(params, cells.get_cell(name), inputs, s0, len(s0))
    assert abs(exps.sum() - mean_logdet) < 1e-10


def _linear(g, n, D, seed):
    """The linear RNN h_t = g Q h_{t-1} + U x_t, Q a random orthogonal matrix."""
    rng = np.random.default_rng(seed)
    Q = ortho_group.rvs(n, random_state=rng)
    return Q, {"weight_hh": g * Q, "weight_ih": rng.standard_normal((n, D)),
               "bias_ih": np.zeros(n), "bias_hh": np.zeros(n)}


@pytest.mark.parametrize("k", [2, 6])
def test_every_exponent_of_g_times_orthogonal_is_log_g(k):
    _, params = _linear(1.3, 6, 2, seed=0)
    inputs = np.random.default_rng(1).standard_normal((30, 2))
    exps = lyapunov_exponents(params, cells.rnn_linear, inputs, np.zeros(6), k)
    np.testing.assert_allclose(exps, np.log(1.3), rtol=0, atol=1e-13)


def test_arguments_out_of_range_are_refused():
    _, params = _linear(1.0, 4, 2, seed=0)
    inputs = np.zeros((10, 2))
    with pytest.raises(ValueError, match="k must be between 1 and the state size 4"):
        lyapunov_exponents(params, cells.rnn_linear, inputs, np.zeros(4), 5)
    with pytest.raises(ValueError, match="discard must be between 0 and T - 1 = 9"):
        lyapunov_exponents(params, cells.rnn_linear, inputs, np.zeros(4), 2, discard=10)
    with pytest.raises(ValueError, match="inputs must have shape"):
        lyapunov_exponents(params, cells.rnn_linear, np.zeros(10), np.zeros(4), 2)


# ---- the flossing loss's gradient ------------------------------------------------------------

CASES = {  # name: (cell, H, T, k, batch, discard)
    "rnn": ("rnn", 5, 30, 2, None, 0),
    "lstm, batch of 2": ("lstm", 3, 25, 2, 2, 0),
    "gru, k = n, burn-in": ("gru", 4, 25, 4, None, 5),
    "rnn, k = 1": ("rnn", 4, 30, 1, None, 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_floss_gradient_matches_central_differences_of_the_loss(case):
    name, H, T, k, B, discard = CASES[case]
    cell = cells.get_cell(name)
    D, weight = 2, 2.5
    params = init_model(cell, H, D, 3, scale=1.5, seed=7)  # with a read-out, which is not used
    rng = np.random.default_rng(8)
    shape = (T, D) if B is None else (T, B, D)
    inputs, n = rng.standard_normal(shape), cell.state_size(params)
    s0 = 0.1 * rng.standard_normal(n)
    loss, grads = floss_gradient(params, cell, inputs, s0, k, weight, discard=discard)
    assert set(grads) == set(params)
    assert all(grads[key].shape == params[key].shape for key in params)
    assert not np.any(grads["weight_out"]) and not np.any(grads["bias_out"])

    def f(p):
        return flossing_loss(p, cell, inputs, s0, k, discard=discard)

    assert abs(loss - weight * f(params)) < 1e-15
    for key in ("weight_hh", "weight_ih", "bias_hh"):
        d = rng.standard_normal(params[key].shape)
        d /= np.linalg.norm(d)
        fd = _central(lambda x: f({**params, key: x}), params[key], d, 1e-6)
        ad = np.sum(grads[key] * d) / weight
        assert abs(fd) > 1e-4  # a direction along which the loss does change
        assert abs(ad - fd) < 1e-7 * abs(fd), (key, ad, fd)


def test_a_rank_deficient_step_gives_an_infinite_loss_and_nan_gradients():
    # relu units that never fire: every step Jacobian is 0, R_t = 0, lambda = -inf
    params = {"weight_hh": np.eye(3), "weight_ih": np.zeros((3, 1)),
              "bias_ih": np.zeros(3), "bias_hh": -np.ones(3)}
    with np.errstate(all="ignore"):  # as `train` calls it
        loss, grads = floss_gradient(params, cells.rnn_relu, np.zeros((5, 1)), np.zeros(3), 2)
    assert loss == np.inf
    assert all(np.all(np.isnan(g)) for g in grads.values())
    result = preflossing(params, cells.rnn_relu, [np.zeros((5, 1))] * 3, np.zeros(3), 2,
                             sgd(0.1))
    assert result.loss.tolist() == [np.inf]
    assert all(np.array_equal(result.params[key], params[key]) for key in params)


# ---- flossing alone drives the gain of W = g Q to 1 -------------------------------------------

@pytest.mark.parametrize("g0", [1.5, 0.5])
def test_flossing_the_whole_recurrent_matrix_drives_g_to_1(g0):
    # k = n: sum_i lambda_i = log|det W|, so dL/dW = (2 log g / n) W^{-T} = (2 log g / (n g)) Q:
    # W stays g Q with g <- g - lr 2 log g / (n g), a contraction by 1 - 2 lr / n near g = 1
    n, D, T, updates = 4, 2, 10, 40
    Q, params = _linear(g0, n, D, seed=0)
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((T, D)) for _ in range(updates)]
    result = preflossing(params, cells.rnn_linear, batches, np.zeros(n), n, sgd(1.0))
    assert len(result.loss) == updates
    assert abs(result.loss[0] - np.log(g0) ** 2) < 1e-14
    W = result.params["weight_hh"]
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False), 1.0, rtol=0, atol=1e-3)
    np.testing.assert_allclose(W, Q, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(result.params["weight_ih"], params["weight_ih"])  # no gradient


@pytest.mark.parametrize("g0", [1.5, 0.5])
def test_flossing_the_gain_alone_drives_g_to_1(g0):
    # the cell h_t = g Q h_{t-1} + U x_t with g its only parameter; k = 2 < n exponents, each
    # log g: L = log(g)^2, dL/dg = 2 log g / g, so g <- g - lr 2 log g / g
    n, D, T, updates = 6, 2, 10, 25
    Q, base = _linear(1.0, n, D, seed=2)

    def cell(p, s, x):
        return p["g"] * dot(s, Q.T) + anp.dot(x, base["weight_ih"].T)

    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((T, 2, D)) for _ in range(updates)]  # batches of 2
    result = preflossing({"g": np.array(g0)}, cell, batches, np.zeros(n), 2, sgd(0.25))
    assert abs(result.loss[0] - np.log(g0) ** 2) < 1e-14
    assert np.all(np.diff(result.loss) < 0)
    assert abs(result.params["g"] - 1.0) < 1e-3
