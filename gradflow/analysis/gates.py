"""Gate values along the sequence, beside the decay of the state blocks they protect.

The seed notes credit the LSTM's cell "highway" for uninterrupted gradient flow: dc_t/dc_{t-1}
contains diag(f_t), so a forget gate near 1 keeps ||dc_T/dc_t|| from decaying; the GRU's
counterpart is the fraction of h_{t-1} it keeps (1 - z in Cho et al. 2014, z in PyTorch's form),
and minGRU's and minLSTM's (Feng et al. 2024) are 1 - z and the normalised forget gate f'.
`gate_traces` runs the cell forward, reads every gate at every step from the trajectory
(`GradientFlow.states` with `cells.lstm_gates` / `cells.gru_gates`), summarises the units and
input samples at each step by their mean and quantiles, and keeps the decay of the h- and c-block
norms from the same backward sweeps, so the mechanism and its effect sit side by side.

Reference: Gers, Schmidhuber & Cummins (2000), Learning to forget: continual prediction with
LSTM; Jozefowicz, Zaremba & Sutskever (2015), An empirical exploration of recurrent network
architectures (forget bias 1).
"""

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..cells.builtin import get_cell, gru_gates, lstm_gates
from ..cells.modern import mingru_gates, minlstm_gates
from ..engine.jacobians import gradient_flow

__all__ = ["GateTraces", "gate_traces", "gate_values", "KEEP_GATE", "gates_to_table",
           "gates_from_table", "QUANTILES"]

QUANTILES = (0.1, 0.5, 0.9)
KEEP_GATE = {"lstm": "forget", "gru": "keep", "gru_torch": "keep",  # the gate near 1 = memory
             "mingru": "keep", "minlstm": "forget"}


def gate_values(cell_name, params, states, inputs):
    """Every gate at every step: {gate: (T, H)}; row t-1 is the gate at step t, computed from
    s_{t-1} and x_t. `states` (T+1, n) is the trajectory, `inputs` (T, D)."""
    prev, inputs = np.asarray(states)[:-1], np.asarray(inputs, dtype=float)
    if cell_name == "lstm":
        return lstm_gates(params, prev, inputs)
    if cell_name in ("gru", "gru_torch"):
        return gru_gates(params, prev, inputs, torch_convention=cell_name == "gru_torch")
    if cell_name == "mingru":  # its gates read x_t alone
        return mingru_gates(params, inputs)
    if cell_name == "minlstm":
        return minlstm_gates(params, inputs)
    raise ValueError(f"cell {cell_name!r} has no gates: use {', '.join(KEEP_GATE)}")


@dataclass(frozen=True)
class GateTraces:
    """Gate statistics per step and block-norm decay per distance for one gated cell.

    step (T,) = 1..T; gate_mean[g] (T,) the mean of gate g over units and samples at each step;
    gate_quantiles[g] (Q, T) its quantiles at `quantile_levels` (Q,). distance (T,) = 1..T;
    decay[q] (T,) the mean over samples of log10 ||.||_2 for q in 'spectral' (the full state),
    'h_spectral' (dh_T/dh_t) and, for the LSTM, 'c_spectral' (dc_T/dc_t).
    """
    cell: str
    step: np.ndarray
    gate_mean: Mapping[str, np.ndarray]
    gate_quantiles: Mapping[str, np.ndarray]
    quantile_levels: np.ndarray
    distance: np.ndarray
    decay: Mapping[str, np.ndarray]
    metadata: Mapping[str, object] = field(default_factory=dict)


def gate_traces(network, *, quantiles=QUANTILES, progress=None):
    """Gate values along the sequence and the decay of the state blocks, for one gated cell.

    `network` is a `Network` whose cell is one of KEEP_GATE, 'lstm', 'gru', 'gru_torch',
    'mingru' or 'minlstm' (with or without a skip
    connection: the gates are the base cell's, read at the network's state s_t).

    Returns:
      A `GateTraces`.
    """
    built = network.build()
    name = network.cell if isinstance(network.cell, str) else getattr(network.cell, "name", None)
    if name not in KEEP_GATE:
        raise ValueError(f"cell {built.name!r} has no gates: use {', '.join(KEEP_GATE)}")
    H = get_cell(name).hidden_size(built.params)
    blocks = {"h": slice(0, H), "c": slice(H, 2 * H)} if name == "lstm" else {"h": slice(0, H)}
    gates, decays = [], []
    done = 0
    for seq in built.sequences:
        tick = None if progress is None else (lambda d, base=done: progress(base + d))
        flow = gradient_flow(built.cell, built.params, seq, built.state0, blocks=blocks,
                             progress=tick)
        done += len(seq)
        gates.append(gate_values(name, built.params, flow.states, seq))
        decays.append({"spectral": flow.log10_spectral_norm,
                       **{f"{b}_spectral": v.log10_spectral_norm for b, v in flow.blocks.items()}})
    levels = np.asarray(quantiles, dtype=float)
    gate_mean, gate_q = {}, {}
    for g in gates[0]:
        pooled = np.concatenate([run[g] for run in gates], axis=1)  # (T, samples * H)
        gate_mean[g] = pooled.mean(axis=1)
        gate_q[g] = np.quantile(pooled, levels, axis=1)
    with np.errstate(invalid="ignore"):
        decay = {q: np.mean([d[q] for d in decays], axis=0) for q in decays[0]}
    T = len(built.sequences[0])
    return GateTraces(cell=built.name, step=np.arange(1, T + 1), gate_mean=gate_mean,
                      gate_quantiles=gate_q, quantile_levels=levels, distance=np.arange(1, T + 1),
                      decay=decay, metadata=network.metadata())


def _qname(level):
    return f"q{round(100 * level):02d}"


def gates_to_table(traces):
    """A long `Table` (kind 'gates'): one row per cell and index k = 1..T.

    Columns: cell, step (= k), distance (= k), for each gate g of the cell `gate_<g>_mean` and
    `gate_<g>_q<pp>` (the pp-th percentile over units and samples at step k), and
    `log10_<q>_norm` for q in spectral, h_spectral, c_spectral (at distance k; empty where the
    cell has no such block). The gate columns are read at step k, the norm columns at distance
    k. Gates absent from a cell (the LSTM has no 'reset') are empty.
    """
    from ..io.results import Table

    traces = [traces] if isinstance(traces, GateTraces) else list(traces)
    gate_names = list(dict.fromkeys(g for tr in traces for g in tr.gate_mean))
    levels = traces[0].quantile_levels
    cols = {"cell": [], "step": [], "distance": []}
    for g in gate_names:
        cols[f"gate_{g}_mean"] = []
        for lv in levels:
            cols[f"gate_{g}_{_qname(lv)}"] = []
    for q in ("spectral", "h_spectral", "c_spectral"):
        cols[f"log10_{q}_norm"] = []
    for tr in traces:
        T = len(tr.step)
        cols["cell"] += [tr.cell] * T
        cols["step"] += tr.step.tolist()
        cols["distance"] += tr.distance.tolist()
        for g in gate_names:
            present = g in tr.gate_mean
            cols[f"gate_{g}_mean"] += tr.gate_mean[g].tolist() if present else [None] * T
            for k, lv in enumerate(levels):
                cols[f"gate_{g}_{_qname(lv)}"] += (tr.gate_quantiles[g][k].tolist() if present
                                                   else [None] * T)
        for q in ("spectral", "h_spectral", "c_spectral"):
            cols[f"log10_{q}_norm"] += tr.decay[q].tolist() if q in tr.decay else [None] * T
    columns = {k: np.array(v) if k in ("cell", "step", "distance") else np.array(v, dtype=object)
               for k, v in cols.items()}
    return Table(columns, {"kind": "gates", "quantiles": levels.tolist(),
                           "cells": {tr.cell: dict(tr.metadata) for tr in traces}})


def gates_from_table(table):
    """The `GateTraces` (a list, one per cell) of a gates table read back.

    Raises ValueError naming the first required column that is missing.
    """
    for name in ("cell", "step", "distance", "log10_spectral_norm"):
        if name not in table.columns:
            raise ValueError(f"not a gates table: no column {name!r}")
    gate_names = [c[5:-5] for c in table.columns if c.startswith("gate_") and c.endswith("_mean")]
    levels = table.metadata.get("quantiles")
    if levels is None:  # a CSV has no metadata: read the percentiles off the column names
        g0 = gate_names[0] if gate_names else ""
        levels = [int(c[len(f"gate_{g0}_q"):]) / 100 for c in table.columns
                  if c.startswith(f"gate_{g0}_q")]
    levels = np.asarray(levels, dtype=float)
    cells_meta = table.metadata.get("cells", {}) or {}
    out = []
    for cell in dict.fromkeys(np.asarray(table.columns["cell"]).astype(str).tolist()):
        rows = table.where("cell", cell)
        order = np.argsort(np.asarray(rows.columns["step"], dtype=int))
        col = lambda name: _floats(rows.columns[name])[order]  # noqa: E731
        gate_mean, gate_q = {}, {}
        for g in gate_names:
            mean = col(f"gate_{g}_mean")
            if np.all(np.isnan(mean)):
                continue
            gate_mean[g] = mean
            gate_q[g] = np.array([col(f"gate_{g}_{_qname(lv)}") for lv in levels])
        decay = {}
        for q in ("spectral", "h_spectral", "c_spectral"):
            name = f"log10_{q}_norm"
            if name in rows.columns and not np.all(np.isnan(col(name))):
                decay[q] = col(name)
        out.append(GateTraces(
            cell=cell, step=np.asarray(rows.columns["step"], dtype=int)[order],
            gate_mean=gate_mean, gate_quantiles=gate_q, quantile_levels=levels,
            distance=np.asarray(rows.columns["distance"], dtype=int)[order], decay=decay,
            metadata=dict(cells_meta.get(cell, {"cell": cell}))))
    return out


def _floats(column):
    return np.array([np.nan if v is None or v == "" else v for v in np.asarray(column, dtype=object)],
                    dtype=float)
