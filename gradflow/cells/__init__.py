"""What one recurrent step is: the built-in cells (`builtin`), the differentiable building blocks
they are written in (`ops`) and their parameter initialisers (`initializers`).
Imports nothing else of gradflow: everything else stands on it.
"""

from .builtin import (CELLS, RNN_ACTIVATIONS, get_cell, gru, gru_gates, gru_torch, hidden_size,
                      lstm, lstm_gates, rnn, rnn_linear, rnn_relu)
from .ops import concat, sigmoid

__all__ = ["rnn", "rnn_relu", "rnn_linear", "lstm", "gru", "gru_torch", "CELLS", "RNN_ACTIVATIONS",
           "get_cell", "hidden_size", "lstm_gates", "gru_gates", "concat", "sigmoid"]
