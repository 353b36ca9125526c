"""What an analysis looks at: a network and its inputs, described once, built from one seed.

A `Network` is a small frozen value: the cell (a built-in name or a cell function), its skip
connection, the sizes and initialisation of its weights (or trained weights), and the input
sequences (their length and number, or one given sequence), all drawn from one seed. Every
analysis takes one (`decay_profile`, `phase_diagram`, `gate_traces`, `spectrum`,
`skip_ablation`), so the same value describes the same weights and inputs everywhere: a heatmap,
a gate trace and a decay curve made from one Network show one network on the same inputs.

    net = gf.Network("lstm", hidden=128, steps=200, samples=5, forget_bias=3)
    gf.decay_profile(net)
    gf.decay_profile(net.replace(skip="skip:4"))

Seeds: child 0 of `numpy.random.SeedSequence(seed)` draws the weights, children 1..samples the
input sequences, so changing `samples` keeps the weights and the first sequences.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from .._version import __version__
from ..cells.builtin import get_cell
from ..cells.initializers import INITS, init_params
from ..cells.layers import bidirectional, layer_params, layered, stack
from ..cells.skips import transform

__all__ = ["Network", "Built", "random_inputs"]


def random_inputs(steps, input_size, seed):
    """A (steps, input_size) sequence of i.i.d. standard normal inputs; `seed` an int or a
    Generator."""
    return np.random.default_rng(seed).standard_normal((steps, input_size))


class Built(NamedTuple):
    """A Network made concrete: `cell` the cell function (skip connection applied), `name` its
    name, `params` its parameters (dict of arrays), `sequences` the (T, D) input sequences, one
    per sample, and `state0` the initial state (n,)."""
    cell: Callable
    name: str
    params: Mapping[str, np.ndarray]
    sequences: Sequence[np.ndarray]
    state0: np.ndarray


@dataclass(frozen=True, eq=False)
class Network:
    """A network and its inputs.

    Attributes:
      cell: a built-in cell's name (a key of `gradflow.cells.CELLS`: 'rnn', 'lstm', 'gru',
        'gru_torch', 'indrnn', 'mingru', 'minlstm') or a cell function
        (then give `params`, and `state0` unless it says its state size).
      activation: the RNN's nonlinearity, 'tanh', 'relu' or 'linear'.
      skip: a skip connection in time, 'residual', 'skip:K', 'dense:K', 'highway', or None
        (see `gradflow.cells.skips`); `skip_scale` is the b of skip and dense (B = b I at
        initialisation), `highway_bias` the bias of the highway's transform gate.
      layers: the number of stacked layers L of that cell (PyTorch's num_layers);
        `bidirectional` adds a backward chain to each layer (then the network is not a cell:
        only the input sensitivity analyses it); `layer_residual` joins the layers by identity
        connections (see `gradflow.cells.layers`).
      hidden, input_size, init, scale, forget_bias: the drawn weights (`init_params`); ignored
        when `params` are given (trained weights), whose shapes set hidden and input_size.
      steps, samples: the length T and number of i.i.d. N(0, 1) input sequences; ignored when
        `inputs`, one (T, D) sequence, is given.
      seed: non-negative integer; child 0 of SeedSequence(seed) draws the weights, children
        1..samples the inputs.
      state0: the initial state (n,), zeros by default.
      sources: names of the files the weights or inputs came from, recorded in the metadata.
    """
    cell: Union[str, Callable] = "rnn"
    activation: str = "tanh"
    skip: Optional[str] = None
    skip_scale: float = 1.0
    highway_bias: float = -1.0
    layers: int = 1
    bidirectional: bool = False
    layer_residual: bool = False
    hidden: int = 64
    input_size: int = 8
    init: str = "gaussian"
    scale: float = 1.0
    forget_bias: float = 1.0
    params: Optional[Mapping[str, np.ndarray]] = None
    steps: int = 100
    samples: int = 1
    inputs: Optional[np.ndarray] = None
    seed: int = 0
    state0: Optional[np.ndarray] = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("hidden", "input_size", "steps", "samples", "layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("scale", "forget_bias", "skip_scale", "highway_bias"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.inputs is not None:
            inputs = np.asarray(self.inputs, dtype=float)
            if inputs.ndim != 2 or len(inputs) == 0:
                raise ValueError(f"inputs must have shape (T, D) with T >= 1, got {inputs.shape}")
            if self.samples != 1:
                raise ValueError("a fixed input sequence is one sample: use samples=1")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose from {', '.join(INITS)}")
        self.cell_function()  # an unknown cell, activation or skip fails here, not later

    def replace(self, **changes):
        """A copy with some attributes changed: `net.replace(cell='gru', skip='residual')`."""
        return dataclasses.replace(self, **changes)

    @property
    def name(self):
        """The cell's name with its skip connection, e.g. 'rnn' or 'lstm+skip:4'."""
        cell = self.cell_function()
        return getattr(cell, "name", getattr(cell, "__name__", "cell"))

    def cell_function(self):
        """The cell function: the built-in or given cell with the skip connection applied, and
        for L > 1 layers (or residual layers) their `stack`; a bidirectional network is a
        `gradflow.cells.layers.Layered` instead (not a cell)."""
        base = get_cell(self.cell, self.activation) if isinstance(self.cell, str) else self.cell
        cell = transform(base, self.skip, scale=self.skip_scale, highway_bias=self.highway_bias)
        if self.bidirectional:
            return bidirectional([cell] * self.layers, residual=self.layer_residual)
        if self.layers > 1 or self.layer_residual:
            return stack([cell] * self.layers, residual=self.layer_residual)
        return cell

    @property
    def is_cell(self):
        """Whether the network runs forwards in time (a cell): all but bidirectional ones."""
        return not self.bidirectional and not hasattr(self.cell, "layers")

    @property
    def length(self):
        """T: the length of the given input sequence, else `steps`."""
        return len(self.inputs) if self.inputs is not None else self.steps

    def sizes(self):
        """(hidden, input_size): the trained weights' where given (input size also the given
        inputs'), else the attributes."""
        base = get_cell(self.cell, self.activation) if isinstance(self.cell, str) else self.cell
        if self.params is not None and hasattr(base, "input_size"):  # no weight_ih (the LRU)
            return int(base.hidden_size(self.params)), int(base.input_size(self.params))
        for end in ("", "_l0"):  # one cell, or the first layer of a stack (PyTorch's names)
            if self.params is None or "weight_ih" + end not in self.params:
                continue
            inputs = int(np.shape(self.params["weight_ih" + end])[1])
            if hasattr(base, "hidden_size"):  # a built-in cell: it knows its parameters' shapes
                return int(base.hidden_size(layer_params(self.params, end))), inputs
            if "weight_hh" + end in self.params:
                return int(np.shape(self.params["weight_hh" + end])[1]), inputs
        if self.inputs is not None:
            return self.hidden, int(np.shape(self.inputs)[1])
        return self.hidden, self.input_size

    def build(self):
        """The cell function, its parameters, the input sequences and the initial state."""
        cell = self.cell_function()
        children = np.random.SeedSequence(self.seed).spawn(self.samples + 1)
        hidden, input_size = self.sizes()
        if self.params is None:
            params = init_params(cell, hidden, input_size, init=self.init, scale=self.scale,
                                 forget_bias=self.forget_bias,
                                 seed=np.random.default_rng(children[0]))
        else:
            params = dict(self.params)
            missing = [k for k in getattr(cell, "extra_params", ()) if k not in params]
            if missing:
                raise ValueError(f"the weights have no {missing[0]}, which the skip connection "
                                 f"{self.skip!r} needs")
        if self.inputs is not None:
            sequences = [np.asarray(self.inputs, dtype=float)]
            if sequences[0].shape[1] != input_size:
                raise ValueError(f"inputs have shape {sequences[0].shape}, but the weights take "
                                 f"{input_size} inputs")
        else:
            sequences = [random_inputs(self.steps, input_size, np.random.default_rng(c))
                         for c in children[1:]]
        if self.state0 is not None:
            state0 = np.asarray(self.state0, dtype=float)
        elif not callable(cell):
            state0 = None  # a bidirectional network: every chain starts from zeros
        elif hasattr(cell, "state_size"):
            state0 = np.zeros(cell.state_size(params))
        else:
            raise ValueError(f"cell {self.name} does not say its state size: give state0")
        return Built(cell, self.name, params, sequences, state0)

    def metadata(self):
        """What made the results: every attribute that matters, as JSON-ready values."""
        trained = self.params is not None
        hidden, input_size = self.sizes()
        layout = layered(self.cell_function())
        return {"cell": self.name, "activation": self.activation if self._is_rnn() else None,
                "layers": len(layout.layers), "bidirectional": layout.directions == 2,
                "layer_residual": layout.residual, "skip": self.skip, "skip_scale": self.skip_scale if self._has_b() else None,
                "highway_bias": self.highway_bias if self.skip == "highway" else None,
                "hidden": hidden, "input_size": input_size, "steps": self.length,
                "init": None if trained else self.init, "scale": None if trained else self.scale,
                "forget_bias": None if trained else self.forget_bias, "seed": self.seed,
                "samples": self.samples,
                "inputs": "fixed" if self.inputs is not None else "iid standard normal",
                **dict(self.sources), "gradflow_version": __version__}

    def _is_rnn(self):
        return self.cell == "rnn" or getattr(self.cell, "name", None) == "rnn"

    def _has_b(self):
        return isinstance(self.skip, str) and self.skip.startswith(("skip:", "dense:"))
