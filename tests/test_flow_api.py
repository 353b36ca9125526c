"""The parts of the engine's API beyond norms: the products ds_T/ds_t and loss-gradient vectors
themselves, cells without input, cells autograd cannot differentiate, non-finite inputs and
overflowing trajectories, and the Lyapunov burn-in. Oracles: explicit products of the
hand-derived Jacobians (tests/cell_oracles.py), matrix powers, and QR of explicit products."""

import autograd.numpy as anp
import numpy as np
import pytest
from click.testing import CliRunner

import gradflow as gf
from gradflow import cells
from gradflow.analysis.pairwise import pairwise_norms
from gradflow.cli import main
from gradflow.engine.jacobians import gradient_flow, lyapunov_spectrum

from cell_oracles import explicit_products, oracle_trajectory, random_params


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_products_and_loss_gradients_are_the_explicit_ones(name):
    rng = np.random.default_rng(3)
    H, D, T = 5, 3, 12
    params = random_params(name, H, D, rng)
    inputs = rng.standard_normal((T, D))
    n = 2 * H if name == "lstm" else H
    s0 = 0.3 * rng.standard_normal(n)
    g = rng.standard_normal(n)
    flow = gradient_flow(getattr(cells, name), params, inputs, s0, loss_grad=g,
                         products_at=(1, 4, T), keep_loss_gradients=True)
    _, jacs = oracle_trajectory(name, params, inputs, s0)
    explicit = explicit_products(jacs)
    assert sorted(flow.products) == [1, 4, T]
    for d, product in flow.products.items():
        assert np.linalg.norm(product.mantissa) == pytest.approx(1.0)
        np.testing.assert_allclose(product.value(), explicit[d - 1], rtol=1e-10, atol=1e-13)
    gradients = flow.loss_gradients.value()
    assert gradients.shape == (T, n)
    for d in range(1, T + 1):
        np.testing.assert_allclose(gradients[d - 1], g @ explicit[d - 1], rtol=1e-10,
                                   atol=1e-13)
    np.testing.assert_allclose(flow.loss_gradients.log10_scale, flow.log10_loss_gradient_norm)


def test_products_beyond_floating_point_range_keep_their_scale():
    # W = 10 I over 400 steps: ds_T/ds_{T-400} = 10^400 I, beyond float64; the scale carries it.
    n, T = 3, 400
    params = {"weight_hh": 10 * np.eye(n), "weight_ih": np.zeros((n, 1)),
              "bias_ih": np.zeros(n), "bias_hh": np.zeros(n)}
    flow = gradient_flow(cells.rnn_linear, params, np.zeros((T, 1)), products_at=(T,),
                         keep_loss_gradients=True)
    product = flow.products[T]
    assert product.log10_scale == pytest.approx(400 + 0.5 * np.log10(n), abs=1e-9)
    np.testing.assert_allclose(product.mantissa, np.eye(n) / np.sqrt(n), atol=1e-14)
    with np.errstate(over="ignore"):
        assert np.all(np.isinf(np.diag(product.value())))
    assert flow.loss_gradients.log10_scale[-1] == pytest.approx(400.0, abs=1e-9)


def test_products_at_bad_distances_are_refused():
    params = gf.init_params("rnn", hidden=3, input_size=2, seed=0)
    with pytest.raises(ValueError, match="between 1 and the length 5"):
        gradient_flow(cells.rnn, params, np.zeros((5, 2)), products_at=(6,))


def test_cell_without_input_runs_for_steps_alone():
    # s_t = A s_{t-1}: ds_T/ds_{T-d} = A^d. The cell receives x = None.
    rng = np.random.default_rng(0)
    n, T = 6, 30
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    seen = []

    def autonomous(params, state, x):
        seen.append(x)
        return anp.dot(state, params["A"].T)

    flow = gradient_flow(autonomous, {"A": A}, state0=np.ones(n), steps=T)
    expected = [np.log10(np.linalg.norm(np.linalg.matrix_power(A, d), 2))
                for d in range(1, T + 1)]
    np.testing.assert_allclose(flow.log10_spectral_norm, expected, rtol=0, atol=1e-10)
    assert all(x is None for x in seen)
    S = (A + A.T) / 2
    exps = lyapunov_spectrum(autonomous, {"A": S}, state0=np.ones(n), steps=2000, discard=100)
    np.testing.assert_allclose(exps, np.sort(np.log(np.abs(np.linalg.eigvalsh(S))))[::-1],
                               atol=2e-3)


def test_steps_must_agree_with_inputs_and_be_given_without_them():
    params = gf.init_params("rnn", hidden=3, input_size=2, seed=0)
    with pytest.raises(ValueError, match="steps=4 does not match the 5 input rows"):
        gradient_flow(cells.rnn, params, np.zeros((5, 2)), steps=4)
    with pytest.raises(ValueError, match="give the number of steps"):
        gradient_flow(cells.rnn, params)


def test_non_finite_input_names_its_step():
    params = gf.init_params("rnn", hidden=3, input_size=2, seed=0)
    inputs = np.zeros((10, 2))
    inputs[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"inputs\[3, 1\] = nan: the input at step 4"):
        gradient_flow(cells.rnn, params, inputs)
    with pytest.raises(ValueError, match="step 4"):
        lyapunov_spectrum(cells.rnn, params, inputs)


def test_overflowing_trajectory_names_the_first_step_that_is_not_finite():
    # s_t = s_{t-1}^2 from 10: s_k = 10^(2^k) overflows float64 at k = 9; J = 2 s is not finite.
    def square(params, state, x):
        return state * state

    with pytest.raises(FloatingPointError, match="not finite from step 9 on"):
        gradient_flow(square, {}, state0=np.array([10.0]), steps=12)


def numpy_concatenate_cell(params, state, x):
    h = anp.tanh(anp.dot(state, params["W"].T))
    return np.concatenate([h[..., :2], h[..., 2:]], axis=-1)  # numpy's, not autograd's


def integer_cell(params, state, x):
    return (anp.dot(state, params["W"].T) > 0) * 1


@pytest.mark.parametrize("cell,message", [(numpy_concatenate_cell, "plain numpy function"),
                                          (integer_cell, "int64 values")])
def test_cells_autograd_cannot_differentiate_are_refused(cell, message):
    W = np.random.default_rng(0).standard_normal((4, 4))
    with pytest.raises(gf.NotDifferentiableError, match=message) as info:
        gradient_flow(cell, {"W": W}, state0=np.full(4, 0.5), steps=3)
    assert "autograd.numpy" in str(info.value)


def test_a_cell_that_truly_ignores_its_state_has_zero_jacobian():
    # Output depends on x only: the Jacobian is exactly zero, gradients vanish at once.
    def feedforward(params, state, x):
        return anp.tanh(anp.dot(x, params["W"].T)) + 0.0 * 0

    W = np.random.default_rng(0).standard_normal((4, 2))
    flow = gradient_flow(feedforward, {"W": W}, np.ones((5, 2)), state0=np.zeros(4))
    assert np.all(np.isneginf(flow.log10_spectral_norm))


def test_lyapunov_discard_is_the_qr_of_the_explicit_products():
    # Constant non-normal map A: after N discarded steps the frame is Q_N = qf(A^N Q_0); the
    # exponents over the other T - N steps are log|diag R| / (T - N), R = rf(A^(T-N) Q_N).
    A = np.array([[0.5, 10.0, 0.0], [0.0, 0.9, 1.0], [0.0, 0.0, 0.7]])
    n, T, N, k, seed = 3, 40, 25, 2, 5
    params = {"weight_hh": A, "weight_ih": np.zeros((n, 1)), "bias_ih": np.zeros(n),
              "bias_hh": np.zeros(n)}
    Q0, R0 = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))
    Q0 = Q0 * np.sign(np.diag(R0))
    QN = np.linalg.qr(np.linalg.matrix_power(A, N) @ Q0)[0]
    R = np.linalg.qr(np.linalg.matrix_power(A, T - N) @ QN)[1]
    expected = np.sort(np.log(np.abs(np.diag(R))) / (T - N))[::-1]
    got = lyapunov_spectrum(cells.rnn_linear, params, np.zeros((T, 1)), k=k, discard=N,
                            seed=seed)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # Without the burn-in the non-normal transient inflates the top exponent past log 0.9.
    plain = lyapunov_spectrum(cells.rnn_linear, params, np.zeros((T, 1)), k=k, seed=seed)
    assert plain[0] > got[0] > np.log(0.9) - 0.05


def test_lyapunov_discard_must_leave_steps():
    params = gf.init_params("rnn", hidden=3, input_size=2, seed=0)
    with pytest.raises(ValueError, match="discard must be between 0 and T - 1 = 4"):
        lyapunov_spectrum(cells.rnn, params, np.zeros((5, 2)), discard=5)


def test_load_weights_is_one_line_from_the_api(tmp_path):
    rng = np.random.default_rng(0)
    H, D = 3, 2
    arrays = {"weight_ih_l0": rng.standard_normal((4 * H, D)),
              "weight_hh_l0": rng.standard_normal((4 * H, H)),
              "bias_ih_l0": rng.standard_normal(4 * H), "bias_hh_l0": rng.standard_normal(4 * H)}
    np.savez(tmp_path / "model.npz", **arrays)
    model = gf.load_weights(tmp_path / "model.npz")
    assert model.cell is gf.lstm and (model.hidden, model.input_size) == (H, D)
    flow = gf.gradient_flow(model.cell, model.params, rng.standard_normal((7, D)))
    assert flow.log10_spectral_norm.shape == (7,)


def overflowing_rnn(rng, n=5):
    """Recurrent weights of size 1e300: the trajectory overflows within a few steps."""
    params = {"weight_hh": 1e300 * rng.standard_normal((n, n)), "weight_ih": np.eye(n, 2),
              "bias_ih": np.zeros(n), "bias_hh": np.zeros(n)}
    return params, rng.standard_normal((8, 2))


def test_a_nonlinear_cell_evaluated_where_the_trajectory_overflowed_is_refused():
    # A relu RNN with weights 1e300 overflows to inf, then inf - inf = nan, where relu's slope
    # reads 0: the Jacobian there would be 0, "vanishing", and false. A linear cell's Jacobian
    # does not depend on the state, so its overflowing trajectory is still fine.
    rng = np.random.default_rng(0)
    params, inputs = overflowing_rnn(rng)
    n = len(params["bias_hh"])
    with np.errstate(over="ignore", invalid="ignore"):
        states = [np.zeros(n)]
        for x in inputs:
            states.append(np.maximum(params["weight_hh"] @ states[-1] + params["weight_ih"] @ x, 0))
    first = next(k for k, s in enumerate(states) if not np.all(np.isfinite(s)))
    with pytest.raises(FloatingPointError, match=f"not finite from step {first} on"):
        gradient_flow(cells.rnn_relu, params, inputs)
    flow = gradient_flow(cells.rnn_linear, {**params, "weight_hh": params["weight_hh"] / 1e298},
                         rng.standard_normal((300, 2)))
    assert np.all(np.isfinite(flow.log10_spectral_norm))


def test_lyapunov_and_pairwise_refuse_the_overflowed_nonlinear_trajectory_too():
    params, inputs = overflowing_rnn(np.random.default_rng(0))
    for run in (lambda: lyapunov_spectrum(cells.rnn_relu, params, inputs),
                lambda: pairwise_norms(cells.rnn_relu, params, inputs)):
        with pytest.raises(FloatingPointError, match="forward pass is not finite from step"):
            run()


def test_the_table_prints_a_factor_far_from_one_in_scientific_notation():
    out = CliRunner().invoke(main, ["jacobians", "--cell", "rnn", "--activation", "linear",
                                    "--init", "identity", "--scale", "1e200", "--steps", "5",
                                    "--hidden", "3", "-q"]).stdout
    row = next(line.split() for line in out.splitlines() if line.startswith("rnn "))
    assert row[1:4] == ["exploding", "1.0e+200", "1"]
