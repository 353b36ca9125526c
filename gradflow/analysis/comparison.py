"""The cells side by side at their own initialisations: how fast ||ds_T/ds_t|| decays, and
their Lyapunov exponents, from one description of the inputs.

`compare_cells` runs `decay.decay_profile` and `spectra.spectrum` on the same networks (the
same input sequences for every cell), so that the two panels of `gradflow plot cells` are two
views of one trajectory per sample. Each cell is drawn as `cells.initializers.init_params`
draws it with the settings of the network: with the defaults (init 'gaussian', scale 1) that is
the authors' initialisation for the modern cells (IndRNN's u ~ U(0, 1), the LRU's ring
0 <= |lambda| <= 1, expRNN's block rotations; minGRU and minLSTM have no recurrent weights) and
N(0, 1/H) recurrent weights for the RNN, LSTM and GRU (the edge of chaos of the tanh RNN).

An exponent can be -inf: the relu IndRNN's step Jacobian diag(u * 1[unit active]) is exactly
zero on a unit whenever the unit is off, so on random inputs every direction is switched off
at some step and its product is exactly zero (the decay curve stops where it reaches 0).
"""

from dataclasses import dataclass

import numpy as np

from .decay import DecayProfile, decay_profile, summarize
from .spectra import Spectrum, spectrum

__all__ = ["CellComparison", "compare_cells", "comparison_to_table", "comparison_from_table",
           "COMPARISON_COLUMNS"]

COMPARISON_COLUMNS = ("cell", "row", "distance", "log10_spectral_norm",
                      "log10_spectral_norm_std", "lyapunov_log10_per_step")


@dataclass(frozen=True)
class CellComparison:
    """profiles: one `DecayProfile` per cell (mean and spread of log10 ||ds_T/ds_t||_2 over the
    samples); spectra: one `Spectrum` per cell, in the same order (its Lyapunov exponents in
    log10 per step, largest first, -inf where a direction is switched off)."""
    profiles: tuple
    spectra: tuple

    @property
    def cells(self):
        return tuple(p.cell for p in self.profiles)


def compare_cells(networks, *, exponents=None, progress=None):
    """The decay profile and the Lyapunov spectrum of every network of `networks` (each a
    `network.Network`, typically one per cell with shared inputs). `exponents` keeps the top
    k exponents (all by default). `progress` is called with the steps done, 2 T per sample and
    network in all."""
    profiles, spectra = [], []
    done = 0
    for net in networks:
        per = net.samples * net.length
        tick = None if progress is None else (lambda k, base=done: progress(base + k))
        profiles.append(decay_profile(net, progress=tick))
        tick = None if progress is None else (lambda k, base=done + per: progress(base + k))
        spectra.append(spectrum(net, exponents=exponents, progress=tick))
        done += 2 * per
    return CellComparison(tuple(profiles), tuple(spectra))


def comparison_to_table(comparison):
    """A long `Table` (kind 'cells'): per cell, rows 1 .. max(T, k) (column `row`), row i
    holding distance i's mean and spread of log10 ||ds_T/ds_t||_2 (None beyond T) and the
    i-th Lyapunov exponent in log10 per step (None beyond the k kept; -inf for a direction
    switched off). The metadata holds each cell's settings, decay summary and state size."""
    from ..io.results import Table

    cols = {name: [] for name in COMPARISON_COLUMNS}
    cells = {}
    for p, sp in zip(comparison.profiles, comparison.spectra):
        T, k = len(p.distance), len(sp.lyapunov)
        rows = max(T, k)
        pad = [None] * (rows - T)
        cols["cell"] += [p.cell] * rows
        cols["row"] += list(range(1, rows + 1))
        cols["distance"] += p.distance.tolist() + pad
        cols["log10_spectral_norm"] += p.mean["spectral"].tolist() + pad
        cols["log10_spectral_norm_std"] += p.std["spectral"].tolist() + pad
        cols["lyapunov_log10_per_step"] += sp.lyapunov.tolist() + [None] * (rows - k)
        cells[p.cell] = {**p.metadata, "state_size": sp.state_size, "exponents": k,
                         "verdict": p.summary.verdict, "rate_per_step": p.summary.rate,
                         "horizon": p.summary.horizon}
    return Table({k: np.array(v, dtype=object) if k not in ("cell", "row") else np.array(v)
                  for k, v in cols.items()}, {"kind": "cells", "cells": cells})


def _floats(values):
    return np.array([np.nan if v is None or v == "" else v for v in values], dtype=float)


def comparison_from_table(table):
    """The `CellComparison` of a table written by `comparison_to_table`.

    Raises ValueError naming the first required column that is missing.
    """
    for name in COMPARISON_COLUMNS:
        if name not in table.columns:
            raise ValueError(f"not a cell comparison table: no column {name!r}")
    meta = table.metadata.get("cells", {}) or {}
    profiles, spectra = [], []
    for cell in dict.fromkeys(np.asarray(table.columns["cell"]).astype(str).tolist()):
        rows = table.where("cell", cell)
        order = np.argsort(np.asarray(rows.columns["row"], dtype=int))
        distance = _floats(np.asarray(rows.columns["distance"], dtype=object)[order])
        at = ~np.isnan(distance)
        mean = _floats(np.asarray(rows.columns["log10_spectral_norm"], dtype=object)[order])[at]
        std = _floats(np.asarray(rows.columns["log10_spectral_norm_std"],
                                 dtype=object)[order])[at]
        lyap = _floats(np.asarray(rows.columns["lyapunov_log10_per_step"], dtype=object)[order])
        settings = dict(meta.get(cell, {"cell": cell}))
        # the first k rows hold the exponents (a CSV keeps no metadata: then up to the first
        # missing value)
        k = settings.pop("exponents", None)
        lyap = lyap[:int(k)] if k is not None else lyap[:np.argmax(np.append(np.isnan(lyap), True))]
        state_size = int(settings.pop("state_size", len(lyap)))
        for key in ("verdict", "rate_per_step", "horizon"):
            settings.pop(key, None)
        d = distance[at].astype(int)
        profiles.append(DecayProfile(cell=cell, distance=d, mean={"spectral": mean},
                                     std={"spectral": std}, summary=summarize(d, mean),
                                     metadata=settings))
        spectra.append(Spectrum(cell=cell, lyapunov=lyap, singular_values={},
                                state_size=state_size, metadata=settings))
    return CellComparison(tuple(profiles), tuple(spectra))
