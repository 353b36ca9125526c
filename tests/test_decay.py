"""summarize on lines of known slope; decay_profile against separate gradient_flow runs on inputs
recreated from the documented seed scheme, and against exact linear cases."""

import math

import numpy as np
import pytest

import gradflow
from gradflow import cells
from gradflow.analysis.decay import decay_profile, summarize
from gradflow.analysis.network import Network
from gradflow.cells.initializers import init_params
from gradflow.engine.jacobians import gradient_flow

from cell_oracles import explicit_products, oracle_trajectory


def first_crossing(slope, intercept=0.0):
    """First integer d >= 1 with |intercept + slope d| > 3, for a line not hitting 3 at an integer."""
    target = 3.0 if slope > 0 else -3.0
    return math.floor((target - intercept) / slope) + 1


@pytest.mark.parametrize("slope,verdict", [(-0.07, "vanishing"), (0.09, "exploding"),
                                           (-0.25, "vanishing"), (0.004, "neutral"),
                                           (-0.004, "neutral"), (0.0, "neutral")])
def test_summarize_straight_lines(slope, verdict):
    T = 100
    d = np.arange(1, T + 1)
    s = summarize(d, 0.1 + slope * d)
    assert s.verdict == verdict
    assert s.rate == pytest.approx(10 ** slope, rel=1e-10)
    # |0.1 + slope d| > 3 happens inside the 100 steps for the steep lines only
    expected = first_crossing(slope, 0.1) if abs(slope) * T + 0.1 > 3 else None
    assert s.horizon == expected


def test_summarize_noisy_line_recovers_the_slope():
    # Least squares on y = s d + e: the slope's standard error is sigma / sqrt(sum (d - mean)^2),
    # here 0.3 / sqrt(83,325) = 1.0e-3; allow 5 of them.
    d = np.arange(1, 101)
    rng = np.random.default_rng(0)
    s = summarize(d, -0.05 * d + 0.3 * rng.standard_normal(100))
    assert s.verdict == "vanishing"
    assert abs(np.log10(s.rate) + 0.05) < 5 * 0.3 / np.sqrt(np.sum((d - d.mean()) ** 2))


def test_summarize_all_minus_inf_is_vanishing_at_once():
    d = np.arange(1, 11)
    s = summarize(d, np.full(10, -np.inf))
    assert s.verdict == "vanishing"
    assert s.rate == 0.0
    assert s.horizon == 1


def test_summarize_of_mismatched_lengths_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(10,\) and \(9,\)"):
        summarize(np.arange(1, 11), np.zeros(9))
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        summarize(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"\(0,\)"):
        summarize([], [])


@pytest.mark.parametrize("values", [[np.nan] * 8, [np.nan] * 7 + [-0.5], [0.3]],
                         ids=["all nan", "one finite", "one distance"])
def test_summarize_without_two_finite_values_is_undefined(values):
    # No line can be fitted through fewer than two points; nothing is exactly zero either.
    d = np.arange(1, len(values) + 1)
    s = summarize(d, np.array(values))
    assert s.verdict == "undefined"
    assert math.isnan(s.rate)
    assert s.horizon is None


def test_summarize_nan_beside_minus_inf_is_still_vanishing():
    s = summarize(np.arange(1, 5), np.array([np.nan, np.nan, -np.inf, -np.inf]))
    assert s.verdict == "vanishing" and s.rate == 0.0 and s.horizon == 3


def test_summarize_finite_then_minus_inf():
    # A relu RNN whose product becomes exactly zero at distance 4: the norm is below 1e-3 from
    # there on, and the curve vanishes.
    d = np.arange(1, 21)
    y = np.array([-0.2, -0.5, -0.9] + [-np.inf] * 17)
    s = summarize(d, y)
    assert s.horizon == 4
    assert s.verdict == "vanishing"
    assert np.isfinite(s.rate) and s.rate < 1


def test_summarize_flat_then_exactly_zero_is_vanishing():
    # ||ds_T/ds_t|| = 1 for two steps, then exactly 0 for 18: the gradient does not hold,
    # it is gone from distance 3 on.
    d = np.arange(1, 21)
    s = summarize(d, np.array([0.0, 0.0] + [-np.inf] * 18))
    assert s.horizon == 3
    assert s.verdict == "vanishing"


@pytest.mark.parametrize("g", [0.5, 2.0])
def test_decay_profile_of_a_linear_identity_rnn(g):
    # h_t = g h_{t-1} + W_ih x_t: ds_T/ds_{T-d} = g^d I, so every sample gives d log10 g exactly.
    T, Hh = 40, 6
    p = decay_profile(Network("rnn", hidden=Hh, input_size=3, steps=T, init="identity", scale=g,
                              activation="linear", seed=5, samples=3))
    d = np.arange(1, T + 1)
    np.testing.assert_array_equal(p.distance, d)
    np.testing.assert_allclose(p.mean["spectral"], d * np.log10(g), atol=1e-9)
    np.testing.assert_allclose(p.mean["frobenius"], d * np.log10(g) + 0.5 * np.log10(Hh),
                               atol=1e-9)
    np.testing.assert_allclose(p.std["spectral"], 0, atol=1e-9)
    assert p.summary.verdict == ("vanishing" if g < 1 else "exploding")
    assert p.summary.rate == pytest.approx(g, rel=1e-9)
    assert p.summary.horizon == first_crossing(np.log10(g))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_decay_profile_mean_and_std_over_samples(name):
    seed, samples, T, Hh, D = 11, 3, 25, 5, 4
    p = decay_profile(Network(name, hidden=Hh, input_size=D, steps=T, init="orthogonal", scale=1.1,
                              forget_bias=0.5, seed=seed, samples=samples))
    # The documented scheme: SeedSequence(seed).spawn(samples + 1); child 0 draws the weights,
    # children 1..samples the i.i.d. N(0, 1) input sequences.
    children = np.random.SeedSequence(seed).spawn(samples + 1)
    params = init_params(name, Hh, D, init="orthogonal", scale=1.1, forget_bias=0.5,
                         seed=np.random.default_rng(children[0]))
    runs = []
    for child in children[1:]:
        inputs = np.random.default_rng(child).standard_normal((T, D))
        runs.append(gradient_flow(cells.get_cell(name), params, inputs))
    curves = {"spectral": [r.log10_spectral_norm for r in runs],
              "frobenius": [r.log10_frobenius_norm for r in runs],
              "loss_gradient": [r.log10_loss_gradient_norm for r in runs]}
    if name == "lstm":
        for b in ("h", "c"):
            curves[f"{b}_spectral"] = [r.blocks[b].log10_spectral_norm for r in runs]
            curves[f"{b}_frobenius"] = [r.blocks[b].log10_frobenius_norm for r in runs]
    assert set(p.mean) == set(curves) and set(p.std) == set(curves)
    for q, rows in curves.items():
        rows = np.array(rows)
        assert np.ptp(rows, axis=0).max() > 1e-6  # the samples differ, so std is informative
        np.testing.assert_allclose(p.mean[q], rows.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(p.std[q], rows.std(axis=0), rtol=1e-9, atol=1e-12)
    summary = summarize(np.arange(1, T + 1), np.array(curves["spectral"]).mean(axis=0))
    assert p.summary == summary
    m = p.metadata
    assert (m["cell"], m["hidden"], m["input_size"], m["steps"], m["seed"], m["samples"]) == \
        (name, Hh, D, T, seed, samples)
    assert m["gradflow_version"] == gradflow.__version__


def test_decay_profile_with_given_params_and_inputs():
    rng = np.random.default_rng(4)
    params = init_params("gru", 4, 2, seed=1)
    inputs = rng.standard_normal((15, 2))
    p = decay_profile(Network("gru", params=params, inputs=inputs))
    flow = gradient_flow(cells.gru, params, inputs)
    np.testing.assert_allclose(p.mean["spectral"], flow.log10_spectral_norm, rtol=1e-13)
    np.testing.assert_array_equal(p.std["spectral"], 0)
    assert p.metadata["hidden"] == 4 and p.metadata["input_size"] == 2
    assert p.metadata["steps"] == 15
    with pytest.raises(ValueError):
        decay_profile(Network("gru", params=params, inputs=inputs, samples=2))


def test_loss_vector_is_pulled_back_through_the_explicit_products():
    # decay_profile(network, loss_grad=g): the loss-gradient curve is log10 ||g P_d|| for the
    # explicit products of the closed-form step Jacobians.
    g = np.random.default_rng(9).standard_normal(2 * 5)
    profile = decay_profile(Network("lstm", hidden=5, input_size=3, steps=15, seed=2), loss_grad=g)
    s = Network("lstm", hidden=5, input_size=3, steps=15, seed=2).build()
    _, jacs = oracle_trajectory("lstm", s.params, s.sequences[0], np.zeros(10))
    expected = [np.log10(np.linalg.norm(g @ P)) for P in explicit_products(jacs)]
    np.testing.assert_allclose(profile.mean["loss_gradient"], expected, rtol=0, atol=1e-10)


def test_network_refuses_a_negative_seed_empty_inputs_and_no_steps():
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        Network("rnn", hidden=3, steps=4, seed=-1).build()
    with pytest.raises(ValueError, match=r"\(0, 2\)"):
        Network("rnn", hidden=3, inputs=np.zeros((0, 2))).build()
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        Network("rnn", hidden=3, steps=0)
