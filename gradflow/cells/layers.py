"""Deep and bidirectional networks built from cells: `stack` (a cell) and `bidirectional`.

A network of L layers runs layer 0 on the inputs x_t and layer l + 1 on what layer l gives at
the same step (PyTorch's nn.RNN / nn.LSTM / nn.GRU with num_layers = L). Each layer is any cell
(the layers may differ; a skip connection in time is applied per layer). What a layer gives is
its output: the LSTM's h, the state of the others (`output_slice`). With `residual=True` the
layers are joined by identity connections (Wu et al. 2016, Google's NMT; the remedy seed 004
names for stacks of about 8 layers): from layer 1 on, what a layer passes up is its output plus
its own input, y^(l) = out(s^(l)) + y^(l-1), so the sizes must agree; layer 0 reads x as it is.
The network's output y_t is what the top layer passes up.

`stack(cells)` is itself a cell: its state is the concatenation (s^(0), ..., s^(L-1)) of the
layers' states, Markov in time, so gradient_flow, Lyapunov spectra, training and every command
take it unchanged. `bidirectional(cells)` is not a cell: every layer also runs a second cell
backwards in time, and layer l + 1 reads the concatenation of both directions' outputs at each
step, so the state at step t depends on the inputs after t; it runs with
`gradflow.engine.layered.forward` and is analysed by its input sensitivity.

Parameters are one flat dict under PyTorch's names: layer l's parameter `name` is
`name_l{l}` (`weight_ih_l0`, `weight_hh_l1`, a skip connection's `skip_weight_l2`), the backward
direction's `name_l{l}_reverse`; a `state_dict` of a multi-layer or bidirectional module is
such a dict.
"""

from typing import NamedTuple, Tuple

import numpy as np

from .ops import concat

__all__ = ["Chain", "Layered", "stack", "bidirectional", "layered", "output_slice",
           "layer_params", "suffix"]


def output_slice(cell, params):
    """Which entries of the cell's state are its output, the y the layer above reads: the
    LSTM's h, a skip connection's base output inside s_t, else the whole state."""
    if hasattr(cell, "output_slice"):
        return cell.output_slice(params)
    if hasattr(cell, "base"):  # a skip connection: s_t leads the (augmented) state
        inner = output_slice(cell.base, params)
        if inner == slice(None) and hasattr(cell.base, "state_size"):  # s_t, not s_{t-1}...
            return slice(0, cell.base.state_size(params))
        return inner
    blocks = cell.blocks(params) if hasattr(cell, "blocks") else {}
    return blocks.get("h", slice(None))


def suffix(layer, reverse=False):
    """PyTorch's suffix of layer `layer`'s parameters: '_l0', '_l1_reverse', ..."""
    return f"_l{layer}" + ("_reverse" if reverse else "")


def layer_params(params, end):
    """The parameters whose names end in `end` (e.g. '_l1'), under their names without it."""
    if not end:
        return params
    return {key[:-len(end)]: params[key] for key in params if key.endswith(end)}


class Chain(NamedTuple):
    """One direction of one layer: its cell, the suffix of its parameters and whether it runs
    backwards in time."""
    cell: object
    end: str
    reverse: bool


class Layered(NamedTuple):
    """A network as layers of chains: `layers[l]` holds layer l's one (forward) or two
    (forward, reverse) chains; `residual` joins the layers by identity connections."""
    layers: Tuple[Tuple[Chain, ...], ...]
    residual: bool = False
    name: str = "network"

    @property
    def directions(self):
        return len(self.layers[0])

    @property
    def state_blocks(self):
        """States of H entries in all chains together (for memory estimates)."""
        return sum(getattr(ch.cell, "state_blocks", 1) for layer in self.layers for ch in layer)

    @property
    def gate_blocks(self):
        return max(getattr(ch.cell, "gate_blocks", 1) for layer in self.layers for ch in layer)

    def init_params(self, hidden, input_size, *, rng, **kws):
        """Every chain's parameters from `init_params`, under PyTorch's suffixed names; layer
        0 reads `input_size` inputs, layer l + 1 the outputs of layer l."""
        from .initializers import init_params
        params, reads = {}, input_size
        for l, layer in enumerate(self.layers):
            outs = 0
            for ch in layer:
                own = init_params(ch.cell, hidden, reads, seed=rng, **kws)
                params.update({key + ch.end: value for key, value in own.items()})
                outs += len(range(ch.cell.state_size(own))[output_slice(ch.cell, own)])
            if self.residual and l > 0 and outs != reads:
                raise ValueError(f"residual connections between layers need equal sizes: layer "
                                 f"{l} reads {reads} and gives {outs}")
            reads = outs
        return params


def _name(cells, residual, directions):
    names = [getattr(c, "name", getattr(c, "__name__", "cell")) for c in cells]
    body = f"{len(names)}x{names[0]}" if len(set(names)) == 1 else "/".join(names)
    return body + ("+bi" if directions == 2 else "") + ("+res" if residual else "")


def _cells(cells):
    cells = tuple(cells) if isinstance(cells, (list, tuple)) else (cells,)
    if not cells:
        raise ValueError("a network needs at least one layer")
    for c in cells:
        if not callable(c):
            raise ValueError(f"a layer must be a cell function, got {c!r}")
        if not hasattr(c, "state_size"):
            raise ValueError(f"the cell {getattr(c, '__name__', c)!r} of a layer must say its "
                             "state size (state_size(params))")
    return cells


def stack(cells, *, residual=False):
    """L layers of cells, one per element of `cells` (layer 0 first), as one cell.

    The state is (s^(0), ..., s^(L-1)) concatenated; one step runs layer 0 on x_t, then layer
    l on the output of layer l - 1 at the same step (with `residual`, plus its input). Layer
    l's parameters are named with the suffix `_l{l}`. Blocks 'layer0', 'layer1', ... name each
    layer's state s^(l)_t; a layer with a skip connection of length k > 1 carries its past
    states along in its part of the stack's state, and those are left out of its block and of
    ds_T/ds_t (`primary`), as for the skip connection alone. `output(params, state)` is the
    network's output y_t, (..., out).
    """
    cells = _cells(cells)
    net = Layered(tuple((Chain(c, suffix(l), False),) for l, c in enumerate(cells)), residual,
                  _name(cells, residual, 1))

    def step(params, state, x):
        news, lo = [], 0
        for l, c in enumerate(cells):
            p = layer_params(params, suffix(l))
            n = c.state_size(p)
            new = c(p, state[..., lo:lo + n], x)
            lo += n
            news.append(new)
            y = new[..., output_slice(c, p)]
            x = y + x if residual and l > 0 else y
        return concat(*news)

    def bounds(params):
        out, lo = {}, 0
        for l, c in enumerate(cells):
            n = c.state_size(layer_params(params, suffix(l)))
            out[f"layer{l}"] = slice(lo, lo + n)
            lo += n
        return out

    def own(params):
        """Each layer's own state s^(l)_t inside its block of the state: the block itself, or,
        for a layer with a skip connection of length k > 1, the s^(l)_t that leads the past
        states it carries along (its `primary`)."""
        out = {}
        for l, (c, sl) in enumerate(zip(cells, bounds(params).values())):
            part = c.primary(layer_params(params, suffix(l))) if hasattr(c, "primary") \
                else slice(None)
            r = range(sl.start, sl.stop)[part]
            out[f"layer{l}"] = slice(r.start, r.stop)
        return out

    def primary(params):
        """The network's state (s^(0)_t, ..., s^(L-1)_t): the whole state, or where a layer
        carries past states along, the indices of the layers' own states."""
        parts, whole = own(params), bounds(params)
        if parts == whole:
            return slice(None)
        return np.concatenate([np.arange(sl.start, sl.stop) for sl in parts.values()])

    def output(params, state):
        y = None
        for l, (c, sl) in enumerate(zip(cells, bounds(params).values())):
            p = layer_params(params, suffix(l))
            own = state[..., sl][..., output_slice(c, p)]
            y = own + y if residual and l > 0 else own
        return y

    step.name = step.__name__ = net.name
    step.layered = net
    step.state_size = lambda params: bounds(params)[f"layer{len(cells) - 1}"].stop
    step.blocks = own
    step.primary = primary
    step.output = output
    step.gate_blocks = max(getattr(c, "gate_blocks", 1) for c in cells)
    step.state_blocks = sum(getattr(c, "state_blocks", 1) for c in cells)
    step.init_params = net.init_params
    step.settings = {"layers": len(cells), "layer_residual": bool(residual)}
    return step


def bidirectional(cells, reverse_cells=None, *, residual=False):
    """L bidirectional layers: layer l runs `cells[l]` forwards and `reverse_cells[l]` (the
    same cells by default) backwards in time, and layer l + 1 reads [forward output, backward
    output] at each step (PyTorch's bidirectional=True). Not a cell: see the module's doc.
    Parameters `name_l{l}` (forwards) and `name_l{l}_reverse` (backwards)."""
    cells = _cells(cells)
    back = cells if reverse_cells is None else _cells(reverse_cells)
    if len(back) != len(cells):
        raise ValueError(f"{len(cells)} forward layers but {len(back)} backward layers")
    return Layered(tuple((Chain(f, suffix(l), False), Chain(b, suffix(l, True), True))
                         for l, (f, b) in enumerate(zip(cells, back))), residual,
                   _name(cells, residual, 2))


def layered(net):
    """Any network as a `Layered`: a bidirectional network itself, a stack's layers, and a
    plain cell as one layer whose parameters carry no suffix."""
    if isinstance(net, Layered):
        return net
    if hasattr(net, "layered"):
        return net.layered
    name = getattr(net, "name", getattr(net, "__name__", "cell"))
    return Layered(((Chain(net, "", False),),), False, name)
