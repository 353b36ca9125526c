"""What skip connections do to learning: a base cell, its skip variants (`gradflow.cells.skips`)
and other cells (the LSTM and GRU) trained on tasks that need memory, at several delays, with
one budget, one optimiser and the same seeds for all, each judged on held-out sequences.

Seeds. Every run of seed s draws from children of `numpy.random.SeedSequence(s)`, so that
what a run sees depends on s alone, never on which models or delays share the sweep:
child 0 the base cell's weights and the read-out (as `train(seed=s)` draws them), child 1 the
stream of training batches (as `train`), child 2 the held-out evaluation batch, child 3 the
connection's own weights (B of skip:K and dense:K are deterministic; the highway gate is drawn).
So every variant of the base cell starts from the same base weights and read-out and learns
from the same batches; only the connection differs. The other cells draw their own weights
from the same child.
"""

import math
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Optional, Sequence

import numpy as np

from .._version import __version__
from ..cells.builtin import CELLS, get_cell
from ..cells.skips import parse_skip, transform
from .evaluation import evaluate
from .flow import (FLOW_EXPONENTS, FLOW_SAMPLES, FlowRun, flow_column_names, flow_columns,
                   flow_runs_from_table)
from .loop import _check_flossing, _check_memory, _check_settings, init_model, train
from .tasks import TASKS, make_task, task_shape

__all__ = ["SOLVED", "VARIANTS", "DELAYS", "EXTRA_CELLS", "SKIP_TRAINING_TASKS",
           "SKIP_TRAINING_COLUMNS", "FINAL_LOSS_WINDOW", "Run", "SkipTraining", "AccuracyByDelay",
           "skip_training", "accuracy_by_delay", "skip_training_to_table", "skip_training_from_table"]

FLOSSED = "+floss"  # the name of a model trained with gradient flossing: 'rnn+floss'
SOLVED = 0.9  # a model solves a delay when its held-out accuracy, mean over seeds, reaches this
FINAL_LOSS_WINDOW = 10  # updates averaged into the final training loss (one batch is noisy)
VARIANTS = ("none", "residual", "skip:4", "dense:4", "highway")
# A copy sequence is T + 20 steps long with a loss at every step, so a copy run costs about
# three times a recall run of the same delay: the longest delay is spent on recall alone, which
# keeps the default sweep (147 runs) within minutes.
DELAYS = {"recall": (5, 10, 20, 40), "copy": (5, 10, 20)}
EXTRA_CELLS = ("lstm", "gru")
SKIP_TRAINING_TASKS = tuple(name for name in TASKS
                            if make_task(name, 2, 1, 0).memory_steps is not None)
SKIP_TRAINING_COLUMNS = ("model", "task", "delay", "seed", "final_loss", "eval_loss",
                         "accuracy", "chance", "baseline", "diverged", "updates")


class Run(NamedTuple):
    """One training run: `model` ('rnn', 'rnn+skip:4', 'lstm', ...), `task`, `delay` (the task's
    length parameter T), `seed`; `final_loss` (mean training loss of the last
    FINAL_LOSS_WINDOW updates), `eval_loss` and `accuracy` (on the held-out batch), `chance`
    (the accuracy of guessing), `baseline` (the memoryless loss), `diverged` (the run was
    stopped by a non-finite value or a loss above max_loss) and `updates` (the updates done)."""
    model: str
    task: str
    delay: int
    seed: int
    final_loss: float
    eval_loss: float
    accuracy: float
    chance: float
    baseline: float
    diverged: bool
    updates: int


@dataclass(frozen=True)
class SkipTraining:
    """runs: one `Run` per task, delay, model and seed, in that order; metadata: every setting
    that made them (and the gradflow version); flows: with flow checkpoints
    (`skip_training(flow_every=N)`), one `flow.FlowRun` per run, in the order of `runs` (its
    per-update training loss and its checkpoints), else None."""
    runs: Sequence[Run]
    metadata: Mapping[str, object] = field(default_factory=dict)
    flows: Optional[Sequence[FlowRun]] = None


class AccuracyByDelay(NamedTuple):
    """Held-out accuracy of every model on one task: `models` (M,), `delays` (D,); `mean`,
    `low`, `high` (M, D): the mean, smallest and largest over the seeds (nan where no run);
    `chance`; `solved` (M,): the largest delay whose mean accuracy is at least `level`, or
    None where there is none; `success` (M, D): the fraction of the seeds whose accuracy is
    at least `level` (the success rate; nan where no run)."""
    task: str
    models: tuple
    delays: tuple
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    chance: float
    solved: tuple
    level: float
    success: np.ndarray


def _distinct(what, values):
    twice = [v for i, v in enumerate(values) if v in values[:i]]
    if twice:
        raise ValueError(f"{what} {twice[0]!r} is given twice")


def _model(cell, variant, skip_scale, highway_bias):
    """(model, base): the built-in cell `cell` (a name) under the connection `variant` (None
    for none). Built from names, so that a worker process can build it again."""
    base = get_cell(cell)
    return transform(base, variant, scale=skip_scale, highway_bias=highway_bias), base


def _models(cell, variants, extra_cells, skip_scale, highway_bias, floss_variants=()):
    """[(name, cell, variant, flossed)]: the variants of `cell`, each followed by its flossed
    twin where it is in `floss_variants`, then the extra cells."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose from {', '.join(CELLS)}")
    specs = []
    for v in variants:
        if v != "none":
            parse_skip(v)
        specs.append((cell, None if v == "none" else v, False))
        if v in floss_variants:
            specs.append((cell, None if v == "none" else v, True))
    for v in floss_variants:
        if v not in variants:
            raise ValueError(f"flossed variant {v!r} is not among the variants "
                             f"({', '.join(variants) or 'none given'}): each flossed model is "
                             "compared with the same model trained without flossing")
    for name in extra_cells:
        if name not in CELLS:
            raise ValueError(f"unknown cell {name!r}; choose from {', '.join(CELLS)}")
        specs.append((name, None, False))
    if not specs:
        raise ValueError("give at least one variant or cell to train")
    models = [(_model(c, v, skip_scale, highway_bias)[0].name + (FLOSSED if f else ""), c, v, f)
              for c, v, f in specs]
    _distinct("model", [name for name, _, _, _ in models])
    return models


def _delays_by_task(tasks, delays):
    """{task: delays}: `delays` is one sequence for every task, a mapping task -> sequence
    naming exactly the tasks, or None (DELAYS)."""
    if delays is None:
        return {t: DELAYS.get(t, ()) for t in tasks}  # an unknown task is refused after
    if isinstance(delays, Mapping):
        extra = [t for t in delays if t not in tasks]
        if extra:
            raise ValueError(f"delays are given for task {extra[0]!r}, which is not trained")
        missing = [t for t in tasks if t not in delays]
        if missing:
            raise ValueError(f"no delays are given for task {missing[0]!r}")
        return {t: tuple(delays[t]) for t in tasks}
    return {t: tuple(delays) for t in tasks}


def _check(tasks, delays, seeds, models, eval_batch):
    """`delays` is {task: delays}."""
    for what, values in (("task", tasks), ("seed", seeds)):
        if not values:
            raise ValueError(f"give at least one {what}")
        _distinct(what, values)
    for task in tasks:
        if task not in SKIP_TRAINING_TASKS:
            raise ValueError(f"task {task!r} has no accuracy to compare; choose from "
                             f"{', '.join(SKIP_TRAINING_TASKS)}")
        if not delays[task]:
            raise ValueError("give at least one delay")
        _distinct("delay", delays[task])
    every_delay = [d for task in tasks for d in delays[task]]
    for name, values, low in (("delays", every_delay, 1), ("seeds", seeds, 0),
                              ("eval_batch", [eval_batch], 1)):
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be whole numbers of at least {low}, got {v!r}")
    shortest = min((task_shape(t, d)[0], t, d) for t in tasks for d in delays[t])
    for name, _, variant, _ in models:
        lag = (parse_skip(variant) or (None, None))[1]
        if lag is not None and lag > shortest[0]:
            raise ValueError(f"{name}: the lag {lag} is longer than the shortest sequence "
                             f"({shortest[1]} at delay {shortest[2]}: {shortest[0]} steps)")


def _children(seed):
    """The four streams of a seed (see the module docstring)."""
    return np.random.SeedSequence(seed).spawn(4)


def _initial_params(model, base, task, hidden, seed, init, scale, forget_bias):
    """The base cell's weights and read-out from child 0 of the seed, the connection's own
    weights from child 3 (see the module docstring)."""
    _, input_size, output_size = task_shape(task, 2)
    children = _children(seed)
    params = init_model(base, hidden, input_size, output_size, init=init, scale=scale,
                        forget_bias=forget_bias, seed=np.random.default_rng(children[0]))
    if model is not base:
        params.update(model.init_extra(params, hidden, input_size,
                                       np.random.default_rng(children[3])))
    return params


def _one_run(job):
    """Train and evaluate one model on one task, delay and seed; `job` is a dict of plain
    values (picklable: worker processes build the model again from its names). Returns a
    `Run`, and with flow checkpoints in the budget (flow_every) the pair (Run, FlowRun)."""
    model, base = _model(job["cell"], job["variant"], job["skip_scale"], job["highway_bias"])
    task, delay, seed = job["task"], job["delay"], job["seed"]
    params = _initial_params(model, base, task, job["budget"]["hidden"], seed, job["init"],
                             job["scale"], job["forget_bias"])
    flossing = job.get("floss") or {}
    result = train(model, task, steps=delay, seed=seed, params=params, **job["budget"],
                   **flossing)
    held_out = evaluate(model, result.params, task, delay, batch=job["eval_batch"],
                        seed=_children(seed)[2])
    name = model.name + (FLOSSED if flossing else "")
    run = Run(name, task, int(delay), int(seed),
              float(np.mean(result.loss[-FINAL_LOSS_WINDOW:])), held_out.loss,
              held_out.accuracy, held_out.chance, held_out.baseline, bool(result.diverged),
              len(result.loss))
    if result.flow is None:
        return run
    return run, FlowRun(name, result.loss, result.flow, float(result.baseline))


def _cost(job):
    """A run's relative cost: its sequence length, times 1.5 where every step has a loss and
    4 where it flosses at every update."""
    length = task_shape(job["task"], job["delay"])[0]
    flossing = job.get("floss") or {}
    return length * (1.5 if job["task"] == "copy" else 1.0) * \
        (4.0 if flossing.get("floss_every") == 1 else 1.0)


def _map(jobs, workers, progress):
    """[_one_run(job) for job in jobs], in `workers` processes when more than one; every run
    depends on its job alone, so the results are the same for any number of workers."""
    tick = progress or (lambda: None)
    if workers == 1 or len(jobs) == 1:
        out = []
        for job in jobs:
            out.append(_one_run(job))
            tick()
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # 'spawn', not 'fork': forking a process whose BLAS has started threads can deadlock
    # (Python 3.12 warns), and a fresh interpreter inherits the environment, hence the
    # pinned floating-point kernels of `make figures`.
    context = multiprocessing.get_context("spawn")
    # The longest runs first, so that no worker is left with a long one at the end; the cost
    # of a run grows with its sequence length, and copy reads an output at every step.
    longest_first = sorted(range(len(jobs)), key=lambda i: -_cost(jobs[i]))
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(_one_run, jobs[i]): i for i in longest_first}
        out = [None] * len(jobs)
        for future in as_completed(futures):
            out[futures[future]] = future.result()
            tick()
    return out


def skip_training(cell="rnn", *, variants=VARIANTS, extra_cells=EXTRA_CELLS,
                  tasks=("recall", "copy"), delays=None, seeds=(0, 1, 2), hidden=32,
                  batch=32, updates=300, lr=0.005, optimizer="adam", clip_threshold=1.0,
                  skip_scale=1.0, highway_bias=-1.0, forget_bias=1.0, init="gaussian",
                  scale=1.0, eval_batch=256, max_loss=1e6, workers=1, progress=None,
                  flow_every=None, flow_samples=FLOW_SAMPLES, flow_exponents=FLOW_EXPONENTS,
                  floss=None, floss_variants=("none",)):
    """Train `cell` under each skip connection of `variants`, and each of `extra_cells`, on every
    task, delay and seed with the same budget, and evaluate each on held-out sequences.

    Args:
      cell: the base cell, a name in `gradflow.cells.CELLS` ('rnn' is the tanh RNN).
      variants: connections around the base cell, each at most once: 'none' (the cell alone),
        'residual', 'skip:K', 'dense:K', 'highway' (`gradflow.cells.skips.transform`).
      extra_cells: other cells trained alongside (names in CELLS), without a connection.
      tasks: tasks with an accuracy (SKIP_TRAINING_TASKS: 'recall', 'copy').
      delays: the tasks' length parameters T, each >= 1, one sequence for every task or a
        mapping task -> sequence (default DELAYS): recall, the number of distractors between
        the token and the query (the answer is T + 1 steps back); copy, the blank steps (each
        copied token is T + 10 steps back).
      seeds: one run per seed (see the module docstring for what each seed fixes).
      hidden, batch, updates, lr, optimizer: the budget, the same for every run.
      clip_threshold: global-norm clipping at this threshold for every run, or None.
      skip_scale, highway_bias: the connections' initialisation (b of skip:K and dense:K; the
        highway gate's bias).
      forget_bias, init, scale: the cells' initialisation (`init_params`; the forget bias is
        the LSTM's forget gate and the GRU's update gate, signed to keep memory).
      eval_batch: held-out sequences per evaluation.
      max_loss: a training loss above this stops a run as diverged.
      workers: processes that train runs side by side (the results do not depend on it).
      progress: called with no argument after each run.
      flow_every, flow_samples, flow_exponents: gradient-flow checkpoints of every run (see
        `train`); they change no run's numbers.
      floss: gradient flossing, a dict of `train`'s flossing settings ('floss' = k > 0 and
        any of 'floss_weight', 'floss_every', 'prefloss'), or None (no flossing): each variant
        in `floss_variants` (which must be among `variants`) is trained a second time with
        them, as the model '<name>+floss' (for instance 'rnn+floss'), listed right after the
        same model without flossing; same weights, batches and held-out batch.

    Returns:
      A `SkipTraining`: one `Run` per task, delay, model and seed, in that order, and with
      flow_every their `flows`.

    Raises:
      ValueError (one line): an unknown variant, cell or task, a value given twice, a delay
      below 1, a lag longer than the shortest sequence, or a setting `train` refuses.
    """
    variants, extra_cells = tuple(variants), tuple(extra_cells)
    tasks, seeds = tuple(tasks), tuple(seeds)
    delays = _delays_by_task(tasks, delays)
    _distinct("variant", variants)
    _distinct("cell", extra_cells)
    flossing = _flossing(floss)
    floss_variants = tuple(floss_variants) if flossing else ()
    _distinct("flossed variant", floss_variants)
    models = _models(cell, variants, extra_cells, skip_scale, highway_bias, floss_variants)
    _check(tasks, delays, seeds, models, eval_batch)
    if clip_threshold is not None and not (clip_threshold > 0 and math.isfinite(clip_threshold)):
        raise ValueError(f"the clipping threshold must be positive and finite, got "
                         f"{clip_threshold}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1, got {workers!r}")
    budget = {"hidden": hidden, "batch": batch, "updates": updates, "lr": lr,
              "optimizer": optimizer, "max_loss": max_loss,
              "clip_mode": "none" if clip_threshold is None else "norm",
              "threshold": 1.0 if clip_threshold is None else clip_threshold}
    flow = {}
    if flow_every is not None:  # only then: the jobs of a sweep without checkpoints as before
        flow = {"flow_every": flow_every, "flow_samples": flow_samples,
                "flow_exponents": flow_exponents}
        budget.update(flow)
        if isinstance(flow_exponents, (int, np.integer)) and flow_exponents > hidden:
            raise ValueError(f"flow_exponents must be at most the state size, here at least "
                             f"hidden = {hidden}, got {flow_exponents}")
    common = {"skip_scale": skip_scale, "highway_bias": highway_bias, "init": init,
              "scale": scale, "forget_bias": forget_bias, "eval_batch": eval_batch,
              "budget": budget}
    _check_settings(clip_mode=budget["clip_mode"], optimizer=optimizer, task=tasks[0],
                    hidden=hidden, batch=batch, updates=updates, lr=lr,
                    threshold=budget["threshold"], truncation=None, scale=scale,
                    forget_bias=forget_bias, max_loss=max_loss, **flow)
    for model_name, name, variant, flossed in models:
        model = _model(name, variant, skip_scale, highway_bias)[0]
        if flossed and flossing["floss"] > model.state_blocks * hidden:
            raise ValueError(f"{model_name}: floss must be at most its state size "
                             f"{model.state_blocks * hidden}, got {flossing['floss']}")
        for task in tasks:  # refusals now, not in the middle of the sweep
            _check_memory(model, task, max(delays[task]), hidden, batch, None)
    jobs = [{"cell": name, "variant": variant, "task": task, "delay": int(delay),
             "seed": int(seed), **common, **({"floss": flossing} if flossed else {})}
            for task in tasks for delay in delays[task] for _, name, variant, flossed in models
            for seed in seeds]
    runs = _map(jobs, int(workers), progress)
    flows = None
    if flow:
        runs, flows = [r for r, _ in runs], tuple(f for _, f in runs)
    metadata = {"cell": cell if variants else None, "variants": list(variants),
                "extra_cells": list(extra_cells), "models": [m[0] for m in models],
                "tasks": list(tasks),
                "delays": {t: [int(d) for d in delays[t]] for t in tasks},
                "seeds": [int(s) for s in seeds], "hidden": hidden, "batch": batch,
                "updates": updates, "lr": lr, "optimizer": optimizer,
                "clip_threshold": clip_threshold, "skip_scale": skip_scale,
                "highway_bias": highway_bias, "forget_bias": forget_bias, "init": init,
                "scale": scale, "eval_batch": eval_batch, "max_loss": max_loss,
                "final_loss_window": FINAL_LOSS_WINDOW, "solved_level": SOLVED,
                **flow, "gradflow_version": __version__}
    if flossing:
        metadata.update(floss_variants=list(floss_variants), **flossing)
    return SkipTraining(tuple(runs), metadata, flows)


def _flossing(floss):
    """The flossing settings of `train` (all four keys) from the `floss` argument, {} for
    None; ValueError (one line) for an unknown key or a setting `train` refuses."""
    if floss is None:
        return {}
    if not isinstance(floss, Mapping) or "floss" not in floss:
        raise ValueError(f"floss must be None or a dict with the key 'floss' (k > 0), got "
                         f"{floss!r}")
    settings = {"floss": floss["floss"], "floss_weight": 1.0, "floss_every": 1, "prefloss": 0}
    unknown = [k for k in floss if k not in settings]
    if unknown:
        raise ValueError(f"unknown flossing setting {unknown[0]!r}; choose from "
                         f"{', '.join(settings)}")
    settings.update(floss)
    if isinstance(settings["floss"], bool) or not isinstance(settings["floss"], (int, np.integer)) \
            or settings["floss"] < 1:
        raise ValueError(f"floss must be a whole number of at least 1, got "
                         f"{settings['floss']!r}")
    _check_flossing(**settings)
    return settings


def accuracy_by_delay(result, task, level=SOLVED):
    """The held-out accuracy of every model of `result` on `task` against the delay (mean,
    smallest and largest over the seeds) and the largest delay each model solves (mean accuracy
    >= `level`). Models and delays in the order of their first run."""
    runs = [r for r in result.runs if r.task == task]
    if not runs:
        raise ValueError(f"no runs on task {task!r}")
    models = tuple(dict.fromkeys(r.model for r in runs))
    delays = tuple(sorted({r.delay for r in runs}))
    mean, low, high, success = (np.full((len(models), len(delays)), np.nan) for _ in range(4))
    for i, model in enumerate(models):
        for j, delay in enumerate(delays):
            acc = [r.accuracy for r in runs if r.model == model and r.delay == delay]
            if acc:
                mean[i, j], low[i, j], high[i, j] = np.mean(acc), np.min(acc), np.max(acc)
                success[i, j] = np.mean(np.asarray(acc) >= level)
    solved = tuple(max((d for d, m in zip(delays, row) if m >= level), default=None)
                   for row in mean)
    return AccuracyByDelay(task, models, delays, mean, low, high, float(runs[0].chance),
                           solved, level, success)


def skip_training_to_table(result):
    """A long `Table` (kind 'skip_training', or 'flossing' for a `flossing_ablation`'s, whose
    metadata say `ablation: flossing`): one row per run, columns SKIP_TRAINING_COLUMNS
    (diverged 1 or 0); the metadata holds every setting and, per task, the largest delay each
    model solves.

    With flow checkpoints (`result.flows`), one row per run and update u = 0..U instead: the
    run's columns repeated, `update`, `loss` (the mini-batch loss before update u, empty at
    u = 0) and the flow columns (`flow.flow_column_names`), filled where a checkpoint was taken
    of the weights after u updates and empty elsewhere.
    """
    from ..io.results import Table

    types = {"model": str, "task": str, "delay": int, "seed": int, "diverged": int,
             "updates": int}
    tasks = list(dict.fromkeys(r.task for r in result.runs))
    solved = {}
    for task in tasks:
        summary = accuracy_by_delay(result, task)
        solved[task] = dict(zip(summary.models, summary.solved))
    kind = "flossing" if result.metadata.get("ablation") == "flossing" else "skip_training"
    meta = {**result.metadata, "kind": kind, "largest_solved": solved}
    if result.flows is None:
        columns = {name: np.array([getattr(r, name) for r in result.runs],
                                  dtype=types.get(name, float))
                   for name in SKIP_TRAINING_COLUMNS}
        return Table(columns, meta)
    exponents = result.flows[0].flow.lyapunov.shape[1]
    names = SKIP_TRAINING_COLUMNS + ("update", "loss") + flow_column_names(exponents)
    columns = {name: [] for name in names}
    for run, history in zip(result.runs, result.flows):
        rows = len(history.loss) + 1
        for name in SKIP_TRAINING_COLUMNS:
            columns[name] += [getattr(run, name)] * rows
        columns["update"] += list(range(rows))
        columns["loss"] += [None] + [float(v) for v in history.loss]
        for name, values in flow_columns(history.flow, range(rows), exponents).items():
            columns[name] += values
    types["update"] = int
    return Table({k: np.array(v, dtype=types.get(k, float if k in SKIP_TRAINING_COLUMNS
                                                  else object))
                  for k, v in columns.items()}, meta)


def skip_training_from_table(table):
    """The `SkipTraining` of a table written by `skip_training_to_table` (or its CSV, which
    has no metadata); with flow columns also its `flows`. Raises ValueError naming the first
    missing column."""
    for name in SKIP_TRAINING_COLUMNS:
        if name not in table.columns:
            raise ValueError(f"not a skip-training table: no column {name!r}")
    col = {k: np.asarray(table.columns[k]) for k in SKIP_TRAINING_COLUMNS}
    keys = list(zip(*(col[k].tolist() for k in ("model", "task", "delay", "seed"))))
    rows_of = {}  # a run's rows: one, or with flow columns one per update
    for i, key in enumerate(keys):
        rows_of.setdefault(key if "update" in table.columns else i, []).append(i)
    first = [rows[0] for rows in rows_of.values()]
    runs = tuple(Run(str(col["model"][i]), str(col["task"][i]), int(col["delay"][i]),
                     int(col["seed"][i]), float(col["final_loss"][i]),
                     float(col["eval_loss"][i]), float(col["accuracy"][i]),
                     float(col["chance"][i]), float(col["baseline"][i]),
                     bool(int(col["diverged"][i])), int(col["updates"][i]))
                 for i in first)
    meta = {k: v for k, v in table.metadata.items() if k not in ("kind", "largest_solved")}
    flows = None
    if "verdict" in table.columns and "update" in table.columns:
        flows = tuple(flow_runs_from_table(table, ("model", "task", "delay", "seed"),
                                           label=lambda row: str(row["model"])))
    return SkipTraining(runs, meta, flows)
