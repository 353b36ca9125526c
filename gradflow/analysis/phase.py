"""The phase diagram: how the decay of ||ds_T/ds_t|| changes as the recurrent weights are scaled.

For each cell and each recurrent weight scale g, the mean log10 spectral norm of ds_T/ds_{T-d}
at every distance d (a row of the heatmap), the fitted decay factor per step (`decay.summarize`),
and for the tanh RNN two theoretical marks:

- Pascanu, Mikolov & Bengio (2013): with gamma = 1 bounding tanh', ||W_hh||_2 < 1/gamma is
  sufficient for vanishing gradients. The x axis is the scale g, not ||W_hh||_2: for the
  gaussian init ||W_hh||_2 is about 2 g for large H while the spectral radius is about g. So the
  threshold is drawn at the scale where the *measured* ||W_hh||_2 of the actual weights equals
  1/gamma (every init multiplies one drawn matrix by g, so that scale is 1 / (gamma ||W_1||_2)).
- Mean-field theory (Poole et al. 2016; Chen, Pennington & Schoenholz 2018; see
  `gradflow.analysis.meanfield`): the predicted log10 rate 0.5 log10 chi(g) for gaussian weights.
"""

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from ..cells.builtin import recurrent_norm
from .decay import decay_profile
from .meanfield import tanh_rnn_meanfield

__all__ = ["PhaseDiagram", "phase_diagram", "assemble_phase", "phase_to_table", "phase_from_table", "TANH_GAMMA"]

TANH_GAMMA = 1.0  # sup |tanh'|: the gamma of Pascanu et al. (2013) for the tanh RNN


@dataclass(frozen=True)
class PhaseDiagram:
    """Decay of ||ds_T/ds_t||_2 over a sweep of recurrent weight scales.

    scales (S,) and distance (T,); per cell name:
      log10_norm[cell] (S, T): mean over samples of log10 ||ds_T/ds_{T-d}||_2;
      log10_rate[cell] (S,): log10 of the fitted factor per step (the slope of that curve);
      weight_norm[cell] (S,): ||W_hh||_2 of the stacked recurrent weights (G H, H), or of the
        cell's `recurrent_matrix` (the LRU's, the orthogonal RNN's W); max |u| for IndRNN's
        diag(u), nan for a cell without recurrent weights (minGRU, minLSTM)
        (`gradflow.cells.builtin.recurrent_norm`).
    pascanu_scale: the scale at which the tanh RNN's ||W_hh||_2 = 1/gamma (None without an RNN).
    meanfield_log10_rate (S,): 0.5 log10 chi, the mean-field slope of the tanh RNN with gaussian
      weights; None when it does not apply (no tanh RNN, or another init).
    """
    cells: tuple
    scales: np.ndarray
    distance: np.ndarray
    log10_norm: Mapping[str, np.ndarray]
    log10_rate: Mapping[str, np.ndarray]
    weight_norm: Mapping[str, np.ndarray]
    pascanu_scale: Optional[float] = None
    meanfield_log10_rate: Optional[np.ndarray] = None
    metadata: Mapping[str, object] = field(default_factory=dict)


def phase_diagram(network, scales=np.linspace(0.5, 2.0, 16), *, cells=("rnn", "lstm", "gru"),
                  progress=None):
    """Sweep the recurrent weight scale and measure the decay of ||ds_T/ds_t||_2 for each cell.

    Every scale uses the network's seed, so the same drawn matrix is scaled and the same inputs
    are fed: only the scale changes along a row. Cost: len(cells) x len(scales) x samples
    backward sweeps of `steps` steps.

    Args:
      network: a `Network` with drawn weights (no trained `params`): its sizes, init, forget
        bias, activation, skip connection, seed, samples and steps; its cell and scale are the
        ones swept.
      scales: (S,) recurrent weight scales, increasing.
      cells: built-in cell names.
      progress: called with the number of backward steps done so far.

    Returns:
      A `PhaseDiagram`.
    """
    scales = np.asarray(scales, dtype=float)
    if scales.ndim != 1 or scales.size < 2 or np.any(np.diff(scales) <= 0) or scales[0] <= 0:
        raise ValueError("scales must be at least two positive values, increasing")
    if network.params is not None or network.inputs is not None:
        raise ValueError("the phase diagram scales drawn weights on random inputs: the network "
                         "must not have trained params or fixed inputs")
    cells = tuple(cells)
    log10_norm, log10_rate, weight_norm = {}, {}, {}
    done = 0
    for cell in cells:
        rows, rates, norms = [], [], []
        for g in scales:
            net = network.replace(cell=cell, scale=float(g))
            tick = None if progress is None else (lambda d, base=done: progress(base + d))
            profile = decay_profile(net, progress=tick)
            done += net.samples * net.steps
            rows.append(profile.mean["spectral"])
            rates.append(np.log10(profile.summary.rate) if profile.summary.rate > 0 else -np.inf)
            built = net.build()
            norm = recurrent_norm(built.params, built.cell)
            norms.append(np.nan if norm is None else norm)
        log10_norm[cell] = np.array(rows)
        log10_rate[cell] = np.array(rates)
        weight_norm[cell] = np.array(norms)
    return assemble_phase(network, scales, cells, log10_norm, log10_rate, weight_norm)


def assemble_phase(network, scales, cells, log10_norm, log10_rate, weight_norm):
    """The `PhaseDiagram` of measured rows (per cell: (S, T) log10 norms, (S,) log10 rates and
    weight norms at `scales`), with the theory marks of `network`'s settings: how
    `phase_diagram` ends, and how a sweep's points become a phase diagram."""
    pascanu_scale = None
    if "rnn" in cells and network.activation == "tanh":
        # ||W_hh(g)||_2 = g ||W_hh(1)||_2 exactly: one matrix scaled.
        pascanu_scale = float(scales[0] / (TANH_GAMMA * weight_norm["rnn"][0]))
    meanfield = None
    if "rnn" in cells and network.activation == "tanh" and network.init == "gaussian" \
            and network.skip is None:
        # gradflow's inputs: x ~ N(0, I_D), U_ij ~ N(0, 1/D), so the input term has variance 1.
        meanfield = np.array([tanh_rnn_meanfield(g, sigma_in=1.0).log10_rate for g in scales])
    metadata = {k: v for k, v in network.metadata().items() if k not in ("cell", "scale")}
    return PhaseDiagram(cells=tuple(cells), scales=scales, distance=np.arange(1, network.steps + 1),
                        log10_norm=log10_norm, log10_rate=log10_rate, weight_norm=weight_norm,
                        pascanu_scale=pascanu_scale, meanfield_log10_rate=meanfield,
                        metadata=metadata)


def phase_to_table(diagram):
    """A long `Table` (kind 'phase'): one row per cell, scale and distance.

    Columns: cell, scale, distance, log10_spectral_norm (mean over samples),
    log10_rate_per_step (the cell's fitted slope at that scale, repeated along distance),
    weight_norm (||W_hh||_2 at that scale), meanfield_log10_rate (the tanh RNN's mean-field
    slope at that scale; empty for other cells or when it does not apply). The metadata holds
    the settings, the cells in order and pascanu_scale.
    """
    from ..io.results import Table

    cols = {k: [] for k in ("cell", "scale", "distance", "log10_spectral_norm",
                            "log10_rate_per_step", "weight_norm", "meanfield_log10_rate")}
    T = len(diagram.distance)
    for cell in diagram.cells:
        for i, g in enumerate(diagram.scales):
            cols["cell"] += [cell] * T
            cols["scale"] += [float(g)] * T
            cols["distance"] += diagram.distance.tolist()
            cols["log10_spectral_norm"] += diagram.log10_norm[cell][i].tolist()
            cols["log10_rate_per_step"] += [float(diagram.log10_rate[cell][i])] * T
            cols["weight_norm"] += [float(diagram.weight_norm[cell][i])] * T
            mf = diagram.meanfield_log10_rate
            cols["meanfield_log10_rate"] += ([float(mf[i])] if cell == "rnn" and mf is not None
                                             else [None]) * T
    columns = {k: np.array(v, dtype=object) if k == "meanfield_log10_rate" else np.array(v)
               for k, v in cols.items()}
    meta = {**diagram.metadata, "kind": "phase", "cells": list(diagram.cells),
            "pascanu_scale": diagram.pascanu_scale}
    return Table(columns, meta)


def phase_from_table(table):
    """The `PhaseDiagram` of a phase table read back (CSV, JSON or NPZ).

    Raises ValueError naming the first required column that is missing.
    """
    for name in ("cell", "scale", "distance", "log10_spectral_norm", "log10_rate_per_step",
                 "weight_norm"):
        if name not in table.columns:
            raise ValueError(f"not a phase table: no column {name!r}")
    cell_col = np.asarray(table.columns["cell"]).astype(str)
    cells = tuple(dict.fromkeys(cell_col.tolist()))
    first = table.where("cell", cells[0])
    scale_col = np.asarray(first.columns["scale"], dtype=float)
    scales = np.array(sorted(set(scale_col.tolist())))
    distance = np.array(sorted(set(np.asarray(first.columns["distance"]).astype(int).tolist())))
    S, T = len(scales), len(distance)
    log10_norm, log10_rate, weight_norm = {}, {}, {}
    meanfield = None
    for cell in cells:
        rows = table.where("cell", cell)
        order = np.lexsort((np.asarray(rows.columns["distance"], dtype=int),
                            np.asarray(rows.columns["scale"], dtype=float)))
        if len(order) != S * T:
            raise ValueError(f"not a phase table: cell {cell} has {len(order)} rows, "
                             f"expected {S} scales x {T} distances")

        def grid(name):
            return _floats(rows.columns[name])[order].reshape(S, T)

        log10_norm[cell] = grid("log10_spectral_norm")
        log10_rate[cell] = grid("log10_rate_per_step")[:, 0]
        weight_norm[cell] = grid("weight_norm")[:, 0]
        if cell == "rnn" and "meanfield_log10_rate" in rows.columns:
            mf = grid("meanfield_log10_rate")[:, 0]
            meanfield = None if np.all(np.isnan(mf)) else mf
    meta = {k: v for k, v in table.metadata.items() if k not in ("kind", "cells", "pascanu_scale")}
    pascanu = table.metadata.get("pascanu_scale")
    if pascanu is None and "rnn" in cells:
        # A CSV carries no metadata: recover the threshold from the measured weight norms.
        pascanu = float(scales[0] / (TANH_GAMMA * weight_norm["rnn"][0]))
    return PhaseDiagram(cells=cells, scales=scales, distance=distance, log10_norm=log10_norm,
                        log10_rate=log10_rate, weight_norm=weight_norm,
                        pascanu_scale=None if pascanu is None else float(pascanu),
                        meanfield_log10_rate=meanfield, metadata=meta)


def _floats(column):
    return np.array([np.nan if v is None or v == "" else v for v in np.asarray(column, dtype=object)],
                    dtype=float)
