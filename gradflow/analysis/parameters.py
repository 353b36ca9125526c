"""Parameter sensitivity of one network, averaged over its input sequences: the curse of memory.

`parameter_sensitivity` runs `gradflow.engine.parameters.parameter_flow` on each input sequence
of a `Network` and returns, for every distance d = T - t, the mean and spread over the samples
of log10 ||C_d||_F, C_d = (ds_T/ds_t)(df/dtheta at step t) the contribution of step t to
ds_T/dtheta, and of the total log10 ||ds_T/dtheta||_F, for the selected parameters together and
for each on its own. Beside the mean of the logs it keeps the root mean square over samples
(log10 sqrt(mean ||.||_F^2)), the quantity of Zucchet & Orvieto's closed forms: for the scalar
recurrence h_t = lambda h_{t-1} + x_t driven by white unit-variance noise,
E[(dh_T/dlambda)^2] -> (1 + lambda^2) / (1 - lambda^2)^3.

References:
  Zucchet & Orvieto (2024), Recurrent neural networks: vanishing and exploding gradients are
  not the end of the story. NeurIPS.
"""

from dataclasses import dataclass, field
from typing import Mapping, Tuple

import numpy as np

from ..engine.parameters import parameter_flow
from .decay import mean_and_spread

__all__ = ["ParameterSensitivity", "parameter_sensitivity", "log10_rms",
           "parameter_sensitivity_to_table"]


def log10_rms(log10_values, axis=0):
    """log10 of the root mean square of the values 10**log10_values along `axis`, without
    leaving the log scale (-inf entries count as zeros)."""
    v = np.asarray(log10_values, dtype=float)
    top = np.max(v, axis=axis, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.mean(10.0 ** (2 * (v - safe)), axis=axis, keepdims=True)
        out = safe + 0.5 * np.log10(mean)
    out = np.where(top == -np.inf, -np.inf, out)
    return np.squeeze(out, axis=axis)


@dataclass(frozen=True)
class ParameterSensitivity:
    """ds_T/dtheta of one network over its input sequences.

    `groups` are the parameter names theta; `labels` the curves: first all the groups together
    ('+'-joined names), then, when there are several, each group alone. `distance` (T,) is
    d = 0..T-1. `mean`, `std` (population, ddof 0) and `rms` map a label to arrays (T,) of the
    mean, spread and root mean square over samples of log10 ||C_d||_F (rms: log10 of the root
    mean square of the norms). `total` maps a label to the (samples,) values of
    log10 ||ds_T/dtheta||_F, one per input sequence; `total_spectral` (samples,) the spectral
    norm of the whole. `metadata` says what made it (the network's, and 'wrt').
    """
    cell: str
    groups: Tuple[str, ...]
    labels: Tuple[str, ...]
    distance: np.ndarray
    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]
    rms: Mapping[str, np.ndarray]
    total: Mapping[str, np.ndarray]
    total_spectral: np.ndarray
    metadata: Mapping[str, object] = field(default_factory=dict)


def parameter_sensitivity(network, *, wrt=None, progress=None):
    """ds_T/dtheta and its contributions per distance for one network, over its sequences.

    Args:
      network: a `Network` that runs forwards in time (any cell, skip connections and stacks
        included; user cells with their `params` and `state0`).
      wrt: the parameters theta: None or 'recurrent' (the default, see
        `gradflow.engine.parameters.recurrent_parameters`), 'all', or parameter names.
      progress: called with the number of steps done, summed over samples.

    Returns:
      A `ParameterSensitivity`.
    """
    built = network.build()
    runs, done = [], 0
    for seq in built.sequences:
        tick = None if progress is None else (lambda d, base=done: progress(base + d))
        runs.append(parameter_flow(built.cell, built.params, seq, built.state0, wrt=wrt,
                                   progress=tick))
        done += len(seq)
    groups = runs[0].groups
    whole = "+".join(groups)
    labels = (whole,) + (groups if len(groups) > 1 else ())

    def curve(flow, label):
        return flow.log10_frobenius_norm if label == whole else flow.group_norms[label]

    def total(flow, label):
        return flow.log10_total_frobenius_norm if label == whole else flow.group_totals[label]

    mean, std, rms, totals = {}, {}, {}, {}
    for label in labels:
        curves = [curve(f, label) for f in runs]
        mean[label], std[label] = mean_and_spread(curves)
        rms[label] = log10_rms(np.stack(curves))
        totals[label] = np.array([total(f, label) for f in runs])
    meta = {**network.metadata(), "wrt": list(groups)}
    return ParameterSensitivity(cell=built.name, groups=groups, labels=labels,
                                distance=runs[0].distance, mean=mean, std=std, rms=rms,
                                total=totals,
                                total_spectral=np.array([f.log10_total_spectral_norm
                                                         for f in runs]),
                                metadata=meta)


def parameter_sensitivity_to_table(results):
    """A long `Table` (kind 'parameter_sensitivity') of `ParameterSensitivity` results.

    One row per cell, label (`group`: the parameters together, '+'-joined, then each alone
    when there are several) and distance (`term` 'contribution'), then one row per cell and
    label with the total ds_T/dtheta (`term` 'total', `distance` empty). Columns: cell, group,
    term, distance, log10_frobenius_norm and log10_frobenius_norm_std (mean and spread over
    samples of the log10 norms), log10_rms_frobenius_norm (log10 of the root mean square
    over samples), log10_spectral_norm and its _std (the total of all the groups only; empty
    elsewhere). The metadata holds each cell's metadata.
    """
    from ..io.results import Table

    names = ("cell", "group", "term", "distance", "log10_frobenius_norm",
             "log10_frobenius_norm_std", "log10_rms_frobenius_norm", "log10_spectral_norm",
             "log10_spectral_norm_std")
    columns = {name: [] for name in names}

    def add(*row):
        for name, value in zip(names, row):
            columns[name].append(value)

    for r in results:
        for label in r.labels:
            for d in r.distance:
                add(r.cell, label, "contribution", int(d), float(r.mean[label][d]),
                    float(r.std[label][d]), float(r.rms[label][d]), None, None)
        for label in r.labels:
            mean, std = (float(v[0]) for v in mean_and_spread(list(r.total[label][:, None])))
            spec = (None, None)
            if label == r.labels[0]:
                spec = tuple(float(v[0])
                             for v in mean_and_spread(list(r.total_spectral[:, None])))
            add(r.cell, label, "total", None, mean, std, float(log10_rms(r.total[label])),
                *spec)
    cells = {r.cell: dict(r.metadata) for r in results}
    return Table({k: np.array(v, dtype=object) for k, v in columns.items()},
                 {"kind": "parameter_sensitivity", "cells": cells})
