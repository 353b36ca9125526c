"""How fast ||ds_T/ds_t|| decays or grows with the distance T - t, for one network.

`decay_profile` is the analysis behind `gradflow jacobians` and the decay figure: it builds a
`Network` (its weights from an initialiser and a seed, or given; its input sequences), runs
`gradient_flow` on each sequence, and returns the mean and spread over the samples of every log10 norm,
with a summary (verdict, fitted rate per step, horizon) and the metadata that made it.
"""

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from ..engine.jacobians import gradient_flow

__all__ = ["Summary", "summarize", "DecayProfile", "decay_profile",
           "NEUTRAL_DECADES", "HORIZON_DECADES"]

NEUTRAL_DECADES = 1.0   # a fitted change of less than one decade over the length is neutral
HORIZON_DECADES = 3.0   # the horizon is where the norm first leaves [1e-3, 1e3]


@dataclass(frozen=True)
class Summary:
    """A decay curve in three numbers.

    verdict: 'vanishing', 'exploding' or 'neutral': the least-squares line through the finite
      values of log10 ||ds_T/ds_t||_2 against distance changes by more than NEUTRAL_DECADES over
      the analysed length, downwards or upwards, or it does not; a product that becomes
      exactly zero is vanishing. 'undefined' when fewer than two values are finite and none
      is -inf (all nan, say, or a single distance): no line can be fitted, and calling that
      neutral would be a claim the numbers do not make.
    rate: the fitted factor per step, 10 ** slope (1 is neutral; Pascanu et al. 2013 bound it
      by gamma ||W_hh||_2 for an RNN); 0 when the product is exactly zero, nan when the
      verdict is 'undefined'.
    horizon: the first distance at which the norm falls below 1e-3 (vanishing) or rises above
      1e3 (exploding); None when it stays inside (nan values never count as outside).
    """
    verdict: str
    rate: float
    horizon: Optional[int]


def summarize(distance, log10_norm):
    """The `Summary` of one curve: `distance` (T,) and `log10_norm` (T,), -inf and nan allowed.

    Raises ValueError when the two are not 1-D arrays of one length T >= 1.
    """
    distance, log10_norm = np.asarray(distance, float), np.asarray(log10_norm, float)
    if distance.ndim != 1 or distance.shape != log10_norm.shape or distance.size == 0:
        raise ValueError(f"distance and log10_norm must be 1-D of one length T >= 1, got shapes "
                         f"{distance.shape} and {log10_norm.shape}")
    finite = np.isfinite(log10_norm)
    if finite.sum() >= 2:
        slope = np.polyfit(distance[finite], log10_norm[finite], 1)[0]
    elif np.any(log10_norm == -np.inf):
        slope = -np.inf  # the product is exactly zero: gradients vanish at once
    else:
        return Summary(verdict="undefined", rate=float("nan"), horizon=_horizon(distance,
                                                                                 log10_norm))
    change = slope * (distance[-1] - distance[0] + 1) if np.isfinite(slope) else slope
    if change <= -NEUTRAL_DECADES or np.any(log10_norm == -np.inf):
        verdict = "vanishing"
    elif change >= NEUTRAL_DECADES:
        verdict = "exploding"
    else:
        verdict = "neutral"
    return Summary(verdict=verdict, rate=float(10.0 ** slope),
                   horizon=_horizon(distance, log10_norm))


def _horizon(distance, log10_norm):
    outside = np.flatnonzero(np.abs(log10_norm) > HORIZON_DECADES)
    return int(distance[outside[0]]) if outside.size else None


@dataclass(frozen=True)
class DecayProfile:
    """Mean and spread over samples of the log10 norms of ds_T/ds_{T-d}, d = 1..T.

    `mean` and `std` (population standard deviation, ddof = 0) map a quantity name ('spectral', 'frobenius', 'loss_gradient', and for the
    LSTM 'h_spectral', 'h_frobenius', 'c_spectral', 'c_frobenius') to arrays of shape (T,).
    `summary` is taken on the mean spectral norm; `metadata` says what made the profile.
    """
    cell: str
    distance: np.ndarray
    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]
    summary: Summary
    metadata: Mapping[str, object] = field(default_factory=dict)


def _curves(flow):
    curves = {"spectral": flow.log10_spectral_norm, "frobenius": flow.log10_frobenius_norm,
              "loss_gradient": flow.log10_loss_gradient_norm}
    for name, block in flow.blocks.items():
        curves[f"{name}_spectral"] = block.log10_spectral_norm
        curves[f"{name}_frobenius"] = block.log10_frobenius_norm
    return curves


def mean_and_spread(runs):
    """The mean and the population standard deviation (zeros for one run) over `runs`, a list
    of equally shaped arrays of log10 norms (-inf allowed: a spread with -inf is nan)."""
    stack = np.stack(runs)
    with np.errstate(invalid="ignore"):
        std = stack.std(axis=0) if len(runs) > 1 else np.zeros(stack.shape[1:])
        return stack.mean(axis=0), std


def decay_profile(network, *, loss_grad=None, progress=None):
    """The decay of ||ds_T/ds_t|| for one network, averaged over its input sequences.

    Args:
      network: a `Network` (the cell, its skip connection, its weights and inputs).
      loss_grad: (n,) dL/ds_T for the loss-gradient norms; by default (1, ..., 1) / sqrt(n).
      progress: called with the number of backward steps done, summed over samples.

    Returns:
      A `DecayProfile` whose metadata is `network.metadata()`.
    """
    built = network.build()
    done = 0
    runs = []
    for seq in built.sequences:
        tick = None if progress is None else (lambda d, base=done: progress(base + d))
        runs.append(_curves(gradient_flow(built.cell, built.params, seq, built.state0,
                                          loss_grad=loss_grad, progress=tick)))
        done += len(seq)
    mean, std = {}, {}
    for key in runs[0]:
        mean[key], std[key] = mean_and_spread([r[key] for r in runs])
    distance = np.arange(1, len(built.sequences[0]) + 1)
    return DecayProfile(cell=built.name, distance=distance, mean=mean, std=std,
                        summary=summarize(distance, mean["spectral"]),
                        metadata=network.metadata())


QUANTITIES = ("spectral", "frobenius", "loss_gradient",
              "h_spectral", "h_frobenius", "c_spectral", "c_frobenius")


def profiles_to_table(profiles):
    """A long `Table` (kind 'decay'): one row per cell and distance.

    Columns: cell, distance, then for each quantity q in QUANTITIES `log10_<q>_norm` (the mean
    over samples) and `log10_<q>_norm_std` (the spread); empty where a cell lacks the block.
    The metadata holds each cell's metadata and summary.
    """
    from ..io.results import Table

    columns = {"cell": [], "distance": []}
    for q in QUANTITIES:
        columns[f"log10_{q}_norm"] = []
    for q in QUANTITIES:
        columns[f"log10_{q}_norm_std"] = []
    for p in profiles:
        T = len(p.distance)
        columns["cell"] += [p.cell] * T
        columns["distance"] += p.distance.tolist()
        for q in QUANTITIES:
            for stat, values in (("", p.mean), ("_std", p.std)):
                col = values.get(q)
                columns[f"log10_{q}_norm{stat}"] += [None] * T if col is None else col.tolist()
    cells = {p.cell: {**p.metadata, "verdict": p.summary.verdict, "rate_per_step": p.summary.rate,
                      "horizon": p.summary.horizon} for p in profiles}
    return Table({k: np.array(v, dtype=object) if k.endswith(("norm", "std")) else np.array(v)
                  for k, v in columns.items()}, {"kind": "decay", "cells": cells})


def profiles_from_table(table):
    """The `DecayProfile`s of a decay table read back (summaries recomputed from the numbers).

    Raises ValueError naming the first required column that is missing.
    """
    for name in ("cell", "distance", "log10_spectral_norm"):
        if name not in table.columns:
            raise ValueError(f"not a decay table: no column {name!r}")
    cells_meta = table.metadata.get("cells", {}) or {}
    profiles = []
    for cell in dict.fromkeys(np.asarray(table.columns["cell"]).tolist()):
        rows = table.where("cell", cell)
        distance = np.asarray(rows.columns["distance"], dtype=int)
        mean, std = {}, {}
        for q in QUANTITIES:
            for stat, target in (("", mean), ("_std", std)):
                col = rows.columns.get(f"log10_{q}_norm{stat}")
                if col is None:
                    continue
                values = np.array([np.nan if v is None else v for v in col], dtype=float)
                if not np.all(np.isnan(values)):
                    target[q] = values
        std = {q: std.get(q, np.zeros(len(distance))) for q in mean}
        profiles.append(DecayProfile(cell=str(cell), distance=distance, mean=mean, std=std,
                                     summary=summarize(distance, mean["spectral"]),
                                     metadata=dict(cells_meta.get(str(cell), {"cell": str(cell)}))))
    return profiles
