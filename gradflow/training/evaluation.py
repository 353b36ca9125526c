"""Held-out evaluation of a trained model: its loss and accuracy on a fresh batch of a task.

The model is the one `train` fits: a cell and the linear read-out y_t = W_out h_t + b_out of
`loop.readout`. Accuracy is measured only where the answer needs memory (`TaskBatch.memory_steps`:
the query step of delayed recall, the n_copy copied tokens of the copy task, not the blanks
before them), so that a model which has learnt only the easy, memoryless outputs scores chance.
"""

from typing import NamedTuple

import numpy as np

from .loop import readout
from .tasks import make_task, task_loss

__all__ = ["Evaluation", "task_outputs", "accuracy", "evaluate"]


class Evaluation(NamedTuple):
    """loss: the mean task loss on the batch (as in training); accuracy: the fraction of the
    memory outputs whose largest logit is the target, None for a task without one; chance: the
    accuracy of the best memoryless guess (None likewise); baseline: the memoryless loss."""
    loss: float
    accuracy: float | None
    chance: float | None
    baseline: float


def task_outputs(cell, params, task, state0=None):
    """The read-out at the task's loss steps: (S, B, O) for a `TaskBatch` with inputs (L, B, D),
    run from `state0` ((n,) or (B, n); default zeros of the cell's `state_size`)."""
    batch = task.inputs.shape[1]
    if state0 is None:
        if not hasattr(cell, "state_size"):
            raise ValueError("a user cell needs state0")
        state0 = np.zeros(cell.state_size(params))
    state = np.broadcast_to(np.asarray(state0, dtype=float), (batch, np.shape(state0)[-1]))
    wanted = set(int(t) for t in task.loss_steps)
    outputs = {}
    for t, x in enumerate(task.inputs):
        state = cell(params, state, x)
        if t in wanted:
            outputs[t] = readout(params, state, cell)
    return np.stack([outputs[int(t)] for t in task.loss_steps])


def accuracy(task, outputs):
    """The fraction of (memory step, sequence) pairs at which the largest of `outputs` (S, B, O)
    is the target, or None when the task has no memory steps (the adding problem). An output
    that is not finite counts as wrong."""
    if task.memory_steps is None:
        return None
    rows = np.searchsorted(task.loss_steps, task.memory_steps)
    picked = np.asarray(outputs)[rows]
    right = (np.argmax(picked, axis=-1) == task.targets[rows]) & \
        np.all(np.isfinite(picked), axis=-1)
    return float(np.mean(right))


def evaluate(cell, params, task, steps, *, batch=256, seed=0, state0=None):
    """Loss and accuracy of the trained model (`cell`, `params` with its read-out) on a fresh
    batch of `task` ('recall', 'copy', 'adding', 'hello') at length `steps`.

    The batch is `make_task(task, steps, batch, numpy.random.default_rng(seed))`; `seed` is an
    int, a `numpy.random.SeedSequence` or a Generator. It is not the stream `train(seed=s)`
    learns from (that is a child spawned from s), so the model is judged on sequences it has
    not seen. Accuracy is defined per task on the outputs that need memory: delayed recall, the
    answer at the query step; copy, the n_copy copied tokens (not the blanks); the adding
    problem and the character model have none (accuracy and chance None). Chance is 1/8 for
    recall and copy at their default sizes (8 tokens, 8 symbols).

    Returns an `Evaluation`.
    """
    batch_task = make_task(task, steps, batch, np.random.default_rng(seed))
    with np.errstate(all="ignore"):  # a diverged model's overflow is a result, not an error
        outputs = task_outputs(cell, params, batch_task, state0)
        loss = float(task_loss(batch_task, outputs))
    return Evaluation(loss, accuracy(batch_task, outputs), batch_task.chance,
                      float(batch_task.baseline))
