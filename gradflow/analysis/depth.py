"""Depth and input sensitivity of a Network, averaged over its input sequences, and their tables.

`depth_map(net)`: the depth x time map log10 ||d s^(L-1)_T / d s^(l)_{T-d}|| of a stack, layer l
= 0..L-1 (PyTorch's numbering) against distance d = 0..T-1 (`gradflow.engine.depth.depth_flow`).
`sensitivity(net, output_step)`: log10 ||dy_tau / dx_t|| for every input step t, for any network,
bidirectional ones included (`gradflow.engine.depth.input_sensitivity`). Both average the log10
norms over the network's input sequences (mean and population standard deviation), as
`decay_profile` does, and carry `net.metadata()`. `feedforward_flow`: dy_L/dy_l of a deep
feed-forward network, plain, residual, dense or highway (seed 004's question whether vanishing
gradients are only an RNN problem).
"""

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

import numpy as np

from .._version import __version__
from ..cells.feedforward import mlp, mlp_params
from ..cells.skips import transform
from ..engine.depth import depth_flow, input_sensitivity
from ..engine.jacobians import gradient_flow
from .decay import mean_and_spread

__all__ = ["DepthMap", "depth_map", "SensitivityProfile", "sensitivity", "depth_to_table",
           "depth_from_table", "sensitivity_to_table", "sensitivity_from_table",
           "FeedForwardFlow", "feedforward_flow"]


@dataclass(frozen=True)
class DepthMap:
    """`mean` and `std` map 'spectral', 'frobenius' (and for the LSTM 'h_spectral',
    'h_frobenius', 'c_spectral', 'c_frobenius') to arrays (L, T) indexed by `layer` and
    `distance` (0..T-1)."""
    cell: str
    layer: np.ndarray
    distance: np.ndarray
    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]
    metadata: Mapping[str, object] = field(default_factory=dict)


def depth_map(network, *, progress=None):
    """The depth x time map of a `Network` that runs forwards in time (a stack, or one layer),
    averaged over its input sequences. `progress(k)`: layer-steps done, L T per sequence."""
    built = network.build()
    runs, done = [], 0
    for seq in built.sequences:
        tick = None if progress is None else (lambda k, base=done: progress(base + k))
        flow = depth_flow(built.cell, built.params, seq, progress=tick)
        curves = {"spectral": flow.log10_spectral_norm, "frobenius": flow.log10_frobenius_norm}
        for name, (spec, frob) in flow.blocks.items():
            curves[f"{name}_spectral"], curves[f"{name}_frobenius"] = spec, frob
        runs.append(curves)
        done += flow.log10_spectral_norm.size
    mean, std = {}, {}
    for key in runs[0]:
        mean[key], std[key] = mean_and_spread([r[key] for r in runs])
    L, T = mean["spectral"].shape
    return DepthMap(built.name, np.arange(L), np.arange(T), mean, std, network.metadata())


@dataclass(frozen=True)
class SensitivityProfile:
    """`mean` and `std` map a direction ('both' for the whole output; for a bidirectional
    network also 'forward' and 'reverse', the top layer's two output halves) to a dict
    {'spectral': (T,), 'frobenius': (T,)} indexed by `step` t = 1..T."""
    cell: str
    output_step: int
    step: np.ndarray
    mean: Mapping[str, Mapping[str, np.ndarray]]
    std: Mapping[str, Mapping[str, np.ndarray]]
    metadata: Mapping[str, object] = field(default_factory=dict)


def sensitivity(network, output_step=None, *, progress=None):
    """log10 ||dy_tau / dx_t|| for t = 1..T of any `Network`, tau = `output_step` (the last
    step by default), averaged over its input sequences. `progress(k)`: sequences done."""
    built = network.build()
    runs = []
    for i, seq in enumerate(built.sequences):
        s = input_sensitivity(built.cell, built.params, seq, output_step)
        run = {"both": {"spectral": s.log10_spectral_norm, "frobenius": s.log10_frobenius_norm}}
        for name, (spec, frob) in s.directions.items():
            run[name] = {"spectral": spec, "frobenius": frob}
        runs.append(run)
        if progress is not None:
            progress(i + 1)
    mean, std = {}, {}
    for direction in runs[0]:
        mean[direction], std[direction] = {}, {}
        for q in ("spectral", "frobenius"):
            mean[direction][q], std[direction][q] = mean_and_spread(
                [r[direction][q] for r in runs])
    return SensitivityProfile(built.name, s.output_step, s.step, mean, std,
                              {**network.metadata(), "output_step": s.output_step})


DEPTH_QUANTITIES = ("spectral", "frobenius", "h_spectral", "h_frobenius", "c_spectral",
                    "c_frobenius")


def _column(q, stat=""):
    return f"log10_{q}_norm{stat}"


def depth_to_table(maps):
    """A long `Table` (kind 'depth'): one row per network, layer and distance. Columns: cell,
    layer, distance, log10_spectral_norm, log10_frobenius_norm, log10_h_spectral_norm,
    log10_h_frobenius_norm, log10_c_spectral_norm, log10_c_frobenius_norm (empty where the
    cell has no such block), then `..._std` of each (the spread over samples)."""
    from ..io.results import Table

    columns = {"cell": [], "layer": [], "distance": []}
    for stat in ("", "_std"):
        for q in DEPTH_QUANTITIES:
            columns[_column(q, stat)] = []
    for m in maps:
        L, T = len(m.layer), len(m.distance)
        columns["cell"] += [m.cell] * (L * T)
        columns["layer"] += np.repeat(m.layer, T).tolist()
        columns["distance"] += np.tile(m.distance, L).tolist()
        for stat, values in (("", m.mean), ("_std", m.std)):
            for q in DEPTH_QUANTITIES:
                col = values.get(q)
                columns[_column(q, stat)] += [None] * (L * T) if col is None \
                    else col.reshape(-1).tolist()
    cells = {m.cell: dict(m.metadata) for m in maps}
    return Table({k: np.array(v, dtype=object) if k.startswith("log10") else np.array(v)
                  for k, v in columns.items()}, {"kind": "depth", "cells": cells})


def _floats(col):
    return np.array([np.nan if v is None else v for v in col], dtype=float)


def _require(table, kind, names):
    for name in names:
        if name not in table.columns:
            raise ValueError(f"not a {kind} table: no column {name!r}")


def depth_from_table(table):
    """The `DepthMap`s of a depth table read back."""
    _require(table, "depth", ("cell", "layer", "distance", "log10_spectral_norm"))
    meta = table.metadata.get("cells", {}) or {}
    maps = []
    for cell in dict.fromkeys(np.asarray(table.columns["cell"]).tolist()):
        rows = table.where("cell", cell)
        layer = np.asarray(rows.columns["layer"], dtype=int)
        distance = np.asarray(rows.columns["distance"], dtype=int)
        L, T = layer.max() + 1, distance.max() + 1
        if len(layer) != L * T:
            raise ValueError(f"depth table: {cell} has {len(layer)} rows, not layers x distances")
        mean, std = {}, {}
        for q in DEPTH_QUANTITIES:
            for stat, target in (("", mean), ("_std", std)):
                col = rows.columns.get(_column(q, stat))
                if col is None:
                    continue
                values = np.full((L, T), np.nan)
                values[layer, distance] = _floats(col)
                if not np.all(np.isnan(values)):
                    target[q] = values
        maps.append(DepthMap(str(cell), np.arange(L), np.arange(T), mean,
                             {q: std.get(q, np.zeros((L, T))) for q in mean},
                             dict(meta.get(str(cell), {"cell": str(cell)}))))
    return maps


def sensitivity_to_table(profiles):
    """A long `Table` (kind 'sensitivity'): one row per network, direction and step. Columns:
    cell, output_step, step, log10_spectral_norm, log10_frobenius_norm, their `_std`; and,
    when a network is bidirectional, `direction` after step ('both' for the whole output y_tau,
    'forward' and 'reverse' for the top layer's two halves)."""
    from ..io.results import Table

    directional = any(len(p.mean) > 1 for p in profiles)
    columns = {"cell": [], "output_step": [], "step": []}
    if directional:
        columns["direction"] = []
    for stat in ("", "_std"):
        for q in ("spectral", "frobenius"):
            columns[f"log10_{q}_norm{stat}"] = []
    for p in profiles:
        for direction in p.mean:
            T = len(p.step)
            columns["cell"] += [p.cell] * T
            columns["output_step"] += [p.output_step] * T
            columns["step"] += p.step.tolist()
            if directional:
                columns["direction"] += [direction] * T
            for stat, values in (("", p.mean), ("_std", p.std)):
                for q in ("spectral", "frobenius"):
                    columns[f"log10_{q}_norm{stat}"] += values[direction][q].tolist()
    cells = {p.cell: dict(p.metadata) for p in profiles}
    return Table({k: np.array(v, dtype=object) if k.startswith("log10") else np.array(v)
                  for k, v in columns.items()}, {"kind": "sensitivity", "cells": cells})


def sensitivity_from_table(table):
    """The `SensitivityProfile`s of a sensitivity table read back."""
    _require(table, "sensitivity", ("cell", "output_step", "step", "log10_spectral_norm"))
    meta = table.metadata.get("cells", {}) or {}
    profiles = []
    cells = np.asarray(table.columns["cell"]).tolist()
    directions = np.asarray(table.columns["direction"]).tolist() \
        if "direction" in table.columns else ["both"] * len(cells)
    for cell in dict.fromkeys(cells):
        mean, std, step, tau = {}, {}, None, None
        for direction in dict.fromkeys(d for c, d in zip(cells, directions) if c == cell):
            idx = [i for i, (c, d) in enumerate(zip(cells, directions))
                   if c == cell and d == direction]
            step = np.asarray(table.columns["step"], dtype=int)[idx]
            tau = int(np.asarray(table.columns["output_step"])[idx[0]])
            mean[direction] = {q: _floats(np.asarray(table.columns[f"log10_{q}_norm"],
                                                     dtype=object)[idx])
                               for q in ("spectral", "frobenius")}
            std[direction] = {q: _floats(np.asarray(
                table.columns.get(f"log10_{q}_norm_std", [None] * len(cells)),
                dtype=object)[idx]) for q in ("spectral", "frobenius")}
        profiles.append(SensitivityProfile(str(cell), tau, step, mean, std,
                                           dict(meta.get(str(cell), {"cell": str(cell)}))))
    return profiles


class FeedForwardFlow(NamedTuple):
    """log10 norms of dy_L/dy_l of a deep feed-forward network, for `layer` l = 0..L-1 (y_0
    the input), arrays (L,); `metadata` what made them."""
    layer: np.ndarray
    log10_spectral_norm: np.ndarray
    log10_frobenius_norm: np.ndarray
    metadata: Mapping[str, object]


def feedforward_flow(skip=None, *, depth=50, width=64, scale=1.0, skip_scale=1.0,
                     highway_bias=-1.0, seed=0):
    """How dy_L/dy_l behaves in a deep tanh network y_l = tanh(W_l y_{l-1} + b_l) of `depth`
    layers and `width` units, plain or with `skip` ('residual' = ResNet, 'dense:K' = DenseNet
    over the last K layers, 'highway'), the engine's chain with parameters per step
    (`gradflow.cells.feedforward`). W_l ~ N(0, scale^2 / width); child 0 of
    SeedSequence(seed) draws the weights, child 1 the input y_0 ~ N(0, I)."""
    cell = transform(mlp, skip, scale=skip_scale, highway_bias=highway_bias)
    weights, start = np.random.SeedSequence(seed).spawn(2)
    params = mlp_params(cell, depth, width, scale=scale, seed=np.random.default_rng(weights))
    y0 = np.random.default_rng(start).standard_normal(width)
    state0 = np.tile(y0, cell.state_size(params[0]) // width)  # a dense net's past: y_0 too
    flow = gradient_flow(cell, params, state0=state0, steps=depth)
    # distance d = L - l: reversed so that index l is layer l
    return FeedForwardFlow(np.arange(depth), flow.log10_spectral_norm[::-1].copy(),
                           flow.log10_frobenius_norm[::-1].copy(),
                           {"cell": cell.name, "skip": skip, "depth": depth, "width": width,
                            "scale": scale, "skip_scale": skip_scale,
                            "highway_bias": highway_bias, "seed": seed,
                            "gradflow_version": __version__})
