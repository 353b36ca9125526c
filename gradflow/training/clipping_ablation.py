"""The clipping ablation: one cell trained on one task from one seed under each clipping mode
and threshold (`clipping_ablation`), its summary rows (`summarize`) and its records as a
results table and back (`ablation_to_table`, `ablation_from_table`)."""

import math
from typing import NamedTuple

import numpy as np

from .clipping import CLIP_MODES
from .flossing import Preflossing
from .flow import flow_column_names, flow_columns, flow_from_columns
from .loop import TrainingResult, train

__all__ = ["Summary", "summarize", "clipping_ablation", "ABLATION_COLUMNS", "ablation_to_table",
           "ablation_from_table"]


class Summary(NamedTuple):
    """One row of the ablation table."""
    mode: str
    threshold: float
    final_loss: float
    best_loss: float
    above_threshold: int
    clipped: int
    diverged: bool
    updates: int
    largest_grad_norm: float


def summarize(result, window=10):
    """Final loss (mean over the last `window` updates, since one mini-batch is noisy), best loss,
    updates with ||g|| > threshold before clipping (nonfinite norms count), clipped updates,
    whether the run diverged and after how many updates it stopped, and the largest finite
    gradient norm before clipping (nan if there is none)."""
    finite = result.loss[np.isfinite(result.loss)]
    norms = result.grad_norm_before[np.isfinite(result.grad_norm_before)]
    threshold = result.metadata["threshold"]
    with np.errstate(invalid="ignore"):
        above = int(np.sum(result.grad_norm_before > threshold) + np.sum(result.nonfinite))
    return Summary(result.metadata["clip_mode"], threshold,
                   float(np.mean(result.loss[-window:])),
                   float(finite.min()) if finite.size else float("nan"), above,
                   int(np.sum(result.clipped)), bool(result.diverged), len(result.loss),
                   float(norms.max()) if norms.size else float("nan"))


def clipping_ablation(cell, task, *, thresholds=(1.0,), modes=CLIP_MODES, **train_kws):
    """One `train` run per clipping mode and threshold, same cell, task and seed.

    'none' runs once, with threshold = thresholds[0] kept only as the reference at which
    `summarize` counts updates whose gradient norm exceeds it. Returns a tuple of TrainingResult,
    in the order of `modes`, then of `thresholds`.
    """
    modes, thresholds = tuple(modes), tuple(thresholds)
    if not thresholds:
        raise ValueError("give at least one threshold")
    if not modes:
        raise ValueError("give at least one clipping mode")
    for t in thresholds:
        if not (t > 0 and math.isfinite(t)):
            raise ValueError(f"thresholds must be positive and finite, got {t}")
    for what, values in (("clipping mode", modes), ("threshold", thresholds)):
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise ValueError(f"{what} {twice[0]!r} is given twice; every run must differ")
    unknown = [m for m in modes if m not in CLIP_MODES]
    if unknown:
        raise ValueError(f"unknown clipping mode {unknown[0]!r}; choose from "
                         f"{', '.join(CLIP_MODES)}")
    runs = []
    for mode in modes:
        for t in (thresholds[:1] if mode == "none" else thresholds):
            runs.append(train(cell, task, clip_mode=mode, threshold=t, **train_kws))
    return tuple(runs)


ABLATION_COLUMNS = ("mode", "threshold", "update", "loss", "grad_norm_before", "grad_norm_after",
                    "clipped", "nonfinite")


def ablation_to_table(results, window=10):
    """A long `Table` (kind 'clipping'): one row per run and update.

    Columns ABLATION_COLUMNS: the clipping mode and threshold of the run, the update (1-based),
    the mini-batch loss before it, the global gradient norm before and after clipping (nan where
    not finite), clipped and nonfinite (1 or 0). The metadata holds what made the runs (the
    first run's metadata without its mode and threshold), the memoryless `baseline` loss, the
    `final_loss_window` and `summary`: one `summarize(run, window)` dict per run, in order.

    When the runs flossed (`train(floss=k)`), a column `flossing_loss` follows: the run's
    `flossing_loss` record (nan where an update did not floss), and with preflossing the
    metadata hold `prefloss_loss`, the first run's `prefloss.loss` (every run of an ablation
    preflosses alike: same weights, sequences and optimizer, no clipping).
    When the runs carry flow checkpoints (`train(flow_every=N)`), the flow columns follow
    (`flow.flow_column_names`), filled on the row of `update` u with the checkpoint of the
    weights after u updates and empty elsewhere, and every run has a row at update 0 (its
    initial weights), whose training columns are empty.
    """
    from ..io.results import Table

    flows = [r.flow for r in results if r.flow is not None]
    exponents = flows[0].lyapunov.shape[1] if flows else 0
    flossed = any(r.metadata.get("floss") for r in results)
    names = ABLATION_COLUMNS + (("flossing_loss",) if flossed else ()) + \
        (flow_column_names(exponents) if flows else ())
    columns = {name: [] for name in names}
    for r in results:
        n = len(r.loss)
        first = 0 if flows else 1
        columns["mode"] += [r.metadata["clip_mode"]] * (n + 1 - first)
        columns["threshold"] += [float(r.metadata["threshold"])] * (n + 1 - first)
        columns["update"] += list(range(first, n + 1))
        empty = [None] * (1 - first)  # the initial weights have no training record
        columns["loss"] += empty + [float(v) for v in r.loss]
        columns["grad_norm_before"] += empty + [float(v) for v in r.grad_norm_before]
        columns["grad_norm_after"] += empty + [float(v) for v in r.grad_norm_after]
        columns["clipped"] += empty + [int(v) for v in r.clipped]
        columns["nonfinite"] += empty + [int(v) for v in r.nonfinite]
        if flossed:
            record = r.flossing_loss if r.flossing_loss is not None else np.full(n, np.nan)
            columns["flossing_loss"] += empty + [float(v) for v in record]
        if flows:
            for name, values in flow_columns(r.flow, range(n + 1), exponents).items():
                columns[name] += values
    meta = {k: v for k, v in results[0].metadata.items() if k not in ("clip_mode", "threshold")}
    meta.update(kind="clipping", baseline=float(results[0].baseline), final_loss_window=window,
                summary=[summarize(r, window)._asdict() for r in results])
    if results[0].prefloss is not None:
        meta["prefloss_loss"] = [float(v) for v in results[0].prefloss.loss]
    types = {"mode": str, "threshold": float, "update": int}
    if not flows:
        types.update(clipped=int, nonfinite=int)
    # the other columns: float, or with checkpoints object (None: an empty field, the training
    # columns at update 0 and the flow columns between checkpoints)
    return Table({k: np.array(v, dtype=types.get(k, object if flows else float))
                  for k, v in columns.items()}, meta)


def ablation_from_table(table):
    """The runs of a table written by `ablation_to_table` (or its CSV), in the order of the rows.

    The results carry the loss and gradient-norm records, `diverged`, `baseline`, metadata,
    the flossing-loss record (all nan without its column) and the preflossing losses (from the
    metadata; `prefloss.params` empty), not the trained parameters (`params` is empty). A CSV
    has no metadata: `baseline` is then nan, and a run counts as diverged when it has a
    nonfinite record or stopped before the longest run. Raises ValueError (one line) for a table that lacks a column.
    """
    missing = [c for c in ABLATION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"not a clipping ablation: no column {missing[0]!r}")
    modes, thresholds = np.asarray(table.columns["mode"]), np.asarray(table.columns["threshold"],
                                                                        dtype=float)
    runs = list(dict.fromkeys(zip(modes.tolist(), thresholds.tolist())))
    meta = {k: v for k, v in table.metadata.items()
            if k not in ("kind", "summary", "baseline", "final_loss_window", "prefloss_loss")}
    pre = table.metadata.get("prefloss_loss")
    pre = None if pre is None else Preflossing({}, np.array(pre, dtype=float))
    summaries = table.metadata.get("summary") or []
    trained = np.asarray(table.columns["update"], dtype=int) >= 1  # row 0: the initial weights
    longest = max((int(np.sum((modes == m) & (thresholds == t) & trained)) for m, t in runs),
                  default=0)
    out = []
    for i, (mode, threshold) in enumerate(runs):
        rows = (modes == mode) & (thresholds == threshold)
        flow = (flow_from_columns({k: np.asarray(v)[rows] for k, v in table.columns.items()})
                if "verdict" in table.columns else None)
        col = {k: np.asarray(v)[rows & trained] for k, v in table.columns.items()}
        order = np.argsort(np.asarray(col["update"], dtype=int), kind="stable")
        col = {k: v[order] for k, v in col.items()}
        nonfinite = np.asarray(col["nonfinite"], dtype=float).astype(bool)
        if i < len(summaries):
            diverged = bool(summaries[i]["diverged"])
        else:
            diverged = bool(nonfinite.any() or len(order) < longest)
        out.append(TrainingResult(
            np.asarray(col["loss"], dtype=float), np.asarray(col["grad_norm_before"], dtype=float),
            np.asarray(col["grad_norm_after"], dtype=float),
            np.asarray(col["clipped"], dtype=float).astype(bool), nonfinite, diverged, {},
            float(table.metadata.get("baseline", np.nan)),
            {**meta, "clip_mode": str(mode), "threshold": float(threshold)}, flow,
            np.asarray(col.get("flossing_loss", np.full(len(order), np.nan)), dtype=float),
            pre))
    return tuple(out)
