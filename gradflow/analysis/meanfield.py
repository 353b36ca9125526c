"""Mean-field prediction of gradient flow in a wide random tanh RNN.

For h_t = tanh(a_t), a_t = W h_{t-1} + U x_t + b with W_ij ~ N(0, sigma_w^2 / H), and an input
and bias term of variance sigma_in^2 + sigma_b^2 per unit, the pre-activation variance obeys, as
H -> infinity, the variance map

    q_t = sigma_w^2 E_z[tanh(sqrt(q_{t-1}) z)^2] + sigma_in^2 + sigma_b^2,   z ~ N(0, 1),

whose fixed point q* the forward pass settles to. A tangent u pushed through the step Jacobian
J_t = diag(tanh'(a_t)) W grows in squared norm by

    chi = sigma_w^2 E_z[tanh'(sqrt(q*) z)^2]

per step, so ||ds_T/ds_t||_F / sqrt(H) changes by sqrt(chi) per step: log10 decay rate
0.5 log10 chi per step; chi < 1 vanishes, chi > 1 explodes, chi = 1 is the edge of chaos.
For finite H the spectral norm has the same slope, offset by a bounded amount.

The expectations are one-dimensional Gaussian integrals, computed with `scipy.integrate.quad`.

References:
  Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli (2016), Exponential expressivity in deep
    neural networks through transient chaos.
  Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017), Deep information propagation.
  Chen, Pennington & Schoenholz (2018), Dynamical isometry and a mean field theory of RNNs:
    gating enables signal propagation in recurrent neural networks.
"""

from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq

__all__ = ["gaussian_expectation", "variance_map", "fixed_point", "MeanField", "tanh_rnn_meanfield"]

_SQRT_2PI = np.sqrt(2 * np.pi)


def gaussian_expectation(f, q):
    """E_z[f(sqrt(q) z)] for z ~ N(0, 1), by adaptive quadrature; `f` maps a float to a float."""
    if q <= 0:
        return float(f(0.0))
    s = np.sqrt(q)
    # The integrand is negligible beyond |z| = 12 (density 1e-32); a finite range lets quad
    # place its points where the mass is.
    value, _ = quad(lambda z: f(s * z) * np.exp(-0.5 * z * z) / _SQRT_2PI, -12.0, 12.0,
                    epsabs=1e-13, epsrel=1e-11, limit=200)
    return float(value)


def _tanh_sq(a):
    return np.tanh(a) ** 2


def _dtanh_sq(a):
    return (1.0 - np.tanh(a) ** 2) ** 2


def variance_map(q, sigma_w, sigma_in=1.0, sigma_b=0.0):
    """One step of the variance map: sigma_w^2 E[tanh(sqrt(q) z)^2] + sigma_in^2 + sigma_b^2."""
    return sigma_w ** 2 * gaussian_expectation(_tanh_sq, q) + sigma_in ** 2 + sigma_b ** 2


def fixed_point(sigma_w, sigma_in=1.0, sigma_b=0.0):
    """The stable fixed point q* of `variance_map`.

    With an input or bias term (c = sigma_in^2 + sigma_b^2 > 0) the map is increasing, concave
    and bounded by sigma_w^2 + c, so q* is its unique root in [c, sigma_w^2 + c] (Brent's
    method). Without (c = 0), q* = 0 for sigma_w <= 1, and the non-zero root otherwise.
    """
    c = sigma_in ** 2 + sigma_b ** 2
    upper = sigma_w ** 2 + c
    if c == 0:
        if sigma_w <= 1:
            return 0.0
        lower = 1e-12
    else:
        lower = c
    g = lambda q: variance_map(q, sigma_w, sigma_in, sigma_b) - q  # noqa: E731
    if g(upper) >= 0:
        return float(upper)
    return float(brentq(g, lower, upper, xtol=1e-13, rtol=1e-12))


@dataclass(frozen=True)
class MeanField:
    """The mean-field prediction at one setting.

    q_star: fixed point of the pre-activation variance; chi: mean squared gain per step;
    log10_rate: 0.5 log10 chi, the predicted slope of log10 ||ds_T/ds_t|| per step.
    """
    sigma_w: float
    sigma_in: float
    sigma_b: float
    q_star: float
    chi: float
    log10_rate: float


def tanh_rnn_meanfield(sigma_w, *, sigma_in=1.0, sigma_b=0.0):
    """Mean-field q*, chi and predicted log10 decay per step of a random tanh RNN.

    Args:
      sigma_w: the recurrent gain: W_ij ~ N(0, sigma_w^2 / H), gradflow's gaussian init with
        scale = sigma_w.
      sigma_in: standard deviation of the input term (U x_t)_i per unit. gradflow's random
        inputs are N(0, I_D) and U_ij ~ N(0, input_scale^2 / D), so sigma_in = input_scale = 1.
      sigma_b: standard deviation of the bias per unit (0 for gradflow's init).

    Returns:
      A `MeanField`.
    """
    q = fixed_point(sigma_w, sigma_in, sigma_b)
    chi = sigma_w ** 2 * gaussian_expectation(_dtanh_sq, q)
    return MeanField(sigma_w=float(sigma_w), sigma_in=float(sigma_in), sigma_b=float(sigma_b),
                     q_star=q, chi=float(chi),
                     log10_rate=float(0.5 * np.log10(chi)) if chi > 0 else -np.inf)
