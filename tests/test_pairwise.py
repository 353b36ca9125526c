"""Pairwise norms ||ds_s/ds_t||_2 against explicit Jacobian products and closed forms."""

import numpy as np
import pytest

from gradflow.analysis.pairwise import pairwise_from_table, pairwise_norms, pairwise_to_table
from gradflow.analysis.network import Network
from gradflow.cells import rnn, rnn_linear
from gradflow.engine.jacobians import step_jacobian
from gradflow.engine.unroll import unroll
from gradflow.io.results import read_table, write_table


def _rnn_jacobians(params, inputs):
    """Closed form for the tanh RNN: ds_k/ds_{k-1} = diag(1 - h_k^2) W_hh."""
    states = unroll(rnn, params, inputs, np.zeros(params["weight_hh"].shape[1]))
    return [(1 - states[k] ** 2)[:, None] * params["weight_hh"] for k in range(1, len(states))]


def _product(jacobians, s, t):
    P = np.eye(jacobians[0].shape[0])
    for k in range(t + 1, s + 1):
        P = jacobians[k - 1] @ P
    return P


@pytest.mark.parametrize("stride", [1, 3])
def test_tanh_rnn_matches_closed_form_products(stride):
    s = Network("rnn", hidden=8, steps=20, scale=1.3, seed=2).build()
    result = pairwise_norms(s.cell, s.params, s.sequences[0], stride=stride)
    J = _rnn_jacobians(s.params, s.sequences[0])
    assert result.times.tolist() == list(range(0, 21, stride))
    for i, si in enumerate(result.times):
        for j, tj in enumerate(result.times):
            if j < i:
                expected = np.log10(np.linalg.norm(_product(J, si, tj), 2))
                assert result.log10_norm[i, j] == pytest.approx(expected, abs=1e-9)
            else:
                assert np.isnan(result.log10_norm[i, j])


def test_lstm_matches_explicit_products_of_step_jacobians():
    s = Network("lstm", hidden=5, steps=12, seed=1).build()
    inputs = s.sequences[0]
    result = pairwise_norms(s.cell, s.params, inputs, stride=2)
    states = unroll(s.cell, s.params, inputs, np.zeros(10))
    J = [step_jacobian(s.cell, s.params, states[k - 1], inputs[k - 1]) for k in range(1, 13)]
    for (si, tj) in [(2, 0), (12, 0), (8, 4), (12, 10)]:
        i, j = list(result.times).index(si), list(result.times).index(tj)
        expected = np.log10(np.linalg.norm(_product(J, si, tj), 2))
        assert result.log10_norm[i, j] == pytest.approx(expected, abs=1e-9)


def test_a_skip_connection_matches_the_top_left_block_of_explicit_products():
    # s_t = rnn(s_{t-1}) + B s_{t-3}: ds_s/ds_t (s_t perturbed alone) is the top-left block of
    # the product of augmented Jacobians, taken here by reverse mode on the augmented cell.
    from autograd import jacobian
    s = Network("rnn", hidden=4, steps=14, skip="skip:3", skip_scale=0.7, seed=3).build()
    rng = np.random.default_rng(5)
    s.params["skip_weight"] = s.params["skip_weight"] + 0.3 * rng.standard_normal((4, 4))
    inputs = s.sequences[0]
    result = pairwise_norms(s.cell, s.params, inputs, stride=2)
    states = unroll(s.cell, s.params, inputs, np.zeros(12))
    J = [jacobian(lambda a, x=inputs[k - 1]: s.cell(s.params, a, x))(states[k - 1])
         for k in range(1, 15)]
    for (si, tj) in [(2, 0), (14, 0), (8, 4), (12, 10), (14, 6)]:
        i, j = list(result.times).index(si), list(result.times).index(tj)
        expected = np.log10(np.linalg.norm(_product(J, si, tj)[:4, :4], 2))
        assert result.log10_norm[i, j] == pytest.approx(expected, abs=1e-9)


def test_first_band_is_the_step_jacobian_norms():
    s = Network("gru", hidden=6, steps=15, seed=4).build()
    inputs = s.sequences[0]
    result = pairwise_norms(s.cell, s.params, inputs, stride=1)
    states = unroll(s.cell, s.params, inputs, np.zeros(6))
    for k in range(1, 16):
        J = step_jacobian(s.cell, s.params, states[k - 1], inputs[k - 1])
        assert result.log10_norm[k, k - 1] == pytest.approx(np.log10(np.linalg.norm(J, 2)),
                                                            abs=1e-10)


def test_long_exploding_product_stays_finite():
    # Linear RNN with W = 2 I: ds_s/ds_t = 2^(s - t) I exactly, up to 2^1200 = 10^361.
    H, T = 3, 1200
    params = {"weight_ih": np.ones((H, 1)), "weight_hh": 2 * np.eye(H),
              "bias_ih": np.zeros(H), "bias_hh": np.zeros(H)}
    result = pairwise_norms(rnn_linear, params, np.zeros((T, 1)), stride=100)
    i, j = np.tril_indices(len(result.times), k=-1)
    distance = result.times[i] - result.times[j]
    np.testing.assert_allclose(result.log10_norm[i, j], distance * np.log10(2), rtol=1e-12)


def test_stride_out_of_range_is_refused():
    s = Network("rnn", hidden=4, steps=5).build()
    with pytest.raises(ValueError, match="stride"):
        pairwise_norms(s.cell, s.params, s.sequences[0], stride=6)


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_table_round_trip(tmp_path, suffix):
    s = Network("rnn", hidden=4, steps=9).build()
    result = pairwise_norms(s.cell, s.params, s.sequences[0], stride=2, metadata={"seed": 0})
    path = tmp_path / f"heatmap.{suffix}"
    write_table(path, pairwise_to_table(result))
    back = pairwise_from_table(read_table(path))
    assert back.cell == "rnn"
    np.testing.assert_array_equal(back.times, result.times)
    np.testing.assert_array_equal(back.log10_norm, result.log10_norm)
