"""The built-in cells against hand-derived Jacobians, finite differences and a plain-numpy forward
pass written in the test (tests/cell_oracles.py); the initialisers against their definitions."""

import numpy as np
import pytest

from gradflow import cells
from gradflow.cells.initializers import init_params, recurrent_block
from gradflow.engine.jacobians import step_jacobian

from cell_oracles import ORACLES, random_params, sigmoid

CELL_FUNCS = {"rnn": cells.rnn, "rnn_relu": cells.rnn_relu, "rnn_linear": cells.rnn_linear,
              "lstm": cells.lstm, "gru": cells.gru, "gru_torch": cells.gru_torch}
H, D = 5, 3


def _case(name, seed):
    rng = np.random.default_rng(seed)
    params = random_params(name, H, D, rng)
    n = ORACLES[name][1] * H
    return params, rng.standard_normal(n), rng.standard_normal(D)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", CELL_FUNCS)
def test_step_jacobian_matches_closed_form(name, seed):
    params, s, x = _case(name, seed)
    expected = ORACLES[name][3](params, s, x)
    J = step_jacobian(CELL_FUNCS[name], params, s, x)
    assert J.shape == expected.shape
    np.testing.assert_allclose(J, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", CELL_FUNCS)
def test_step_jacobian_matches_central_differences(name):
    params, s, x = _case(name, 11)
    eps = 1e-6
    fd = np.empty((len(s), len(s)))
    for j in range(len(s)):
        e = np.zeros(len(s))
        e[j] = eps
        fd[:, j] = (ORACLES[name][2](params, s + e, x) - ORACLES[name][2](params, s - e, x)) / (2 * eps)
    # central differences: truncation O(eps^2 |f'''|) ~ 1e-12, rounding O(1e-16 / eps) ~ 1e-10
    np.testing.assert_allclose(step_jacobian(CELL_FUNCS[name], params, s, x), fd,
                               rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", CELL_FUNCS)
def test_forward_matches_numpy_reimplementation(name, seed):
    params, s, x = _case(name, seed)
    np.testing.assert_allclose(CELL_FUNCS[name](params, s, x), ORACLES[name][2](params, s, x),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", CELL_FUNCS)
def test_batch_of_states_gives_the_rows_of_single_calls(name):
    params, _, _ = _case(name, 5)
    rng = np.random.default_rng(6)
    n, B = ORACLES[name][1] * H, 7
    S, X = rng.standard_normal((B, n)), rng.standard_normal((B, D))
    batch = CELL_FUNCS[name](params, S, X)
    assert batch.shape == (B, n)
    for b in range(B):
        np.testing.assert_allclose(batch[b], CELL_FUNCS[name](params, S[b], X[b]), rtol=1e-13,
                                   atol=1e-15)
        np.testing.assert_allclose(batch[b], ORACLES[name][2](params, S[b], X[b]), rtol=1e-12,
                                   atol=1e-14)


def test_cell_attributes_and_get_cell():
    assert cells.get_cell("rnn") is cells.rnn
    assert cells.get_cell("rnn", "relu") is cells.rnn_relu
    assert cells.get_cell("rnn", "linear") is cells.rnn_linear
    for name, (G, blocks, _, _) in ORACLES.items():
        params = random_params(name, H, D, np.random.default_rng(0))
        cell = CELL_FUNCS[name]
        assert cell.gate_blocks == G and cell.state_size(params) == blocks * H
    with pytest.raises(ValueError):
        cells.get_cell("transformer")
    with pytest.raises(ValueError):
        cells.get_cell("rnn", "softplus")


# ---------------------------------------------------------------------------------- initialisers

@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_orthogonal_block_has_all_singular_values_equal_to_scale(scale):
    W = recurrent_block(17, "orthogonal", scale, seed=3)
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False), scale, rtol=1e-12)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "gru_torch"])
def test_orthogonal_and_identity_init_per_gate_block(name):
    G, Hh = ORACLES[name][0], 9
    p = init_params(name, Hh, 4, init="orthogonal", scale=1.7, seed=1)
    q = init_params(name, Hh, 4, init="identity", scale=0.9, seed=1)
    for k in range(G):
        block = p["weight_hh"][k * Hh:(k + 1) * Hh]
        np.testing.assert_allclose(np.linalg.svd(block, compute_uv=False), 1.7, rtol=1e-12)
        np.testing.assert_array_equal(q["weight_hh"][k * Hh:(k + 1) * Hh], 0.9 * np.eye(Hh))


def test_gaussian_init_empirical_std():
    Hh, Dd, scale, input_scale = 200, 50, 1.3, 0.7
    p = init_params("lstm", Hh, Dd, init="gaussian", scale=scale, input_scale=input_scale, seed=4)
    for W, sd in ((p["weight_hh"], scale / np.sqrt(Hh)), (p["weight_ih"], input_scale / np.sqrt(Dd))):
        N = W.size
        # The sample std of N i.i.d. normals has relative standard error 1/sqrt(2N);
        # allow 5 standard errors (0.9 % for weight_hh's 160,000 entries).
        assert abs(W.std() / sd - 1) < 5 / np.sqrt(2 * N)
        assert abs(W.mean()) < 5 * sd / np.sqrt(N)


@pytest.mark.parametrize("fb", [0.0, 1.0, 2.5])
def test_forget_bias_in_the_lstm_forget_block(fb):
    Hh = 6
    p = init_params("lstm", Hh, 3, forget_bias=fb, seed=0)
    total = p["bias_ih"] + p["bias_hh"]
    expected = np.zeros(4 * Hh)
    expected[Hh:2 * Hh] = fb  # gate order i, f, g, o
    np.testing.assert_array_equal(total, expected)
    zero_state, zero_x = np.zeros(2 * Hh), np.zeros(3)
    gates = cells.lstm_gates(p, zero_state, zero_x)
    np.testing.assert_allclose(gates["forget"], sigmoid(fb), rtol=1e-14)
    np.testing.assert_allclose(gates["input"], 0.5, rtol=1e-14)
    np.testing.assert_allclose(gates["output"], 0.5, rtol=1e-14)


@pytest.mark.parametrize("name,sign", [("gru", -1.0), ("gru_torch", +1.0)])
@pytest.mark.parametrize("fb", [1.0, 3.0])
def test_forget_bias_makes_the_gru_keep_memory(name, sign, fb):
    Hh = 6
    p = init_params(name, Hh, 3, forget_bias=fb, seed=0)
    total = p["bias_ih"] + p["bias_hh"]
    expected = np.zeros(3 * Hh)
    expected[Hh:2 * Hh] = sign * fb  # blocks r, z, n: the update gate z
    np.testing.assert_array_equal(total, expected)
    # At h = 0, x = 0 the fraction of h_{t-1} carried over is sigmoid(fb) in both conventions:
    # Cho keeps 1 - z, PyTorch keeps z. Checked on the gate helper and on the cell itself.
    gates = cells.gru_gates(p, np.zeros(Hh), np.zeros(3), torch_convention=(name == "gru_torch"))
    np.testing.assert_allclose(gates["keep"], sigmoid(fb), rtol=1e-14)
    # with zero weights the cell is h' = keep * h + (1 - keep) * tanh(0) = keep * h
    z = {k: np.zeros_like(v) if k.startswith("weight") else v for k, v in p.items()}
    h = np.linspace(-1, 1, Hh)
    np.testing.assert_allclose(CELL_FUNCS[name](z, h, np.zeros(3)), sigmoid(fb) * h, rtol=1e-14)


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity"])
@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_seeds_reproduce_and_differ(name, init):
    a = init_params(name, 7, 3, init=init, seed=12)
    b = init_params(name, 7, 3, init=init, seed=12)
    c = init_params(name, 7, 3, init=init, seed=13)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["weight_ih"], c["weight_ih"])
    if init != "identity":
        assert not np.array_equal(a["weight_hh"], c["weight_hh"])


def test_non_positive_sizes_are_refused():
    with pytest.raises(ValueError):
        init_params("rnn", 0, 3)
    with pytest.raises(ValueError):
        init_params("rnn", 3, 0)


@pytest.mark.parametrize("argument", ["scale", "forget_bias", "input_scale"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_scales_are_refused_naming_the_argument(argument, value):
    with pytest.raises(ValueError, match=f"^{argument} must be a finite number"):
        init_params("lstm", 3, 2, **{argument: value})


def test_non_integer_sizes_are_refused():
    with pytest.raises(ValueError, match="whole numbers"):
        init_params("rnn", 2.5, 3)


def test_negative_scale_flips_the_sign_of_the_recurrence():
    for init in ("identity", "orthogonal"):
        plus = init_params("rnn", 4, 2, init=init, scale=0.7, seed=3)
        minus = init_params("rnn", 4, 2, init=init, scale=-0.7, seed=3)
        np.testing.assert_array_equal(minus["weight_hh"], -plus["weight_hh"])
