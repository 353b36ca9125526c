"""The curse of memory (gradflow.analysis.memory, `gradflow plot memory`): the sensitivity of
the state to the memory factor against the closed form of the linear recurrence, the LRU's
normalisation, the factor each cell achieves, the results file and the command line."""

import os

import matplotlib.image
import numpy as np
import pytest

from gradflow.analysis.decay import decay_profile
from gradflow.analysis.memory import (MEMORY_COLUMNS, closed_form, memory_curse,
                                      memory_from_table, memory_network, memory_steps,
                                      memory_to_table)
from gradflow.io.results import read_table, write_table

from cli_run import run, run_subprocess


def by_hand(lam, T):
    """E[(dh_T/dlambda)^2] for h_t = lam h_{t-1} + x_t, h_0 = 0, unit white input: h_T and its
    derivative g_T = dh_T/dlam obey h_t = lam h_{t-1} + x_t, g_t = h_{t-1} + lam g_{t-1}, both
    linear in the inputs, so E[g_T^2] is the sum of the squared coefficients of the x_s in g_T,
    carried along by the same recursion."""
    a = np.zeros(T)  # coefficients of x_1..x_T in h_t
    b = np.zeros(T)  # in g_t
    for t in range(T):
        b = a + lam * b
        a = lam * a
        a[t] = 1.0
    return float(np.sum(b ** 2))


def test_the_closed_form_is_the_issues_numbers_and_the_recursion():
    assert closed_form(0.9) == pytest.approx(263.887, abs=1e-3)  # 1.81 / 0.19^3
    assert closed_form(0.99) == pytest.approx(251263, abs=0.5)  # 1.9801 / 0.0199^3
    assert closed_form(0.9, normalized=True) == pytest.approx(1.81 / 0.19 ** 2, rel=1e-12)
    for lam, T in ((0.5, 20), (0.9, 101), (0.99, 300)):
        assert closed_form(lam, T) == pytest.approx(by_hand(lam, T), rel=1e-12)
    assert closed_form(0.9, 2000) == pytest.approx(closed_form(0.9), rel=1e-12)


def input_variance(net):
    """The mean over units of the variance of the input term per unit, ||W_i||^2 (for the LRU
    |B_i|^2 = ||B_re,i||^2 + ||B_im,i||^2), from the drawn weights."""
    p = net.cell.inner_params
    if "B_re" in p:
        return float(np.mean(np.sum(p["B_re"] ** 2 + p["B_im"] ** 2, axis=1)))
    return float(np.mean(np.sum(p["weight_ih"] ** 2, axis=1)))


@pytest.mark.parametrize("cell,lam,samples", [("indrnn_linear", 0.9, 400),
                                              ("lru_nogamma", 0.9, 400),
                                              ("indrnn_linear", 0.99, 60),
                                              ("lru", 0.99, 60)])
def test_the_sensitivity_of_a_linear_diagonal_cell_is_the_closed_form(cell, lam, samples):
    """E||ds_T/dlambda||^2 / H = mean_i ||W_i||^2 * gamma^2 * sum_k k^2 lambda^(2(k-1)), within
    4 standard errors of the mean over the input sequences."""
    (r,) = memory_curse([cell], [lam], hidden=3, input_size=2, samples=samples, seed=1)
    net = memory_network(cell, lam, hidden=3, input_size=2, samples=samples, seed=1)
    T = memory_steps(lam, 1000)
    expected = input_variance(net) * closed_form(lam, T, normalized=cell == "lru")
    assert r.steps[0] == T and r.closed_form[0] == pytest.approx(closed_form(lam, T))
    assert abs(r.sensitivity[0] - expected) < 4 * r.sensitivity_se[0], \
        (r.sensitivity[0], expected, r.sensitivity_se[0])
    assert r.sensitivity_se[0] < 0.2 * expected  # the test can fail: the error is small


def test_gamma_divides_the_lrus_sensitivity_by_exactly_one_minus_lambda_squared():
    """Same seed, same B and inputs: the normalised LRU's input term is gamma times the other's,
    gamma fixed, so its derivative is gamma times too: the ratio is 1 - lambda^2 (1e-10), and
    the normalised sensitivity grows like (1 + lambda^2) / (1 - lambda^2)^2, not ^3."""
    lams = [0.5, 0.9, 0.99]
    with_gamma, without = memory_curse(["lru", "lru_nogamma"], lams, hidden=2, input_size=2,
                                       samples=3, steps=400)
    np.testing.assert_allclose(with_gamma.sensitivity / without.sensitivity,
                               1 - np.array(lams) ** 2, rtol=1e-10)
    growth = with_gamma.sensitivity[2] / with_gamma.sensitivity[1]  # from 0.9 to 0.99
    assert growth == pytest.approx(without.sensitivity[2] / without.sensitivity[1]
                                   * (1 - 0.99 ** 2) / (1 - 0.9 ** 2), rel=1e-10)  # 9.5x less


@pytest.mark.parametrize("cell", ["lru", "lru_nogamma", "indrnn_linear"])
def test_a_linear_cell_achieves_its_factor_exactly_on_random_inputs(cell):
    (r,) = memory_curse([cell], [0.5, 0.9, 0.99], hidden=3, input_size=2, samples=2)
    np.testing.assert_allclose(r.factor_achieved, [0.5, 0.9, 0.99], rtol=0, atol=1e-10)


def zero_input_rate(cell, lam, H=5, D=3):
    net = memory_network(cell, lam, hidden=H, input_size=D, samples=1, seed=2)
    return decay_profile(net.replace(inputs=np.zeros((net.length, D)))).summary.rate, net


@pytest.mark.parametrize("cell", ["mingru", "minlstm", "rnn"])
@pytest.mark.parametrize("lam", [0.5, 0.9, 0.99])
def test_at_zero_input_the_gated_diagonal_cells_and_the_rnn_achieve_lambda(cell, lam):
    """At zero input and state ds_t/ds_{t-1} is diag(1 - z) = lambda I (minGRU), diag(f') =
    lambda I (minLSTM) or lambda Q tanh'(0) = lambda Q (RNN), Q orthogonal: every power has
    norm lambda^d, exactly."""
    assert zero_input_rate(cell, lam)[0] == pytest.approx(lam, abs=1e-10)


def test_relu_switches_the_indrnn_off_at_zero_input():
    """relu'(0) = 0: the relu IndRNN's Jacobian is zero at zero input, hence indrnn_linear."""
    assert zero_input_rate("indrnn", 0.9)[0] == 0.0


@pytest.mark.parametrize("lam", [0.5, 0.9, 0.99])
def test_at_zero_input_the_lstm_and_gru_achieve_the_radius_of_their_jacobian(lam):
    """By hand, at zero input and state (i = o = r = 1/2, g = n = 0, f = 1 - z = lambda):
    LSTM J = [[W_g / 4, lambda I / 2], [W_g / 2, lambda I]], whose nonzero eigenvalues are those
    of lambda I + W_g / 4 (not lambda: the recurrent weights add to the forget gate); GRU
    J = lambda I + (1 - lambda) W_n / 2. The fit runs over every distance, the transient of a
    non-normal J included, so the tolerance is 30 % of 1 - lambda, the scale of the claim."""
    H = 5
    rate, net = zero_input_rate("lstm", lam, H)
    W = net.cell.inner_params["weight_hh"]
    rho = max(abs(np.linalg.eigvals(lam * np.eye(H) + W[2 * H:3 * H] / 4)))
    assert abs(rate - rho) < 0.3 * (1 - lam), (rate, rho)
    rate, net = zero_input_rate("gru", lam, H)
    W = net.cell.inner_params["weight_hh"]
    rho = max(abs(np.linalg.eigvals(lam * np.eye(H) + (1 - lam) * W[2 * H:] / 2)))
    assert abs(rate - rho) < 0.3 * (1 - lam), (rate, rho)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown cell 'tcn'"):
        memory_curse(["tcn"], [0.5])
    for lam in (0.0, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            memory_curse(["lru"], [lam])
    with pytest.raises(ValueError, match="at least one"):
        memory_curse([], [0.5])


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_the_table_round_trips(suffix, tmp_path):
    results = memory_curse(["mingru", "lru"], [0.8, 0.5], hidden=2, input_size=2, samples=2,
                           steps=50)
    table = memory_to_table(results)
    assert tuple(table.columns) == MEMORY_COLUMNS and table.kind == "memory"
    write_table(tmp_path / f"m.{suffix}", table)
    back = memory_from_table(read_table(tmp_path / f"m.{suffix}"))
    assert [r.cell for r in back] == ["mingru", "lru"]
    for a, b in zip(results, back):
        np.testing.assert_array_equal(b.memory_factor, [0.5, 0.8])
        for name in MEMORY_COLUMNS[1:]:
            np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-15)


SMALL = ["--cell", "lru,mingru", "--lambdas", "0.5,0.9", "--hidden", "2", "--input-size", "2",
         "--steps", "60", "--samples", "3", "-q"]


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_plot_memory_computes_saves_and_redraws(suffix, tmp_path):
    saved = tmp_path / f"m.{suffix}"
    code, out, err = run(["plot", "memory", *SMALL, "-o", str(tmp_path / "a.png"), "--dpi",
                          "100", "--save-results", str(saved)])
    assert code == 0 and err == "", err
    assert matplotlib.image.imread(tmp_path / "a.png").shape[:2] == (300, 700)
    (mingru,) = [r for r in memory_from_table(read_table(saved)) if r.cell == "mingru"]
    np.testing.assert_allclose(mingru.memory_factor, [0.5, 0.9])
    code, _, err = run(["plot", "memory", str(saved), "-o", str(tmp_path / "b.png"), "--dpi",
                        "100"])
    assert code == 0, err
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_timescales_are_lambdas(tmp_path):
    code, _, err = run(["plot", "memory", "--cell", "indrnn_linear", "--timescales", "2,10",
                        "--hidden", "2", "--samples", "2", "-q", "-o", str(tmp_path / "a.svg"),
                        "--save-results", str(tmp_path / "m.csv")])
    assert code == 0, err
    table = read_table(tmp_path / "m.csv")
    np.testing.assert_allclose(table.columns["memory_factor"], [0.5, 0.9], rtol=1e-15)
    np.testing.assert_allclose(table.columns["factor_achieved"], [0.5, 0.9], atol=1e-10)


@pytest.mark.parametrize("args,words", [
    (["--lambdas", "0.5,1"], "1 is not strictly between 0 and 1"),
    (["--lambdas", "0.5,0.5"], "given twice"),
    (["--lambdas", "half"], "'half' in 'half' is not a number"),
    (["--timescales", "1"], "not a timescale above 1 step"),
    (["--lambdas", "0.5", "--timescales", "4"], "give one of them"),
    (["--cell", "lru,tcn"], "unknown cell 'tcn'"),
    (["--samples", "1"], "1 is not in the range x>=2"),
    (["-o", "m.gif"], "figure format must be"),
])
def test_bad_input_is_one_line_and_nothing_written(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out_args = [] if "-o" in args else ["-o", "m.png"]
    code, out, err = run(["plot", "memory", "-q", *args, *out_args, "--save-results", "m.csv"])
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("Error:") and words in err, err
    assert out == "" and os.listdir(tmp_path) == []


def test_plot_refuses_options_beside_results_and_a_file_of_another_kind(tmp_path):
    (tmp_path / "t.csv").write_text("cell,loss,truncation,cosine,lost_share\nrnn,last,1,1,0\n")
    results = memory_to_table(memory_curse(["mingru"], [0.5], hidden=2, samples=2, steps=20))
    write_table(tmp_path / "m.json", results)
    code, _, err = run(["plot", "memory", str(tmp_path / "m.json"), "--hidden", "3", "-o",
                        str(tmp_path / "f.png")])
    assert code == 2 and err.startswith("Error: --hidden: not used") and len(err.splitlines()) == 1
    code, _, err = run(["plot", "memory", str(tmp_path / "t.csv"), "-o", str(tmp_path / "f.png")])
    assert code == 1 and "holds 'truncation' results, not 'memory'" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "f.png").exists()


def test_as_a_real_command(tmp_path):
    code, out, err = run_subprocess(["plot", "memory", "--cell", "rnn", "--lambdas", "0.9",
                                     "--hidden", "2", "--samples", "2", "-o", "m.png",
                                     "--save-results", "m.csv"], tmp_path)
    assert code == 0 and err == "" and out == "", err
    assert read_table(tmp_path / "m.csv").columns["factor_achieved"][0] <= 0.9 + 1e-12
    assert (tmp_path / "m.png").stat().st_size > 10_000
    code, out, err = run_subprocess(["plot", "memory", "--lambdas", "2", "-o", "x.png"],
                                    tmp_path)
    assert code == 2 and err.startswith("Error:") and len(err.splitlines()) == 1
    assert "Traceback" not in err and not (tmp_path / "x.png").exists()
