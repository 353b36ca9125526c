"""gradflow: how gradients flow backwards through time in recurrent networks.

    >>> import gradflow as gf
    >>> params = gf.init_params("lstm", hidden=32, input_size=4, seed=0)
    >>> flow = gf.gradient_flow(gf.lstm, params, gf.random_inputs(100, 4, seed=1))
    >>> flow.log10_spectral_norm.shape
    (100,)
    >>> gf.decay_profile(gf.Network("rnn", hidden=32, steps=50, skip="skip:4")).summary.verdict
    'neutral'

Subpackages, imports running one way: `cells` <- `engine` <- `analysis` <- `plotting` <- `cli`,
with `io` (files in and out) and `training` beside. This module gathers the everyday functions.
"""

from . import _version
from .cells.builtin import CELLS, get_cell, gru, gru_torch, lstm, rnn, rnn_linear, rnn_relu
from .cells.initializers import init_params
from .cells.modern import indrnn, indrnn_bound, mingru, minlstm
from .cells.ops import concat, sigmoid
from .cells.skips import dense, highway, residual, skip
from .cells.layers import bidirectional, stack
from .cells.feedforward import PerStep, mlp
from .engine.jacobians import (GradientFlow, NotDifferentiableError, Scaled, gradient_flow,
                               lyapunov_spectrum, step_jacobian)
from .engine.spectral_norm import top_singular_value
from .engine.unroll import unroll
from .engine.depth import depth_flow, input_sensitivity
from .engine.parameters import ParameterFlow, parameter_flow, recurrent_parameters
from .analysis.decay import DecayProfile, Summary, decay_profile, summarize
from .analysis.network import Network, random_inputs
from .analysis.phase import phase_diagram
from .analysis.gates import gate_traces
from .analysis.spectra import spectrum
from .analysis.skip_ablation import skip_ablation
from .analysis.depth import depth_map, feedforward_flow, sensitivity
from .analysis.truncation import truncated_bptt
from .analysis.parameters import ParameterSensitivity, parameter_sensitivity
from .analysis.memory import MemoryCurse, memory_curse
from .analysis.comparison import CellComparison, compare_cells
from .io.results import Table, read_table, write_table
from .io.weights import load_weights
from .training.loop import train
from .training.evaluation import evaluate
from .training.skip_training import accuracy_by_delay, skip_training
from .training.flossing_ablation import flossing_ablation, flow_by_delay

__version__ = _version.__version__  # written once, in _version.py (setup.cfg reads it there)

__all__ = ["CELLS", "get_cell", "rnn", "rnn_relu", "rnn_linear", "lstm", "gru", "gru_torch",
           "init_params", "load_weights", "unroll", "step_jacobian", "gradient_flow",
           "GradientFlow", "Scaled", "NotDifferentiableError", "top_singular_value",
           "lyapunov_spectrum", "decay_profile", "DecayProfile", "Summary", "summarize",
           "random_inputs", "concat", "sigmoid", "Table", "read_table", "write_table",
           "Network", "phase_diagram", "gate_traces", "spectrum", "residual", "skip", "dense",
           "highway", "skip_ablation", "truncated_bptt", "train", "evaluate", "skip_training",
           "accuracy_by_delay", "flossing_ablation", "flow_by_delay", "stack", "bidirectional",
           "PerStep", "mlp", "depth_flow",
           "input_sensitivity", "depth_map", "sensitivity", "feedforward_flow",
           "indrnn", "indrnn_bound", "mingru", "minlstm",
           "parameter_flow", "ParameterFlow", "recurrent_parameters", "parameter_sensitivity",
           "ParameterSensitivity", "memory_curse", "MemoryCurse", "compare_cells",
           "CellComparison"]
