"""The LRU and the orthogonal RNN against closed forms: the LRU's step Jacobian is |lambda| times a
rotation per unit, so ||ds_T/ds_t||_2 = max |lambda|^(T - t) and its Lyapunov exponents are
-exp(nu), each twice; the orthogonal RNN's W = expm(A - A^T) is orthogonal, so with a linear
activation every exponent is 0. The matrix exponential against scipy's and finite differences."""

import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.linalg
from autograd.test_util import check_grads
from hypothesis import given, settings, strategies as st

import gradflow as gf
from gradflow.cells import CELLS, init_params, lru, lru_cell, orthogonal, orthogonal_cell
from gradflow.cells.orthogonal import expm
from gradflow.cells.skips import transform
from gradflow.engine.linearization import step_jacobian

from cli_run import run, run_subprocess

LN10 = math.log(10)


def lru_params(radii, phases, D=2, seed=0, normalize=True):
    """LRU parameters with the given |lambda| and arg lambda, B drawn from `seed`."""
    rng = np.random.default_rng(seed)
    radii, H = np.asarray(radii, dtype=float), len(radii)
    params = {"nu_log": np.log(-np.log(radii)), "theta_log": np.log(np.asarray(phases, float)),
              "B_re": rng.standard_normal((H, D)), "B_im": rng.standard_normal((H, D))}
    if normalize:
        params["gamma_log"] = 0.5 * np.log1p(-radii ** 2)
    return params


def lam(params):
    """lambda as complex numbers, from the paper's formula."""
    return np.exp(-np.exp(params["nu_log"]) + 1j * np.exp(params["theta_log"]))


def log_radii(params):
    """log |lambda| = -exp(nu), exactly as the parametrisation defines it."""
    return -np.exp(params["nu_log"])


def assert_norms_match_closed_form(params, T, seed=1):
    x = gf.random_inputs(T, np.shape(params["B_re"])[1], seed=seed)
    flow = gf.gradient_flow(lru, params, x)
    d = flow.distance
    expected = d * np.max(log_radii(params)) / LN10  # log10 max_i |lambda_i|^d
    # relative error of the norm within 1e-12: |ln(estimate / exact)| <= 1e-12
    np.testing.assert_array_less(np.abs(flow.log10_spectral_norm - expected) * LN10, 1e-12)
    # ||P||_F^2 = 2 sum_i |lambda_i|^(2 d): every unit's 2 x 2 block is |lambda_i|^d a rotation
    frob = 0.5 * np.log10(2 * np.sum(np.exp(2 * np.outer(d, log_radii(params))), axis=1))
    np.testing.assert_array_less(np.abs(flow.log10_frobenius_norm - frob) * LN10, 1e-12)


# ------------------------------------------------------------------ LRU

def test_lru_step_is_the_complex_recurrence_in_real_arithmetic():
    params = lru_params([0.3, 0.9, 0.99], [0.5, 2.0, 6.0], D=4)
    rng = np.random.default_rng(5)
    h = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    x = rng.standard_normal(4)
    gamma = np.sqrt(1 - np.abs(lam(params)) ** 2)
    expected = lam(params) * h + gamma * ((params["B_re"] + 1j * params["B_im"]) @ x)
    out = lru(params, np.concatenate([h.real, h.imag]), x)
    np.testing.assert_allclose(out, np.concatenate([expected.real, expected.imag]), atol=1e-15)
    # the step Jacobian: per unit k, |lambda_k| times the rotation by arg lambda_k
    J = step_jacobian(lru, params, np.concatenate([h.real, h.imag]), x)
    L = lam(params)
    oracle = np.block([[np.diag(L.real), -np.diag(L.imag)], [np.diag(L.imag), np.diag(L.real)]])
    np.testing.assert_allclose(J, oracle, atol=1e-16)


@pytest.mark.parametrize("radii", [
    [0.9, 0.5, 0.2],
    [0.9, 0.9, 0.9],                          # repeated |lambda|: the norm is degenerate
    [0.9, 0.9 * (1 - 1e-9), 0.3],             # near-equal: power iteration converges slowly
    [0.999, 0.999 * (1 - 1e-13), 0.1, 0.999],
    [0.5],
])
def test_lru_spectral_norm_is_max_radius_to_the_distance(radii):
    phases = np.linspace(0.1, 6.0, len(radii))
    assert_norms_match_closed_form(lru_params(radii, phases), T=120)


@settings(max_examples=40, deadline=None)
@given(base=st.floats(0.05, 0.999), H=st.integers(1, 6), seed=st.integers(0, 2 ** 32 - 1),
       gaps=st.lists(st.sampled_from([0.0, 1e-14, 1e-12, 1e-9, 1e-6, 1e-3, 0.3]), min_size=6,
                     max_size=6),
       phases=st.lists(st.floats(1e-3, 2 * math.pi), min_size=6, max_size=6))
def test_lru_spectral_norm_property(base, H, seed, gaps, phases):
    # radii equal or a relative gap apart from the largest: the diagonal-block structure, with
    # repeated and near-equal singular values, where spectral norms have gone wrong before
    radii = base * (1 - np.asarray(gaps[:H]))
    assert_norms_match_closed_form(lru_params(radii, phases[:H], seed=seed % 1000), T=40,
                                   seed=seed)


def test_lru_lyapunov_exponents_are_minus_exp_nu_twice():
    params = lru_params([0.95, 0.6, 0.6, 0.1], [0.2, 1.0, 3.0, 5.0], D=3)
    x = gf.random_inputs(300, 3, seed=2)
    exponents = gf.lyapunov_spectrum(lru, params, x)
    expected = np.sort(np.repeat(log_radii(params), 2))[::-1]
    np.testing.assert_allclose(exponents, expected, rtol=1e-12, atol=1e-14)
    # through a Network (log10 per step), with the cell's own ring initialisation
    net = gf.Network("lru", hidden=5, input_size=3, steps=200, seed=4)
    nu = net.build().params["nu_log"]
    np.testing.assert_allclose(gf.spectrum(net).lyapunov,
                               np.sort(np.repeat(-np.exp(nu), 2))[::-1] / LN10, rtol=1e-12)


@pytest.mark.parametrize("r_min,r_max,max_phase", [(0.0, 1.0, 2 * math.pi), (0.4, 0.9, math.pi),
                                                   (0.9, 0.999, 0.1), (0.7, 0.7, 1.0)])
def test_ring_initialisation(r_min, r_max, max_phase):
    H = 20000
    cell = lru_cell(r_min=r_min, r_max=r_max, max_phase=max_phase)
    params = init_params(cell, H, 3, seed=7)
    r, phase = np.abs(lam(params)), np.exp(params["theta_log"])
    # within the ring, up to the rounding of exp(-exp(log(nu))) (a few ulps)
    assert np.all(r >= r_min * (1 - 1e-15)) and np.all(r <= r_max * (1 + 1e-15))
    assert np.all(phase >= 0) and np.all(phase <= max_phase)
    # |lambda|^2 uniform on [r_min^2, r_max^2] (uniform in area on the ring): mean within 5 s.e.
    a, b = r_min ** 2, r_max ** 2
    assert abs(np.mean(r ** 2) - (a + b) / 2) <= 5 * (b - a) / math.sqrt(12 * H) + 1e-15
    assert abs(np.mean(phase) - max_phase / 2) <= 5 * max_phase / math.sqrt(12 * H)
    np.testing.assert_allclose(np.exp(params["gamma_log"]), np.sqrt(1 - r ** 2), rtol=1e-12)
    assert params["B_re"].shape == params["B_im"].shape == (H, 3)


def test_ring_and_init_refused():
    for bad in ({"r_min": 0.5, "r_max": 0.4}, {"r_max": 1.5}, {"r_max": 0.0},
                {"r_min": 1.0}, {"max_phase": 0.0}, {"r_min": float("nan")}):
        with pytest.raises(ValueError):
            lru_cell(**bad)
    with pytest.raises(ValueError, match="ring"):
        init_params("lru", 4, 2, init="identity")
    assert "gamma_log" not in init_params(lru_cell(normalize=False), 4, 2)


@pytest.mark.parametrize("normalize", [True, False])
def test_gamma_makes_the_state_variance_independent_of_lambda(normalize):
    # White unit-variance input: the state's covariance, propagated exactly through the cell's
    # own Jacobians (S_t = J S_{t-1} J^T + G G^T, the cell being linear), against the closed
    # form E|h_k|^2 = gamma_k^2 |B_k|^2 (1 - r^(2T)) / (1 - r^2), gamma_k^2 = 1 - r^2 or 1.
    T, D = 4000, 3
    variances = []
    for r in (0.1, 0.5, 0.9, 0.99):
        params = init_params(lru_cell(r_min=r, r_max=r, normalize=normalize), 2, D, seed=3)
        cell = lru_cell(normalize=normalize)
        s0, x0 = np.zeros(4), np.zeros(D)
        J = autograd.jacobian(lambda s: cell(params, s, x0))(s0)
        G = autograd.jacobian(lambda x: cell(params, s0, x))(x0)
        S = np.zeros((4, 4))
        for _ in range(T):
            S = J @ S @ J.T + G @ G.T
        e_h2 = np.diag(S)[:2] + np.diag(S)[2:]
        b2 = np.sum(params["B_re"] ** 2 + params["B_im"] ** 2, axis=1)
        gamma2 = 1 - r ** 2 if normalize else 1.0
        np.testing.assert_allclose(e_h2, gamma2 * b2 * (1 - r ** (2 * T)) / (1 - r ** 2),
                                   rtol=1e-10)
        variances.append(e_h2 / b2)
    variances = np.array(variances)
    if normalize:  # E|h|^2 = |B|^2 at every |lambda|
        np.testing.assert_allclose(variances, 1.0, rtol=1e-12)
    else:  # 1 / (1 - r^2): from 1.01 to 50
        assert variances[-1, 0] > 40 * variances[0, 0]


# ------------------------------------------------------------------ orthogonal RNN

@pytest.mark.parametrize("H", [1, 2, 7, 32])
@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity"])
def test_orthogonal_recurrent_matrix_is_orthogonal(H, init):
    params = init_params("orthogonal", H, 3, init=init, seed=H)
    lin = orthogonal_cell("linear")
    W = step_jacobian(lin, params, np.zeros(H), np.zeros(3))
    np.testing.assert_allclose(W.T @ W, np.eye(H), rtol=0, atol=1e-13)
    assert np.linalg.det(W) == pytest.approx(1.0, abs=1e-12)
    A = params["A"]
    np.testing.assert_allclose(W, scipy.linalg.expm(A - A.T), rtol=0, atol=1e-13)
    if init == "identity":
        np.testing.assert_allclose(W, np.eye(H), rtol=0, atol=1e-15)


def test_henaff_init_is_a_block_rotation_and_any_A_gives_an_orthogonal_W():
    params = init_params("orthogonal", 5, 2, seed=11)
    theta = params["A"][[0, 2], [1, 3]]
    assert np.all(np.abs(theta) <= math.pi) and np.count_nonzero(params["A"]) == 2
    W = orthogonal.recurrent_matrix(params)
    for j, t in enumerate(theta):  # block j: [[cos t, sin t], [-sin t, cos t]]
        np.testing.assert_allclose(W[2 * j:2 * j + 2, 2 * j:2 * j + 2],
                                   [[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]],
                                   atol=1e-15)
    assert W[4, 4] == pytest.approx(1.0, abs=1e-15)
    A = np.random.default_rng(0).standard_normal((16, 16)) * 3
    W = orthogonal.recurrent_matrix({"A": A})
    np.testing.assert_allclose(W.T @ W, np.eye(16), rtol=0, atol=1e-13)


def test_orthogonal_linear_rnn_has_every_exponent_zero_over_10000_steps():
    params = init_params("orthogonal", 6, 2, init="orthogonal", seed=3)
    exponents = gf.lyapunov_spectrum(orthogonal_cell("linear"), params,
                                     gf.random_inputs(10000, 2, seed=4))
    assert exponents.shape == (6,)
    np.testing.assert_array_less(np.abs(exponents), 1e-10)


def test_modrelu_and_its_sign_at_zero():
    params = {"A": np.zeros((5, 5)), "weight_ih": np.zeros((5, 1)),
              "bias": np.array([-1.0, -1.0, 0.5, 0.5, -1.0])}
    z = np.array([-2.0, 0.5, 0.0, -0.25, 0.0])  # W = I, no input: the pre-activation is z
    out = orthogonal(params, z, np.zeros(1))  # W = expm(0) = I to rounding
    np.testing.assert_allclose(out, [-1.0, 0.0, 0.0, -0.75, 0.0], rtol=0, atol=1e-15)
    assert out[2] == 0 and out[4] == 0  # sign(0) = 0: no output at z = 0, whatever b
    J = step_jacobian(orthogonal, params, z, np.zeros(1))
    np.testing.assert_allclose(J, np.diag([1.0, 0.0, 0.0, 1.0, 0.0]), rtol=0, atol=1e-15)
    tanh_cell = orthogonal_cell("tanh")
    np.testing.assert_allclose(tanh_cell(params, z, np.zeros(1)), np.tanh(z + params["bias"]))
    with pytest.raises(ValueError, match="activation"):
        orthogonal_cell("relu")


# ------------------------------------------------------------------ the matrix exponential

@pytest.mark.parametrize("n", [1, 2, 5, 16, 40])
@pytest.mark.parametrize("size", [1e-3, 0.1, 1.0, 10.0])
def test_expm_against_scipy(n, size):
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n)) * size
    skew = A - A.T  # the use here: the result is orthogonal, entries at most 1
    np.testing.assert_allclose(expm(skew), scipy.linalg.expm(skew), rtol=0, atol=1e-13)
    general = rng.standard_normal((n, n)) * min(size, 1.0)
    exact = scipy.linalg.expm(general)
    assert np.max(np.abs(expm(general) - exact)) <= 1e-13 * np.linalg.norm(exact, 2)


@pytest.mark.parametrize("size", [0.1, 3.0, 20.0])  # 20: several squarings
def test_expm_gradient_against_finite_differences(size):
    M = np.random.default_rng(1).standard_normal((4, 4)) * size / 4
    check_grads(expm, modes=["fwd", "rev"], order=1)(M)
    # through the cell, a few steps: d loss / d A, both modes
    params = init_params("orthogonal", 4, 2, seed=2)
    x = gf.random_inputs(3, 2, seed=3)

    def loss(A):
        s = np.ones(4) * 0.3
        for xt in x:
            s = orthogonal_cell("tanh")({**params, "A": A}, s, xt)
        return np.sum(s ** 2)

    check_grads(loss, modes=["fwd", "rev"], order=1)(M)


# ------------------------------------------------------------------ both cells, everywhere

def test_registered_with_init_params_and_sizes():
    assert CELLS["lru"] is lru and CELLS["orthogonal"] is orthogonal
    p = init_params("lru", 4, 3, seed=0)
    assert {k: v.shape for k, v in p.items()} == {"nu_log": (4,), "theta_log": (4,),
                                                  "B_re": (4, 3), "B_im": (4, 3),
                                                  "gamma_log": (4,)}
    assert lru.state_size(p) == 8 and lru(p, np.zeros((5, 8)), np.ones((5, 3))).shape == (5, 8)
    q = init_params("orthogonal", 4, 3, seed=0)
    assert {k: v.shape for k, v in q.items()} == {"A": (4, 4), "weight_ih": (4, 3), "bias": (4,)}
    assert orthogonal.state_size(q) == 4
    # the same seed, the same weights; two layers: layer 1 of the LRU reads (Re h, Im h)
    np.testing.assert_array_equal(init_params("lru", 4, 3, seed=0)["nu_log"], p["nu_log"])
    stacked = gf.Network("lru", hidden=3, input_size=2, layers=2).build().params
    assert stacked["B_re_l1"].shape == (3, 6)


@pytest.mark.parametrize("name", ["lru", "orthogonal"])
@pytest.mark.parametrize("skip", ["residual", "skip:3", "dense:2", "highway"])
def test_skip_variants(name, skip):
    net = gf.Network(name, hidden=3, input_size=2, steps=12, skip=skip)
    built = net.build()
    flow = gf.gradient_flow(built.cell, built.params, built.sequences[0], built.state0)
    assert np.all(np.isfinite(flow.log10_spectral_norm))
    assert gf.decay_profile(net).summary.verdict in ("vanishing", "exploding", "neutral")


def test_residual_lru_and_residual_linear_orthogonal_rnn_against_closed_form():
    # residual: s_t = s_{t-1} + f(s_{t-1}); the Jacobian I + J is normal for these two cells, so
    # ||(I + J)^d||_2 = max |1 + mu|^d over the eigenvalues mu of J (lambda_k, or W's).
    params = lru_params([0.9, 0.5, 0.99], [0.3, 2.0, 3.1])
    flow = gf.gradient_flow(transform(lru, "residual"), params, gf.random_inputs(30, 2, seed=1))
    rate = np.max(np.log10(np.abs(1 + lam(params))))
    np.testing.assert_allclose(flow.log10_spectral_norm, flow.distance * rate, rtol=1e-12)
    oparams = init_params("orthogonal", 6, 2, init="orthogonal", seed=5)
    mu = np.linalg.eigvals(scipy.linalg.expm(oparams["A"] - oparams["A"].T))
    flow = gf.gradient_flow(transform(orthogonal_cell("linear"), "residual"), oparams,
                            gf.random_inputs(30, 2, seed=1))
    np.testing.assert_allclose(flow.log10_spectral_norm,
                               flow.distance * np.max(np.log10(np.abs(1 + mu))), rtol=1e-11)


@pytest.mark.parametrize("name", ["lru", "orthogonal"])
def test_training_decreases_the_loss_on_an_easy_recall(name):
    run_ = gf.train(name, "recall", steps=2, hidden=16, batch=32, updates=150, lr=0.02,
                    optimizer="adam", seed=0)
    assert not run_.diverged
    first, last = np.mean(run_.loss[:10]), np.mean(run_.loss[-10:])
    assert last < 0.25 * math.log(8) and last < 0.25 * first  # memoryless baseline: ln 8


def test_phase_diagram_reports_the_norm_of_the_recurrent_matrix():
    net = gf.Network("rnn", hidden=3, input_size=2, steps=5)
    diagram = gf.phase_diagram(net, scales=[0.5, 1.0], cells=("lru", "orthogonal"))
    np.testing.assert_allclose(diagram.weight_norm["orthogonal"], 1.0, rtol=1e-13)
    radii = np.exp(-np.exp(net.replace(cell="lru").build().params["nu_log"]))
    np.testing.assert_allclose(diagram.weight_norm["lru"], radii.max(), rtol=1e-13)


# ------------------------------------------------------------------ the command line

def csv_rows(out):
    lines = out.splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


SMALL = ["--hidden", "4", "--input-size", "3", "--steps", "25", "--format", "csv", "--quiet"]


@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
def test_cli_jacobians_lru(runner, tmp_path):
    args = ["jacobians", "--cell", "lru", *SMALL]
    code, out, err = run(args) if runner == "clirunner" else run_subprocess(args, tmp_path)
    assert code == 0, err
    rows = csv_rows(out)
    nu = gf.Network("lru", hidden=4, input_size=3, steps=25).build().params["nu_log"]
    assert [int(r["distance"]) for r in rows] == list(range(1, 26))
    for r in rows:
        assert r["cell"] == "lru"
        expected = int(r["distance"]) * np.max(-np.exp(nu)) / LN10
        assert abs(float(r["log10_spectral_norm"]) - expected) * LN10 <= 1e-12


@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
def test_cli_jacobians_orthogonal(runner, tmp_path):
    args = ["jacobians", "--cell", "orthogonal", *SMALL]
    code, out, err = run(args) if runner == "clirunner" else run_subprocess(args, tmp_path)
    assert code == 0, err
    rows = csv_rows(out)
    assert [int(r["distance"]) for r in rows] == list(range(1, 26))
    # every step Jacobian is diag(0 or 1) W with W orthogonal: the products never grow
    for r in rows:
        assert r["cell"] == "orthogonal"
        assert float(r["log10_spectral_norm"]) <= 1e-13
        assert float(r["log10_frobenius_norm"]) <= math.log10(2) + 1e-13  # sqrt(H) = 2
    assert float(rows[0]["log10_spectral_norm"]) > -1  # modReLU's b ~ 0.01: most units open
    code, out, err = run(["jacobians", "--cell", "orthogonal", "--init", "identity", *SMALL])
    assert code == 0, err


def test_cli_lru_refuses_another_init():
    code, out, err = run(["jacobians", "--cell", "lru", "--init", "identity", *SMALL])
    assert code == 2 and out == ""  # options that contradict each other
    assert len(err.splitlines()) == 1 and err.startswith("Error: ") and "ring" in err


def test_cli_lyapunov_lru_exponents_are_minus_exp_nu_twice():
    code, out, err = run(["lyapunov", "--cell", "lru", "--hidden", "3", "--input-size", "2",
                          "--steps", "50", "--format", "csv", "--quiet"])
    assert code == 0, err
    nu = gf.Network("lru", hidden=3, input_size=2, steps=50).build().params["nu_log"]
    measured = [float(r["lyapunov_log10_per_step"]) for r in csv_rows(out)]
    np.testing.assert_allclose(measured, np.sort(np.repeat(-np.exp(nu), 2))[::-1] / LN10,
                               rtol=1e-12)


@pytest.mark.parametrize("name", ["lru", "orthogonal"])
def test_a_network_given_weights_takes_its_sizes_from_them(name):
    params = init_params(name, 5, 3, seed=0)
    net = gf.Network(name, hidden=9, input_size=2, params=params, steps=4, samples=1)
    assert net.sizes() == (5, 3)
    assert net.build().sequences[0].shape == (4, 3)


def test_the_recurrent_parameters_are_lambdas_and_the_generator_of_w():
    from gradflow.engine.parameters import recurrent_parameters

    assert recurrent_parameters(lru, init_params("lru", 3, 2, seed=0)) == ("nu_log", "theta_log")
    assert recurrent_parameters(orthogonal, init_params("orthogonal", 3, 2, seed=0)) == ("A",)
    skipped = transform(lru, "skip:2")
    names = recurrent_parameters(skipped, init_params(skipped, 3, 2, seed=0))
    assert names == ("nu_log", "theta_log", "skip_weight")


def test_training_gradient_of_the_orthogonal_rnn_matches_finite_differences_over_two_traces():
    """W = expm(A - A^T) is computed once per traced A and shared by every step: the gradient
    of a loss over the unrolled sequence must still be the derivative (central differences,
    an independent oracle), also at a second point, where a stale W would show."""
    from autograd import grad

    from gradflow.cells.orthogonal import orthogonal_cell

    cell = orthogonal_cell("tanh")
    rng = np.random.default_rng(5)
    params = cell.init_params(4, 2, rng=rng, init="orthogonal")
    xs = rng.standard_normal((12, 2))

    def loss(A):
        p, h = {**params, "A": A}, np.zeros(4)
        for x in xs:
            h = cell(p, h, x)
        return anp.sum(h ** 2)

    for A in (params["A"], params["A"] + 0.3 * rng.standard_normal((4, 4))):
        g = grad(loss)(A)
        fd = np.zeros_like(A)
        for idx in np.ndindex(A.shape):
            e = np.zeros_like(A)
            e[idx] = 1e-6
            fd[idx] = (loss(A + e) - loss(A - e)) / 2e-6
        assert np.allclose(g, fd, rtol=1e-6, atol=1e-8)
