"""What one recurrent step is: the built-in cells (`builtin`; IndRNN, minGRU and minLSTM in
`modern`), the differentiable building blocks they are written in (`ops`), their parameter
initialisers (`initializers`) and the skip connections in time that turn any cell into
another (`skips`).
Imports nothing else of gradflow: everything else stands on it.
"""

from .builtin import (CELLS, RNN_ACTIVATIONS, get_cell, gru, gru_gates, gru_torch, hidden_size,
                      lstm, lstm_gates, rnn, rnn_linear, rnn_relu)
from .initializers import init_params
from .modern import indrnn, indrnn_bound, mingru, minlstm
from .lru import lru, lru_cell
from .ops import concat, sigmoid
from .orthogonal import orthogonal, orthogonal_cell
from .skips import dense, highway, residual, skip, transform

__all__ = ["rnn", "rnn_relu", "rnn_linear", "lstm", "gru", "gru_torch", "CELLS", "RNN_ACTIVATIONS",
           "get_cell", "hidden_size", "lstm_gates", "gru_gates", "concat", "sigmoid", "init_params",
           "residual", "skip", "dense", "highway", "transform",
           "indrnn", "indrnn_bound", "mingru", "minlstm", "lru", "lru_cell", "orthogonal",
           "orthogonal_cell"]
