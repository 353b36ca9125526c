"""lyapunov_spectrum (Benettin et al. 1980) against known eigenvalues, the determinant identity
and its own full spectrum."""

import numpy as np
import pytest

from gradflow import cells
from gradflow.engine.jacobians import lyapunov_spectrum

from cell_oracles import ORACLES, oracle_trajectory, random_params


def _diagonalizable(moduli, rotation_modulus, seed):
    """A real W = V B V^-1 with B block diagonal: real eigenvalues `moduli` (signs mixed) and one
    complex pair of modulus `rotation_modulus`; returns W, log|eigenvalues|, cond(V)."""
    rng = np.random.default_rng(seed)
    reals = np.asarray(moduli) * np.where(np.arange(len(moduli)) % 2, -1, 1)
    theta = 0.7
    rot = rotation_modulus * np.array([[np.cos(theta), -np.sin(theta)],
                                       [np.sin(theta), np.cos(theta)]])
    n = len(reals) + 2
    B = np.zeros((n, n))
    B[:len(reals), :len(reals)] = np.diag(reals)
    B[len(reals):, len(reals):] = rot
    V = np.eye(n) + 0.4 * rng.standard_normal((n, n))
    W = V @ B @ np.linalg.inv(V)
    logs = np.concatenate([np.log(np.abs(reals)), [np.log(rotation_modulus)] * 2])
    return W, np.sort(logs)[::-1], np.linalg.cond(V)


def test_linear_rnn_exponents_are_log_moduli_of_the_eigenvalues():
    W, expected, cond = _diagonalizable([1.4, 1.0, 0.6, 0.3], 0.8, seed=0)
    n, T = W.shape[0], 4000
    params = {"weight_hh": W, "weight_ih": np.zeros((n, 2)), "bias_ih": np.zeros(n),
              "bias_hh": np.zeros(n)}
    exps = lyapunov_spectrum(cells.rnn_linear, params, np.zeros((T, 2)))
    np.testing.assert_allclose(np.linalg.eigvals(W).__abs__().max(), 1.4, rtol=1e-10)
    # Finite-time error: the frame needs O(1) steps to align with V's columns, costing at most
    # about 2 log cond(V) in the accumulated sum of each exponent; divided by T.
    tol = 2 * np.log(cond) / T + 1e-3
    assert tol < 5e-3
    np.testing.assert_allclose(exps, expected, atol=tol)
    # the sum is exact at every T: log|det W| per step
    assert abs(exps.sum() - np.log(abs(np.linalg.det(W)))) < 1e-9


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_sum_of_exponents_is_mean_log_abs_det(name):
    Hh, D, T = 5, 3, 200
    rng = np.random.default_rng(1)
    params = random_params(name, Hh, D, rng, scale=1.5)
    inputs = rng.standard_normal((T, D))
    s0 = np.zeros(ORACLES[name][1] * Hh)
    _, jacs = oracle_trajectory(name, params, inputs, s0)
    mean_logdet = np.mean([np.linalg.slogdet(J)[1] for J in jacs])
    exps = lyapunov_spectrum(cells.get_cell(name), params, inputs)
    assert exps.shape == (len(s0),)
    assert np.all(np.diff(exps) <= 0)
    assert abs(exps.sum() - mean_logdet) < 1e-9 * max(1, abs(mean_logdet))


@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_top_k_equals_the_first_k_of_the_full_spectrum(name):
    Hh, D, T = 6, 3, 1000
    rng = np.random.default_rng(2)
    params = random_params(name, Hh, D, rng, scale=1.5)
    inputs = rng.standard_normal((T, D))
    full = lyapunov_spectrum(cells.get_cell(name), params, inputs)
    n = len(full)
    for k in (1, n // 2):
        top = lyapunov_spectrum(cells.get_cell(name), params, inputs, k=k, seed=3)
        assert top.shape == (k,)
        # Different initial frames differ by a transient of O(1) in the accumulated logs, so the
        # exponents agree to O(1/T); measured up to 4.6/T here, so 10/T = 0.01.
        np.testing.assert_allclose(top, full[:k], atol=10 / T)


def test_k_out_of_range_raises():
    params = random_params("rnn", 4, 2, np.random.default_rng(0))
    inputs = np.zeros((5, 2))
    for k in (0, -1, 5):
        with pytest.raises(ValueError):
            lyapunov_spectrum(cells.rnn, params, inputs, k=k)
