"""Whole spectra, not just the top: Lyapunov exponents and singular values of ds_T/ds_t.

The spectral norm says how the most amplified direction fares; the spectrum says how many
directions survive. For each cell: its Lyapunov exponents (Benettin's QR method,
`jacobians.lyapunov_spectrum`), as log10 factors per step, and optionally all singular values of
ds_T/ds_{T-d} at a few distances d (`GradientFlow.singular_values`). The LSTM's state has 2H
entries, the others H, so the index is reported as a fraction of the state size as well.

References:
  Benettin, Galgani, Giorgilli & Strelcyn (1980); Engelken, Wolf & Abbott (2023), Lyapunov
  spectra of chaotic recurrent neural networks; Vogt et al. (2022), On Lyapunov exponents for
  RNNs: understanding information propagation using dynamical systems tools.
"""

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..engine.jacobians import gradient_flow, lyapunov_spectrum

__all__ = ["Spectrum", "spectrum", "spectrum_to_table", "spectrum_from_table"]


@dataclass(frozen=True)
class Spectrum:
    """One cell's spectra.

    lyapunov (n,): Lyapunov exponents in log10 per step, descending (mean over samples);
    singular_values: {d: (n,)} log10 singular values of ds_T/ds_{T-d}, descending (mean over
    samples); state_size n.
    """
    cell: str
    lyapunov: np.ndarray
    singular_values: Mapping[int, np.ndarray]
    state_size: int
    metadata: Mapping[str, object] = field(default_factory=dict)


def spectrum(network, *, distances=(), exponents=None, discard=0, progress=None):
    """Lyapunov spectrum and singular values at `distances` for one network.

    `exponents` k keeps the top k Lyapunov exponents (all n by default; the frame for k < n is
    drawn from the network's seed, see `lyapunov_spectrum`); `discard` steps of burn-in run
    before they are accumulated. For a skip connection of length k > 1 both spectra are of the
    augmented state (k n entries). Cost per sample: one forward sweep with a QR of an n x k
    frame per step, plus, when `distances` are given, one backward sweep (`gradient_flow`)
    with one full SVD per distance. `progress` is called with the number of steps done (2 T per
    sample with distances, else T).

    Returns:
      A `Spectrum`.
    """
    built = network.build()
    T = len(built.sequences[0])
    distances = sorted({int(d) for d in distances})
    if distances and not 1 <= distances[0] <= distances[-1] <= T:
        raise ValueError(f"distances must lie between 1 and the length {T}, got {distances}")
    lyap, svals = [], []
    done = 0
    per_sample = T * (2 if distances else 1)
    for seq in built.sequences:
        tick = None if progress is None else (lambda k, base=done: progress(base + k))
        lyap.append(lyapunov_spectrum(built.cell, built.params, seq, built.state0, k=exponents,
                                      discard=discard, seed=network.seed,
                                      progress=tick) / np.log(10))
        if distances:
            tick2 = None if progress is None else (lambda k, base=done + T: progress(base + k))
            flow = gradient_flow(built.cell, built.params, seq, built.state0, blocks={},
                                 spectrum_at=distances, progress=tick2)
            svals.append(flow.singular_values)
        done += per_sample
    with np.errstate(invalid="ignore"):
        singular = {d: np.mean([sv[d] for sv in svals], axis=0) for d in distances}
    metadata = {**network.metadata(), "exponents": len(lyap[0]), "discard": discard}
    return Spectrum(cell=built.name, lyapunov=np.mean(lyap, axis=0), singular_values=singular,
                    state_size=len(built.state0), metadata=metadata)


def spectrum_to_table(spectra):
    """A long `Table` (kind 'spectrum'): one row per cell and index i = 1..n.

    Columns: cell, index (i, 1 = largest), fraction (i / n, n the cell's state size),
    lyapunov_log10_per_step (the i-th Lyapunov exponent, log10 per step), and for each distance
    d `log10_singular_value_d<d>` (the i-th singular value of ds_T/ds_{T-d}, log10). The
    metadata holds each cell's settings and the distances.
    """
    from ..io.results import Table

    spectra = [spectra] if isinstance(spectra, Spectrum) else list(spectra)
    distances = sorted({d for sp in spectra for d in sp.singular_values})
    cols = {"cell": [], "index": [], "fraction": [], "lyapunov_log10_per_step": []}
    for d in distances:
        cols[f"log10_singular_value_d{d}"] = []
    for sp in spectra:
        n = sp.state_size
        cols["cell"] += [sp.cell] * n
        cols["index"] += list(range(1, n + 1))
        cols["fraction"] += (np.arange(1, n + 1) / n).tolist()
        cols["lyapunov_log10_per_step"] += sp.lyapunov.tolist() + [None] * (n - len(sp.lyapunov))
        for d in distances:
            sv = sp.singular_values.get(d)
            cols[f"log10_singular_value_d{d}"] += [None] * n if sv is None else sv.tolist()
    columns = {k: np.array(v, dtype=object) if k.startswith(("log10_singular", "lyapunov"))
               else np.array(v) for k, v in cols.items()}
    return Table(columns, {"kind": "spectrum", "distances": distances,
                           "cells": {sp.cell: dict(sp.metadata) for sp in spectra}})


def spectrum_from_table(table):
    """The `Spectrum`s (a list, one per cell) of a spectrum table read back.

    Raises ValueError naming the first required column that is missing.
    """
    for name in ("cell", "index", "lyapunov_log10_per_step"):
        if name not in table.columns:
            raise ValueError(f"not a spectrum table: no column {name!r}")
    prefix = "log10_singular_value_d"
    distances = sorted(int(c[len(prefix):]) for c in table.columns if c.startswith(prefix))
    cells_meta = table.metadata.get("cells", {}) or {}
    out = []
    for cell in dict.fromkeys(np.asarray(table.columns["cell"]).astype(str).tolist()):
        rows = table.where("cell", cell)
        order = np.argsort(np.asarray(rows.columns["index"], dtype=int))
        singular = {}
        for d in distances:
            values = _floats(rows.columns[f"{prefix}{d}"])[order]
            if not np.all(np.isnan(values)):
                singular[d] = values
        lyapunov = _floats(rows.columns["lyapunov_log10_per_step"])[order]
        out.append(Spectrum(cell=cell, lyapunov=lyapunov[~np.isnan(lyapunov)],
            singular_values=singular, state_size=len(order),
            metadata=dict(cells_meta.get(cell, {"cell": cell}))))
    return out


def _floats(column):
    """A column read back as floats, missing values (None or '') as nan."""
    return np.array([np.nan if v is None or v == "" else v
                     for v in np.asarray(column, dtype=object)], dtype=float)
