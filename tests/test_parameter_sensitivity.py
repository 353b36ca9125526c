"""ds_T/dtheta (`parameter_flow`, `parameter_sensitivity`, `gradflow jacobians --wrt params`)
against independent routes: autograd's jacobian of the whole unrolled sequence, dense products
of autograd's step Jacobians, the closed forms of the curse of memory (Zucchet & Orvieto 2024),
and a linear RNN computed by hand."""

import os

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian

import gradflow as gf
from gradflow.analysis.parameters import log10_rms
from gradflow.engine.jacobians import gradient_flow
from gradflow.engine.parameters import parameter_flow, parameter_groups, recurrent_parameters
from gradflow.io.results import read_table

from cli_run import run, run_subprocess

CASES = [("rnn", None), ("lstm", None), ("gru", None), ("rnn", "skip:2"), ("gru", "highway"),
         ("lstm", "dense:2")]


def _build(cell, skip, T=6, H=3, D=2, scale=1.5):
    return gf.Network(cell, hidden=H, input_size=D, steps=T, skip=skip, scale=scale,
                      seed=3).build()


def _own(cell, params, state):
    """s_T, the network's own state (the first block of a skip connection's augmented one)."""
    if getattr(cell, "lag", 1) > 1:
        return state[:cell.base_size(params)]
    return state


def _brute_force(b, flow):
    """d s_T / d theta by autograd's jacobian of the unrolled sequence, theta flattened in the
    flow's column order."""
    xs = b.sequences[0]

    def final(flat):
        sub = {g: anp.reshape(flat[flow.columns[g]], flow.shapes[g]) for g in flow.groups}
        p = {**b.params, **sub}
        s = b.state0
        for x in xs:
            s = b.cell(p, s, x)
        return _own(b.cell, p, s)

    flat = np.concatenate([np.ravel(b.params[g]) for g in flow.groups])
    return jacobian(final)(flat)


@pytest.mark.parametrize("route", ["reverse", "forward"])
@pytest.mark.parametrize("cell,skip", CASES)
def test_total_is_autograds_jacobian_of_the_unrolled_sequence(cell, skip, route):
    b = _build(cell, skip)
    T = len(b.sequences[0])
    flow = parameter_flow(b.cell, b.params, b.sequences[0], b.state0, route=route,
                          contributions_at=range(T))
    assert flow.route == route
    J = _brute_force(b, flow)
    total = flow.total.value()
    assert total.shape == J.shape
    scale = max(1.0, np.abs(J).max())
    np.testing.assert_allclose(total, J, rtol=0, atol=1e-12 * scale)
    # the contributions, summed as matrices, are the total
    summed = sum(flow.contributions[d].value() for d in range(T))
    np.testing.assert_allclose(summed, J, rtol=0, atol=1e-12 * scale)
    assert flow.log10_total_frobenius_norm == pytest.approx(np.log10(np.linalg.norm(J)),
                                                            abs=1e-12)
    assert flow.log10_total_spectral_norm == pytest.approx(
        np.log10(np.linalg.norm(J, 2)), abs=1e-10)
    for g in flow.groups:
        assert flow.group_totals[g] == pytest.approx(
            np.log10(np.linalg.norm(J[:, flow.columns[g]])), abs=1e-12)


@pytest.mark.parametrize("cell,skip", CASES)
def test_each_contribution_is_a_dense_product_times_one_steps_partial(cell, skip):
    b = _build(cell, skip)
    xs, T = b.sequences[0], len(b.sequences[0])
    flow = parameter_flow(b.cell, b.params, xs, b.state0, contributions_at=range(T))
    states = [b.state0]
    for x in xs:
        states.append(b.cell(b.params, states[-1], x))
    n = len(_own(b.cell, b.params, states[-1]))
    flat = np.concatenate([np.ravel(b.params[g]) for g in flow.groups])

    def step_of_theta(t):
        def f(theta):
            sub = {g: anp.reshape(theta[flow.columns[g]], flow.shapes[g]) for g in flow.groups}
            return b.cell({**b.params, **sub}, states[t - 1], xs[t - 1])
        return f

    for t in range(1, T + 1):
        P = np.eye(len(states[0]))[:n]  # ds_T/ds_t, a dense product of step Jacobians
        for k in range(T, t, -1):
            P = P @ jacobian(lambda s, k=k: b.cell(b.params, s, xs[k - 1]))(states[k - 1])
        expected = P @ jacobian(step_of_theta(t))(flat)
        got = flow.contributions[T - t].value()
        np.testing.assert_allclose(got, expected, rtol=0,
                                   atol=1e-12 * max(1.0, np.abs(expected).max()))
        with np.errstate(divide="ignore"):
            assert flow.log10_frobenius_norm[T - t] == pytest.approx(
                np.log10(np.linalg.norm(expected)), abs=1e-12)


def test_recurrent_parameters_by_default():
    params = lambda cell, **kw: gf.Network(cell, hidden=2, input_size=2, **kw).build()
    for cell, kw, expected in [
            ("rnn", {}, ("weight_hh",)), ("lstm", {"skip": "skip:3"}, ("weight_hh", "skip_weight")),
            ("gru", {"skip": "highway"}, ("weight_hh", "highway_weight_hh")),
            ("rnn", {"skip": "dense:2"}, ("weight_hh", "dense_weight")),
            ("lstm", {"layers": 2}, ("weight_hh_l0", "weight_hh_l1"))]:
        b = params(cell, **kw)
        assert recurrent_parameters(b.cell, b.params) == expected
        assert parameter_groups(b.cell, b.params) == expected

    def linear(p, s, x):
        return p["lam"] * s + p["b"] * x

    assert recurrent_parameters(linear, {"lam": 0.5, "b": 1.0}) == ("lam", "b")  # none named
    linear.recurrent_params = ("lam",)  # a cell says which of its parameters are recurrent
    assert recurrent_parameters(linear, {"lam": 0.5, "b": 1.0}) == ("lam",)
    assert recurrent_parameters(gf.skip(linear, 2), {"lam": 0.5, "b": 1.0, "skip_weight": 1.0}) \
        == ("lam", "skip_weight")
    linear.recurrent_params = ()  # none: the default selects nothing, and says so
    assert recurrent_parameters(linear, {"lam": 0.5, "b": 1.0}) == ()
    with pytest.raises(ValueError, match="declares no recurrent parameters; name some among "
                                         "lam, b"):
        parameter_groups(linear, {"lam": 0.5, "b": 1.0})
    assert parameter_groups(linear, {"lam": 0.5, "b": 1.0}, "b") == ("b",)
    b = params("gru")
    assert parameter_groups(b.cell, b.params, "all") == tuple(b.params)
    assert parameter_groups(b.cell, b.params, ["bias_hh", "weight_ih"]) == ("weight_ih",
                                                                            "bias_hh")
    with pytest.raises(ValueError, match="no parameter 'weight_xx'.*weight_ih, weight_hh"):
        parameter_groups(b.cell, b.params, ["weight_xx"])


# ------------------------------------------------------------------ the curse of memory

def _linear(params, state, x):
    """h_t = lambda h_{t-1} + b x_t, b = 1: dh_T/db = h_T, dh_T/dlambda the curse of memory."""
    return params["lam"] * state + params["b"] * x


def _finite_T(lam, T):
    """E[h_T^2] and E[(dh_T/dlambda)^2] for h_0 = 0 and white unit-variance input:
    h_T = sum_k lam^k x_{T-k}, dh_T/dlambda = sum_k k lam^(k-1) x_{T-k}, k = 0..T-1."""
    k = np.arange(T, dtype=float)
    q = lam ** 2
    return np.sum(q ** k), np.sum(k ** 2 * q ** np.maximum(k - 1, 0))


@pytest.mark.parametrize("lam", [0.9, 0.99])
def test_finite_T_series_tend_to_the_closed_forms(lam):
    # the oracle's own check: the series at long T are Zucchet & Orvieto's limits
    q = lam ** 2
    h2, g2 = _finite_T(lam, 20000)
    assert h2 == pytest.approx(1 / (1 - q), rel=1e-12)
    assert g2 == pytest.approx((1 + q) / (1 - q) ** 3, rel=1e-10)
    assert (1 + q) / (1 - q) ** 3 == pytest.approx({0.9: 263.887, 0.99: 251262.6}[lam],
                                                   rel=1e-5)


@pytest.mark.parametrize("lam,T,samples", [(0.9, 60, 2000), (0.99, 600, 400)])
def test_curse_of_memory_within_the_sampling_error(lam, T, samples):
    """gradflow's mean of (dh_T/dlambda)^2 over input sequences against the closed form.

    T: at lambda = 0.9 the series has converged to 3.3e-4 of its sum by T = 60 and at 0.99 to
    5.0e-4 by T = 600, far below the sampling error (and the finite-T value, which the estimate
    is compared with, is exact at any T). samples: the standard error of a mean of squared
    Gaussians is sqrt(2 / N) of it, 3.2 % for N = 2000 and 7 % for N = 400; more would make the test slow (about 1.5 ms a sequence
    plus 10 us a step).
    """
    net = gf.Network(_linear, params={"lam": lam, "b": 1.0}, state0=np.zeros(1), input_size=1,
                     steps=T, samples=samples, seed=11)
    result = gf.parameter_sensitivity(net, wrt="all")
    assert result.groups == ("lam", "b")
    h2_exact, g2_exact = _finite_T(lam, T)
    q = lam ** 2
    assert g2_exact == pytest.approx((1 + q) / (1 - q) ** 3, rel=6e-4)
    for group, exact in (("lam", g2_exact), ("b", h2_exact)):
        squares = 10.0 ** (2 * result.total[group])
        se = squares.std(ddof=1) / np.sqrt(samples)
        assert abs(squares.mean() - exact) < 4 * se, (group, squares.mean(), se, exact)
        # the root mean square the table reports is the same estimate
        assert log10_rms(result.total[group]) == pytest.approx(0.5 * np.log10(squares.mean()),
                                                               abs=1e-12)
    # per distance: C_d = lam^d h_{T-d-1}, E[C_d^2] = lam^(2d) E[h_{T-d-1}^2], Gaussian, so
    # the mean of N squares has standard error sqrt(2 / N) of it
    for d in (0, 1, 10, 30, T // 2, T - 2):
        exact = q ** d * _finite_T(lam, T - d - 1)[0]
        got = 10.0 ** (2 * result.rms["lam"][d])
        assert abs(got - exact) < 4 * np.sqrt(2 / samples) * exact, (d, got, exact)
    assert result.rms["lam"][T - 1] == -np.inf  # h_0 = 0: the first step's partial is zero


# ------------------------------------------------------------------ long sequences

def _exploding(a, H=3, D=2):
    """A tanh RNN at rest (zero inputs, biases and state) with W_hh = a I: every state is 0,
    every step Jacobian a I, and the partial of a step with respect to bias_hh the identity,
    so C_d = a^d I and ds_T/dbias_hh = (a^T - 1) / (a - 1) I, exactly."""
    return {"weight_ih": np.zeros((H, D)), "weight_hh": a * np.eye(H), "bias_ih": np.zeros(H),
            "bias_hh": np.zeros(H)}


def _log10_geometric(a, T):
    """log10 (a^T - 1) / (a - 1) for a > 1 without overflow."""
    return T * np.log10(a) + np.log10(-np.expm1(-T * np.log(a))) - np.log10(a - 1)


def test_ten_thousand_steps_of_an_exploding_rnn_stay_finite():
    T, a = 10_000, 1.2
    flow = parameter_flow(gf.rnn, _exploding(a), np.zeros((T, 2)), np.zeros(3), wrt="bias_hh")
    d = np.arange(T)
    assert np.all(np.isfinite(flow.log10_frobenius_norm))
    assert flow.log10_frobenius_norm[-1] > 790  # 1.2^9999 sqrt(3): far past float64's 308
    np.testing.assert_allclose(flow.log10_frobenius_norm, d * np.log10(a) + 0.5 * np.log10(3),
                               rtol=1e-12)
    assert flow.log10_total_frobenius_norm == pytest.approx(
        _log10_geometric(a, T) + 0.5 * np.log10(3), rel=1e-12)
    # the whole total is a multiple of the identity, as a Scaled matrix
    np.testing.assert_allclose(flow.total.mantissa, np.eye(3) / np.sqrt(3), atol=1e-12)


@pytest.mark.parametrize("route", ["reverse", "forward"])
def test_both_routes_beyond_float64(route):
    T, a = 2000, 1.5  # 1.5^1999: 352 decades
    flow = parameter_flow(gf.rnn, _exploding(a), np.zeros((T, 2)), np.zeros(3), wrt="bias_hh",
                          route=route)
    assert flow.route == route
    np.testing.assert_allclose(flow.log10_frobenius_norm,
                               np.arange(T) * np.log10(a) + 0.5 * np.log10(3), rtol=1e-12)
    assert flow.log10_total_frobenius_norm == pytest.approx(
        _log10_geometric(a, T) + 0.5 * np.log10(3), rel=1e-12)
    assert flow.log10_total_spectral_norm == pytest.approx(_log10_geometric(a, T), rel=1e-12)


def test_states_near_float64s_limit_do_not_overflow_the_norms():
    # h_t = 2 h_(t-1) + 1 from 0: h_t = 2^t - 1, up to 1.1e307. C_d = 2^d h_(T-d-1)
    # = 2^(T-1) - 2^d, and dh_T/dlambda = T 2^(T-1) - 2^T + 1: squares far past float64
    T = 1020
    flow = parameter_flow(_linear, {"lam": 2.0, "b": 1.0}, np.ones((T, 1)), np.zeros(1),
                          wrt="lam")
    d = np.arange(T - 1)
    L2 = np.log10(2.0)
    np.testing.assert_allclose(flow.log10_frobenius_norm[:-1],
                               (T - 1) * L2 + np.log10(-np.expm1((d - T + 1) * np.log(2))),
                               rtol=1e-12)
    assert flow.log10_total_frobenius_norm == pytest.approx((T - 1) * L2 + np.log10(T - 2),
                                                            rel=1e-12)


def test_a_chaotic_rnn_grows_like_its_state_jacobian():
    # tanh RNN, gain 3, small inputs: ||ds_T/ds_t|| grows; C_d = (ds_T/ds_(T-d)) times a
    # bounded partial follows it, to a few decades, over 8000 steps (past float64's range)
    b = gf.Network("rnn", hidden=8, input_size=2, steps=8000, scale=3.0, seed=2).build()
    xs = 0.01 * b.sequences[0]
    flow = parameter_flow(b.cell, b.params, xs, b.state0)
    state = gradient_flow(b.cell, b.params, xs, b.state0)
    C, P = flow.log10_frobenius_norm, state.log10_frobenius_norm  # P[d - 1]: ds_T/ds_(T-d)
    d = np.arange(1, 7999)
    assert np.all(np.isfinite(C[:-1])) and P[-1] > 320
    assert np.median(np.abs(C[d] - P[d - 1])) < 2
    assert np.polyfit(d, C[d], 1)[0] == pytest.approx(np.polyfit(d, P[d - 1], 1)[0], rel=1e-2)


@pytest.mark.parametrize("T", [1, 65])
def test_a_chunk_of_one_step_takes_the_reverse_route(T):
    # 64 steps per chunk here: T = 65 leaves one step alone, T = 1 has nothing else
    flow = parameter_flow(_linear, {"lam": 0.5, "b": 1.0}, np.ones((T, 1)), np.zeros(1),
                          wrt="lam", route="forward" if T > 1 else None)
    h = (1 - 0.5 ** np.arange(T)) / (1 - 0.5)  # h_(t-1) for t = 1..T with unit inputs
    with np.errstate(divide="ignore"):
        expected = np.log10(0.5 ** np.arange(T) * h[::-1])  # C_d = lam^d h_(T-d-1)
    np.testing.assert_allclose(flow.log10_frobenius_norm, expected, rtol=1e-12)


def test_refusals():
    b = _build("rnn", None)
    with pytest.raises(ValueError, match="contributions_at"):
        parameter_flow(b.cell, b.params, b.sequences[0], b.state0, contributions_at=[6])
    with pytest.raises(ValueError, match="route"):
        parameter_flow(b.cell, b.params, b.sequences[0], b.state0, route="sideways")
    with pytest.raises(ValueError, match="shared by every step"):
        parameter_flow(b.cell, gf.PerStep([b.params] * 6), b.sequences[0], b.state0)


# ------------------------------------------------------------------ gradflow jacobians --wrt params

LINEAR = ["--cell", "rnn", "--activation", "linear", "--init", "identity", "--scale", "0.8",
          "--hidden", "3", "--input-size", "2", "--steps", "12", "--seed", "5"]


def _hand_linear(samples):
    """A linear RNN with W_hh = a I: h_t = a h_{t-1} + u_t, u_t = W_ih x_t + b.
    ds_T/dW_hh[i, (i, j)] = sum_d a^d h_{T-d-1, j}: ||C_d||_F = a^d sqrt(H) ||h_{T-d-1}||, and
    the total's norm is sqrt(H) ||sum_d a^d h_{T-d-1}||. Returns (C (samples, T), total)."""
    net = gf.Network("rnn", activation="linear", init="identity", scale=0.8, hidden=3,
                     input_size=2, steps=12, seed=5, samples=samples)
    b = net.build()
    p = b.params
    a = p["weight_hh"][0, 0]
    assert np.array_equal(p["weight_hh"], a * np.eye(3))
    norms, totals = [], []
    for xs in b.sequences:
        h = [np.zeros(3)]
        for x in xs:
            h.append(a * h[-1] + p["weight_ih"] @ x + p["bias_ih"] + p["bias_hh"])
        T = len(xs)
        with np.errstate(divide="ignore"):
            norms.append([np.log10(a ** d * np.sqrt(3) * np.linalg.norm(h[T - d - 1]))
                          for d in range(T)])
        totals.append(np.log10(np.sqrt(3) * np.linalg.norm(
            sum(a ** d * h[T - d - 1] for d in range(T)))))
    return np.array(norms), np.array(totals)


@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
def test_cli_numbers_of_a_linear_rnn(runner, tmp_path):
    path = tmp_path / "params.json"
    args = ["jacobians", "--wrt", "params", *LINEAR, "--samples", "3", "-q", "-o", str(path)]
    code, out, err = run(args) if runner == "clirunner" else run_subprocess(args, tmp_path)
    assert code == 0, err
    assert "weight_hh" in out and "total" in out
    table = read_table(str(path))
    assert table.kind == "parameter_sensitivity"
    assert table.metadata["cells"]["rnn"]["wrt"] == ["weight_hh"]
    norms, totals = _hand_linear(3)
    rows = table.where("term", "contribution")
    assert list(rows.columns["distance"]) == list(range(12))
    assert set(rows.columns["group"]) == {"weight_hh"}
    np.testing.assert_allclose(rows.columns["log10_frobenius_norm"][:-1],
                               norms[:, :-1].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(rows.columns["log10_frobenius_norm_std"][:-1],
                               norms[:, :-1].std(axis=0), atol=1e-12)
    np.testing.assert_allclose(rows.columns["log10_rms_frobenius_norm"][:-1],
                               0.5 * np.log10(np.mean(10 ** (2 * norms[:, :-1]), axis=0)),
                               atol=1e-12)
    assert rows.columns["log10_frobenius_norm"][-1] == -np.inf  # h_0 = 0
    total = table.where("term", "total")
    assert len(total) == 1
    assert total.columns["log10_frobenius_norm"][0] == pytest.approx(totals.mean(), abs=1e-12)
    assert total.columns["log10_frobenius_norm_std"][0] == pytest.approx(totals.std(), abs=1e-12)


@pytest.mark.parametrize("suffix", ["csv", "npz"])
def test_cli_groups_and_formats(suffix, tmp_path):
    path = tmp_path / f"p.{suffix}"
    code, out, err = run(["jacobians", "--wrt", "params", "--cell", "lstm", "--skip", "skip:2",
                          "--hidden", "2", "--input-size", "2", "--steps", "5", "-q",
                          "--param", "recurrent", "--param", "bias_hh", "-o", str(path)])
    assert code == 0, err
    table = read_table(str(path))
    groups = list(dict.fromkeys(table.columns["group"]))
    assert groups == ["weight_hh+bias_hh+skip_weight", "weight_hh", "bias_hh", "skip_weight"]
    # the groups' squared norms add up to the whole's
    total = table.where("term", "total")
    whole, *parts = total.columns["log10_frobenius_norm"]
    assert whole == pytest.approx(0.5 * np.log10(np.sum(10 ** (2 * np.array(parts)))),
                                  abs=1e-12)
    assert np.isfinite(total.columns["log10_spectral_norm"][0])
    assert np.all(np.isnan(np.asarray(total.columns["log10_spectral_norm"][1:], dtype=float)))


@pytest.mark.parametrize("args,words", [
    (["--wrt", "params", "--param", "weight_xx"], "no parameter 'weight_xx'"),
    (["--param", "weight_hh"], "--param applies to --wrt params"),
    (["--wrt", "params", "--output-step", "2"], "--output-step applies to --wrt input"),
    (["--wrt", "params", "--bidirectional"], "runs forwards in time"),
])
def test_cli_bad_input_is_one_line_exit_2_and_no_file(args, words, tmp_path):
    path = tmp_path / "out.csv"
    code, out, err = run(["jacobians", "--cell", "rnn", "--hidden", "2", "--steps", "4", "-q",
                          *args, "-o", str(path)])
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0], err
    assert os.listdir(tmp_path) == []


def test_cli_bad_input_subprocess(tmp_path):
    code, out, err = run_subprocess(["jacobians", "--wrt", "params", "--cell", "gru",
                                     "--hidden", "2", "--steps", "4", "--param", "lam"], tmp_path)
    assert code == 2 and out == ""
    assert err.startswith("Error:") and len(err.splitlines()) == 1
    assert "no parameter 'lam'" in err and "weight_hh" in err


def test_cli_refuses_a_run_larger_than_the_available_memory(tmp_path, monkeypatch):
    # 20 MB free: the LSTM's state Jacobians (n = 80) fit, ds_T/dW_hh (80 x 6400 numbers, a
    # few copies) does not; refused before any work, nothing written
    from gradflow.cli import options
    from gradflow.engine.memory import needed_bytes

    monkeypatch.setattr(options, "available_bytes", lambda: 20 * 10 ** 6)
    assert needed_bytes("lstm", hidden=40, input_size=8, steps=10) < 20 * 10 ** 6
    out = tmp_path / "out.csv"
    code, stdout, err = run(["jacobians", "--wrt", "params", "--cell", "lstm", "--hidden", "40",
                             "--steps", "10", "-q", "-o", str(out)])
    assert code == 1 and stdout == ""
    assert err.startswith("Error: --hidden 40, --wrt params: ds_T/dtheta of the lstm (80 x 6400)")
    assert err.endswith("more than the 20 MB available\n") and len(err.splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_memory_estimate_bounds_the_traced_peak():
    import tracemalloc

    from gradflow.engine.memory import needed_bytes
    from gradflow.engine.parameters import needed_bytes as parameter_bytes

    b = gf.Network("lstm", hidden=24, steps=30).build()
    tracemalloc.start()
    parameter_flow(b.cell, b.params, b.sequences[0], b.state0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    n = len(b.state0)
    estimate = (parameter_bytes(n, n, b.params["weight_hh"].size, 30)
                + needed_bytes("lstm", hidden=24, input_size=8, steps=30))
    assert peak < estimate < 3 * peak
