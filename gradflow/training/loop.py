"""Training recurrent cells with a linear read-out by back-propagation through time.

The model is a cell `s_t = cell(p, s_{t-1}, x_t)` and a read-out y_t = W_out h_t + b_out, where
h_t is the first H = weight_out.shape[1] entries of the state (the LSTM's h of its (h, c)).
Parameters are one dict: the cell's (PyTorch names) plus `weight_out` (O, H) and `bias_out` (O,).
Gradients are autograd's reverse mode over the unrolled loss (BPTT: Rumelhart et al. 1986,
Werbos 1990); truncated BPTT (Williams & Peng 1990; seed 003) carries the state forward through the
whole sequence but back-propagates only within windows of k steps. Optimizers are pure functions
`update(state, grads) -> (state, params)` (`optimizers`); the clipping ablation over runs of
`train` is in `clipping_ablation`. Everything is float64 and seeded.
"""

import math
from dataclasses import dataclass, field
from typing import Optional

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.tracer import getval

from .._version import __version__
from ..cells.builtin import get_cell
from ..cells.initializers import init_params
from ..engine.memory import available_bytes
from .clipping import CLIP_MODES, clip, global_norm
from .flossing import Preflossing, floss_gradient, preflossing
from .flow import FLOW_EXPONENTS, FLOW_SAMPLES, FlowRecord, Recorder
from .optimizers import OPTIMIZERS, Optimizer
from .tasks import TASKS, loss_sum, make_task, task_shape

__all__ = ["init_model", "readout", "bptt", "TrainingResult", "train", "memory_needed",
           "FLOSS_SEED_CHILD", "floss_seeds"]


def init_model(cell, hidden, input_size, output_size, *, init="gaussian", scale=1.0,
               forget_bias=1.0, seed=0):
    """Cell parameters from `gradflow.cells.initializers.init_params` plus a read-out
    `weight_out` (O, H) ~ N(0, 1/H) and `bias_out` (O,) = 0. `seed` is an int or a Generator."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    params = init_params(cell, hidden, input_size, init=init, scale=scale, forget_bias=forget_bias,
                         seed=rng)
    return _with_readout(params, hidden, output_size, rng)


def _with_readout(params, hidden, output_size, rng):
    params = dict(params)
    params["weight_out"] = rng.standard_normal((output_size, hidden)) / np.sqrt(hidden)
    params["bias_out"] = np.zeros(output_size)
    return params


def readout(params, state, cell=None):
    """y = W_out h + b_out with h = state[..., :H]; state (..., n) -> y (..., O). For a
    network of layers (`gradflow.cells.layers.stack`) h is its output, `cell.output`."""
    if cell is not None and hasattr(cell, "output"):
        state = cell.output(params, state)
    H = np.shape(params["weight_out"])[1]
    return anp.dot(state[..., :H], params["weight_out"].T) + params["bias_out"]


def _window_loss(cell, params, state, inputs, offset, task, aux):
    """Sum of the task's loss terms inside inputs[offset:offset + len(inputs)], from `state`."""
    wanted = {int(t) - offset: i for i, t in enumerate(task.loss_steps)
              if offset <= t < offset + len(inputs)}
    outputs, picked = [], []
    for t, x in enumerate(inputs):
        state = cell(params, state, x)
        if t in wanted:
            outputs.append(readout(params, state, cell))
            picked.append(wanted[t])
    aux["state"] = getval(state)
    if not outputs:
        return 0.0
    return loss_sum(task.loss, anp.stack(outputs), task.targets[np.array(picked)])


def bptt(cell, params, task, state0, truncation=None):
    """Loss and gradient of the mean task loss by (truncated) back-propagation through time.

    `task` is a `tasks.TaskBatch` with inputs (L, B, D); `state0` has shape (B, n).
    With `truncation` = k, the sequence is cut into windows of k steps; the state is carried
    forward across windows but treated as a constant where a window starts, so the gradient of a
    loss term flows back at most to the start of its window (at most k steps). The gradient is the
    sum over windows; with k >= L (or None) it is the full BPTT gradient.
    Returns (loss, grads dict like params, final state (B, n)).
    """
    L = len(task.inputs)
    k = L if truncation is None else int(truncation)
    if k < 1:
        raise ValueError(f"truncation must be a positive number of steps, got {truncation}")
    count = task.targets.size
    state, loss, grads = np.asarray(state0, dtype=float), 0.0, None
    for start in range(0, L, k):
        aux = {}

        def window(p, state=state, start=start, aux=aux):
            # Traced, p is autograd's box of the dict, and every p[name] makes a new node: one
            # per parameter read, at every step. Read each once for the whole window, so that
            # the steps share one node per parameter (and a cell may compute from a parameter
            # once per sequence: the orthogonal RNN's expm).
            p = {name: p[name] for name in params} if isinstance(params, dict) else p
            return _window_loss(cell, p, state, task.inputs[start:start + k], start, task,
                                aux) / count

        if np.any((task.loss_steps >= start) & (task.loss_steps < start + k)):
            value, g = value_and_grad(window)(params)
            grads = g if grads is None else {n: grads[n] + g[n] for n in grads}
            loss += value
        else:  # no loss inside: only the forward pass is needed to carry the state on
            window(params)
        state = aux["state"]
    return float(loss), grads, state




@dataclass(frozen=True, eq=False)
class TrainingResult:
    """Per-update records of one training run; arrays have shape (N,), N <= updates requested
    (a run stops at the first update where anything became nan or inf, recorded as nonfinite).

    loss: the mini-batch loss before the update; grad_norm_before / grad_norm_after: global norm
    of the gradient before and after clipping (nan where it was not finite); clipped: clipping
    changed the gradient; nonfinite: the loss, the gradient or the updated parameters were nan or
    inf. `diverged`: the run was stopped because of nonfinite values or a loss above `max_loss`.
    `params` are the parameters after the last recorded update (before it if that was nonfinite); `metadata` says what made the run.
    `flow`: the gradient-flow checkpoints (`gradflow.training.flow.FlowRecord`) when `train`
    was asked for them (`flow_every`), else None.
    flossing_loss (N,): the flossing loss (`flossing.flossing_loss`, without the weight) of the
    parameters before each update that flossed, nan at the others (all nan without flossing).
    `prefloss`: with pre-training flossing, a `flossing.Preflossing` (the parameters training
    started from and the flossing loss before each preflossing update), else None.
    """
    loss: np.ndarray
    grad_norm_before: np.ndarray
    grad_norm_after: np.ndarray
    clipped: np.ndarray
    nonfinite: np.ndarray
    diverged: bool
    params: dict
    baseline: float
    metadata: dict = field(default_factory=dict)
    flow: Optional[FlowRecord] = None
    flossing_loss: Optional[np.ndarray] = None
    prefloss: Optional[Preflossing] = None


def _finite(tree):
    return all(np.all(np.isfinite(a)) for a in tree.values())


def _resolve_cell(cell):
    return get_cell(cell) if isinstance(cell, str) else cell


def _check_settings(*, clip_mode, optimizer, task, hidden, batch, updates, lr, threshold,
                    truncation, scale, forget_bias, max_loss, flow_every=None,
                    flow_samples=FLOW_SAMPLES, flow_exponents=FLOW_EXPONENTS, floss=0,
                    floss_weight=1.0, floss_every=1, prefloss=0):
    """ValueError (one line, naming the setting) for settings no run can use. nan compares
    false with everything, so each test is written to fail for nan."""
    if clip_mode not in CLIP_MODES:
        raise ValueError(f"unknown clipping mode {clip_mode!r}; choose from "
                         f"{', '.join(CLIP_MODES)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    for name, value in (("hidden", hidden), ("batch", batch), ("updates", updates)):
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    if truncation is not None and not truncation >= 1:
        raise ValueError(f"truncation must be a positive number of steps, got {truncation}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"the learning rate must be positive and finite, got {lr}")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError(f"the clipping threshold must be positive and finite, got {threshold}")
    if not (scale >= 0 and math.isfinite(scale)):
        raise ValueError(f"the weight scale must be finite and at least 0, got {scale}")
    if not math.isfinite(forget_bias):
        raise ValueError(f"the forget bias must be finite, got {forget_bias}")
    if not max_loss > 0:  # inf is allowed: no blow-up limit, only nan or inf stop a run
        raise ValueError(f"the blow-up limit max_loss must be positive, got {max_loss}")
    for name, value in (("flow_every", flow_every), ("flow_samples", flow_samples),
                        ("flow_exponents", flow_exponents)):
        if value is None and name == "flow_every":
            continue
        if not _whole(value, 1):
            raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    _check_flossing(floss, floss_weight, floss_every, prefloss)


def _whole(value, low):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= low


def _check_flossing(floss, floss_weight, floss_every, prefloss):
    """ValueError (one line) for flossing settings no run can use (the state size is checked
    once the cell is known)."""
    for name, value in (("floss", floss), ("prefloss", prefloss)):
        if not _whole(value, 0):
            raise ValueError(f"{name} must be a whole number of at least 0, got {value!r}")
    if floss_every is not None and not _whole(floss_every, 1):
        raise ValueError(f"floss_every must be a whole number of at least 1 (or None: only "
                         f"before training), got {floss_every!r}")
    if isinstance(floss_weight, bool) or not isinstance(floss_weight, (int, float, np.number)) \
            or not (floss_weight > 0 and math.isfinite(floss_weight)):
        raise ValueError(f"the flossing weight must be positive and finite, got {floss_weight!r}")
    if prefloss and not floss:
        raise ValueError(f"prefloss={prefloss} needs floss = k > 0, the number of Lyapunov "
                         "exponents to floss")
    if floss and floss_every is None and not prefloss:
        raise ValueError("floss_every=None flosses only before training, but prefloss is 0: "
                         "nothing would be flossed")


# Peak memory of one BPTT update, measured with tracemalloc for the RNN, LSTM and GRU (H = 16
# to 64, T = 100 to 1000, adding and copy): 4 to 11 times the bytes of the inputs,
# pre-activations and outputs of the window, 8 L B (D + G H + O); 12 keeps the estimate above
# every case measured (tests/test_training.py checks it against tracemalloc).
_TAPE_FACTOR = 12


def memory_needed(cell, task, *, steps, hidden, batch, truncation=None):
    """An estimate in bytes of the peak memory of `train` for a built-in cell (its name or
    function, skip connections included): the parameters with their gradients and optimizer
    state, and autograd's record of one window of truncated (or full) BPTT."""
    fn = get_cell(cell) if isinstance(cell, str) else cell
    gates = getattr(fn, "gate_blocks", 1)
    state = getattr(fn, "state_blocks", 1) * hidden  # the past states of a skip connection too
    length, inputs, outputs = task_shape(task, steps)
    window = length if truncation is None else min(int(truncation), length)
    params = gates * hidden * (hidden + inputs + 2) + outputs * (hidden + 1) + state * state
    tape = _TAPE_FACTOR * window * batch * (inputs + gates * hidden + state + outputs)
    data = 4 * length * batch * (inputs + outputs + state)  # batch, targets, carried states
    return 8 * (6 * params + tape + data)


def _check_memory(cell, task, steps, hidden, batch, truncation):
    need, have = memory_needed(cell, task, steps=steps, hidden=hidden, batch=batch,
                               truncation=truncation), available_bytes()
    if have is not None and need > have:
        raise ValueError(f"training needs about {need / 2**30:.3g} GiB of memory "
                         f"(hidden {hidden}, steps {steps}, batch {batch}), more than the "
                         f"{have / 2**30:.3g} GiB available: make the model, the task or the "
                         "batch smaller, or truncate BPTT")


def train(cell, task, *, steps, hidden=32, batch=16, updates=200, lr=0.01, optimizer="sgd",
          clip_mode="none", threshold=1.0, truncation=None, init="gaussian", scale=1.0,
          forget_bias=1.0, seed=0, max_loss=1e6, params=None, state0=None, progress=None,
          flow_every=None, flow_samples=FLOW_SAMPLES, flow_exponents=FLOW_EXPONENTS, floss=0,
          floss_weight=1.0, floss_every=1, prefloss=0):
    """Train `cell` with a linear read-out on `task` and record every update.

    Args:
      cell: a built-in cell or its name ('rnn', 'lstm', 'gru', 'gru_torch'), or any user cell
        `cell(params, state, x) -> state`; a user cell needs `params` (its own dict; a read-out
        reading state[..., :hidden] is added when `weight_out` is missing) and `state0` (n,).
      task: a name in `tasks.TASKS`; a fresh batch (L, B, D) is drawn for every update.
      steps: the task's length parameter T; hidden: H; batch: B; updates: number of updates.
      lr, optimizer: 'sgd', 'momentum' or 'adam'.
      clip_mode, threshold: 'none', 'norm' (global norm, Pascanu et al. 2013) or 'value'.
      truncation: k for truncated BPTT, None for full BPTT.
      init, scale, forget_bias: passed to `gradflow.cells.initializers.init_params`.
      seed: one integer; it fixes the initial parameters and the stream of batches, so runs with
        the same seed and different clipping see the same model and the same data. With
        ss = np.random.SeedSequence(seed).spawn(2), parameters come from default_rng(ss[0]) via
        `init_model` and the batches, in order, from default_rng(ss[1]) via `make_task`.
      max_loss: a loss above this counts as a blow-up (the run has left any useful region long
        before it overflows); it is recorded and the run stopped, as for nan or inf.
      progress: optional callable, called with no argument after every update.
      flow_every: N to take a gradient-flow checkpoint (`gradflow.training.flow`) of the
        current weights before the first update, after every N-th update and after the last
        (also a run stopped early), on `flow_samples` held-out sequences of the task, with the
        leading `flow_exponents` Lyapunov exponents; None (the default) takes none. The
        checkpoints draw from their own seed (child 4 of SeedSequence(seed)): the losses and
        weights of a run are the same bit for bit with and without them.
      floss: k > 0 for gradient flossing (Engelken 2023, `gradflow.training.flossing`): at
        updates 1, 1 + M, 1 + 2M, ... (M = `floss_every`; None: never during training) the
        gradient of `floss_weight` times the flossing loss, the mean of the squared leading k
        Lyapunov exponents of the first sequence of that update's batch (Benettin's QR over
        the whole sequence from state0, also under truncation), is added to the task loss's
        gradient before its norm is taken and it is clipped; 0 (the default): no flossing.
      prefloss: N > 0 (needs floss = k) for N updates of the same optimizer and learning rate,
        unclipped, on `floss_weight` times the flossing loss alone before training
        (`flossing.preflossing`, the paper's pre-training flossing), each on one fresh sequence
        of the task; it stops early at an update that is not finite, keeping the weights
        before it. Training, and a flow checkpoint at update 0, start from its weights.
        Flossing draws from child FLOSS_SEED_CHILD = 5 of SeedSequence(seed) (`floss_seeds`):
        its two children are the seed of the starting frame of the QR (the same at every
        update) and of the preflossing sequences; the weights and batches are those of the run
        without flossing, and a run with floss=0 is the same bit for bit as before.

    Returns:
      A `TrainingResult`. A run whose loss exceeds `max_loss` or in which anything becomes nan or
      inf is stopped and reported (diverged=True), never raised.

    Raises:
      ValueError: for settings no run can use: an unknown name, a size below 1, a learning
        rate, threshold or scale that is not positive (scale: not negative) and finite, a
        non-finite forget bias, a max_loss that is not positive (inf is allowed: no limit),
        a flow_every, flow_samples or flow_exponents below 1 (flow_exponents also above the
        state size), a floss or prefloss below 0 (floss also above the state size; prefloss > 0
        with floss = 0), a floss_every below 1, a floss_weight that is not positive and finite,
        or (built-in cells) sizes whose `memory_needed` exceeds
        `memory.available_bytes`.
    """
    _check_settings(clip_mode=clip_mode, optimizer=optimizer, task=task, hidden=hidden,
                    batch=batch, updates=updates, lr=lr, threshold=threshold,
                    truncation=truncation, scale=scale, forget_bias=forget_bias,
                    max_loss=max_loss, flow_every=flow_every, flow_samples=flow_samples,
                    flow_exponents=flow_exponents, floss=floss, floss_weight=floss_weight,
                    floss_every=floss_every, prefloss=prefloss)
    cell = _resolve_cell(cell)
    if hasattr(cell, "gate_blocks") and params is None:  # user cells: no estimate of their size
        _check_memory(cell, task, steps, hidden, batch, truncation)
    init_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    init_rng, data_rng = np.random.default_rng(init_seq), np.random.default_rng(data_seq)
    probe = make_task(task, steps, 1, np.random.default_rng(0))
    input_size, output_size = probe.inputs.shape[-1], probe.output_size
    if params is None:
        if not hasattr(cell, "gate_blocks"):
            raise ValueError("a user cell needs its params")
        params = init_model(cell, hidden, input_size, output_size, init=init, scale=scale,
                            forget_bias=forget_bias, seed=init_rng)
    elif "weight_out" not in params:
        params = _with_readout(params, hidden, output_size, init_rng)
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    if state0 is None:
        if not hasattr(cell, "state_size"):
            raise ValueError("a user cell needs state0")
        state0 = np.zeros(cell.state_size(params))
    state0 = np.asarray(state0, dtype=float)
    if floss > state0.shape[-1]:
        raise ValueError(f"floss must be at most the state size {state0.shape[-1]}, got {floss}")
    opt = OPTIMIZERS[optimizer](lr)
    frame_seed, prefloss_seed = floss_seeds(seed) if floss else (None, None)
    pre = None
    if prefloss:
        pre = _preflossing(cell, params, task, steps, state0, floss, floss_weight, opt,
                           prefloss, frame_seed, prefloss_seed)
        params = pre.params
    recorder = None
    if flow_every is not None:
        if flow_exponents > state0.shape[-1]:
            raise ValueError(f"flow_exponents must be at most the state size "
                             f"{state0.shape[-1]}, got {flow_exponents}")
        recorder = Recorder(cell, task, steps, seed, state0, samples=flow_samples,
                            exponents=flow_exponents)
        recorder.take(0, params)

    opt_state = opt.init(params)
    records = {k: [] for k in ("loss", "before", "after", "clipped", "nonfinite", "floss")}
    diverged = False
    baseline = probe.baseline
    for i in range(updates):
        batch_task = make_task(task, steps, batch, data_rng)
        baseline = batch_task.baseline
        s0 = np.broadcast_to(state0, (batch,) + state0.shape[-1:])
        flossed = bool(floss) and floss_every is not None and i % floss_every == 0
        with np.errstate(all="ignore"):  # overflow is an outcome to record, not an error
            loss, grads, _ = bptt(cell, params, batch_task, s0, truncation)
            floss_loss = np.nan
            if flossed:  # the paper flosses on one sequence: the batch's first
                floss_loss, floss_grads = floss_gradient(params, cell, batch_task.inputs[:, :1],
                                                         s0[:1], floss, seed=frame_seed)
                grads = {name: g + floss_weight * floss_grads[name] for name, g in grads.items()}
            before = global_norm(grads)
            bad = not (np.isfinite(loss) and np.isfinite(before)
                       and (not flossed or np.isfinite(floss_loss)))
            if not bad:
                clipped_grads, was_clipped = clip(grads, clip_mode, threshold)
                after = global_norm(clipped_grads)
                opt_state, new_params = opt.update(opt_state, clipped_grads)
                bad = not _finite(new_params)
        records["loss"].append(loss)
        records["before"].append(before if np.isfinite(before) else np.nan)
        records["after"].append(np.nan if bad else after)
        records["clipped"].append(False if bad else was_clipped)
        records["nonfinite"].append(bad)
        records["floss"].append(floss_loss)
        if progress is not None:
            progress()
        if not bad:
            params = new_params
        done = len(records["loss"]) - bad  # updates applied to params
        if recorder is not None and done % flow_every == 0:
            recorder.take(done, params)
        if bad or loss > max_loss:
            diverged = True
            break
    if recorder is not None:
        recorder.take(len(records["loss"]) - records["nonfinite"][-1], params)

    metadata = {"cell": getattr(cell, "name", getattr(cell, "__name__", "user")),
                "task": task, "steps": steps, "sequence_length": int(probe.inputs.shape[0]),
                "input_size": int(input_size), "output_size": int(output_size),
                "hidden": int(np.shape(params["weight_out"])[1]), "batch": batch,
                "updates": updates, "lr": lr, "optimizer": optimizer, "clip_mode": clip_mode,
                "threshold": threshold, "truncation": truncation, "init": init, "scale": scale,
                "seed": seed, "max_loss": max_loss, **getattr(cell, "settings", {}),
                "gradflow_version": __version__}
    if recorder is not None:  # only then: the metadata of a run without checkpoints is as before
        metadata.update(flow_every=flow_every, flow_samples=flow_samples,
                        flow_exponents=flow_exponents)
    if floss:  # likewise for flossing
        metadata.update(floss=floss, floss_weight=floss_weight, floss_every=floss_every,
                        prefloss=prefloss)
    return TrainingResult(np.array(records["loss"], dtype=float),
                          np.array(records["before"], dtype=float),
                          np.array(records["after"], dtype=float),
                          np.array(records["clipped"], dtype=bool),
                          np.array(records["nonfinite"], dtype=bool),
                          diverged, params, float(baseline), metadata,
                          None if recorder is None else recorder.record(),
                          np.array(records["floss"], dtype=float), pre)


FLOSS_SEED_CHILD = 5  # 0, 1: weights and batches; 2, 3: skip-training; 4: flow checkpoints


def floss_seeds(seed):
    """(frame seed, preflossing seed) of a run with `seed`, two `numpy.random.SeedSequence`:
    the children of child FLOSS_SEED_CHILD of SeedSequence(seed). The first is the `seed` of
    `flossing.flossing_loss` (its starting frame) at every flossed update and preflossing
    update; the second draws the preflossing sequences."""
    child = np.random.SeedSequence(seed).spawn(FLOSS_SEED_CHILD + 1)[FLOSS_SEED_CHILD]
    return tuple(child.spawn(2))


def _preflossing(cell, params, task, steps, state0, k, weight, optimizer, updates, frame_seed,
                 sequence_seed):
    """`flossing.preflossing` on `updates` fresh sequences (L, 1, D) of the task from
    `sequence_seed`, with `optimizer` stepping along `weight` times the flossing gradient."""
    rng = np.random.default_rng(sequence_seed)
    sequences = (make_task(task, steps, 1, rng).inputs for _ in range(updates))
    weighted = Optimizer(optimizer.name, optimizer.init, lambda state, grads: optimizer.update(
        state, {name: weight * g for name, g in grads.items()}))
    return preflossing(params, cell, sequences, state0[None], k, weighted, seed=frame_seed)
