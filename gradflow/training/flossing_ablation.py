"""What gradient flossing does to learning: one cell trained with and without flossing
(`flossing`, Engelken 2023) on a task that needs memory, at several delays, from the same
seeds with one budget, beside reference models (the cell's skip variants, the LSTM, the GRU)
trained without it; each judged on held-out sequences, with its gradient flow measured before
and after training.

It is the skip-connection comparison (`skip_training`) with a flossed twin of the cell: the
twin starts from the same weights, learns from the same batches and is judged on the same
held-out batch, so flossing is the only difference. Flow checkpoints are taken before the
first update and after the last (or every `flow_every` updates), on held-out sequences drawn
from child 4 of the seed, which no run learns from.
"""

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .flow import FLOW_EXPONENTS, FLOW_SAMPLES
from .skip_training import skip_training

__all__ = ["FLOSS_DELAYS", "FLOSS_SEEDS", "FLOSS_K", "FLOSS_REFERENCES", "FLOSS_EXTRA_CELLS",
           "FLOW_QUANTITIES", "flossing_ablation", "FlowByDelay", "flow_by_delay"]

FLOSS_DELAYS = (10, 20, 40, 60)
FLOSS_SEEDS = (0, 1, 2, 3, 4)
FLOSS_K = 8                     # leading exponents flossed
FLOSS_REFERENCES = ("skip:4",)  # variants of the cell trained without flossing
FLOSS_EXTRA_CELLS = ("lstm", "gru")
# What `flow_by_delay` reads from a checkpoint: the leading Lyapunov exponent (log10 per step)
# and the mean log10 ||ds_L/ds_{L-d}||_2 at the task's delay d.
FLOW_QUANTITIES = ("lyapunov_1", "log10_norm_delay")


def flossing_ablation(cell="rnn", *, floss=FLOSS_K, floss_weight=1.0, floss_every=1,
                      prefloss=0, references=FLOSS_REFERENCES, extra_cells=FLOSS_EXTRA_CELLS,
                      tasks=("recall",), delays=FLOSS_DELAYS, seeds=FLOSS_SEEDS, hidden=32,
                      batch=32, updates=300, lr=0.005, optimizer="adam", clip_threshold=1.0,
                      skip_scale=1.0, highway_bias=-1.0, forget_bias=1.0, init="gaussian",
                      scale=1.0, eval_batch=256, max_loss=1e6, workers=1, progress=None,
                      flow_every=None, flow_samples=FLOW_SAMPLES,
                      flow_exponents=FLOW_EXPONENTS):
    """Train `cell` with and without gradient flossing, and the reference models without it,
    on every task, delay and seed with one budget; judge each on held-out sequences.

    Args:
      cell: the cell flossed, a name in `gradflow.cells.CELLS` ('rnn' is the tanh RNN).
      floss, floss_weight, floss_every, prefloss: the flossing of the twin, as `train` takes
        them (k >= 1 leading exponents; the weight; every M updates, or None for only before
        training; N preflossing updates).
      references: connections around `cell` trained without flossing ('skip:4', 'residual',
        ...; `gradflow.cells.skips.transform`); () for none.
      extra_cells: other cells trained without flossing.
      tasks, delays, seeds, hidden, batch, updates, lr, optimizer, clip_threshold,
      skip_scale, highway_bias, forget_bias, init, scale, eval_batch, max_loss, workers,
      progress: as for `skip_training`.
      flow_every: flow checkpoints every N updates; None (the default) takes them before the
        first update and after the last only. flow_samples, flow_exponents: as for `train`.

    Returns:
      A `skip_training.SkipTraining` with its `flows`: the models are `cell`, `cell`+floss
      (for instance 'rnn+floss'), the references and the extra cells, in that order;
      its metadata say `ablation: flossing` and hold the flossing settings.
    """
    if "none" in references:
        raise ValueError("references are connections around the cell ('skip:4', ...): the "
                         "cell alone is trained already, with and without flossing")
    result = skip_training(
        cell, variants=("none",) + tuple(references), extra_cells=extra_cells, tasks=tasks,
        delays=delays, seeds=seeds, hidden=hidden, batch=batch, updates=updates, lr=lr,
        optimizer=optimizer, clip_threshold=clip_threshold, skip_scale=skip_scale,
        highway_bias=highway_bias, forget_bias=forget_bias, init=init, scale=scale,
        eval_batch=eval_batch, max_loss=max_loss, workers=workers, progress=progress,
        flow_every=updates if flow_every is None else flow_every, flow_samples=flow_samples,
        flow_exponents=flow_exponents, floss_variants=("none",),
        floss={"floss": floss, "floss_weight": floss_weight, "floss_every": floss_every,
               "prefloss": prefloss})
    return replace(result, metadata={**result.metadata, "ablation": "flossing"})


class FlowByDelay(NamedTuple):
    """One checkpoint quantity of every model on one task against the delay: `models` (M,),
    `delays` (D,); `mean`, `low`, `high` (M, D) over the seeds (nan where no run or the
    quantity is nan); `quantity` (one of FLOW_QUANTITIES); `when` ('start' or 'end')."""
    task: str
    models: tuple
    delays: tuple
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    quantity: str
    when: str


def flow_by_delay(result, task, quantity="lyapunov_1", when="end"):
    """`quantity` (FLOW_QUANTITIES) at the first (`when`='start') or the last ('end')
    checkpoint of every run of `result` (a `SkipTraining` with flows) on `task`: mean,
    smallest and largest over the seeds, per model and delay."""
    if result.flows is None:
        raise ValueError("the runs have no flow checkpoints (train with flow_every)")
    if quantity not in FLOW_QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; choose from "
                         f"{', '.join(FLOW_QUANTITIES)}")
    if when not in ("start", "end"):
        raise ValueError(f"when must be 'start' or 'end', got {when!r}")
    pairs = [(r, f.flow) for r, f in zip(result.runs, result.flows) if r.task == task]
    if not pairs:
        raise ValueError(f"no runs on task {task!r}")
    models = tuple(dict.fromkeys(r.model for r, _ in pairs))
    delays = tuple(sorted({r.delay for r, _ in pairs}))
    index = 0 if when == "start" else -1

    def value(flow):
        return float(flow.lyapunov[index, 0] if quantity == "lyapunov_1"
                     else flow.log10_norms[index, -1])

    mean, low, high = (np.full((len(models), len(delays)), np.nan) for _ in range(3))
    for i, model in enumerate(models):
        for j, delay in enumerate(delays):
            v = np.array([value(f) for r, f in pairs if r.model == model and r.delay == delay])
            v = v[np.isfinite(v)]
            if v.size:
                mean[i, j], low[i, j], high[i, j] = v.mean(), v.min(), v.max()
    return FlowByDelay(task, models, delays, mean, low, high, quantity, when)
