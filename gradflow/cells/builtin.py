"""Recurrent cells as pure functions `cell(params, state, x) -> state`.

Shapes follow the row convention: `state` has shape (..., n) and `x` shape (..., D), so one
function serves one state, a batch of states, and the batched-tangent trick of
`gradflow.engine.jacobians`. Parameters are dicts of arrays named as in a PyTorch `state_dict` for a
one-layer module (without the `_l0` suffix): `weight_ih` (G H, D), `weight_hh` (G H, H),
`bias_ih` (G H,), `bias_hh` (G H,), where G is the number of gate blocks (1 for the RNN, 4 for
the LSTM in the order i, f, g, o, 3 for the GRU in the order r, z, n).

Every built-in cell carries `name`, `gate_blocks`, `state_size(params)` and `blocks(params)` (the
named parts of its state: 'h' and 'c' for the LSTM, none for the others); a user-written cell is
any function of the same signature written in autograd.numpy. `gradflow.cells.skips` turns any
cell into one with a skip connection in time.
"""

import autograd.numpy as np

from .lru import lru
from .modern import indrnn, mingru, minlstm
from .ops import concat, dot, sigmoid
from .orthogonal import orthogonal

__all__ = ["rnn", "rnn_relu", "rnn_linear", "lstm", "gru", "gru_torch", "CELLS", "get_cell",
           "hidden_size", "recurrent_norm", "lstm_gates", "gru_gates"]


def hidden_size(params):
    """H, the number of hidden units, read off `weight_hh` of shape (G H, H)."""
    return np.shape(params["weight_hh"])[1]


def recurrent_norm(params, cell=None):
    """||W_hh||_2 of a cell's recurrent weights: the spectral norm of the matrix `cell` says it
    has (`cell.recurrent_matrix(params)`: the LRU's, the orthogonal RNN's W), else of
    `weight_hh` (G H, H); max |u| for a vector u (H,) (IndRNN's diag(u)); None for a cell
    without recurrent weights (minGRU, minLSTM)."""
    if hasattr(cell, "recurrent_matrix"):
        return float(np.linalg.norm(cell.recurrent_matrix(params), 2))
    if "weight_hh" not in params:
        return None
    w = np.asarray(params["weight_hh"])
    return float(np.max(np.abs(w))) if w.ndim == 1 else float(np.linalg.norm(w, 2))


def _lstm_blocks(params):
    """The named parts of the LSTM's state: 'h' (its first H entries) and 'c' (the next H)."""
    H = hidden_size(params)
    return {"h": slice(0, H), "c": slice(H, 2 * H)}


def _builtin(name, gate_blocks, state_blocks, activation=None):
    def register(cell):
        cell.name = name
        cell.gate_blocks = gate_blocks
        cell.state_blocks = state_blocks
        cell.activation = activation
        cell.hidden_size = hidden_size
        cell.state_size = lambda params: state_blocks * hidden_size(params)
        cell.blocks = _lstm_blocks if state_blocks == 2 else (lambda params: {})
        return cell

    return register


def _input_part(params, x):
    return np.dot(x, params["weight_ih"].T) + params["bias_ih"]


def _make_rnn(activation, phi):
    @_builtin("rnn", 1, 1, activation)
    def cell(params, state, x):
        a = _input_part(params, x) + dot(state, params["weight_hh"].T) + params["bias_hh"]
        return phi(a)

    cell.__name__ = cell.__qualname__ = "rnn" if activation == "tanh" else f"rnn_{activation}"
    cell.__doc__ = (f"Elman RNN, h_t = {activation}(W_hh h_{{t-1}} + W_ih x_t + b_ih + b_hh); "
                    "state (..., H), x (..., D).")
    return cell


rnn = _make_rnn("tanh", np.tanh)
rnn_relu = _make_rnn("relu", lambda a: a * (a > 0))
rnn_linear = _make_rnn("linear", lambda a: a)
RNN_ACTIVATIONS = {"tanh": rnn, "relu": rnn_relu, "linear": rnn_linear}


def _lstm_gates(params, state, x):
    H = hidden_size(params)
    h, c = state[..., :H], state[..., H:]
    a = _input_part(params, x) + dot(h, params["weight_hh"].T) + params["bias_hh"]
    i, f = sigmoid(a[..., :H]), sigmoid(a[..., H:2 * H])
    g, o = np.tanh(a[..., 2 * H:3 * H]), sigmoid(a[..., 3 * H:])
    return i, f, g, o, c


@_builtin("lstm", 4, 2)
def lstm(params, state, x):
    """LSTM (Hochreiter & Schmidhuber 1997, with forget gate; PyTorch's nn.LSTM).

    state = concat(h, c) of shape (..., 2H); gates i, f, g, o in PyTorch's order:
    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t).
    """
    i, f, g, o, c = _lstm_gates(params, state, x)
    c_new = f * c + i * g
    return concat(o * np.tanh(c_new), c_new)


def _gru_rz(params, h, x):
    H = hidden_size(params)
    gi = _input_part(params, x)
    gh = dot(h, params["weight_hh"][:2 * H].T) + params["bias_hh"][:2 * H]
    r = sigmoid(gi[..., :H] + gh[..., :H])
    z = sigmoid(gi[..., H:2 * H] + gh[..., H:])
    return r, z, gi[..., 2 * H:]


@_builtin("gru", 3, 1)
def gru(params, state, x):
    """GRU as in Cho et al. 2014 and the seed notes: reset before the recurrent matmul.

    z = sig(W_z [h, x] + b_z), r = sig(W_r [h, x] + b_r), h~ = tanh(W [r * h, x] + b),
    h_t = (1 - z) * h_{t-1} + z * h~; weights in PyTorch's layout (blocks r, z, n).
    """
    H = hidden_size(params)
    r, z, gi_n = _gru_rz(params, state, x)
    n = np.tanh(gi_n + dot(r * state, params["weight_hh"][2 * H:].T) + params["bias_hh"][2 * H:])
    return state + z * (n - state)  # = (1 - z) h + z h~, with fewer passes over the tangents


@_builtin("gru_torch", 3, 1)
def gru_torch(params, state, x):
    """GRU as PyTorch's nn.GRU computes it: reset after the recurrent matmul.

    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}.
    """
    H = hidden_size(params)
    r, z, gi_n = _gru_rz(params, state, x)
    n = np.tanh(gi_n + r * (dot(state, params["weight_hh"][2 * H:].T) + params["bias_hh"][2 * H:]))
    return n + z * (state - n)  # = (1 - z) n + z h


CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru, "gru_torch": gru_torch,
         "indrnn": indrnn, "mingru": mingru, "minlstm": minlstm,  # gradflow.cells.modern
         "lru": lru, "orthogonal": orthogonal}  # gradflow.cells.lru, gradflow.cells.orthogonal


def get_cell(name, activation="tanh"):
    """The built-in cell called `name` (a key of CELLS: 'rnn', 'lstm', 'gru', 'gru_torch',
    'indrnn', 'mingru', 'minlstm', 'lru', 'orthogonal'); `activation` is 'tanh', 'relu' or
    'linear' and applies to the RNN only (IndRNN is the paper's relu IndRNN: its other
    nonlinearities are `gradflow.cells.modern.INDRNN_ACTIVATIONS`; the orthogonal RNN's are
    `gradflow.cells.orthogonal_cell`'s)."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; choose from {', '.join(CELLS)}")
    if name == "rnn":
        if activation not in RNN_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from "
                             f"{', '.join(RNN_ACTIVATIONS)}")
        return RNN_ACTIVATIONS[activation]
    return CELLS[name]


def lstm_gates(params, state, x):
    """The LSTM's input, forget and output gates at one step, each of shape (..., H)."""
    i, f, _, o, _ = _lstm_gates(params, state, x)
    return {"input": i, "forget": f, "output": o}


def gru_gates(params, state, x, torch_convention=False):
    """The GRU's reset and update gates at one step, each of shape (..., H).

    `keep` is the fraction of h_{t-1} carried over: 1 - z in Cho's form, z in PyTorch's.
    """
    r, z, _ = _gru_rz(params, state, x)
    return {"reset": r, "update": z, "keep": z if torch_convention else 1.0 - z}
