"""Gradient flow while a network learns: checkpoints of the flow taken during `train`.

A checkpoint measures the current weights on a fixed held-out set of input sequences drawn from
the task (the same sequences at every checkpoint, never trained on), with the engine's and the
analyses' own functions, so that a checkpoint is what `gradflow jacobians` and `gradflow
lyapunov` would report for those weights and inputs:

- the decay profile's summary (`gradflow.analysis.decay.summarize` on the mean over the
  sequences of log10 ||ds_L/ds_{L-d}||_2, d = 1..L, from `gradient_flow`): verdict, factor per
  step and horizon;
- that mean log10 norm at the distances 1, 10 and the task's delay (`tasks.memory_distance`:
  how far back the last answer's input lies; nan at a distance beyond the sequence);
- the leading k Lyapunov exponents (`lyapunov_spectrum` with its default frame, no burn-in:
  finite-time exponents of the held-out sequences), mean over the sequences, in log10 per step
  (the unit of the norms: log10 of the factor per step);
- where the cell has gates, their mean over units, steps and sequences: the LSTM's forget gate,
  the GRU's keep fraction (`gradflow.analysis.gates.gate_values`), and a highway connection's
  carry 1 - g.

Seeds. The held-out sequences are `make_task(task, steps, samples, default_rng(child 4 of
SeedSequence(seed)))`: `train` draws from children 0 (weights) and 1 (batches) and, when it
flosses, 5, the skip-connection comparison also from 2 (evaluation) and 3 (the connection's
weights), so the checkpoints take nothing from any stream a run learns from: a run's losses are
the same bit for bit with and without them.
"""

import math
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Optional

import numpy as np

from ..analysis.decay import mean_and_spread, summarize
from ..analysis.gates import KEEP_GATE, gate_values
from ..cells.ops import sigmoid
from ..engine.jacobians import gradient_flow, lyapunov_spectrum
from .tasks import make_task, memory_distance

__all__ = ["FLOW_SAMPLES", "FLOW_EXPONENTS", "FLOW_SEED_CHILD", "FIXED_DISTANCES", "GATES",
           "FlowPoint", "FlowRecord", "FlowRun", "flow_sequences", "flow_checkpoint",
           "highway_carry", "flow_columns", "flow_column_names", "flow_from_columns",
           "flow_runs_from_table", "flow_runs_to_table", "checkpoint_updates", "Recorder"]

FLOW_SAMPLES = 4      # held-out sequences per checkpoint (the cost grows with them)
FLOW_EXPONENTS = 3    # leading Lyapunov exponents recorded
FLOW_SEED_CHILD = 4   # the child of SeedSequence(seed) that draws the held-out sequences
FIXED_DISTANCES = (1, 10)  # besides the task's delay
# The gate statistics, by column: the LSTM's forget gate, the GRU's keep fraction (1 - z in
# Cho's form, z in PyTorch's), a highway connection's carry 1 - g.
GATES = {"forget": "forget_gate_mean", "keep": "keep_fraction_mean",
         "carry": "highway_carry_mean"}
_LN10 = math.log(10.0)


class FlowPoint(NamedTuple):
    """One checkpoint. verdict, rate (factor per step) and horizon (None: the norm stays in
    [1e-3, 1e3]) as `analysis.decay.Summary`; log10_norms (len(distances),); lyapunov (k,)
    log10 per step, descending; gates {name: mean} for the names of GATES the cell has."""
    verdict: str
    rate: float
    horizon: Optional[int]
    log10_norms: np.ndarray
    lyapunov: np.ndarray
    gates: Mapping[str, float]


@dataclass(frozen=True, eq=False)
class FlowRecord:
    """The checkpoints of one run, C of them, in the order taken.

    update (C,) the number of updates done (0: the initial weights); verdict (C,) str; rate
    (C,); horizon (C,) float, nan where the norm stays in [1e-3, 1e3] over the whole sequence;
    distances (3,) = (1, 10, delay); log10_norms (C, 3) at those distances (nan beyond the
    sequence); lyapunov (C, k) log10 per step; gates {name: (C,)} for the gates the cell has;
    length L of the held-out sequences; delay, the task's delay as a distance.
    """
    update: np.ndarray
    verdict: np.ndarray
    rate: np.ndarray
    horizon: np.ndarray
    distances: np.ndarray
    log10_norms: np.ndarray
    lyapunov: np.ndarray
    gates: Mapping[str, np.ndarray] = field(default_factory=dict)
    length: int = 0
    delay: int = 0

    def __len__(self):
        return len(self.update)


class FlowRun(NamedTuple):
    """What the training-flow figure draws of one run: its `label`, `loss` (U,) the mini-batch
    loss before updates 1..U, its `flow` record and the task's memoryless `baseline` (nan when
    unknown)."""
    label: str
    loss: np.ndarray
    flow: FlowRecord
    baseline: float


def flow_sequences(task, steps, seed, samples=FLOW_SAMPLES):
    """The held-out sequences of a run with seed `seed`: (samples, L, D), drawn by
    `make_task` from child FLOW_SEED_CHILD of SeedSequence(seed)."""
    child = np.random.SeedSequence(seed).spawn(FLOW_SEED_CHILD + 1)[FLOW_SEED_CHILD]
    inputs = make_task(task, steps, samples, np.random.default_rng(child)).inputs
    return np.ascontiguousarray(np.moveaxis(inputs, 1, 0))


def highway_carry(params, states, inputs, names=None):
    """The carry 1 - g of a highway connection at every step, (T, n): row t-1 from s_{t-1}
    (`states` (T+1, n), the network's own states) and x_t (`inputs` (T, D)), with
    g = sigmoid(W_g s_{t-1} + U_g x_t + b_g) as in `gradflow.cells.skips.highway`. `names`:
    the highway cell's `param_names` (by default the outermost connection's names)."""
    names = names or {role: role for role in ("highway_weight_hh", "highway_weight_ih",
                                              "highway_bias")}
    prev = np.asarray(states)[:-1]
    pre = prev @ params[names["highway_weight_hh"]].T + params[names["highway_bias"]]
    if names["highway_weight_ih"] in params:
        pre = pre + np.asarray(inputs, dtype=float) @ params[names["highway_weight_ih"]].T
    return 1.0 - sigmoid(pre)


def _gates_of(cell):
    """(base cell name with a gate in KEEP_GATE or None, whether a highway wraps it)."""
    highway = getattr(cell, "connection", None) == "highway"
    base = getattr(cell, "base", cell)
    name = getattr(base, "name", None)
    return (name if name in KEEP_GATE else None), highway


def flow_checkpoint(cell, params, sequences, state0, *, delay, exponents=FLOW_EXPONENTS):
    """The flow of `cell` with `params` on `sequences` (S, L, D) from `state0` (n,).

    Args:
      delay: the task's delay as a distance (`tasks.memory_distance`); the norms are reported
        at the distances FIXED_DISTANCES and `delay`.
      exponents: k, the leading Lyapunov exponents to report (1 <= k <= n).

    Returns:
      A `FlowPoint`; FloatingPointError propagates from the engine when a step Jacobian is
      not finite.
    """
    gated, highway = _gates_of(cell)
    curves, spectra, gates = [], [], {}
    for seq in sequences:
        # blocks={}: the summary reads the whole state's norm; the LSTM's h and c blocks
        # would cost a third more and are not reported here
        flow = gradient_flow(cell, params, seq, state0, blocks={})
        curves.append(flow.log10_spectral_norm)
        spectra.append(lyapunov_spectrum(cell, params, seq, state0, k=exponents))
        if gated is not None:
            gate = KEEP_GATE[gated]
            gates.setdefault(gate, []).append(gate_values(gated, params, flow.states, seq)[gate])
        if highway:
            gates.setdefault("carry", []).append(highway_carry(params, flow.states, seq,
                                                               cell.param_names))
    mean, _ = mean_and_spread(curves)
    length = len(mean)
    distance = np.arange(1, length + 1)
    summary = summarize(distance, mean)
    wanted = np.array(FIXED_DISTANCES + (delay,))
    norms = np.array([mean[d - 1] if d <= length else np.nan for d in wanted])
    return FlowPoint(summary.verdict, float(summary.rate), summary.horizon, norms,
                     np.mean(spectra, axis=0) / _LN10,
                     {g: float(np.mean(values)) for g, values in gates.items()})


def checkpoint_updates(updates, every):
    """The checkpoints of a run of `updates` updates with `flow_every` = `every`: 0, every,
    2 every, ..., and `updates` (sorted, each once)."""
    return sorted(set(range(0, updates + 1, every)) | {updates})


def _record(points, delay, length):
    """A FlowRecord from [(update, FlowPoint)]."""
    gates = {}
    for g in GATES:
        if all(g in p.gates for _, p in points):
            gates[g] = np.array([p.gates[g] for _, p in points])
    return FlowRecord(
        update=np.array([u for u, _ in points], dtype=int),
        verdict=np.array([p.verdict for _, p in points]),
        rate=np.array([p.rate for _, p in points], dtype=float),
        horizon=np.array([np.nan if p.horizon is None else p.horizon for _, p in points],
                         dtype=float),
        distances=np.array(FIXED_DISTANCES + (delay,), dtype=int),
        log10_norms=np.array([p.log10_norms for _, p in points], dtype=float),
        lyapunov=np.array([p.lyapunov for _, p in points], dtype=float),
        gates=gates, length=int(length), delay=int(delay))


class Recorder:
    """Takes the checkpoints of one `train` run: `take(update, params)` adds one (at most once
    per update), `record()` returns the FlowRecord."""

    def __init__(self, cell, task, steps, seed, state0, *, samples, exponents):
        self.cell, self.state0, self.exponents = cell, state0, exponents
        self.sequences = flow_sequences(task, steps, seed, samples)
        self.delay = memory_distance(task, steps)
        self.points = []

    def take(self, update, params):
        if self.points and self.points[-1][0] == update:
            return
        try:
            with np.errstate(all="ignore"):  # large weights saturate; the numbers say so
                point = flow_checkpoint(self.cell, params, self.sequences, self.state0,
                                        delay=self.delay, exponents=self.exponents)
        except (FloatingPointError, np.linalg.LinAlgError):
            # weights that are finite but so large that a step Jacobian overflows: nothing to
            # measure, which the record says (verdict 'undefined', nan) instead of stopping
            n = self.exponents
            point = FlowPoint("undefined", float("nan"), None, np.full(3, np.nan),
                              np.full(n, np.nan), {})
        self.points.append((update, point))

    def record(self):
        return _record(self.points, self.delay, self.sequences.shape[1])


# ------------------------------------------------------------------ as columns of a table


def flow_column_names(exponents):
    """The flow columns of a results table, in order, for k = `exponents`."""
    return (("verdict", "rate_per_step", "horizon", "sequence_length", "delay_distance",
             "log10_spectral_norm_d1", "log10_spectral_norm_d10", "log10_spectral_norm_delay")
            + tuple(f"lyapunov_{i}" for i in range(1, exponents + 1)) + tuple(GATES.values()))


def flow_columns(record, updates, exponents):
    """{column: list} of `record`'s values on rows for the updates `updates` (a sequence of
    ints): a row whose update has no checkpoint gets None everywhere, as does a gate the cell
    lacks; a horizon inside the band is None."""
    at = {int(u): i for i, u in enumerate(record.update)}
    names = flow_column_names(exponents)
    cols = {name: [] for name in names}
    for u in updates:
        i = at.get(int(u))
        if i is None:
            for name in names:
                cols[name].append(None)
            continue
        h = record.horizon[i]
        values = [str(record.verdict[i]), float(record.rate[i]),
                  None if np.isnan(h) else int(h), int(record.length), int(record.delay),
                  *(float(v) for v in record.log10_norms[i]),
                  *(float(v) for v in record.lyapunov[i]),
                  *(float(record.gates[g][i]) if g in record.gates else None for g in GATES)]
        for name, value in zip(names, values):
            cols[name].append(value)
    return cols


def _floats(column):
    return np.array([np.nan if v is None or v == "" else v
                     for v in np.asarray(column, dtype=object)], dtype=float)


def _exponent_count(columns):
    k = 0
    while f"lyapunov_{k + 1}" in columns:
        k += 1
    return k


def flow_from_columns(columns):
    """The FlowRecord of one run's rows of a table (`columns`: name -> array, with `update`
    and the flow columns); rows without a verdict are not checkpoints. None when no row is
    one."""
    verdict = np.asarray(columns["verdict"]).astype(str)
    rows = np.flatnonzero((verdict != "") & (verdict != "None") & (verdict != "nan"))
    if rows.size == 0:
        return None
    order = rows[np.argsort(np.asarray(columns["update"])[rows].astype(int), kind="stable")]
    k = _exponent_count(columns)
    delay = int(_floats(columns["delay_distance"])[order[0]])
    length = int(_floats(columns["sequence_length"])[order[0]])
    gates = {}
    for g, name in GATES.items():
        if name in columns:
            values = _floats(columns[name])[order]
            if not np.all(np.isnan(values)):
                gates[g] = values
    norms = [_floats(columns[f"log10_spectral_norm_{d}"])[order]
             for d in ("d1", "d10", "delay")]
    return FlowRecord(
        update=np.asarray(columns["update"])[order].astype(int), verdict=verdict[order],
        rate=_floats(columns["rate_per_step"])[order],
        horizon=_floats(columns["horizon"])[order],
        distances=np.array(FIXED_DISTANCES + (delay,), dtype=int),
        log10_norms=np.stack(norms, axis=1),
        lyapunov=np.stack([_floats(columns[f"lyapunov_{i}"])[order]
                           for i in range(1, k + 1)], axis=1) if k else np.zeros((len(order), 0)),
        gates=gates, length=length, delay=delay)


def flow_runs_to_table(runs, metadata=None):
    """A long `Table` (kind 'training_flow'): one row per run and update u = 0..U, columns
    `run` (the label), `update`, `loss` (the mini-batch loss before update u, empty at u = 0)
    and the flow columns (`flow_column_names`), filled where a checkpoint was taken of the
    weights after u updates and empty elsewhere. `metadata` (what made the runs) is kept, with
    the runs' baselines under `baseline`."""
    from ..io.results import Table

    runs = list(runs)
    exponents = runs[0].flow.lyapunov.shape[1]
    names = ("run", "update", "loss") + flow_column_names(exponents)
    columns = {name: [] for name in names}
    for r in runs:
        rows = len(r.loss) + 1
        columns["run"] += [r.label] * rows
        columns["update"] += list(range(rows))
        columns["loss"] += [None] + [float(v) for v in r.loss]
        for name, values in flow_columns(r.flow, range(rows), exponents).items():
            columns[name] += values
    types = {"run": str, "update": int}
    meta = {**(metadata or {}), "kind": "training_flow",
            "baseline": {r.label: float(r.baseline) for r in runs}}
    return Table({k: np.array(v, dtype=types.get(k, object)) for k, v in columns.items()}, meta)


def flow_runs_from_table(table, key=("run",), label=None):
    """The `FlowRun`s of a table with an `update` column and the flow columns, one per
    distinct value of the `key` columns, in the order of their first row (kind
    'training_flow': key ('run',)). `label(first_row)` names a run (default: its key values
    joined by spaces); a run's baseline is the metadata's (`baseline`, per label or one number)
    or its `baseline` column, else nan. Runs without a checkpoint are left out. Raises
    ValueError naming the first missing column."""
    for name in key + ("update", "loss") + flow_column_names(0)[:6]:
        if name not in table.columns:
            raise ValueError(f"no column {name!r}: not a table with flow checkpoints (train "
                             "with --flow-every)")
    keys = list(zip(*(np.asarray(table.columns[k]).tolist() for k in key)))
    rows_of = {}
    for i, k in enumerate(keys):
        rows_of.setdefault(k, []).append(i)
    baseline = table.metadata.get("baseline")
    runs = []
    for k, rows in rows_of.items():
        part = {name: np.asarray(v)[rows] for name, v in table.columns.items()}
        flow = flow_from_columns(part)
        if flow is None:
            continue
        first = {name: v[0] for name, v in part.items()}
        name = label(first) if label is not None else " ".join(str(v) for v in k)
        update = np.asarray(part["update"], dtype=int)
        order = np.argsort(update, kind="stable")
        loss = _floats(part["loss"])[order][update[order] >= 1]
        if isinstance(baseline, dict):
            base = baseline.get(name, np.nan)
        elif baseline is not None:
            base = baseline
        else:
            base = _floats(part["baseline"])[0] if "baseline" in part else np.nan
        runs.append(FlowRun(name, loss, flow, float(base)))
    return runs
