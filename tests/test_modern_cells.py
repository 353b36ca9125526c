"""IndRNN, minGRU and minLSTM (gradflow.cells.modern) against oracles written here in plain
numpy: their diagonal step Jacobians from the gates computed by hand, the exact powers of a
linear IndRNN (spectral norm max|u|^d at every distance, also for repeated and near-equal
magnitudes and zeros), finite differences of the relu IndRNN, the authors' bound MAG^(1/T);
and that every part of gradflow takes them: analyses, skip connections, layers, training and
the command line (CliRunner and a subprocess)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradflow as gf
from gradflow.cells import CELLS, init_params
from gradflow.cells.builtin import recurrent_norm
from gradflow.cells.modern import indrnn, indrnn_bound, indrnn_linear, mingru, minlstm
from gradflow.engine.jacobians import gradient_flow, lyapunov_spectrum, step_jacobian

from cli_run import run, run_subprocess

MODERN = {"indrnn": indrnn, "mingru": mingru, "minlstm": minlstm}


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _case(name, H=5, D=3, T=40, seed=0, forget_bias=1.0):
    params = init_params(name, H, D, forget_bias=forget_bias, seed=seed)
    x = np.random.default_rng(seed + 100).standard_normal((T, D))
    return params, x


def _mingru_keep(params, x):
    """1 - z_t for inputs x (T, D), by hand: (T, H)."""
    W, b = params["weight_ih"], params["bias_ih"]
    H = W.shape[0] // 2
    return 1.0 - _sig(x @ W[:H].T + b[:H])


def _minlstm_keep(params, x):
    """f'_t = f_t / (f_t + i_t) for inputs x (T, D), by hand: (T, H)."""
    W, b = params["weight_ih"], params["bias_ih"]
    H = W.shape[0] // 3
    f = _sig(x @ W[:H].T + b[:H])
    i = _sig(x @ W[H:2 * H].T + b[H:2 * H])
    return f / (f + i)


KEEP = {"mingru": _mingru_keep, "minlstm": _minlstm_keep}


# ------------------------------------------------------------------- minGRU and minLSTM


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_cells_step_jacobian_is_the_diagonal_of_the_keep_gate(name):
    params, x = _case(name, T=6)
    keep = KEEP[name](params, x)
    rng = np.random.default_rng(3)
    for t in range(len(x)):
        J = step_jacobian(MODERN[name], params, rng.standard_normal(5), x[t])
        np.testing.assert_allclose(J, np.diag(keep[t]), rtol=1e-14, atol=0)
        assert np.all(J[~np.eye(5, dtype=bool)] == 0)  # exactly diagonal


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_cells_forward_pass_matches_the_papers_equations(name):
    params, x = _case(name, T=8)
    H = 5
    W, b = params["weight_ih"], params["bias_ih"]
    keep = KEEP[name](params, x)
    candidate = x @ W[-H:].T + b[-H:]
    admit = 1.0 - keep if name == "mingru" else None
    if name == "minlstm":  # i' = i / (f + i)
        f, i = _sig(x @ W[:H].T + b[:H]), _sig(x @ W[H:2 * H].T + b[H:2 * H])
        admit = i / (f + i)
    h = ours = np.zeros(H)
    for t in range(len(x)):
        h = keep[t] * h + admit[t] * candidate[t]
        ours = MODERN[name](params, ours, x[t])
        np.testing.assert_allclose(ours, h, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_cells_lyapunov_exponents_are_time_averages_of_log_keep(name):
    params, x = _case(name, H=6, T=300, seed=1)
    expected = np.sort(np.log(KEEP[name](params, x)).mean(axis=0))[::-1]
    got = lyapunov_spectrum(MODERN[name], params, x)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert np.all(got <= 0)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_cells_spectrum_through_network_is_log10_of_the_averages(name):
    net = gf.Network(name, hidden=4, input_size=3, steps=50, seed=2)
    built = net.build()
    expected = np.sort(np.log10(KEEP[name](built.params, built.sequences[0])).mean(axis=0))[::-1]
    np.testing.assert_allclose(gf.spectrum(net).lyapunov, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_cells_product_norm_is_the_largest_product_of_keeps(name):
    params, x = _case(name, H=5, T=30, seed=4)
    keep = KEEP[name](params, x)
    flow = gradient_flow(MODERN[name], params, x)
    # ds_T/ds_{T-d} = diag(prod of the last d keeps): its spectral norm is the largest entry
    partial = np.cumprod(keep[::-1], axis=0)  # row d-1: product over steps T-d+1..T
    np.testing.assert_allclose(flow.log10_spectral_norm, np.log10(partial.max(axis=1)),
                               rtol=1e-12)
    np.testing.assert_allclose(flow.log10_frobenius_norm,
                               0.5 * np.log10((partial ** 2).sum(axis=1)), rtol=1e-12)


def test_min_cells_keep_the_memory_gate_bias():
    # forget_bias b: minGRU's z gate gets -b (keep = 1 - z), minLSTM's forget gate +b
    g = init_params("mingru", 4, 2, forget_bias=3.0, seed=0)
    l = init_params("minlstm", 4, 2, forget_bias=3.0, seed=0)
    np.testing.assert_array_equal(g["bias_ih"], [-3.0] * 4 + [0.0] * 4)
    np.testing.assert_array_equal(l["bias_ih"], [3.0] * 4 + [0.0] * 8)
    assert g["weight_ih"].shape == (8, 2) and l["weight_ih"].shape == (12, 2)


def test_minlstm_normalised_gates_survive_underflow():
    # f and i both underflow to 0 in float64 at pre-activations of -800; f / (f + i) does not
    params = {"weight_ih": np.zeros((3, 1)), "bias_ih": np.array([-800.0, -801.0, 2.0])}
    h = minlstm(params, np.array([1.0]), np.array([0.0]))
    f_prime = 1.0 / (1.0 + np.exp(-1.0))  # f / (f + i) = 1 / (1 + e^-1) as the biases differ by 1
    np.testing.assert_allclose(h, [f_prime * 1.0 + (1 - f_prime) * 2.0], rtol=1e-14)


# -------------------------------------------------------------------------------- IndRNN


def _linear_indrnn(u, D=2):
    H = len(u)
    rng = np.random.default_rng(0)
    return {"weight_ih": rng.standard_normal((H, D)), "weight_hh": np.asarray(u, dtype=float),
            "bias_ih": rng.standard_normal(H)}


def _check_powers(u, T):
    params = _linear_indrnn(u)
    x = np.random.default_rng(1).standard_normal((T, 2))
    d = np.arange(1, T + 1)
    flow = gradient_flow(indrnn_linear, params, x, products_at=(1, T // 2, T))
    top = np.max(np.abs(u))
    np.testing.assert_allclose(flow.log10_spectral_norm, d * np.log10(top), rtol=1e-12,
                               atol=1e-13)
    frob = 0.5 * np.log10(np.sum(np.abs(np.asarray(u))[None, :] ** (2 * d[:, None]), axis=1))
    np.testing.assert_allclose(flow.log10_frobenius_norm, frob, rtol=1e-12, atol=1e-13)
    for dist in (1, T // 2, T):  # the product itself: diag(u^d)
        np.testing.assert_allclose(flow.products[dist].value(), np.diag(np.asarray(u) ** dist),
                                   rtol=1e-12, atol=1e-300)


def test_linear_indrnn_product_is_diag_u_to_the_distance():
    _check_powers([0.9, -0.5, 0.3, 0.0, -0.9, 0.7], T=40)


def test_linear_indrnn_spectral_norm_above_the_svd_route():
    # n = 80 > 64: the spectral norm's Krylov route, where diagonal products (a direction
    # that overtakes from outside the warm block) have gone wrong before
    u = np.linspace(-0.95, 0.95, 80)
    u[:5] = [0.95, -0.95, 0.95, 0.95 * (1 - 1e-12), 0.0]
    _check_powers(u, T=60)
    v = np.full(80, 0.2)
    v[-1] = 0.9  # the slowest direction starts last and dominates from d = 1 on
    _check_powers(v, T=60)


def test_linear_indrnn_all_zero_u_vanishes_at_once():
    flow = gradient_flow(indrnn_linear, _linear_indrnn(np.zeros(4)),
                         np.ones((5, 2)))
    assert np.all(flow.log10_spectral_norm == -np.inf)


magnitude = st.sampled_from([0.0, 0.3, 0.7, 0.9, 0.99, 1.0, 1.05])


@settings(max_examples=40, deadline=None)
@given(mags=st.lists(magnitude, min_size=1, max_size=7),
       signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=7, max_size=7),
       nudge=st.sampled_from([0.0, 1e-13, 1e-9, -1e-9]))
def test_linear_indrnn_spectral_norm_property(mags, signs, nudge):
    # repeated magnitudes (of both signs), near-equal ones (a relative nudge) and zeros
    u = np.array(mags) * np.array(signs[:len(mags)])
    u[0] *= 1 + nudge
    if not np.any(u):
        u[-1] = 0.5  # the all-zero case has its own test (every norm is -inf)
    _check_powers(u, T=25)


def test_indrnn_relu_step_jacobian_matches_central_differences():
    params = init_params("indrnn", 6, 3, scale=0.9, seed=5)
    params["bias_ih"] = np.array([0.5, -0.5, 0.2, -0.2, 1.0, -1.0])
    rng = np.random.default_rng(6)
    s, x = rng.standard_normal(6), rng.standard_normal(3)
    a = params["weight_ih"] @ x + params["bias_ih"] + params["weight_hh"] * s
    assert np.min(np.abs(a)) > 1e-3 and np.any(a < 0) and np.any(a > 0)  # both relu branches
    eps = 1e-6
    fd = np.empty((6, 6))
    for j in range(6):
        e = np.zeros(6)
        e[j] = eps
        fd[:, j] = (indrnn(params, s + e, x) - indrnn(params, s - e, x)) / (2 * eps)
    J = step_jacobian(indrnn, params, s, x)
    np.testing.assert_allclose(J, fd, atol=1e-8)
    np.testing.assert_array_equal(J, np.diag((a > 0) * params["weight_hh"]))


def test_indrnn_init_keeps_the_authors_bound():
    T, MAG = 100, 2.0
    bound = 10 ** (np.log10(MAG) / T)  # U_bound of the authors' code
    assert indrnn_bound(MAG, T) == pytest.approx(bound, rel=1e-15)
    u = init_params("indrnn", 2000, 3, scale=indrnn_bound(MAG, T), seed=0)["weight_hh"]
    assert u.shape == (2000,)
    assert np.all(u >= 0) and np.all(u <= bound)  # u ~ U(0, MAG^(1/T))
    assert u.max() > 0.99 * bound and u.min() < 0.01 * bound  # and fills the range
    assert np.all(u ** T <= MAG)  # what the bound is for: no unit grows by more than MAG
    net = gf.Network("indrnn", hidden=50, steps=T, scale=indrnn_bound(MAG, T))
    assert recurrent_norm(net.build().params) <= bound
    with pytest.raises(ValueError, match="MAG"):
        indrnn_bound(0.0, 10)


def test_indrnn_other_inits():
    assert np.all(init_params("indrnn", 5, 2, init="identity", scale=0.8)["weight_hh"] == 0.8)
    u = init_params("indrnn", 50, 2, init="orthogonal", scale=0.8, seed=1)["weight_hh"]
    assert set(np.abs(u)) == {0.8} and np.any(u < 0) and np.any(u > 0)


# ------------------------------------------------------------------ every part of gradflow


def test_registered_and_sized():
    for name, cell in MODERN.items():
        assert CELLS[name] is cell and gf.get_cell(name) is cell
        params = init_params(name, 7, 3, seed=0)
        assert cell.state_size(params) == cell.hidden_size(params) == 7
        # trained weights: the network reads H off the cell, not off a (G H, H) weight_hh
        assert gf.Network(name, params=params).sizes() == (7, 3)
    assert recurrent_norm(init_params("mingru", 3, 2)) is None
    u = np.array([0.2, -0.7, 0.5])
    assert recurrent_norm({"weight_hh": u}) == 0.7  # ||diag(u)||_2, not the vector's length


@pytest.mark.parametrize("name", sorted(MODERN))
@pytest.mark.parametrize("skip", ["residual", "skip:3", "dense:2", "highway"])
def test_skip_connections_and_layers_take_the_modern_cells(name, skip):
    net = gf.Network(name, hidden=4, input_size=3, steps=12, skip=skip)
    built = net.build()
    assert built.state0.shape == (built.cell.state_size(built.params),)
    assert np.all(np.isfinite(gf.decay_profile(net).mean["spectral"][:3]))
    deep = gf.Network(name, hidden=4, input_size=3, steps=12, layers=2, skip=skip)
    assert deep.build().state0.shape == (2 * built.cell.state_size(built.params),)
    assert len(gf.decay_profile(deep).mean["spectral"]) == 12


def test_skip_of_mingru_has_the_exact_total_derivative():
    # skip:1 with B = b I: s_t = minGRU(s_{t-1}) + b s_{t-1}: step Jacobian diag(1 - z_t) + b I
    net = gf.Network("mingru", hidden=3, input_size=2, steps=20, skip="skip:1", skip_scale=0.1)
    built = net.build()
    keep = _mingru_keep(built.params, built.sequences[0]) + 0.1
    flow = gradient_flow(built.cell, built.params, built.sequences[0])
    expected = np.log10(np.cumprod(keep[::-1], axis=0).max(axis=1))
    np.testing.assert_allclose(flow.log10_spectral_norm, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_gate_traces_of_the_min_cells(name):
    net = gf.Network(name, hidden=4, input_size=3, steps=20, samples=2, seed=1)
    built = net.build()
    traces = gf.gate_traces(net)
    gate = "keep" if name == "mingru" else "forget"
    keep = np.concatenate([KEEP[name](built.params, x) for x in built.sequences], axis=1)
    np.testing.assert_allclose(traces.gate_mean[gate], keep.mean(axis=1), rtol=1e-13)
    expected = np.mean([np.log10(np.cumprod(KEEP[name](built.params, x)[::-1], axis=0)
                                 .max(axis=1)) for x in built.sequences], axis=0)
    np.testing.assert_allclose(traces.decay["spectral"], expected, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(MODERN))
def test_training_decreases_the_loss_on_easy_recall(name):
    run_ = gf.train(name, "recall", steps=2, hidden=16, updates=150, lr=0.03,
                    optimizer="adam", seed=0)
    assert not run_.diverged
    first, last = run_.loss[:10].mean(), run_.loss[-10:].mean()
    assert last < 0.7 * first
    assert last < np.log(8) - 0.5  # well below the memoryless baseline ln 8 of 8 symbols


# ---------------------------------------------------------------------------- the CLI


def _csv_rows(out):
    lines = out.splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


@pytest.mark.parametrize("name", sorted(MODERN))
def test_cli_jacobians_runs_each_cell(name):
    code, out, err = run(["jacobians", "--cell", name, "--hidden", "4", "--steps", "10", "-q"])
    assert code == 0, err
    assert any(line.split()[:1] == [name] for line in out.splitlines())


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_cli_jacobians_numbers_of_the_min_cells(name):
    args = ["jacobians", "--cell", name, "--hidden", "4", "--input-size", "3", "--steps", "15",
            "--seed", "3", "--forget-bias", "2", "--format", "csv", "-q"]
    code, out, err = run(args)
    assert code == 0, err
    built = gf.Network(name, hidden=4, input_size=3, steps=15, seed=3, forget_bias=2.0).build()
    keep = KEEP[name](built.params, built.sequences[0])
    expected = np.log10(np.cumprod(keep[::-1], axis=0).max(axis=1))
    got = np.array([float(r["log10_spectral_norm"]) for r in _csv_rows(out)])
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_cli_jacobians_of_a_linear_like_indrnn_under_the_bound(tmp_path):
    # ds_t/ds_{t-1} = diag(relu'(a_t) u) with 0 <= u <= MAG^(1/T): ||ds_T/ds_t|| <= MAG^(d/T)
    code, out, err = run(["jacobians", "--cell", "indrnn", "--hidden", "5", "--steps", "20",
                          "--scale", repr(indrnn_bound(2.0, 20)), "--format", "csv", "-q"])
    assert code == 0, err
    got = np.array([float(r["log10_spectral_norm"]) for r in _csv_rows(out)])
    d = np.arange(1, 21)
    assert np.all(got <= d * np.log10(2.0) / 20 + 1e-12)


def test_cli_modern_cells_as_a_subprocess(tmp_path):
    args = ["jacobians", "--cell", "indrnn", "--cell", "mingru", "--cell", "minlstm",
            "--hidden", "4", "--steps", "8", "-q", "-o", "out.json"]
    code, out, err = run_subprocess(args, tmp_path)
    assert code == 0, err
    assert err == ""
    table = gf.read_table(str(tmp_path / "out.json"))
    assert set(table.columns["cell"]) == {"indrnn", "mingru", "minlstm"}


def test_cli_other_commands_take_the_modern_cells(tmp_path):
    for args in (["lyapunov", "--cell", "minlstm", "--hidden", "3", "--steps", "10", "-q"],
                 ["plot", "gates", "--cell", "mingru", "--cell", "minlstm", "--hidden", "3",
                  "--steps", "10", "-q", "-o", str(tmp_path / "g.png")],
                 ["ablate", "clipping", "--cell", "mingru", "--task", "recall", "--steps", "3",
                  "--hidden", "4", "--updates", "3", "-q", "-o", str(tmp_path / "c.json")],
                 ["ablate", "skip-training", "--cell", "rnn", "--extra-cells", "indrnn,minlstm",
                  "--variants", "none", "--tasks", "recall", "--delays", "2", "--seeds", "0",
                  "--updates", "2", "--hidden", "3", "-q"]):
        code, out, err = run(args)
        assert code == 0, (args, err)
    assert "indrnn" in out and "minlstm" in out


def test_cli_refuses_weights_files_for_the_modern_cells(tmp_path):
    # PyTorch has no such modules: a weights file names an RNN, LSTM or GRU
    path = tmp_path / "w.npz"
    np.savez(path, weight_ih_l0=np.zeros((3, 2)), weight_hh_l0=np.zeros((3, 3)),
             bias_ih_l0=np.zeros(3), bias_hh_l0=np.zeros(3))
    code, out, err = run(["jacobians", "--cell", "indrnn", "--weights", str(path), "-q"])
    assert code == 1 and err.startswith("Error: ") and len(err.splitlines()) == 1
    assert "'indrnn' for PyTorch weights" in err and out == ""
