"""gradient_flow and the Jacobian engine against exact linear cases, explicit products of the
hand-derived step Jacobians (tests/cell_oracles.py), Gelfand's formula and Pascanu's bound."""

import tracemalloc

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradflow import cells
from gradflow.cells.ops import concat
from gradflow.engine.jacobians import (CHUNK_BYTES, Linearization, chunk_steps, gradient_flow,
                                       step_jacobian)

from cell_oracles import explicit_products, oracle_trajectory, random_params, sigmoid

CELL_FUNCS = {"rnn": cells.rnn, "lstm": cells.lstm, "gru": cells.gru, "gru_torch": cells.gru_torch}


def orthogonal(n, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def linear_params(W, D=None, input_weight=None):
    n = W.shape[0]
    D = n if D is None else D
    return {"weight_hh": W, "weight_ih": np.eye(n, D) if input_weight is None else input_weight,
            "bias_ih": np.zeros(n), "bias_hh": np.zeros(n)}


def log10_2norm(P):
    return np.log10(np.linalg.norm(P, 2))


# ------------------------------------------------------------------ exact linear cases: W = g Q

@pytest.mark.parametrize("g", [0.8, 1.0, 1.3])
@pytest.mark.parametrize("n", [1, 3, 8])
def test_orthogonal_linear_rnn_exact_powers(g, n):
    T = 60
    params = linear_params(g * orthogonal(n, 1))
    flow = gradient_flow(cells.rnn_linear, params, np.random.default_rng(2).standard_normal((T, n)))
    d = np.arange(1, T + 1)
    np.testing.assert_array_equal(flow.distance, d)
    np.testing.assert_allclose(flow.log10_spectral_norm, d * np.log10(g), rtol=0, atol=1e-8)
    np.testing.assert_allclose(flow.log10_frobenius_norm, d * np.log10(g) + 0.5 * np.log10(n),
                               rtol=0, atol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("g,final", [(1.1, 10000 * np.log10(1.1)), (10 ** -0.1, -1000.0)])
def test_ten_thousand_steps_neither_overflow_nor_underflow(g, final):
    # 1.1^10000 = 10^413.9 overflows float64 (max 10^308); 10^-1000 underflows it. The states of
    # the exploding case overflow too (random inputs), which must not matter for a linear cell.
    T, n = 10000, 4
    params = linear_params(g * orthogonal(n, 5))
    flow = gradient_flow(cells.rnn_linear, params, np.random.default_rng(6).standard_normal((T, n)))
    d = np.arange(1, T + 1)
    assert np.all(np.isfinite(flow.log10_spectral_norm))
    np.testing.assert_allclose(flow.log10_spectral_norm, d * np.log10(g), rtol=0, atol=1e-8)
    np.testing.assert_allclose(flow.log10_frobenius_norm, d * np.log10(g) + 0.5 * np.log10(n),
                               rtol=0, atol=1e-8)
    assert abs(flow.log10_spectral_norm[-1] - final) < 1e-8


def test_seed_002_worked_example():
    # U = V = I, W = 2I, unit-vector inputs, no activation: h_1 = e1, h_2 = 2 e1 + e2,
    # h_3 = 4 e1 + 2 e2 + e3, ...; dh_T/dh_{T-d} = 2^d I.
    n = T = 5
    params = linear_params(2 * np.eye(n))
    flow = gradient_flow(cells.rnn_linear, params, np.eye(n), spectrum_at=range(1, T + 1))
    expected_states = np.zeros((T + 1, n))
    for t in range(1, T + 1):
        expected_states[t, :t] = 2.0 ** np.arange(t - 1, -1, -1)
    np.testing.assert_array_equal(flow.states, expected_states)
    assert flow.states[3].tolist() == [4, 2, 1, 0, 0]
    d = np.arange(1, T + 1)
    np.testing.assert_allclose(flow.log10_spectral_norm, d * np.log10(2), atol=1e-12)
    np.testing.assert_allclose(flow.log10_frobenius_norm, d * np.log10(2) + 0.5 * np.log10(n),
                               atol=1e-12)
    for k in d:  # every singular value of 2^d I is 2^d
        np.testing.assert_allclose(flow.singular_values[k], np.full(n, k * np.log10(2)), atol=1e-12)


@pytest.mark.parametrize("d_at", [5, 30, 60])
def test_spectrum_at_gives_all_singular_values_of_a_long_product(d_at):
    # W = Q diag(lam) Q^T symmetric: W^d has singular values |lam_i|^d exactly. At d = 60 they
    # span 10^+10.6 .. 10^-41.9, far more than float64 resolves in one matrix (DESIGN.md:
    # "Full singular spectra of long products use the QR (Benettin) method").
    lam = np.array([1.5, 1.1, 0.9, -0.5, 0.2])
    Q = orthogonal(len(lam), 2)
    W = Q @ np.diag(lam) @ Q.T
    T = 60
    flow = gradient_flow(cells.rnn_linear, linear_params(W), np.zeros((T, len(lam))),
                         spectrum_at=(d_at,))
    expected = np.sort(d_at * np.log10(np.abs(lam)))[::-1]
    np.testing.assert_allclose(flow.singular_values[d_at], expected, atol=1e-6)


# ------------------------------------------------------------------ non-normal W, Gelfand

def _non_normal(n, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, n)) / np.sqrt(n) + np.triu(2 * rng.standard_normal((n, n)), 1)
    return W / max(abs(np.linalg.eigvals(W)))  # spectral radius 1, ||W||_2 well above 1


def test_non_normal_linear_rnn_matches_matrix_power():
    n, T = 6, 60
    W = _non_normal(n, 3) * 1.05
    flow = gradient_flow(cells.rnn_linear, linear_params(W),
                         np.random.default_rng(4).standard_normal((T, n)))
    for d in range(1, T + 1):
        Wd = np.linalg.matrix_power(W, d)
        sv = np.linalg.svd(Wd, compute_uv=False)
        assert abs(flow.log10_spectral_norm[d - 1] - np.log10(sv[0])) < 1e-9, d
        assert abs(flow.log10_frobenius_norm[d - 1] - np.log10(np.linalg.norm(Wd))) < 1e-9, d


@pytest.mark.parametrize("seed", [7, 8])
def test_gelfand_spectral_radius_bounds(seed):
    # W = V diag(lam) V^-1 gives rho^d <= ||W^d||_2 <= cond(V) rho^d at every d: so
    # log10 ||W^d||^(1/d) -> log10 rho with error at most log10 cond(V) / d (Gelfand's formula).
    n, T = 5, 3000
    W = _non_normal(n, seed) * 1.2
    lam, V = np.linalg.eig(W)
    log_rho, log_cond = np.log10(max(abs(lam))), np.log10(np.linalg.cond(V))
    flow = gradient_flow(cells.rnn_linear, linear_params(W), np.zeros((T, n)))
    d = np.arange(1, T + 1)
    lower, upper = d * log_rho, d * log_rho + log_cond
    assert np.all(flow.log10_spectral_norm >= lower - 1e-8)
    assert np.all(flow.log10_spectral_norm <= upper + 1e-8)
    assert abs(flow.log10_spectral_norm[-1] / T - log_rho) <= log_cond / T + 1e-10
    assert log_cond / T < 1e-3  # the bound is tight enough to say something


# ------------------------------------------------------------------ Pascanu et al. 2013

@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 10), seed=st.integers(0, 2**32 - 1), norm=st.floats(0.05, 0.99),
       T=st.integers(1, 40))
def test_pascanu_bound_tanh_rnn(n, seed, norm, T):
    # |tanh'| <= 1, so ||dh_T/dh_{T-d}||_2 <= ||W_hh||_2^d: vanishing when ||W_hh||_2 < 1.
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, n))
    W *= norm / np.linalg.norm(W, 2)
    params = {"weight_hh": W, "weight_ih": rng.standard_normal((n, 3)),
              "bias_ih": rng.standard_normal(n), "bias_hh": np.zeros(n)}
    flow = gradient_flow(cells.rnn, params, rng.standard_normal((T, 3)))
    d = np.arange(1, T + 1)
    bound = d * np.log10(np.linalg.norm(W, 2))
    assert np.all(flow.log10_spectral_norm <= bound + 1e-9 * (1 + np.abs(bound)))


# ------------------------------------------------------------------ LSTM cell highway

@pytest.mark.parametrize("b_f", [-1.0, 0.5, 3.0])
def test_lstm_with_zero_weights_has_cell_highway_sigmoid_bf_to_the_d(b_f):
    Hh, T = 4, 30
    rng = np.random.default_rng(0)
    params = {"weight_hh": np.zeros((4 * Hh, Hh)), "weight_ih": np.zeros((4 * Hh, 2)),
              "bias_ih": rng.standard_normal(4 * Hh), "bias_hh": np.zeros(4 * Hh)}
    params["bias_ih"][Hh:2 * Hh] = b_f
    flow = gradient_flow(cells.lstm, params, rng.standard_normal((T, 2)))
    d = np.arange(1, T + 1)
    expected = d * np.log10(sigmoid(b_f))  # dc_T/dc_t = sigmoid(b_f)^d I
    np.testing.assert_allclose(flow.blocks["c"].log10_spectral_norm, expected, atol=1e-10)
    np.testing.assert_allclose(flow.blocks["c"].log10_frobenius_norm,
                               expected + 0.5 * np.log10(Hh), atol=1e-10)


# ------------------------------------------------------------------ against explicit products

def _assert_matches_explicit_product(name, Hh, D, T, seed, scale=1.2):
    rng = np.random.default_rng(seed)
    params = random_params(name, Hh, D, rng, scale=scale)
    n = (2 if name == "lstm" else 1) * Hh
    inputs, s0 = rng.standard_normal((T, D)), 0.3 * rng.standard_normal(n)
    g = rng.standard_normal(n)
    spectrum_at = (1, T // 2, T)
    flow = gradient_flow(CELL_FUNCS[name], params, inputs, s0, loss_grad=g, spectrum_at=spectrum_at)
    states, jacs = oracle_trajectory(name, params, inputs, s0)
    np.testing.assert_allclose(flow.states, states, rtol=1e-12, atol=1e-13)
    products = explicit_products(jacs)
    for d, P in enumerate(products, start=1):
        assert abs(flow.log10_spectral_norm[d - 1] - log10_2norm(P)) < 1e-9, d
        assert abs(flow.log10_frobenius_norm[d - 1] - np.log10(np.linalg.norm(P))) < 1e-9, d
        assert abs(flow.log10_loss_gradient_norm[d - 1] - np.log10(np.linalg.norm(g @ P))) < 1e-9
    for d in spectrum_at:
        _assert_resolved_spectrum(flow.singular_values[d], products[d - 1])
    return flow, products


def _assert_resolved_spectrum(log10_svals, P):
    # Both routes round P to about eps * sigma_1 per entry, so only singular values well above
    # that are comparable; the exact small ones are tested on a normal W below.
    sv = np.linalg.svd(P, compute_uv=False)
    assert len(log10_svals) == len(sv)
    keep = sv >= 1e-6 * sv[0]
    np.testing.assert_allclose(np.asarray(log10_svals)[keep], np.log10(sv[keep]), atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(CELL_FUNCS))
def test_norms_equal_those_of_the_explicit_product(name, seed):
    _assert_matches_explicit_product(name, Hh=5, D=3, T=40, seed=seed)


def test_lstm_blocks_are_blocks_of_the_full_product():
    Hh = 4
    flow, products = _assert_matches_explicit_product("lstm", Hh=Hh, D=3, T=30, seed=3)
    h, c = slice(0, Hh), slice(Hh, 2 * Hh)
    for d, P in enumerate(products, start=1):
        assert abs(flow.blocks["h"].log10_spectral_norm[d - 1] - log10_2norm(P[h, h])) < 1e-9
        assert abs(flow.blocks["c"].log10_spectral_norm[d - 1] - log10_2norm(P[c, c])) < 1e-9
        assert abs(flow.blocks["h"].log10_frobenius_norm[d - 1]
                   - np.log10(np.linalg.norm(P[h, h]))) < 1e-9
        assert abs(flow.blocks["c"].log10_frobenius_norm[d - 1]
                   - np.log10(np.linalg.norm(P[c, c]))) < 1e-9
    # and the h-block of the product is not the product of the h-blocks (so the test can tell)
    _, jacs = oracle_trajectory("lstm", random_params("lstm", Hh, 3, np.random.default_rng(3)),
                                np.zeros((3, 3)), np.full(2 * Hh, 0.3))
    hh = jacs[2][h, h] @ jacs[1][h, h] @ jacs[0][h, h]
    full = (jacs[2] @ jacs[1] @ jacs[0])[h, h]
    assert not np.allclose(hh, full)


def test_default_loss_gradient_is_the_normalised_ones_vector():
    name, Hh, T = "gru", 4, 20
    rng = np.random.default_rng(9)
    params = random_params(name, Hh, 2, rng)
    inputs = rng.standard_normal((T, 2))
    flow = gradient_flow(cells.gru, params, inputs)
    _, jacs = oracle_trajectory(name, params, inputs, np.zeros(Hh))
    g = np.ones(Hh) / np.sqrt(Hh)
    for d, P in enumerate(explicit_products(jacs), start=1):
        assert abs(flow.log10_loss_gradient_norm[d - 1] - np.log10(np.linalg.norm(g @ P))) < 1e-9


def test_hidden_size_one_builtin_cells():
    for name in CELL_FUNCS:
        _assert_matches_explicit_product(name, Hh=1, D=2, T=15, seed=4)


# ------------------------------------------------------------------ user cells

def _user_params(n, D, seed):
    rng = np.random.default_rng(seed)
    return {"W": rng.standard_normal((n, n + D)) * 1.1 / np.sqrt(n), "b": rng.standard_normal(n)}


def cell_np_concatenate(params, state, x):
    return anp.tanh(anp.dot(anp.concatenate([state, x], axis=-1), params["W"].T) + params["b"])


def cell_ops_concat(params, state, x):
    return anp.tanh(anp.dot(concat(state, x), params["W"].T) + params["b"])


def _user_oracle(params, inputs, s0):
    n = len(s0)
    states, jacs = [s0], []
    for x in inputs:
        h = np.tanh(params["W"] @ np.concatenate([states[-1], x]) + params["b"])
        jacs.append(np.diag(1 - h ** 2) @ params["W"][:, :n])
        states.append(h)
    return np.array(states), jacs


@pytest.mark.parametrize("n", [1, 2, 6])
@pytest.mark.parametrize("cell,batched", [(cell_np_concatenate, False), (cell_ops_concat, True)])
def test_user_cells(cell, batched, n):
    D, T = 3, 25
    params = _user_params(n, D, n)
    rng = np.random.default_rng(1)
    inputs, s0 = rng.standard_normal((T, D)), rng.standard_normal(n)
    flow = gradient_flow(cell, params, inputs, s0, spectrum_at=(T,))
    states, jacs = _user_oracle(params, inputs, s0)
    np.testing.assert_allclose(flow.states, states, rtol=1e-12, atol=1e-13)
    products = explicit_products(jacs)
    for d, P in enumerate(products, start=1):
        assert abs(flow.log10_spectral_norm[d - 1] - log10_2norm(P)) < 1e-9, d
        assert abs(flow.log10_frobenius_norm[d - 1] - np.log10(np.linalg.norm(P))) < 1e-9, d
    _assert_resolved_spectrum(flow.singular_values[T], products[-1])
    lin = Linearization(cell, params)
    J = lin(s0, inputs[0], np.eye(n)).T
    np.testing.assert_allclose(J, jacs[0], rtol=1e-12, atol=1e-14)
    if n > 1:  # with n = 1 both routes agree, so which one was taken is not observable
        assert lin.batched is batched


def test_user_cell_with_ops_concat_of_equal_widths_is_batched():
    n = D = 4
    params = _user_params(n, D, 5)
    rng = np.random.default_rng(2)
    inputs, s0 = rng.standard_normal((20, D)), rng.standard_normal(n)
    flow = gradient_flow(cell_ops_concat, params, inputs, s0)
    _, jacs = _user_oracle(params, inputs, s0)
    for d, P in enumerate(explicit_products(jacs), start=1):
        assert abs(flow.log10_spectral_norm[d - 1] - log10_2norm(P)) < 1e-9, d
    lin = Linearization(cell_ops_concat, params)
    lin(s0, inputs[0], np.eye(n))
    assert lin.batched is True


def test_user_cell_of_state_size_one_scalar_recurrence():
    # s_t = tanh(w s_{t-1} + x_t): ds_T/ds_{T-d} = prod w (1 - s_k^2), a plain product of numbers.
    w = 0.9

    def cell(params, s, x):
        return anp.tanh(params["w"] * s + x[..., :1])

    inputs = np.random.default_rng(2).standard_normal((30, 1))
    flow = gradient_flow(cell, {"w": w}, inputs, np.array([0.2]))
    s, factors = 0.2, []
    for x in inputs[:, 0]:
        s = np.tanh(w * s + x)
        factors.append(w * (1 - s ** 2))
    expected = np.cumsum(np.log10(np.abs(factors[::-1])))
    np.testing.assert_allclose(flow.log10_spectral_norm, expected, atol=1e-10)
    np.testing.assert_allclose(flow.log10_frobenius_norm, expected, atol=1e-10)


@pytest.mark.parametrize("name", list(CELL_FUNCS) + ["rnn_relu", "rnn_linear"])
def test_builtin_cells_take_the_batched_route(name):
    cell = cells.get_cell(name) if name in CELL_FUNCS else getattr(cells, name)
    key = "lstm" if name == "lstm" else ("gru" if name.startswith("gru") else "rnn")
    params = random_params(key, 4, 2, np.random.default_rng(0))
    n = cell.state_size(params)
    lin = Linearization(cell, params)
    lin(np.full(n, 0.1), np.ones(2), np.eye(n))
    assert lin.batched is True


def test_single_tangent_is_a_jacobian_vector_product():
    # k = 1 tangent (the padded path of the forward mode) against the closed form times t
    Hh = 5
    rng = np.random.default_rng(3)
    params = random_params("lstm", Hh, 2, rng)
    s, x, t = rng.standard_normal(2 * Hh), rng.standard_normal(2), rng.standard_normal(2 * Hh)
    from cell_oracles import lstm_jacobian
    out = Linearization(cells.lstm, params)(s, x, t[None, :])
    assert out.shape == (1, 2 * Hh)
    np.testing.assert_allclose(out[0], lstm_jacobian(params, s, x) @ t, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(step_jacobian(cells.lstm, params, s, x),
                               lstm_jacobian(params, s, x), rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------ memory

@pytest.mark.slow
@pytest.mark.parametrize("chunk_bytes", [2 ** 21, CHUNK_BYTES])
def test_gradient_flow_does_not_keep_all_jacobians(chunk_bytes):
    T, n = 2000, 64
    params = random_params("rnn", n, 4, np.random.default_rng(0), scale=1.0)
    inputs = np.random.default_rng(1).standard_normal((T, 4))
    tracemalloc.start()
    try:
        flow = gradient_flow(cells.rnn, params, inputs, chunk_bytes=chunk_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    all_jacobians = T * n * n * 8  # 65.5 MB
    # O(T n + K n^2): the states and their copies (3 T n numbers, 3 MB) and one chunk of K
    # steps, which chunk_bytes bounds (8 n x n arrays per step), far below T n^2.
    K = chunk_steps(n, chunk_bytes)
    assert peak < 3 * T * n * 8 + 8 * K * n * n * 8, (peak, K)
    assert peak < all_jacobians / (4 if K == 64 else 10), peak
    assert np.all(np.isfinite(flow.log10_spectral_norm))
