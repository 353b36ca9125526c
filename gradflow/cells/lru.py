"""The linear recurrent unit (LRU) of Orvieto et al. (2023), its complex state as a real one.

    h_t = lambda * h_{t-1} + gamma * (B x_t),     h_t in C^H, element-wise products,
    lambda = exp(-exp(nu) + i exp(theta)),        |lambda| = exp(-exp(nu)) < 1 for every nu,
    gamma = exp(gamma_log), gamma_log = log sqrt(1 - |lambda|^2) at initialisation.

State layout. gradflow analyses real states, so the state is the real 2H-vector
s = (Re h, Im h) = (h_re[0..H-1], h_im[0..H-1]), and one step is, in real arithmetic,

    h_re' = lam_re * h_re - lam_im * h_im + gamma * (B_re x),
    h_im' = lam_im * h_re + lam_re * h_im + gamma * (B_im x),

with lam_re + i lam_im = lambda. Its state Jacobian is the 2H x 2H matrix whose (k, k), (k, H + k),
(H + k, k), (H + k, H + k) entries form |lambda_k| times the rotation by arg lambda_k: a
block-diagonal matrix of 2 x 2 rotations-times-radius after permuting (Re h_k, Im h_k) together.
So ||ds_T/ds_t||_2 = max_k |lambda_k|^(T - t) and the Lyapunov exponents are -exp(nu_k), each
twice.

Output. The paper's layer outputs y_t = Re(C h_t) + D x_t. Here the cell is the recurrence only and
C is left to the read-out: gradflow's training read-out reads the first H entries of the state,
Re h_t, so it computes Re(C h_t) with C = W_out real. A complex C of one output is no more general:
c_k h_k obeys the same recurrence with c_k B_k in place of B_k, so B absorbs its phase (with O > 1
outputs a real C is a restriction). D x_t, a skip from the input, is not modelled.

Parameters (the names of the paper's appendix code): `nu_log` (H,), `theta_log` (H,), `B_re`,
`B_im` (H, D) and, with the normalisation on, `gamma_log` (H,), a parameter of its own (trained
apart from lambda, as in the paper).

Initialisation (the paper's ring initialisation, appendix A): |lambda|^2 uniform on
[r_min^2, r_max^2] (uniform on the ring r_min <= |lambda| <= r_max in area), arg lambda uniform on
[0, max_phase]; B_re, B_im ~ N(0, 1 / (2 D)), so that E|B x|^2 = |x|^2 / D per unit. Defaults
r_min = 0, r_max = 1, max_phase = 2 pi, those of the paper's code.

Reference:
  Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De (2023), Resurrecting recurrent neural
  networks for long sequences, ICML, arXiv:2303.06349.
"""

import math

import autograd.numpy as anp
import numpy as np

from .errors import NotApplicable
from .ops import concat

__all__ = ["lru", "lru_cell", "lru_lambda", "recurrent_matrix"]


def lru_lambda(params):
    """(Re lambda, Im lambda), each (H,), from `nu_log` and `theta_log`."""
    modulus = anp.exp(-anp.exp(params["nu_log"]))
    phase = anp.exp(params["theta_log"])
    return modulus * anp.cos(phase), modulus * anp.sin(phase)


def recurrent_matrix(params):
    """The state Jacobian ds_t/ds_{t-1} (2H, 2H) = [[diag(Re lambda), -diag(Im lambda)],
    [diag(Im lambda), diag(Re lambda)]], the same at every step: the LRU's recurrent matrix."""
    lam_re, lam_im = (np.asarray(v) for v in lru_lambda(params))
    return np.block([[np.diag(lam_re), -np.diag(lam_im)], [np.diag(lam_im), np.diag(lam_re)]])


def _hidden(params):
    return np.shape(params["nu_log"])[0]


def _check_ring(r_min, r_max, max_phase):
    for name, value in (("r_min", r_min), ("r_max", r_max), ("max_phase", max_phase)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not 0 <= r_min <= r_max <= 1 or r_max == 0 or r_min == 1:
        raise ValueError(f"the ring needs 0 <= r_min <= r_max <= 1 with r_max > 0 and r_min < 1, "
                         f"got r_min={r_min}, r_max={r_max}")
    if max_phase <= 0:
        raise ValueError(f"max_phase must be positive, got {max_phase}")


def lru_cell(*, r_min=0.0, r_max=1.0, max_phase=2 * math.pi, normalize=True):
    """An LRU cell with its ring initialisation and, with `normalize`, the input normalisation
    gamma (without it gamma = 1 and there is no `gamma_log`). Named 'lru', or 'lru_nogamma'
    without the normalisation. Raises ValueError for a ring that is not one (see the module's
    doc)."""
    _check_ring(r_min, r_max, max_phase)

    def cell(params, state, x):
        H = _hidden(params)
        lam_re, lam_im = lru_lambda(params)
        re, im = state[..., :H], state[..., H:]
        u_re, u_im = anp.dot(x, params["B_re"].T), anp.dot(x, params["B_im"].T)
        if normalize:
            gamma = anp.exp(params["gamma_log"])
            u_re, u_im = gamma * u_re, gamma * u_im
        return concat(lam_re * re - lam_im * im + u_re, lam_im * re + lam_re * im + u_im)

    def init_params(hidden, input_size, *, rng, init="gaussian", scale=1.0, input_scale=1.0,
                    forget_bias=1.0):
        """The ring initialisation (module doc). The ring sets lambda, so the other cells'
        recurrent-weight draw does not apply: an `init` other than the default 'gaussian' is
        refused (`NotApplicable`, a ValueError); `scale` (which commands such as the clipping
        ablation set by default) and `forget_bias` are ignored. `input_scale` multiplies B."""
        if init != "gaussian":
            raise NotApplicable(f"the LRU draws lambda on its ring (r_min, r_max, max_phase): "
                                f"init {init!r} does not apply")
        H, D = hidden, input_size
        u1, u2 = rng.uniform(size=H), rng.uniform(size=H)
        nu = -0.5 * np.log(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2)  # -log |lambda|
        params = {"nu_log": np.log(nu), "theta_log": np.log(max_phase * u2),
                  "B_re": rng.standard_normal((H, D)) * (input_scale / np.sqrt(2 * D)),
                  "B_im": rng.standard_normal((H, D)) * (input_scale / np.sqrt(2 * D))}
        if normalize:
            params["gamma_log"] = 0.5 * np.log1p(-np.exp(-2 * nu))  # log sqrt(1 - |lambda|^2)
        return params

    cell.name = cell.__name__ = cell.__qualname__ = "lru" if normalize else "lru_nogamma"
    cell.__doc__ = (("LRU" if normalize else "LRU without input normalisation (gamma = 1)")
                    + ": h_t = lambda * h_{t-1} + gamma * B x_t in C^H (Orvieto et al. 2023); "
                    "state (..., 2H) = (Re h, Im h), x (..., D). See gradflow.cells.lru.")
    cell.gate_blocks, cell.state_blocks, cell.activation = 1, 2, None
    cell.state_size = lambda params: 2 * _hidden(params)
    cell.hidden_size = _hidden
    cell.input_size = lambda params: np.shape(params["B_re"])[1]
    cell.blocks = lambda params: {}
    cell.init_params = init_params
    cell.recurrent_matrix = recurrent_matrix
    cell.recurrent_params = ("nu_log", "theta_log")  # lambda's: what --wrt params follows
    cell.settings = {"r_min": r_min, "r_max": r_max, "max_phase": max_phase,
                     "normalize": normalize}
    return cell


lru = lru_cell()
