"""Recurrences built to keep gradients alive, whose state Jacobian is diagonal: IndRNN, minGRU
and minLSTM, as pure functions `cell(params, state, x) -> state` like the built-in classics.

Shapes follow the row convention of `gradflow.cells.builtin`: `state` (..., H), `x` (..., D).
Parameters use PyTorch-like names: `weight_ih` (G H, D) and `bias_ih` (G H,) for the maps of the
input (G blocks one after another, in the order of the paper's equations), and for IndRNN the
recurrent vector `weight_hh` (H,), as the authors' PyTorch code names it. None of these cells
multiplies the state by a matrix: ds_t/ds_{t-1} is diagonal at every step, so ds_T/ds_t is the
diagonal of the products of the step factors.

Each cell carries what gradflow asks of a built-in cell (`name`, `gate_blocks`, `state_blocks`,
`activation`, `state_size(params)`, `hidden_size(params)`, `blocks(params)`) and its own
initialiser `init_params(hidden, input_size, *, rng, init, scale, input_scale, forget_bias)`,
which `gradflow.cells.initializers.init_params` calls: every analysis, training run, skip
connection, stack of layers, sweep and `--cell NAME` takes them unchanged.

References:
  Li, Li, Cook, Zhu & Gao (2018), Independently recurrent neural network (IndRNN): building a
  longer and deeper RNN, CVPR; the authors' code github.com/Sunnydreamrain/IndRNN_pytorch.
  Feng, Tung, Ahmed, Bengio & Hajimirsadeghi (2024), Were RNNs all we needed?,
  arXiv:2410.01201.
"""

import math
import operator

import autograd.numpy as np
import numpy as onp

from .ops import sigmoid

__all__ = ["indrnn", "indrnn_tanh", "indrnn_linear", "INDRNN_ACTIVATIONS", "mingru", "minlstm",
           "indrnn_bound", "mingru_gates", "minlstm_gates"]


def _register(cell, name, gate_blocks, hidden_size, init, activation=None):
    cell.name = name
    cell.gate_blocks = gate_blocks
    cell.state_blocks = 1
    cell.activation = activation
    cell.hidden_size = hidden_size
    cell.state_size = hidden_size  # the state is h alone: n = H
    cell.blocks = lambda params: {}
    cell.init_params = init
    return cell


def _input_part(params, x):
    return np.dot(x, params["weight_ih"].T) + params["bias_ih"]


def _input_weights(rng, rows, input_size, input_scale):
    """N(0, (input_scale / sqrt(D))^2) entries, as for every cell of gradflow."""
    return rng.standard_normal((rows, input_size)) * (input_scale / onp.sqrt(input_size))


# ------------------------------------------------------------------------------------ IndRNN

def indrnn_bound(mag=2.0, steps=100):
    """MAG^(1/T), the bound on |u| of the authors' code (`U_bound`), for T = `steps`.

    |u_i| <= MAG^(1/T) keeps u_i^T, the factor by which unit i carries its state over T
    steps (with relu active), at most MAG: the gradient may grow by at most MAG over the
    sequence. Give it as `scale` to draw u_i ~ U(0, MAG^(1/T)):
    `init_params('indrnn', H, D, scale=indrnn_bound(2, T))`, or `--scale` on the command line.
    """
    if not (mag > 0 and math.isfinite(mag)):
        raise ValueError(f"MAG must be positive and finite, got {mag}")
    try:
        steps = operator.index(steps)
    except TypeError:
        raise ValueError(f"steps must be a positive whole number, got {steps!r}") from None
    if steps < 1:
        raise ValueError(f"steps must be a positive whole number, got {steps!r}")
    return mag ** (1.0 / steps)


def _indrnn_hidden(params):
    return np.shape(params["weight_hh"])[0]


def _indrnn_init(hidden, input_size, *, rng, init="gaussian", scale=1.0, input_scale=1.0,
                 forget_bias=1.0):
    """IndRNN's parameters. The recurrent vector u by `init`, a diagonal analogue of each of
    gradflow's recurrent initialisations, its largest |u_i| (the spectral radius of diag(u))
    at most |scale|:
      'gaussian' (every command's default): u_i ~ U(0, scale), the authors' draw (their cell's
        default is U(0, 1); with scale = `indrnn_bound(MAG, T)`, their U(0, MAG^(1/T)));
      'orthogonal': u_i = +-scale with random signs (diag(+-1) is what an orthogonal diagonal
        matrix is); 'identity': u = scale (1, ..., 1).
    The input weights are N(0, (input_scale / sqrt(D))^2), as for every cell of gradflow (the
    authors' code draws them Kaiming-uniform), and the bias zero (as theirs). No gate:
    `forget_bias` does not apply. Their training also clips u back into the bound after
    every update; gradflow's `train` does not."""
    H, D = hidden, input_size
    weight_ih = _input_weights(rng, H, D, input_scale)
    if init == "gaussian":
        u = rng.uniform(0.0, 1.0, H) * scale
    elif init == "orthogonal":
        u = scale * rng.choice([-1.0, 1.0], H)
    elif init == "identity":
        u = scale * onp.ones(H)
    else:
        raise ValueError(f"unknown init {init!r}; choose from gaussian, orthogonal, identity")
    return {"weight_ih": weight_ih, "weight_hh": u, "bias_ih": onp.zeros(H)}


def _make_indrnn(activation, phi):
    def cell(params, state, x):
        return phi(_input_part(params, x) + params["weight_hh"] * state)

    name = "indrnn" if activation == "relu" else f"indrnn_{activation}"
    cell.__name__ = cell.__qualname__ = name
    cell.__doc__ = f"""IndRNN (Li et al. 2018), h_t = {activation}(W x_t + u * h_{{t-1}} + b).

    u is a vector: every unit recurs on itself alone (the product u * h is elementwise), so
    dh_t/dh_{{t-1}} = diag({activation}'(a_t) u), and dh_T/dh_t = diag(u^(T - t)) for the
    linear variant (for relu, while every unit stays active). Parameters: `weight_ih` W (H, D), `weight_hh` u (H,),
    `bias_ih` b (H,), the names of the authors' PyTorch code. state (..., H), x (..., D).
    Initialisation: `_indrnn_init` (u_i ~ U(0, scale) by default; `indrnn_bound` gives the
    authors' bound MAG^(1/T)).
    """
    return _register(cell, name, 1, _indrnn_hidden, _indrnn_init, activation)


indrnn = _make_indrnn("relu", lambda a: a * (a > 0))  # the paper's nonlinearity
indrnn_tanh = _make_indrnn("tanh", np.tanh)
indrnn_linear = _make_indrnn("linear", lambda a: a)
INDRNN_ACTIVATIONS = {"relu": indrnn, "tanh": indrnn_tanh, "linear": indrnn_linear}


# ----------------------------------------------------------------------- minGRU and minLSTM

def _min_hidden(blocks):
    return lambda params: np.shape(params["weight_ih"])[0] // blocks


def _min_init(blocks, memory_bias):
    """weight_ih (G H, D) ~ N(0, (input_scale / sqrt(D))^2), bias_ih zero except the gate
    that keeps memory (block 0), which gets `memory_bias(forget_bias)`. No recurrent weight:
    `init` and `scale` do not apply (an unknown `init` is still refused)."""
    def init_params(hidden, input_size, *, rng, init="gaussian", scale=1.0, input_scale=1.0,
                    forget_bias=1.0):
        if init not in ("gaussian", "orthogonal", "identity"):
            raise ValueError(f"unknown init {init!r}; choose from gaussian, orthogonal, identity")
        H = hidden
        bias = onp.zeros(blocks * H)
        bias[:H] = memory_bias(forget_bias)
        return {"weight_ih": _input_weights(rng, blocks * H, input_size, input_scale),
                "bias_ih": bias}

    return init_params


def _mingru_parts(params, x):
    H = np.shape(params["weight_ih"])[0] // 2
    a = _input_part(params, x)
    return sigmoid(a[..., :H]), a[..., H:]


def mingru(params, state, x):
    """minGRU, sequential mode (Feng et al. 2024, arXiv:2410.01201, Sec. 3.1):

        z_t = sigmoid(Linear_z(x_t)),  h~_t = Linear_h(x_t),
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t.

    The gates read x_t alone, never h_{t-1}, so dh_t/dh_{t-1} = diag(1 - z_t) exactly, every
    entry in (0, 1): the state Jacobian never explodes, and its Lyapunov exponents are the
    time averages of log(1 - z_t), all negative. h~ is the paper's plain linear map, g(x) = x:
    the log-space variant, which passes h~ through g(x) = x + 1/2 (x >= 0), sigmoid(x) (x < 0)
    to keep it positive (their Appendix B), is a device for the parallel scan and is not
    used. Parameters: `weight_ih` (2H, D) and `bias_ih` (2H,), blocks z then h~.
    state (..., H), x (..., D).
    """
    z, candidate = _mingru_parts(params, x)
    return (1.0 - z) * state + z * candidate


def _log_sigmoid(a):
    return -np.logaddexp(0.0, -a)


def _minlstm_parts(params, x):
    H = np.shape(params["weight_ih"])[0] // 3
    a = _input_part(params, x)
    # f' = f / (f + i) = sigmoid(log f - log i): never 0 / 0, even where f and i underflow
    d = _log_sigmoid(a[..., :H]) - _log_sigmoid(a[..., H:2 * H])
    return sigmoid(d), sigmoid(-d), a[..., 2 * H:]


def minlstm(params, state, x):
    """minLSTM, sequential mode (Feng et al. 2024, arXiv:2410.01201, Sec. 3.2):

        f_t = sigmoid(Linear_f(x_t)),  i_t = sigmoid(Linear_i(x_t)),  h~_t = Linear_h(x_t),
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t),
        h_t = f'_t * h_{t-1} + i'_t * h~_t.

    The normalised gates make the scale of h_t independent of t; they read x_t alone, so
    dh_t/dh_{t-1} = diag(f'_t) exactly, every entry in (0, 1). h~ is the paper's plain linear
    map (g(x) = x; the log-space variant's g of Appendix B is not used). Parameters:
    `weight_ih` (3H, D) and `bias_ih` (3H,), blocks f, i, h~. state (..., H), x (..., D).
    """
    keep, admit, candidate = _minlstm_parts(params, x)
    return keep * state + admit * candidate


_register(mingru, "mingru", 2, _min_hidden(2), _min_init(2, lambda b: -b))  # keep = 1 - z
_register(minlstm, "minlstm", 3, _min_hidden(3), _min_init(3, lambda b: b))  # forget gate


def mingru_gates(params, x):
    """minGRU's gates for inputs x (..., D): {'update': z, 'keep': 1 - z}, each (..., H)."""
    z, _ = _mingru_parts(params, x)
    return {"update": z, "keep": 1.0 - z}


def minlstm_gates(params, x):
    """minLSTM's normalised gates for inputs x (..., D): {'forget': f', 'input': i'}, each
    (..., H); f' is the fraction of h_{t-1} kept."""
    keep, admit, _ = _minlstm_parts(params, x)
    return {"forget": keep, "input": admit}
