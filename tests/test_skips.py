"""Skip connections in time (gradflow.cells.skips) against exact cases and brute-force
differentiation of the whole unrolled network.

Oracles: s_t = b s_{t-k} alone has ds_T/ds_{T-m} = b^(m/k) I when k divides m and 0 otherwise;
a residual connection around a cell whose update is zero is the identity; a highway whose gate
is shut carries the state unchanged and one whose gate is open is the base cell. And for small
networks, ds_T/ds_t with s_t perturbed alone, by autograd's `jacobian` of the network written
out as the recursion of its definition (no augmented state), over the unrolled sequence.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian

from gradflow import cells
from gradflow.cells import init_params
from gradflow.cells.skips import dense, highway, parse_skip, residual, skip, transform
from gradflow.engine.jacobians import gradient_flow, lyapunov_spectrum


def zero_update_params(n, D=1):
    """rnn_linear whose update is zero: f(s, x) = 0 s + 0 x + 0."""
    return {"weight_hh": np.zeros((n, n)), "weight_ih": np.zeros((n, D)),
            "bias_ih": np.zeros(n), "bias_hh": np.zeros(n)}


# ------------------------------------------------------------------ exact cases

@pytest.mark.parametrize("k,b", [(1, 0.9), (3, 0.9), (4, -1.1), (7, 0.5)])
def test_skip_alone_is_b_to_the_m_over_k(k, b):
    n, T = 2, 10_000
    params = {**zero_update_params(n), "skip_weight": b * np.eye(n)}
    flow = gradient_flow(skip(cells.rnn_linear, k), params, np.zeros((T, 1)),
                         blocks={"augmented": slice(None)})
    m = flow.distance
    expected = np.where(m % k == 0, (m / k) * np.log10(abs(b)), -np.inf)
    np.testing.assert_array_equal(np.isneginf(flow.log10_spectral_norm), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(flow.log10_spectral_norm[finite], expected[finite], rtol=1e-9)
    assert np.isfinite(flow.log10_spectral_norm[-1]) == (T % k == 0)
    if k > 1:  # the whole augmented product is never zero: the shift carries s_t along
        assert np.all(np.isfinite(flow.blocks["augmented"].log10_spectral_norm))


def test_residual_around_a_zero_update_is_the_identity():
    n, T = 3, 50
    flow = gradient_flow(residual(cells.rnn_linear), zero_update_params(n), np.zeros((T, 1)))
    np.testing.assert_allclose(flow.log10_spectral_norm, 0.0, atol=1e-14)
    np.testing.assert_allclose(flow.log10_frobenius_norm, 0.5 * np.log10(n), atol=1e-14)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_highway_shut_is_the_identity_and_open_is_the_base_cell(name):
    rng = np.random.default_rng(0)
    H, D, T = 4, 3, 25
    inputs = rng.standard_normal((T, D))
    base = cells.get_cell(name)
    shut = init_params(highway(base, bias=-1e3), H, D, seed=1)
    flow = gradient_flow(highway(base, bias=-1e3), shut, inputs)
    np.testing.assert_allclose(flow.log10_spectral_norm, 0.0, atol=1e-14)
    open_ = init_params(highway(base, bias=1e3), H, D, seed=1)
    flow = gradient_flow(highway(base, bias=1e3), open_, inputs)
    plain = gradient_flow(base, {k: open_[k] for k in ("weight_ih", "weight_hh", "bias_ih",
                                                        "bias_hh")}, inputs)
    np.testing.assert_allclose(flow.log10_spectral_norm, plain.log10_spectral_norm, atol=1e-12)


# ------------------------------------------------------------------ brute force

def reference_step(kind, base, params, history, x, k):
    """One step of the connection from its definition; history = [s_0, ..., s_{t-1}]."""
    s = history[-1]
    f = base(params, s, x)
    if kind == "skip":
        past = history[-k] if len(history) >= k else anp.zeros_like(s)
        return f + anp.dot(params["skip_weight"], past)
    if kind == "dense":
        n = len(s)
        total = f
        for j in range(1, k + 1):
            past = history[-j] if len(history) >= j else anp.zeros_like(s)
            total = total + anp.dot(params["dense_weight"][:, (j - 1) * n:j * n], past)
        return total
    if kind == "residual":
        return s + f
    g = 1 / (1 + anp.exp(-(anp.dot(params["highway_weight_hh"], s)
                           + anp.dot(params["highway_weight_ih"], x) + params["highway_bias"])))
    return g * f + (1 - g) * s


def brute_force(kind, base, params, inputs, n, t, k):
    """d s_T / d s_t with s_t perturbed alone: autograd through the unrolled recursion."""
    T = len(inputs)
    history = [np.zeros(n)]
    for i in range(t):
        history.append(reference_step(kind, base, params, history, inputs[i], k))

    def from_t(v):
        hist = history[:t] + [v]
        for i in range(t, T):
            hist = hist + [reference_step(kind, base, params, hist, inputs[i], k)]
        return hist[-1]

    # The residual LSTM's c grows by about 1 + f per step; autograd's tanh derivative,
    # 1 / cosh(c)^2, then overflows cosh on the way to its correct value 0.
    with np.errstate(over="ignore"):
        return jacobian(from_t)(history[t])


TRANSFORMS = {"skip": lambda c, k: skip(c, k, 0.5), "dense": lambda c, k: dense(c, k, 0.3),
              "residual": lambda c, k: residual(c), "highway": lambda c, k: highway(c, 0.5)}


@pytest.mark.parametrize("kind", ["skip", "dense", "residual", "highway"])
@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_augmented_product_equals_brute_force_on_the_unrolled_network(kind, name):
    rng = np.random.default_rng(sum(map(ord, kind + name)))
    H, D, T, k = 5, 3, 14, 3  # residual gated cells double their carry: keep T short
    base = cells.get_cell(name)
    cell = TRANSFORMS[kind](base, k)
    params = init_params(cell, H, D, seed=2)
    if kind in ("skip", "dense"):  # not the identity at init: a general B
        key = "skip_weight" if kind == "skip" else "dense_weight"
        B = rng.standard_normal(params[key].shape) / np.sqrt(params[key].shape[1])
        params[key] = params[key] + 0.2 * B
    inputs = rng.standard_normal((T, D))
    distances = (1, 2, 3, 7, T)
    flow = gradient_flow(cell, params, inputs, products_at=distances)  # the whole product
    rows = gradient_flow(cell, params, inputs)  # only the product's rows of s_T are carried
    n = base.state_size(params)
    for d in distances:
        expected = brute_force(kind, base, params, inputs, n, T - d, k)
        got = flow.products[d].value()[:n, :n]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())
        for norms in (flow, rows):
            np.testing.assert_allclose(norms.log10_spectral_norm[d - 1],
                                       np.log10(np.linalg.norm(expected, 2)), atol=1e-10)
            np.testing.assert_allclose(norms.log10_frobenius_norm[d - 1],
                                       np.log10(np.linalg.norm(expected)), atol=1e-10)


def test_lyapunov_of_a_skip_network_is_of_the_augmented_map():
    # s_t = b s_{t-k} alone: the augmented map is a scaled cyclic shift, all |eigenvalues| equal
    # to |b|^(1/k): every exponent is log|b| / k.
    n, k, b = 2, 3, 0.8
    params = {**zero_update_params(n), "skip_weight": b * np.eye(n)}
    exps = lyapunov_spectrum(skip(cells.rnn_linear, k), params, np.zeros((3000, 1)))
    np.testing.assert_allclose(exps, np.log(b) / k, atol=2e-3)


# ------------------------------------------------------------------ what a cell says

def test_transformed_cells_say_their_names_sizes_and_blocks():
    p = init_params(skip(cells.lstm, 4), 3, 2, seed=0)
    cell = skip(cells.lstm, 4)
    assert cell.name == "lstm+skip:4" and cell.state_size(p) == 24
    assert cell.primary(p) == slice(0, 6)
    assert cell.blocks(p) == {"h": slice(0, 3), "c": slice(3, 6)}
    np.testing.assert_array_equal(p["skip_weight"], np.eye(6))
    d = init_params(dense(cells.gru, 2, 0.5), 3, 2, seed=0)
    np.testing.assert_array_equal(d["dense_weight"], np.hstack([0.25 * np.eye(3)] * 2))
    h = init_params(highway(cells.rnn, -2.0), 3, 2, seed=0)
    assert h["highway_weight_ih"].shape == (3, 2) and np.all(h["highway_bias"] == -2.0)
    assert residual(cells.rnn).state_size(h) == 3 and residual(cells.rnn).primary(h) == slice(None)


@pytest.mark.parametrize("text,parsed", [("residual", ("residual", None)), ("skip:4", ("skip", 4)),
                                         ("dense:2", ("dense", 2)), ("highway", ("highway", None)),
                                         ("none", None), (None, None)])
def test_parse_skip(text, parsed):
    assert parse_skip(text) == parsed


@pytest.mark.parametrize("text", ["skip:0", "skip:-1", "skip:abc", "skip", "dense:", "wormhole",
                                  "residual:2"])
def test_parse_skip_refuses(text):
    with pytest.raises(ValueError):
        parse_skip(text)


def test_user_cell_with_a_skip():
    # A user's cell (no state_size): the skip weight tells the size.
    def my_cell(params, state, x):
        return anp.tanh(anp.dot(state, params["W"].T) + x[..., :1])

    n, k = 3, 2
    cell = transform(my_cell, "skip:2", scale=0.5)
    params = {"W": 0.1 * np.eye(n), "skip_weight": 0.5 * np.eye(n)}
    flow = gradient_flow(cell, params, np.zeros((10, 1)), state0=np.zeros(k * n))
    assert flow.log10_spectral_norm.shape == (10,) and cell.state_size(params) == k * n


def test_the_trajectory_keeps_the_networks_own_states_only():
    # O(T n) memory, not O(T k n): the augmented states are rebuilt from the own states, and
    # they are exactly what unrolling the augmented cell gives.
    from gradflow.engine.unroll import run, unroll

    rng = np.random.default_rng(0)
    H, D, T, k = 4, 3, 40, 6
    cell = skip(cells.lstm, k, 0.7)
    params = init_params(cell, H, D, seed=1)
    inputs = rng.standard_normal((T, D))
    state0 = rng.standard_normal(k * 2 * H)  # past states of its own, not zeros
    full = unroll(cell, params, inputs, state0)
    kept = run(cell, params, inputs, state0)
    assert len(kept) == T + 1 and kept._own.shape == (T + k, 2 * H)
    for t in (0, 1, k - 1, k, T):
        np.testing.assert_array_equal(kept[t], full[t])
    np.testing.assert_array_equal(kept.own, full[:, :2 * H])
    np.testing.assert_array_equal(kept.finite, np.ones(T + 1, bool))
    kept._own[k - 1 + 10, 0] = np.nan  # s_10 not finite: so are a_10, ..., a_{10 + k - 1}
    expected = np.ones(T + 1, bool)
    expected[10:10 + k] = False
    np.testing.assert_array_equal(kept.finite, expected)



def test_gradient_flow_of_a_long_skip_keeps_states_of_the_networks_size():
    n, k, T = 4, 32, 500
    params = {**zero_update_params(n), "skip_weight": 0.9 * np.eye(n)}
    flow = gradient_flow(skip(cells.rnn_linear, k), params, np.zeros((T, 1)), blocks={})
    assert flow.states.shape == (T + 1, n)  # not (T + 1, k n)
    np.testing.assert_allclose(flow.log10_spectral_norm[k - 1::k], np.arange(1, T // k + 1)
                               * np.log10(0.9), rtol=1e-12)


# ------------------------------------------------------------------ nested connections

def test_a_skip_around_a_skip_has_its_own_weight_and_equals_brute_force():
    # skip(skip(f, 2), 3) acts on the inner cell's whole state g = (u, v), u = s_t:
    #   g_t = (f(u_{t-1}, x_t) + B1 v_{t-1}, u_{t-1}) + B2 g_{t-3},
    # written out here as that recursion, and ds_T/ds_t = du_T/du_t with u_t perturbed alone.
    from gradflow.engine.parameters import recurrent_parameters
    rng = np.random.default_rng(31)
    H, D, T = 3, 2, 13
    cell = skip(skip(cells.rnn, 2, 0.5), 3, 0.4)
    params = init_params(cell, H, D, seed=4)
    assert params["skip_weight"].shape == (H, H)
    np.testing.assert_array_equal(params["skip_weight_2"], 0.4 * np.eye(2 * H))
    assert set(recurrent_parameters(cell, params)) == {"weight_hh", "skip_weight",
                                                        "skip_weight_2"}
    assert cell.primary(params) == slice(0, H) and cell.state_size(params) == 6 * H
    params["skip_weight"] = params["skip_weight"] + 0.3 * rng.standard_normal((H, H))
    params["skip_weight_2"] = params["skip_weight_2"] + 0.2 * rng.standard_normal((2 * H,) * 2)
    inputs = rng.standard_normal((T, D))
    B1, B2 = params["skip_weight"], params["skip_weight_2"]

    def step(hist, x):
        u, v = hist[-1][:H], hist[-1][H:]
        return anp.concatenate([cells.rnn(params, u, x) + anp.dot(B1, v), u]) \
            + anp.dot(B2, hist[-3])

    def expected(t):
        hist = [np.zeros(2 * H)] * 3  # g_{-2}, g_{-1}, g_0
        for i in range(t):
            hist.append(step(hist, inputs[i]))

        def from_t(u):
            h = hist[:-1] + [anp.concatenate([u, hist[-1][H:]])]
            for i in range(t, T):
                h = h + [step(h, inputs[i])]
            return h[-1][:H]

        return jacobian(from_t)(hist[-1][:H])

    flow = gradient_flow(cell, params, inputs)
    for d in (1, 2, 3, 5, 8, T):
        J = expected(T - d)
        np.testing.assert_allclose(flow.log10_spectral_norm[d - 1],
                                   np.log10(np.linalg.norm(J, 2)), atol=1e-10)
        np.testing.assert_allclose(flow.log10_frobenius_norm[d - 1],
                                   np.log10(np.linalg.norm(J)), atol=1e-10)


def test_a_highway_around_a_highway_has_its_own_gate():
    # s_t = s + g2 * (h(s) - s), h(s) = s + g1 * (f(s) - s), each gate with its own weights
    rng = np.random.default_rng(32)
    H, D, T = 3, 2, 9
    cell = highway(highway(cells.rnn, -1.0), 0.5)
    params = init_params(cell, H, D, seed=5)
    assert {"highway_weight_hh", "highway_weight_hh_2", "highway_bias_2"} <= set(params)
    np.testing.assert_array_equal(params["highway_bias_2"], np.full(H, 0.5))
    np.testing.assert_array_equal(params["highway_bias"], np.full(H, -1.0))
    inputs = rng.standard_normal((T, D))

    def gate(s, x, tag):
        return 1 / (1 + anp.exp(-(anp.dot(params["highway_weight_hh" + tag], s)
                                  + anp.dot(params["highway_weight_ih" + tag], x)
                                  + params["highway_bias" + tag])))

    def step(s, x):
        inner = s + gate(s, x, "") * (cells.rnn(params, s, x) - s)
        return s + gate(s, x, "_2") * (inner - s)

    def run(s):
        for x in inputs:
            s = step(s, x)
        return s

    flow = gradient_flow(cell, params, inputs)
    J = jacobian(run)(np.zeros(H))
    np.testing.assert_allclose(flow.log10_spectral_norm[-1], np.log10(np.linalg.norm(J, 2)),
                               atol=1e-10)
