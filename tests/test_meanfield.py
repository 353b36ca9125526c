"""Mean-field theory of the random tanh RNN against brute force and a direct wide simulation."""

import numpy as np
import pytest

from gradflow.analysis.meanfield import fixed_point, tanh_rnn_meanfield, variance_map

# An independent route to the Gaussian integrals: a dense trapezoid rule on [-10, 10].
_Z = np.linspace(-10.0, 10.0, 2001)
_W = np.exp(-0.5 * _Z ** 2) / np.sqrt(2 * np.pi)


def _expect(f, q):
    return np.trapezoid(f(np.sqrt(q) * _Z) * _W, _Z)


def _brute_force_q(sigma_w, sigma_in, sigma_b=0.0, q0=1.0):
    """Iterate the variance map from q0 until it stops moving."""
    q, previous = q0, np.inf
    while abs(q - previous) > 1e-14 * q:
        previous = q
        q = sigma_w ** 2 * _expect(lambda a: np.tanh(a) ** 2, q) + sigma_in ** 2 + sigma_b ** 2
    return q


@pytest.mark.parametrize("sigma_w, sigma_in, sigma_b", [(0.5, 1.0, 0.0), (1.0, 1.0, 0.0),
                                                        (1.5, 0.5, 0.3), (3.0, 1.0, 0.0),
                                                        (2.0, 0.0, 0.0)])
def test_fixed_point_matches_brute_force_iteration(sigma_w, sigma_in, sigma_b):
    q = fixed_point(sigma_w, sigma_in, sigma_b)
    assert q == pytest.approx(_brute_force_q(sigma_w, sigma_in, sigma_b), rel=1e-8)
    assert variance_map(q, sigma_w, sigma_in, sigma_b) == pytest.approx(q, rel=1e-10)
    chi = sigma_w ** 2 * _expect(lambda a: (1 - np.tanh(a) ** 2) ** 2, q)
    assert tanh_rnn_meanfield(sigma_w, sigma_in=sigma_in, sigma_b=sigma_b).chi == \
        pytest.approx(chi, rel=1e-8)


@pytest.mark.parametrize("sigma_w", [0.3, 0.9, 1.0])
def test_ordered_phase_without_input_is_linear(sigma_w):
    # Without input the fixed point is q* = 0 for sigma_w <= 1, where tanh'(0) = 1: chi = sigma_w^2.
    m = tanh_rnn_meanfield(sigma_w, sigma_in=0.0)
    assert m.q_star == 0.0
    assert m.chi == pytest.approx(sigma_w ** 2, rel=1e-12)
    assert m.log10_rate == pytest.approx(np.log10(sigma_w), abs=1e-12)


def test_no_recurrence_gives_the_input_variance_and_zero_gain():
    m = tanh_rnn_meanfield(0.0, sigma_in=0.7, sigma_b=0.2)
    assert m.q_star == pytest.approx(0.7 ** 2 + 0.2 ** 2, rel=1e-12)
    assert m.chi == 0.0


def _simulate(sigma_w, H=2000, T=60, burn=20, seed=0):
    """A wide random tanh RNN driven by unit-variance input noise; a tangent pushed forward."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((H, H)) * (sigma_w / np.sqrt(H))
    h = np.zeros(H)
    v = rng.standard_normal(H)
    v /= np.linalg.norm(v)
    q, growth = [], []
    for t in range(T):
        a = W @ h + rng.standard_normal(H)
        h = np.tanh(a)
        v = (1 - h ** 2) * (W @ v)
        norm = np.linalg.norm(v)
        v /= norm
        if t >= burn:
            q.append(np.mean(a ** 2))
            growth.append(np.log10(norm))
    return np.mean(q), np.mean(growth)


@pytest.mark.parametrize("sigma_w", [0.8, 1.5, 2.5])
def test_prediction_matches_a_wide_simulated_rnn(sigma_w):
    """H = 2000, 40 measured steps: q* within 2 % and the log10 rate per step within 0.01
    (the finite-H and finite-T fluctuations measured at H = 2000 are about a quarter of that)."""
    q_sim, rate_sim = _simulate(sigma_w)
    m = tanh_rnn_meanfield(sigma_w, sigma_in=1.0)
    assert q_sim == pytest.approx(m.q_star, rel=0.02)
    assert rate_sim == pytest.approx(m.log10_rate, abs=0.01)
