"""The orthogonal RNN of expRNN: a recurrent matrix that is exactly orthogonal for any parameter.

    h_t = phi(W h_{t-1} + V x_t + b),    W = expm(A - A^T),

A (H, H) any real matrix: A - A^T is skew-symmetric, so W is orthogonal (and in SO(H)) whatever A
is, and gradient descent on A never leaves the orthogonal group (Lezcano-Casado & Martinez-Rubio
2019, the exponential trivialisation). phi is
- 'modrelu' (the default, Arjovsky et al. 2016 and expRNN): modReLU(z) = sign(z) relu(|z| + b),
  the real form of relu(|z| + b) z / |z|; here b sits inside modReLU, not in the pre-activation:
  h_t = modReLU(W h_{t-1} + V x_t). At z = 0 it gives 0 (numpy's sign(0) = 0, as torch's in
  expRNN's code) and autograd's derivative there is 0; the function jumps there when b > 0.
- 'tanh': h_t = tanh(W h_{t-1} + V x_t + b);
- 'linear': h_t = W h_{t-1} + V x_t + b, whose state Jacobian is W itself.

Parameters: `A` (H, H), `weight_ih` V (H, D) and `bias` b (H,). `expm` is the matrix exponential
written in autograd.numpy (scaling and squaring with Higham's [13/13] Pade approximant), so
autograd differentiates through it in both modes.

Initialisation (expRNN's `initialization.py`, as the `init` argument of `init_params` chooses):
- 'gaussian' (gradflow's default init name): Henaff et al.'s (2016), expRNN's default for the
  copying task: A has A[2j, 2j+1] = theta_j ~ U(-pi, pi) and zeros elsewhere, so A - A^T is
  block-diagonal with 2 x 2 blocks [[0, theta_j], [-theta_j, 0]] and W is the block rotation by
  the angles theta_j (a 1 x 1 block 1 closes an odd H);
- 'orthogonal': Haar on SO(H): A is the upper triangle of log Q, Q Haar-distributed with
  det Q = +1 (expRNN's `haar_init_`);
- 'identity': A = 0, W = I.
`scale` multiplies A (the rotation angles). V ~ N(0, 2 input_scale^2 / D) (expRNN's Kaiming
normal for ReLU); b ~ U(-0.01, 0.01) for modReLU (expRNN's), zeros for tanh and linear.

References:
  Arjovsky, Shah & Bengio (2016), Unitary evolution recurrent neural networks, ICML.
  Lezcano-Casado & Martinez-Rubio (2019), Cheap orthogonal constraints in neural networks: a
  simple parametrization of the orthogonal and unitary group, ICML (expRNN).
  Henaff, Szlam & LeCun (2016), Recurrent orthogonal networks and long-memory tasks, ICML.
  Higham (2005), The scaling and squaring method for the matrix exponential revisited, SIAM J.
  Matrix Anal. Appl. 26(4).
"""

import math

import autograd.numpy as anp
import numpy as np
import scipy.linalg
from autograd.tracer import getval

from .ops import dot

__all__ = ["expm", "orthogonal", "orthogonal_cell", "recurrent_matrix", "ACTIVATIONS"]

ACTIVATIONS = ("modrelu", "tanh", "linear")

# Higham (2005), table 2.3 and eq. (2.2): the [13/13] Pade coefficients b_0..b_13 and the largest
# 1-norm theta_13 for which the approximant is exact to the unit roundoff of float64.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(M):
    """e^M for a real square M (n, n), differentiable by autograd (forward and reverse).

    Scaling and squaring (Higham 2005): M / 2^s with s the least integer making its 1-norm at most
    theta_13, the [13/13] Pade approximant r(X) = (V - U)^-1 (V + U) of e^X there, then s
    squarings. s is read off the value (not differentiated): a piecewise-constant choice.
    """
    value = np.asarray(getval(M))
    norm = np.linalg.norm(value, 1) if value.size else 0.0
    s = max(0, math.ceil(math.log2(norm / _THETA13))) if math.isfinite(norm) and norm > 0 else 0
    X = M / 2.0 ** s
    b, eye = _PADE13, np.eye(np.shape(value)[0])
    X2 = anp.dot(X, X)
    X4 = anp.dot(X2, X2)
    X6 = anp.dot(X4, X2)
    U = anp.dot(X, anp.dot(X6, b[13] * X6 + b[11] * X4 + b[9] * X2)
                + b[7] * X6 + b[5] * X4 + b[3] * X2 + b[1] * eye)
    V = anp.dot(X6, b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 \
        + b[0] * eye
    R = anp.linalg.solve(V - U, V + U)
    for _ in range(s):
        R = anp.dot(R, R)
    return R


# One expm per distinct A, not one per step: an analysis runs the cell T times with the same
# plain weights. Keyed by the bytes of A (compared in O(H^2), against the O(H^3) of expm); a
# traced A (training) is never cached, so gradients always flow through expm.
_last = (None, None)


def recurrent_matrix(params):
    """W = expm(A - A^T) (H, H), orthogonal for any A."""
    global _last
    A = params["A"]
    if not isinstance(A, np.ndarray):
        return expm(A - anp.transpose(A))
    key = (A.shape, A.tobytes())
    cached_key, W = _last
    if cached_key != key:
        W = expm(A - A.T)
        W.setflags(write=False)  # shared between calls: nobody may change it
        _last = key, W
    return W


def _modrelu(z, b):
    magnitude = anp.abs(z) + b
    return anp.sign(z) * (magnitude * (magnitude > 0))


def orthogonal_cell(activation="modrelu"):
    """The orthogonal RNN with phi = `activation` ('modrelu', 'tanh' or 'linear'); named
    'orthogonal', or 'orthogonal_tanh' / 'orthogonal_linear'. Raises ValueError for another
    activation."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r} of the orthogonal RNN; choose from "
                         f"{', '.join(ACTIVATIONS)}")

    def cell(params, state, x):
        a = dot(state, recurrent_matrix(params).T) + anp.dot(x, params["weight_ih"].T)
        if activation == "modrelu":
            return _modrelu(a, params["bias"])
        a = a + params["bias"]
        return anp.tanh(a) if activation == "tanh" else a

    def init_params(hidden, input_size, *, rng, init="gaussian", scale=1.0, input_scale=1.0,
                    forget_bias=1.0):
        """expRNN's initialisations (module doc); `forget_bias` is unused."""
        H, D = hidden, input_size
        if init == "gaussian":
            A = np.zeros((H, H))
            A[np.arange(0, H - 1, 2), np.arange(1, H, 2)] = rng.uniform(-np.pi, np.pi, H // 2)
        elif init == "orthogonal":
            q, r = np.linalg.qr(rng.standard_normal((H, H)))
            q = q * np.sign(np.diag(r))  # Haar on O(H)
            if np.linalg.det(q) < 0:  # onto SO(H), which expm reaches: flip one row
                q[rng.integers(H)] *= -1
            A = np.triu(scipy.linalg.logm(q).real, 1)  # log q is skew: its upper triangle
        elif init == "identity":
            A = np.zeros((H, H))
        else:
            raise ValueError(f"unknown init {init!r}; choose from gaussian, orthogonal, identity")
        bias = rng.uniform(-0.01, 0.01, H) if activation == "modrelu" else np.zeros(H)
        return {"A": scale * A,
                "weight_ih": rng.standard_normal((H, D)) * (input_scale * np.sqrt(2.0 / D)),
                "bias": bias}

    name = "orthogonal" if activation == "modrelu" else f"orthogonal_{activation}"
    cell.name = cell.__name__ = cell.__qualname__ = name
    cell.__doc__ = (f"Orthogonal RNN (expRNN), h_t = {activation}(W h_{{t-1}} + V x_t, b), "
                    "W = expm(A - A^T); state (..., H), x (..., D). See "
                    "gradflow.cells.orthogonal.")
    cell.gate_blocks, cell.state_blocks, cell.activation = 1, 1, activation
    cell.state_size = lambda params: np.shape(params["A"])[0]
    cell.blocks = lambda params: {}
    cell.init_params = init_params
    cell.recurrent_matrix = recurrent_matrix
    return cell


orthogonal = orthogonal_cell()
