"""Trained weights from PyTorch: an nn.RNN, nn.LSTM or nn.GRU `state_dict` saved as .npz.

A trained module is analysed after one line on the PyTorch side,

    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in module.state_dict().items()})

which stores, for layer l of L (`num_layers`), `weight_ih_l{l}` (G H, D_l), `weight_hh_l{l}`
(G H, H), `bias_ih_l{l}` (G H,) and `bias_hh_l{l}` (G H,), and with bidirectional=True the same
again for the backward direction with the suffix `_reverse`. G = 1 (RNN), 4 (LSTM, gates i, f,
g, o) or 3 (GRU, gates r, z, n); D_0 = D, the input size, and D_l = H * directions for l >= 1
(layer l reads both directions' outputs of layer l - 1). The kind of module, H, D, the number of
layers and of directions are read off the keys and shapes, and every shape is checked against
them. A GRU file runs `cells.gru_torch`, the formulation nn.GRU computes, so the loaded model
reproduces PyTorch's hidden states exactly; an RNN file does not say its nonlinearity, so the
caller names it (`activation`).

A one-layer, one-direction file loads as the cell itself with the unsuffixed names (`weight_ih`,
...); a deeper or bidirectional one as `cells.layers.stack([cell] * L)` (a cell) or
`cells.layers.bidirectional([cell] * L)` (a `Layered`, run by `engine.layered.forward`) with
the file's suffixed names. LSTM projections (proj_size > 0, `weight_hr_l{l}`) are refused.

Every error is a `WeightsError` (a ValueError) whose message is one line, ready to print.
"""

import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..cells.builtin import gru_torch, lstm, rnn, rnn_relu
from ..cells.layers import Layered, bidirectional, stack, suffix
from .files import atomic_path

__all__ = ["WeightsError", "LoadedWeights", "load_weights", "params_from_state_dict",
           "save_weights"]

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
_MODULE = {"rnn": "an RNN", "lstm": "an LSTM", "gru": "a GRU"}
_KIND_OF_CELL = {"rnn": "rnn", "lstm": "lstm", "gru": "gru", "gru_torch": "gru"}
_RNN_CELLS = {"tanh": rnn, "relu": rnn_relu}  # nn.RNN's two nonlinearities
_TORCH_KEY = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(0|[1-9]\d*)(_reverse)?")
_PROJECTION_KEY = re.compile(r"weight_hr_l(0|[1-9]\d*)(_reverse)?")
_EXPECTED_KEYS = ("a one-layer nn.RNN, nn.LSTM or nn.GRU state_dict has weight_ih_l0, "
                  "weight_hh_l0 and, unless bias=False, bias_ih_l0 and bias_hh_l0")
_EXPECTED_PER_LAYER = ("every layer and direction of an nn.RNN, nn.LSTM or nn.GRU state_dict "
                       "has weight_ih, weight_hh and, unless bias=False, bias_ih and bias_hh")
# What reading one array out of a damaged or foreign .npz can raise.
_READ_ERRORS = (ValueError, TypeError, RuntimeError, OSError, EOFError, zipfile.BadZipFile,
                zlib.error)


class WeightsError(ValueError):
    """A weights file or state_dict that cannot be loaded; the message is one printable line."""


@dataclass(frozen=True)
class LoadedWeights:
    """A PyTorch recurrent module as a gradflow network and its parameters.

    cell: what computes what the module computes. One layer, one direction: the cell (`rnn`,
        `rnn_relu`, `lstm`, `gru_torch`); L > 1 layers: `stack([cell] * L)`, a cell whose state
        is the layers' states concatenated; bidirectional: `bidirectional([cell] * L)`, a
        `cells.layers.Layered` (not a cell) for `engine.layered.forward`.
    params: float64 arrays. One layer, one direction: the unsuffixed names `weight_ih` (G H, D),
        `weight_hh` (G H, H), `bias_ih`, `bias_hh` (G H,); otherwise PyTorch's suffixed names
        (`weight_ih_l0`, `weight_hh_l1_reverse`, ...). Absent biases (bias=False) are zeros.
    hidden: H. input_size: D. kind: 'rnn', 'lstm' or 'gru'. source: the file path, or None
        for an in-memory state_dict. layers: L. directions: 1, or 2 for bidirectional.
    """

    cell: Callable | Layered
    params: dict
    hidden: int
    input_size: int
    kind: str
    source: str | None
    layers: int = 1
    directions: int = 1


def load_weights(path, *, cell=None, activation="tanh"):
    """Load an nn.RNN, nn.LSTM or nn.GRU state_dict saved with `numpy.savez`.

    Args:
        path: an .npz file whose keys are PyTorch's names (`weight_ih_l0`, `weight_hh_l1`,
            `bias_ih_l0_reverse`, ...): any number of layers, one or two directions.
        cell: None to infer the module from the shapes, or 'rnn', 'lstm', 'gru' to require one
            ('gru_torch' is accepted for 'gru'; either way a GRU runs `cells.gru_torch`).
        activation: the nonlinearity of an nn.RNN, 'tanh' or 'relu'; only 'tanh' otherwise.
    Returns:
        LoadedWeights.
    Raises:
        WeightsError: a file that is missing or not a readable .npz, a missing, unexpected or
            unsupported key (a missing layer, a direction without its twin, `weight_hr`), a
            wrong shape (layers that disagree included) or dtype, nan or inf.
    """
    where = os.fspath(path)
    try:
        # Our own handle: np.load leaks the one it opens when the zip turns out broken.
        file = open(where, "rb")
    except FileNotFoundError:
        raise WeightsError(f"{where}: no such file") from None
    except OSError as err:
        raise WeightsError(f"{where}: cannot read ({err.strerror or _first_line(err)})") from None
    with file:
        try:
            data = np.load(file, allow_pickle=False)
        except ValueError:
            # numpy's last resort for a file that is neither .npz nor .npy is unpickling.
            raise WeightsError(f"{where}: not an .npz file (expected numpy.savez output)") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise WeightsError(f"{where}: not a readable .npz file ({_first_line(err)})") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise WeightsError(f"{where}: holds a single .npy array, expected an .npz file of "
                               "named arrays (numpy.savez output)")
        with data:
            return _load(data, where, cell, activation, source=where)


def params_from_state_dict(state_dict, *, cell=None, activation="tanh", source=None):
    """`load_weights` for a state_dict in memory: a mapping from PyTorch's names to arrays.

    Values may be numpy arrays or anything `numpy.asarray` takes, CPU torch tensors included,
    so `params_from_state_dict(module.state_dict())` works without saving a file. `source`
    names the mapping in error messages and is stored in the result. Returns LoadedWeights;
    raises WeightsError as `load_weights` does.
    """
    return _load(state_dict, source or "state_dict", cell, activation, source=source)


def save_weights(path, params):
    """Write `params` (or a LoadedWeights) as an .npz in PyTorch's naming.

    `params` holds one layer under the unsuffixed names (`weight_ih`, ...), written with the
    suffix `_l0`, or any number of layers and directions under PyTorch's suffixed names,
    written as they are. The file is what `np.savez` of the module's state_dict gives, so
    `load_weights` and PyTorch (`module.load_state_dict({k: torch.from_numpy(v) ...})`) both
    read it back. Written through `files.atomic_path`: nothing half-written. Raises
    WeightsError for parameters that do not form an RNN, LSTM or GRU module, OSError for an
    unwritable path.
    """
    if isinstance(params, LoadedWeights):
        params = params.params
    plain = [name for name in params if name in NAMES]
    for name in params:
        if name not in NAMES and not (isinstance(name, str) and _TORCH_KEY.fullmatch(name)):
            raise WeightsError(f"params: unexpected key {name!r}; expected {', '.join(NAMES)} "
                               "for one layer, or PyTorch's suffixed names (weight_ih_l0, "
                               "weight_hh_l1_reverse, ...)")
    if plain and len(plain) < len(params):
        other = next(name for name in params if name not in NAMES)
        raise WeightsError(f"params: {plain[0]!r} and {other!r}: give one layer's unsuffixed "
                           "names or PyTorch's suffixed names, not both")
    keys = {f"{name}_l0": name for name in params} if plain else {key: key for key in params}
    checked = _load({key: params[name] for key, name in keys.items()}, "params", None, "tanh",
                    source=None)
    one = checked.layers == 1 and checked.directions == 1
    arrays = {key: checked.params[key[:-len("_l0")] if one else key] for key in keys}
    with atomic_path(path) as tmp:
        # A file object, because np.savez appends '.npz' to a path that lacks it.
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _load(mapping, where, cell, activation, *, source):
    kind = _requested_kind(cell)
    if activation not in _RNN_CELLS:
        raise WeightsError(f"unknown activation {activation!r} for an nn.RNN; choose from "
                           f"{', '.join(_RNN_CELLS)}")
    chains, layers, directions = _check_keys(mapping, where)
    arrays = {key: _read(mapping, where, key)
              for end, names in chains.items() for key in (name + end for name in names)}

    w_hh = arrays["weight_hh_l0"]
    H = w_hh.shape[1] if w_hh.ndim == 2 else None
    if H is None or H < 1:
        raise WeightsError(f"{where}: weight_hh_l0 has shape {w_hh.shape}, expected (G*H, H) "
                           "with hidden size H >= 1")
    fits = _kind_from_rows(w_hh.shape[0], H)
    if kind is None and fits is None:
        options = ", ".join(f"({g * H}, {H})" for g in _GATE_BLOCKS.values())
        raise WeightsError(f"{where}: weight_hh_l0 has shape {w_hh.shape}, expected one of "
                           f"{options} for an RNN, LSTM or GRU with hidden size {H}")
    if kind is not None and fits != kind:
        hint = f" (the shape fits {_MODULE[fits]})" if fits else ""
        raise WeightsError(f"{where}: weight_hh_l0 has shape {w_hh.shape}, expected "
                           f"({_GATE_BLOCKS[kind] * H}, {H}) for {_describe(kind, H)}{hint}")
    kind = fits
    GH = _GATE_BLOCKS[kind] * H

    w_ih = arrays["weight_ih_l0"]
    if w_ih.ndim != 2 or w_ih.shape[0] != GH or w_ih.shape[1] < 1:
        D = w_ih.shape[1] if w_ih.ndim == 2 and w_ih.shape[1] >= 1 else "D"
        raise WeightsError(f"{where}: weight_ih_l0 has shape {w_ih.shape}, expected ({GH}, {D}) "
                           f"for {_describe(kind, H)}" + (" and D >= 1 inputs" if D == "D" else ""))
    D = w_ih.shape[1]
    for end in chains:
        if end != "_l0":
            _check_layer(arrays, where, end, kind, H, D, directions)
        for name in ("bias_ih", "bias_hh"):
            key = name + end
            if key in arrays and arrays[key].shape != (GH,):
                raise WeightsError(f"{where}: {key} has shape {arrays[key].shape}, expected "
                                   f"({GH},) for {_describe(kind, H)}")
            arrays.setdefault(key, np.zeros(GH))
        for name in NAMES:
            _check_finite(arrays[name + end], where, name + end)

    if kind == "rnn":
        cell_fn = _RNN_CELLS[activation]
    elif activation != "tanh":
        raise WeightsError(f"{where}: activation {activation!r} applies to an nn.RNN, but the "
                           f"weights are {_MODULE[kind]}'s")
    else:
        cell_fn = lstm if kind == "lstm" else gru_torch
    sizes = dict(hidden=H, input_size=D, kind=kind, source=source)
    if layers == 1 and directions == 1:
        return LoadedWeights(cell=cell_fn, params={name: arrays[name + "_l0"] for name in NAMES},
                             **sizes)
    network = (stack if directions == 1 else bidirectional)([cell_fn] * layers)
    params = {name + end: arrays[name + end] for end in chains for name in NAMES}
    return LoadedWeights(cell=network, params=params, layers=layers, directions=directions,
                         **sizes)


def _check_layer(arrays, where, end, kind, H, D, directions):
    """The weights of one layer and direction other than layer 0's forward one agree with it:
    the same kind and hidden size, and the input width the layer reads."""
    GH = _GATE_BLOCKS[kind] * H
    layer = int(end[2:].removesuffix("_reverse"))
    key, w = "weight_hh" + end, arrays["weight_hh" + end]
    if w.shape != (GH, H):
        fits = _kind_from_rows(w.shape[0], w.shape[1]) if w.ndim == 2 and w.shape[1] else None
        hint = ("" if fits is None else
                f"; it fits {_describe(fits, w.shape[1])}, and every layer of a PyTorch module "
                "is of one kind with one hidden size")
        raise WeightsError(f"{where}: {key} has shape {w.shape}, expected ({GH}, {H}) for "
                           f"{_describe(kind, H)} as weight_hh_l0 ({GH}, {H}) says{hint}")
    key, w = "weight_ih" + end, arrays["weight_ih" + end]
    if layer == 0:
        reads, why = D, f"both directions of layer 0 read the {D} inputs of weight_ih_l0"
    else:
        reads = H * directions
        why = (f"layer {layer} reads layer {layer - 1}'s output, "
               + (f"2 x {H} values (both directions)" if directions == 2 else f"{H} values"))
    if w.shape != (GH, reads):
        raise WeightsError(f"{where}: {key} has shape {w.shape}, expected ({GH}, {reads}) for "
                           f"{_describe(kind, H)}: {why}")


def _requested_kind(cell):
    if cell is None:
        return None
    if cell not in _KIND_OF_CELL:
        raise WeightsError(f"unknown cell {cell!r} for PyTorch weights; choose from "
                           f"{', '.join(_KIND_OF_CELL)}")
    return _KIND_OF_CELL[cell]


def _kind_from_rows(rows, H):
    for kind, G in _GATE_BLOCKS.items():
        if rows == G * H:
            return kind
    return None


def _describe(kind, H):
    return f"{_MODULE[kind]} with hidden size {H}"


def _check_keys(mapping, where):
    """Which names each layer and direction has: {suffix: names} in PyTorch's order ('_l0',
    '_l0_reverse', '_l1', ...), the number of layers and the number of directions. A key that
    does not fit, a missing layer or a direction without its twin is an error naming the key."""
    found = {}
    for key in sorted(mapping.keys(), key=str):
        if not isinstance(key, str):
            raise WeightsError(f"{where}: key {key!r} is not a string; {_EXPECTED_KEYS}")
        if _PROJECTION_KEY.fullmatch(key):
            raise WeightsError(f"{where}: {key} is an LSTM projection (proj_size > 0), which "
                               "gradflow does not support; save an nn.LSTM with proj_size=0")
        match = _TORCH_KEY.fullmatch(key)
        if not match:
            raise WeightsError(f"{where}: unexpected key {key!r}{_key_hint(key)}; "
                               f"{_EXPECTED_KEYS}")
        found.setdefault((int(match[2]), bool(match[3])), set()).add(match[1])
    layers = 1 + max((layer for layer, _ in found), default=0)
    directions = 2 if any(reverse for _, reverse in found) else 1
    for layer in range(layers if found else 0):
        if (layer, False) not in found and (layer, True) not in found:
            have = ", ".join(str(l) for l in sorted({l for l, _ in found}))
            raise WeightsError(f"{where}: weight_ih_l{layer} is missing, and every other key of "
                               f"layer {layer}: the file has layers {have}, and a module of "
                               f"{layers} layers has every suffix _l0 to _l{layers - 1}")
        for reverse in (False, True)[:directions]:
            if (layer, reverse) not in found:  # then its twin is there
                name = min(found[layer, not reverse], key=NAMES.index)
                own, twin = name + suffix(layer, reverse), name + suffix(layer, not reverse)
                raise WeightsError(
                    f"{where}: {own} is missing while {twin} is present; a bidirectional "
                    "module has both directions in every layer" if reverse else
                    f"{where}: {twin} has no forward twin: {own} is missing; a _reverse key "
                    "belongs to a bidirectional module, which has both directions in every layer")
    expected = _EXPECTED_KEYS if layers == directions == 1 else _EXPECTED_PER_LAYER
    chains = {}
    for layer in range(layers):
        for reverse in (False, True)[:directions]:
            end, names = suffix(layer, reverse), found.get((layer, reverse), set())
            for name in ("weight_ih", "weight_hh"):
                if name not in names:
                    raise WeightsError(f"{where}: {name}{end} is missing; {expected}")
            if ("bias_ih" in names) != ("bias_hh" in names):
                have, lack = (("bias_ih", "bias_hh") if "bias_ih" in names
                              else ("bias_hh", "bias_ih"))
                raise WeightsError(f"{where}: {lack}{end} is missing while {have}{end} is "
                                   "present; PyTorch saves both biases or, with bias=False, "
                                   "neither")
            chains[end] = sorted(names, key=NAMES.index)
    biased = [end for end, names in chains.items() if "bias_ih" in names]
    if biased and len(biased) < len(chains):
        lacking = next(end for end in chains if end not in biased)
        raise WeightsError(f"{where}: bias_ih{lacking} is missing while bias_ih{biased[0]} is "
                           "present; PyTorch saves every layer's biases or, with bias=False, "
                           "none")
    return chains, layers, directions


def _key_hint(key):
    if key in NAMES:
        return f" (PyTorch names it {key}_l0)"
    if "." in key and _TORCH_KEY.fullmatch(key.rsplit(".", 1)[1]):
        return (f" (a whole model's state_dict: save the recurrent module's own, "
                f"e.g. model.{key.rsplit('.', 1)[0]}.state_dict())")
    return ""


def _read(mapping, where, key):
    try:
        value = np.asarray(mapping[key])
    except _READ_ERRORS as err:
        raise WeightsError(f"{where}: {key} cannot be read ({_first_line(err)})") from None
    if value.dtype.kind not in "fiu":
        raise WeightsError(f"{where}: {key} has dtype {value.dtype}, expected real numbers")
    return value.astype(np.float64)


def _check_finite(value, where, key):
    bad = ~np.isfinite(value)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise WeightsError(f"{where}: {key} has {int(bad.sum())} nan or inf value(s), the "
                           f"first at index {first}; weights must be finite")


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
