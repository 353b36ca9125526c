"""Trained weights from PyTorch: a one-layer nn.RNN, nn.LSTM or nn.GRU `state_dict` saved as .npz.

A trained module is analysed after one line on the PyTorch side,

    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in module.state_dict().items()})

which stores `weight_ih_l0` (G H, D), `weight_hh_l0` (G H, H), `bias_ih_l0` (G H,) and
`bias_hh_l0` (G H,), G = 1 (RNN), 4 (LSTM, gates i, f, g, o) or 3 (GRU, gates r, z, n). The kind
of module and the sizes H and D are read off the shapes. A GRU file runs `cells.gru_torch`, the
formulation nn.GRU computes, so the loaded model reproduces PyTorch's hidden states exactly;
an RNN file does not say its nonlinearity, so the caller names it (`activation`).

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
from .files import atomic_path

__all__ = ["WeightsError", "LoadedWeights", "load_weights", "params_from_state_dict",
           "save_weights"]

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
_MODULE = {"rnn": "an RNN", "lstm": "an LSTM", "gru": "a GRU"}
_KIND_OF_CELL = {"rnn": "rnn", "lstm": "lstm", "gru": "gru", "gru_torch": "gru"}
_RNN_CELLS = {"tanh": rnn, "relu": rnn_relu}  # nn.RNN's two nonlinearities
_TORCH_KEY = re.compile(r"(weight|bias)_(ih|hh)_l(0|[1-9]\d*)(_reverse)?")
_EXPECTED_KEYS = ("a one-layer nn.RNN, nn.LSTM or nn.GRU state_dict has weight_ih_l0, "
                  "weight_hh_l0 and, unless bias=False, bias_ih_l0 and bias_hh_l0")
# What reading one array out of a damaged or foreign .npz can raise.
_READ_ERRORS = (ValueError, TypeError, RuntimeError, OSError, EOFError, zipfile.BadZipFile,
                zlib.error)


class WeightsError(ValueError):
    """A weights file or state_dict that cannot be loaded; the message is one printable line."""


@dataclass(frozen=True)
class LoadedWeights:
    """A one-layer PyTorch recurrent module as a gradflow cell and its parameters.

    cell: the gradflow cell that computes what the module computes (`rnn`, `rnn_relu`, `lstm`,
        `gru_torch`). params: float64 arrays under the unsuffixed names `weight_ih` (G H, D),
        `weight_hh` (G H, H), `bias_ih`, `bias_hh` (G H,); absent biases (bias=False) are zeros.
    hidden: H. input_size: D. kind: 'rnn', 'lstm' or 'gru'. source: the file path, or None
        for an in-memory state_dict.
    """

    cell: Callable
    params: dict
    hidden: int
    input_size: int
    kind: str
    source: str | None


def load_weights(path, *, cell=None, activation="tanh"):
    """Load a one-layer nn.RNN, nn.LSTM or nn.GRU state_dict saved with `numpy.savez`.

    Args:
        path: an .npz file whose keys are PyTorch's names (`weight_ih_l0`, ...).
        cell: None to infer the module from the shapes, or 'rnn', 'lstm', 'gru' to require one
            ('gru_torch' is accepted for 'gru'; either way a GRU runs `cells.gru_torch`).
        activation: the nonlinearity of an nn.RNN, 'tanh' or 'relu'; only 'tanh' otherwise.
    Returns:
        LoadedWeights.
    Raises:
        WeightsError: a file that is missing or not a readable .npz, a missing, unexpected or
            unsupported key (`_l1`, `_reverse`), a wrong shape or dtype, nan or inf.
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
    """Write `params` (unsuffixed names, or a LoadedWeights) as an .npz in PyTorch's naming.

    The file is what `np.savez` of a one-layer module's state_dict gives, so `load_weights` and
    PyTorch (`module.load_state_dict({k: torch.from_numpy(v) ...})`) both read it back. Written
    through `files.atomic_path`: nothing half-written. Raises WeightsError for parameters that
    do not form a one-layer RNN, LSTM or GRU, OSError for an unwritable path.
    """
    if isinstance(params, LoadedWeights):
        params = params.params
    for name in params:
        if name not in NAMES:
            raise WeightsError(f"params: unexpected key {name!r}; expected {', '.join(NAMES)}")
    suffixed = {f"{name}_l0": value for name, value in params.items()}
    checked = _load(suffixed, "params", None, "tanh", source=None)
    arrays = {f"{name}_l0": checked.params[name] for name in params}
    with atomic_path(path) as tmp:
        # A file object, because np.savez appends '.npz' to a path that lacks it.
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _load(mapping, where, cell, activation, *, source):
    kind = _requested_kind(cell)
    if activation not in _RNN_CELLS:
        raise WeightsError(f"unknown activation {activation!r} for an nn.RNN; choose from "
                           f"{', '.join(_RNN_CELLS)}")
    present = _check_keys(mapping, where)
    arrays = {name: _read(mapping, where, name) for name in present}

    w_hh = arrays["weight_hh"]
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

    w_ih = arrays["weight_ih"]
    if w_ih.ndim != 2 or w_ih.shape[0] != GH or w_ih.shape[1] < 1:
        D = w_ih.shape[1] if w_ih.ndim == 2 and w_ih.shape[1] >= 1 else "D"
        raise WeightsError(f"{where}: weight_ih_l0 has shape {w_ih.shape}, expected ({GH}, {D}) "
                           f"for {_describe(kind, H)}" + (" and D >= 1 inputs" if D == "D" else ""))
    for name in ("bias_ih", "bias_hh"):
        if name in arrays and arrays[name].shape != (GH,):
            raise WeightsError(f"{where}: {name}_l0 has shape {arrays[name].shape}, expected "
                               f"({GH},) for {_describe(kind, H)}")
        arrays.setdefault(name, np.zeros(GH))
    for name in NAMES:
        _check_finite(arrays[name], where, name)

    if kind == "rnn":
        cell_fn = _RNN_CELLS[activation]
    elif activation != "tanh":
        raise WeightsError(f"{where}: activation {activation!r} applies to an nn.RNN, but the "
                           f"weights are {_MODULE[kind]}'s")
    else:
        cell_fn = lstm if kind == "lstm" else gru_torch
    return LoadedWeights(cell=cell_fn, params={name: arrays[name] for name in NAMES}, hidden=H,
                         input_size=w_ih.shape[1], kind=kind, source=source)


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
    """The unsuffixed names present; every other key is an error that names it."""
    keys = sorted(mapping.keys(), key=str)
    for key in keys:
        if not isinstance(key, str):
            raise WeightsError(f"{where}: key {key!r} is not a string; {_EXPECTED_KEYS}")
        match = _TORCH_KEY.fullmatch(key)
        if match and (match[3] != "0" or match[4]):
            what = ([f"layer {int(match[3]) + 1} of a stacked RNN"] * (match[3] != "0")
                    + ["the backward direction of a bidirectional RNN"] * bool(match[4]))
            raise WeightsError(f"{where}: {key} belongs to {' and '.join(what)}; only one-layer, "
                               "one-direction modules can be loaded so far")
        if not match:
            raise WeightsError(f"{where}: unexpected key {key!r}{_key_hint(key)}; "
                               f"{_EXPECTED_KEYS}")
    present = {key[:-3] for key in keys}
    for name in ("weight_ih", "weight_hh"):
        if name not in present:
            raise WeightsError(f"{where}: {name}_l0 is missing; {_EXPECTED_KEYS}")
    if ("bias_ih" in present) != ("bias_hh" in present):
        have, lack = ("bias_ih", "bias_hh") if "bias_ih" in present else ("bias_hh", "bias_ih")
        raise WeightsError(f"{where}: {lack}_l0 is missing while {have}_l0 is present; PyTorch "
                           "saves both biases or, with bias=False, neither")
    return sorted(present, key=NAMES.index)


def _key_hint(key):
    if key in NAMES:
        return f" (PyTorch names it {key}_l0)"
    if key.startswith("weight_hr_l"):
        return " (LSTM projections, proj_size > 0, are not supported)"
    if "." in key and _TORCH_KEY.fullmatch(key.rsplit(".", 1)[1]):
        return (f" (a whole model's state_dict: save the recurrent module's own, "
                f"e.g. model.{key.rsplit('.', 1)[0]}.state_dict())")
    return ""


def _read(mapping, where, name):
    key = f"{name}_l0"
    try:
        value = np.asarray(mapping[key])
    except _READ_ERRORS as err:
        raise WeightsError(f"{where}: {key} cannot be read ({_first_line(err)})") from None
    if value.dtype.kind not in "fiu":
        raise WeightsError(f"{where}: {key} has dtype {value.dtype}, expected real numbers")
    return value.astype(np.float64)


def _check_finite(value, where, name):
    bad = ~np.isfinite(value)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise WeightsError(f"{where}: {name}_l0 has {int(bad.sum())} nan or inf value(s), the "
                           f"first at index {first}; weights must be finite")


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
