"""The chunked engine: step Jacobians of K steps in one forward-mode call, the norms of a chunk of
products in one call. Checked against the hand-derived Jacobians (tests/cell_oracles.py), closed
forms, and the one-step route it replaces (chunk_bytes=0), for every kind of cell."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings, strategies as st

from gradflow import cells
from gradflow.cells import layers, skips
from gradflow.cells.initializers import init_params
from gradflow.cells.ops import concat, dot
from gradflow.engine.jacobians import (SparseProduct, chunk_steps, gradient_flow, lyapunov_spectrum,
                                       step_jacobians, trajectory)
from gradflow.engine.linearization import Linearization

from cell_oracles import ORACLES, oracle_trajectory, random_params

BUILTIN = {"rnn": cells.rnn, "rnn_relu": cells.rnn_relu, "lstm": cells.lstm, "gru": cells.gru,
           "gru_torch": cells.gru_torch}


@pytest.mark.parametrize("name", list(BUILTIN))
def test_a_chunk_of_step_jacobians_equals_the_closed_forms(name):
    key = "rnn_relu" if name == "rnn_relu" else name
    H, D, T = 5, 3, 12
    params = random_params("rnn" if name == "rnn_relu" else name, H, D,
                           np.random.default_rng(4), scale=1.3)
    inputs = np.random.default_rng(5).standard_normal((T, D))
    cell = BUILTIN[name]
    s0 = np.random.default_rng(6).standard_normal(cell.state_size(params)) * 0.5
    states, jacs = oracle_trajectory(key if key in ORACLES else "rnn", params, inputs, s0)
    linear = Linearization(cell, params)
    J = linear.steps(states[3:10], inputs[3:10], 3)
    assert J is not None and linear.time_batched is True
    np.testing.assert_allclose(J, np.array(jacs[3:10]), rtol=1e-12, atol=1e-14)


def _flows_agree(cell, params, inputs, s0=None, steps=None, **kws):
    """gradient_flow chunked (default) and one step at a time (chunk_bytes=0) agree to 1e-12."""
    chunked = gradient_flow(cell, params, inputs, s0, steps=steps, **kws)
    single = gradient_flow(cell, params, inputs, s0, steps=steps, chunk_bytes=0, **kws)
    for a, b in [(chunked.log10_spectral_norm, single.log10_spectral_norm),
                 (chunked.log10_frobenius_norm, single.log10_frobenius_norm),
                 (chunked.log10_loss_gradient_norm, single.log10_loss_gradient_norm)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert chunked.blocks.keys() == single.blocks.keys()
    for name in chunked.blocks:
        np.testing.assert_allclose(chunked.blocks[name], single.blocks[name], rtol=0, atol=1e-12)
    for d in chunked.products:
        a, b = chunked.products[d].value(), single.products[d].value()
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    for d in chunked.singular_values:  # to 1e-11 of the largest (rounding in J moves the
        a, b = chunked.singular_values[d], single.singular_values[d]  # rest that much)
        np.testing.assert_allclose(10 ** (a - a[0]), 10 ** (b - a[0]), rtol=0, atol=1e-11)
    if chunked.loss_gradients is not None:
        np.testing.assert_allclose(chunked.loss_gradients.mantissa,
                                   single.loss_gradients.mantissa, rtol=1e-11, atol=1e-13)
    return chunked


def _leaky(params, state, x):  # a user cell that broadcasts over leading axes
    return 0.3 * state + 0.7 * anp.tanh(anp.dot(concat(state, x), params["W"].T) + params["b"])


def _column_cell(params, state, x):  # written for one state: W s, which (K, n) states break
    return anp.tanh(anp.dot(params["W"][:, :len(params["b"])], state.T).T + params["b"])


def _henon(params, s, x):  # an autonomous map: no input
    return concat(1 - 1.4 * s[..., :1] ** 2 + s[..., 1:], 0.3 * s[..., :1])


def _user_params(n, D, seed):
    rng = np.random.default_rng(seed)
    return {"W": rng.standard_normal((n, n + D)) * 1.2 / np.sqrt(n), "b": rng.standard_normal(n)}


CASES = {
    "rnn": lambda: (cells.rnn, random_params("rnn", 24, 4, np.random.default_rng(0), 1.5)),
    "lstm": lambda: (cells.lstm, random_params("lstm", 12, 4, np.random.default_rng(1), 1.2)),
    "gru": lambda: (cells.gru, random_params("gru", 20, 4, np.random.default_rng(2), 1.2)),
    "skip:3 rnn": lambda: _transformed(skips.skip(cells.rnn, 3, 0.5), 6),
    "dense:2 gru": lambda: _transformed(skips.dense(cells.gru, 2, 0.5), 5),
    "highway gru": lambda: _transformed(skips.highway(cells.gru, -1.0), 6),
    "residual rnn": lambda: _transformed(skips.residual(cells.rnn), 6),
    "stack lstm+gru": lambda: _stacked(),
    "user leaky": lambda: (_leaky, _user_params(7, 4, 3)),
}


def _transformed(cell, H):
    return cell, init_params(cell, H, 4, scale=1.3, seed=7)


def _stacked():
    cell = layers.stack([cells.lstm, cells.gru])
    return cell, init_params(cell, 6, 4, scale=1.3, seed=8)


@pytest.mark.parametrize("case", list(CASES))
def test_chunked_route_equals_the_one_step_route(case):
    cell, params = CASES[case]()
    T = 150  # several chunks of 64 and a partial one
    inputs = np.random.default_rng(9).standard_normal((T, 4))
    s0 = None if hasattr(cell, "state_size") else np.zeros(7)
    flow = _flows_agree(cell, params, inputs, s0, products_at=(1, 64, 65, T),
                        spectrum_at=(70,), keep_loss_gradients=True)
    # the comparison covered every distance with a defined number, across chunk boundaries
    assert flow.log10_spectral_norm.shape == (T,)
    assert np.all(np.isfinite(flow.log10_spectral_norm))
    assert sorted(flow.products) == [1, 64, 65, T] and 70 in flow.singular_values


def test_chunked_route_is_taken_by_transformed_and_stacked_cells():
    for case in ("skip:3 rnn", "dense:2 gru", "highway gru", "stack lstm+gru", "user leaky"):
        cell, params = CASES[case]()
        s0 = None if hasattr(cell, "state_size") else np.zeros(7)
        inputs = np.random.default_rng(9).standard_normal((10, 4))
        inputs, s0, states = trajectory(cell, params, inputs, s0)
        linear = Linearization(cell, params)
        chunks = list(step_jacobians(linear, states, inputs, 4))
        assert [len(c) for c in chunks] == [4, 4, 2]
        # a skip connection's chunks are its base cell's, assembled (test_skip_jacobians.py)
        batched = linear.augmented.base if linear.augmented is not None else linear
        assert batched.time_batched is True, case
        n = len(s0)
        for t, J in enumerate(np.concatenate(chunks)):  # against one step at a time
            np.testing.assert_allclose(J, linear(states[t], inputs[t], np.eye(n), t).T,
                                       rtol=1e-12, atol=1e-14)


def test_a_cell_that_does_not_broadcast_over_steps_is_caught_even_when_shapes_fit():
    # With K = n, W s^T runs on (K, n) states without an error, but mixes the steps: the
    # first chunk is checked against one step at a time, and the route is closed.
    n, D = 6, 2
    params = _user_params(n, D, 11)
    inputs = np.random.default_rng(12).standard_normal((40, D))
    s0 = np.random.default_rng(13).standard_normal(n)
    bytes_for_n = 8 * 8 * n * n * n
    assert chunk_steps(n, bytes_for_n) == n
    inputs_, s0_, states = trajectory(_column_cell, params, inputs, s0)
    linear = Linearization(_column_cell, params)
    assert linear.steps(states.window(0, n), inputs_[:n], 0) is None
    assert linear.time_batched is False
    flow = gradient_flow(_column_cell, params, inputs, s0, chunk_bytes=bytes_for_n)
    # the oracle: explicit products of diag(1 - s_t^2) W
    W = params["W"][:, :n]
    P, expected = np.eye(n), []
    for t in range(len(inputs), 0, -1):
        P = P @ (np.diag(1 - states[t] ** 2) @ W)
        expected.append(np.log10(np.linalg.norm(P, 2)))
    np.testing.assert_allclose(flow.log10_spectral_norm, expected, rtol=0, atol=1e-10)


def test_an_autonomous_map_in_chunks_has_the_exact_jacobians_and_exponent_sum():
    # Henon map: J = [[-2.8 u, 1], [0.3, 0]], det J = -0.3 at every step, so the exponents sum
    # to ln 0.3 exactly (over any number of steps); the top one is 0.419 (Sprott 2003).
    s0, T = np.array([0.1, 0.1]), 5000
    _, _, states = trajectory(_henon, {}, None, s0, T)
    linear = Linearization(_henon, {})
    J = linear.steps(states.window(100, 140), [None] * 40, 100)
    u = states.window(100, 140)[:, 0]
    np.testing.assert_allclose(J[:, 0, 0], -2.8 * u, rtol=1e-14)
    np.testing.assert_array_equal(J[:, 0, 1], 1.0)
    np.testing.assert_array_equal(J[:, 1], [[0.3, 0.0]] * 40)
    exponents = lyapunov_spectrum(_henon, {}, None, s0, steps=T, discard=100)
    assert abs(exponents.sum() - np.log(0.3)) < 1e-12
    assert abs(exponents[0] - 0.419) < 0.005
    single = lyapunov_spectrum(_henon, {}, None, s0, steps=T, discard=100, chunk_bytes=0)
    np.testing.assert_allclose(exponents, single, rtol=0, atol=1e-13)
    _flows_agree(_henon, {}, None, s0, steps=300)


@pytest.mark.parametrize("k", [None, 3])
def test_lyapunov_spectrum_in_chunks_equals_one_step_at_a_time(k):
    params = random_params("gru", 8, 3, np.random.default_rng(14), scale=2.0)
    inputs = np.random.default_rng(15).standard_normal((300, 3))
    a = lyapunov_spectrum(cells.gru, params, inputs, k=k, discard=20)
    b = lyapunov_spectrum(cells.gru, params, inputs, k=k, discard=20, chunk_bytes=0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_dot_is_numpys_dot_and_autograds_gradient_to_the_last_bit():
    rng = np.random.default_rng(16)
    W, h = rng.standard_normal((12, 5)), rng.standard_normal((3, 5))
    np.testing.assert_array_equal(dot(h, W.T), np.dot(h, W.T))

    def loss(f):
        return lambda W, h: anp.sum(anp.tanh(f(h, W.T)) ** 2)

    for argnum in (0, 1):
        np.testing.assert_array_equal(grad(loss(dot), argnum)(W, h),
                                      grad(loss(anp.dot), argnum)(W, h))


def test_dot_pays_the_identity_product_once_and_gives_every_step_the_same():
    from autograd.core import JVPNode
    from autograd.tracer import trace
    rng = np.random.default_rng(17)
    K, n, m = 5, 4, 7
    W, S = rng.standard_normal((m, n)), rng.standard_normal((K, n))
    tangent = np.broadcast_to(np.eye(n)[:, None, :], (n, K, n))
    _, node = trace(JVPNode.new_root(tangent), lambda s: dot(s, W.T), S)
    assert node.g.shape == (n, K, m) and node.g.strides[1] == 0  # broadcast, not copied
    np.testing.assert_array_equal(node.g, np.broadcast_to(W.T[:, None, :], (n, K, m)))
    varied = rng.standard_normal((n, K, n))  # a tangent that varies with the step
    _, node = trace(JVPNode.new_root(varied), lambda s: dot(s, W.T), S)
    np.testing.assert_allclose(node.g, np.einsum("ikj,mj->ikm", varied, W), rtol=1e-13)


@settings(max_examples=40, deadline=None)
@given(H=st.integers(1, 12), K=st.integers(1, 4), seed=st.integers(0, 2 ** 32 - 1),
       zero_cols=st.integers(0, 3))
def test_the_product_by_columns_equals_the_matrix_product(H, K, seed, zero_cols):
    # LSTM-shaped step Jacobians [[A, diag], [C, diag]], some columns zero: the columns with
    # at most two non-zero rows are formed by hand, the rest by BLAS; P J either way.
    rng = np.random.default_rng(seed)
    n = 2 * H
    Js = rng.standard_normal((K, n, n))
    Js[:, :, H:] = 0
    for k in range(K):
        Js[k, np.arange(H), H + np.arange(H)] = rng.standard_normal(H)
        Js[k, H + np.arange(H), H + np.arange(H)] = rng.standard_normal(H)
    Js[:, :, rng.choice(n, size=min(zero_cols, n), replace=False)] = 0
    P = rng.standard_normal((n + 3, n))  # a primary block may have more rows than columns
    multiply = SparseProduct()(Js)
    out = np.empty((n + 3, n))
    for J in Js:
        multiply(P, J, out)
        np.testing.assert_allclose(out, P @ J, rtol=1e-13, atol=1e-13 * np.abs(P).max())
    if zero_cols == 0 and H >= 2:
        assert multiply.__name__ == "multiply"  # the LSTM's cell columns went by hand


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(2, 4), seed=st.integers(0, 2 ** 32 - 1),
       diagonal_skip=st.booleans())
def test_the_product_by_columns_of_a_skip_connection_equals_the_matrix_product(
        n, k, seed, diagonal_skip):
    # The augmented Jacobian of s_t = f(s_{t-1}) + B s_{t-k}: [[A, 0, ..., B], [I, 0, ...],
    # [0, I, ...], ...]: shifted identities, and B diagonal (at initialisation) or dense.
    rng = np.random.default_rng(seed)
    N = k * n
    Js = np.zeros((3, N, N))
    for J in Js:
        J[:n, :n] = rng.standard_normal((n, n))
        J[:n, -n:] = np.diag(rng.standard_normal(n)) if diagonal_skip else \
            rng.standard_normal((n, n))
        J[n:, :-n] = np.eye(N - n)
    multiply = SparseProduct()(Js)
    for rows in (N, n):  # the whole product, and the rows of s_T alone (gradient_flow's)
        P = rng.standard_normal((rows, N))
        out = np.empty((rows, N))
        for J in Js:
            multiply(P, J, out)
            np.testing.assert_allclose(out, P @ J, rtol=1e-13, atol=1e-13 * np.abs(P).max())
    if n >= 2 and (k > 2 or diagonal_skip):
        assert multiply.__name__ == "multiply"


@settings(max_examples=60, deadline=None)
@given(N=st.integers(2, 12), seed=st.integers(0, 2 ** 32 - 1), density=st.floats(0, 1),
       diagonals=st.lists(st.integers(-11, 11), max_size=3), rows=st.integers(1, 12))
def test_the_sparse_product_equals_the_matrix_product_on_any_pattern(N, seed, density, diagonals,
                                                                     rows):
    # Random patterns: dense blocks, rows with a single non-zero in a dense run of columns (on
    # a diagonal or not), empty rows and columns; the plan must never drop a term.
    rng = np.random.default_rng(seed)
    mask = rng.random((N, N)) < density
    for offset in diagonals:
        mask |= np.eye(N, k=offset, dtype=bool)
    if N > 3:
        mask[: N // 2, : N // 2] = True  # a dense block, so that some runs go through BLAS
    Js = np.where(mask, rng.standard_normal((2, N, N)), 0.0)
    plan = SparseProduct()
    P = rng.standard_normal((rows, N))
    out = np.empty((rows, N))
    for chunk in (Js, Js[::-1], Js * (rng.random((2, N, N)) < 0.5)):  # a narrower pattern too
        multiply = plan(chunk)
        for J in chunk:
            multiply(P, J, out)
            np.testing.assert_allclose(out, P @ J, rtol=1e-12, atol=1e-12 * np.abs(P).max())


@pytest.mark.parametrize("product", [anp.dot, anp.matmul])
def test_a_user_cell_with_autograds_own_product_pays_the_identity_product_once(product):
    from autograd.core import JVPNode
    from autograd.tracer import trace
    rng = np.random.default_rng(18)
    K, n, m = 6, 5, 3
    W, S = rng.standard_normal((m, n)), rng.standard_normal((K, n))
    tangent = np.broadcast_to(np.eye(n)[:, None, :], (n, K, n))
    _, node = trace(JVPNode.new_root(tangent), lambda s: product(s, W.T), S)
    assert node.g.strides[1] == 0
    np.testing.assert_array_equal(node.g, np.broadcast_to(W.T[:, None, :], (n, K, m)))
    # ordinary tangents (the primal's shape) follow autograd's rule: tangent times W^T
    t = rng.standard_normal((K, n))
    _, node = trace(JVPNode.new_root(t), lambda s: product(s, W.T), S)
    np.testing.assert_allclose(node.g, t @ W.T, rtol=1e-14)

    def cell(params, state, x):
        return anp.tanh(product(state, params["W"].T) + product(x, params["U"].T))

    params = {"W": rng.standard_normal((n, n)) / np.sqrt(n), "U": rng.standard_normal((n, 2))}
    inputs, s0 = rng.standard_normal((30, 2)), np.zeros(n)
    _, _, states = trajectory(cell, params, inputs, s0)
    J = Linearization(cell, params).steps(states.window(0, 30), inputs, 0)
    h = states.window(1, 31)
    np.testing.assert_allclose(J, (1 - h ** 2)[:, :, None] * params["W"], rtol=1e-13,
                               atol=1e-15)
