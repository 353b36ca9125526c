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
written in autograd.numpy (scaling and squaring with a Taylor core of degree 16), so autograd
differentiates through it in both modes.

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
  Matrix Anal. Appl. 26(4); Paterson & Stockmeyer (1973), On the number of nonscalar
  multiplications necessary to evaluate polynomials, SIAM J. Comput. 2(1).
"""

import math

import autograd.numpy as anp
import numpy as np
import scipy.linalg
from autograd.tracer import Box, getval

from .ops import dot

__all__ = ["expm", "orthogonal", "orthogonal_cell", "recurrent_matrix", "ACTIVATIONS"]

ACTIVATIONS = ("modrelu", "tanh", "linear")

# The Taylor polynomial of degree 18 at ||X||_1 <= 1: its remainder is at most e / 19! < 3e-17
# relative, below float64's unit roundoff.
_DEGREE, _THETA = 18, 1.0
_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(_DEGREE + 1))


def expm(M):
    """e^M for a real square M (n, n), differentiable by autograd in both modes.

    Scaling and squaring (Higham 2005) with a Taylor core: X = M / 2^s with s the least integer
    making ||X||_1 <= 1, the Taylor polynomial of degree 18 there, evaluated by
    Paterson-Stockmeyer (X^2, X^3, X^4, then Horner in X^4 over blocks of four terms: 7
    products), then s squarings. Only products and sums, so forward and reverse mode both
    differentiate it (autograd's `solve`, which a Pade core needs, has no forward mode). s is
    read off the value and not differentiated: a piecewise-constant choice.
    """
    value = np.asarray(getval(M))
    norm = np.linalg.norm(value, 1) if value.size else 0.0
    s = max(0, math.ceil(math.log2(norm / _THETA))) if math.isfinite(norm) and norm > 0 else 0
    X = M / 2.0 ** s
    eye = np.eye(np.shape(value)[0])
    powers = (eye, X, anp.dot(X, X))
    powers += (anp.dot(powers[2], X),)
    X4 = anp.dot(powers[2], powers[2])

    def block(j):  # sum of c_k X^(k - 4j) over k = 4j .. min(4j + 3, 18)
        return sum(_TAYLOR[k] * powers[k - 4 * j] for k in range(4 * j, min(4 * j + 4,
                                                                              _DEGREE + 1)))

    R = block(_DEGREE // 4)
    for j in reversed(range(_DEGREE // 4)):
        R = anp.dot(R, X4) + block(j)
    for _ in range(s):
        R = anp.dot(R, R)
    return R


# One expm per distinct A, not one per step: an analysis runs the cell T times with the same
# plain weights (a stack of L layers: L of them). Keyed by the bytes of A (hashed in O(H^2),
# against the O(H^3) of expm). At most _CACHED matrices are kept, the oldest dropped first.
# A traced A (training: autograd's box of the weights) is one object for the whole unrolled
# sequence, so the last one is kept by identity with its traced W: the T steps share one
# node of the graph, and the gradient flows through expm once (T times faster to train at
# H = 32, T = 500: 1.5 s per update before). A box is never changed in place, so identity is
# enough; a new trace brings a new box.
_CACHED = 8
_cache = {}
_traced = [None, None]  # [the last traced A, its W]


def recurrent_matrix(params):
    """W = expm(A - A^T) (H, H), orthogonal for any A."""
    A = params["A"]
    if isinstance(A, Box):
        if _traced[0] is not A:
            _traced[:] = [A, expm(A - anp.transpose(A))]
        return _traced[1]
    if not isinstance(A, np.ndarray):
        return expm(A - anp.transpose(A))
    key = (A.dtype.str, A.shape, A.tobytes())
    W = _cache.get(key)
    if W is None:
        W = expm(A - A.T)
        W.setflags(write=False)  # shared between calls: nobody may change it
        while len(_cache) >= _CACHED:
            _cache.pop(next(iter(_cache)), None)
        _cache[key] = W
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
    step = {"modrelu": "modReLU(W h_{t-1} + V x_t; b)", "tanh": "tanh(W h_{t-1} + V x_t + b)",
            "linear": "W h_{t-1} + V x_t + b"}[activation]
    cell.__doc__ = (f"Orthogonal RNN (expRNN), h_t = {step}, W = expm(A - A^T); state (..., H), "
                    "x (..., D). See gradflow.cells.orthogonal.")
    cell.gate_blocks, cell.state_blocks, cell.activation = 1, 1, activation
    cell.state_size = cell.hidden_size = lambda params: np.shape(params["A"])[0]
    cell.blocks = lambda params: {}
    cell.init_params = init_params
    cell.recurrent_matrix = recurrent_matrix
    cell.recurrent_params = ("A",)  # W = expm(A - A^T): what --wrt params follows
    return cell


orthogonal = orthogonal_cell()
