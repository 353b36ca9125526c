"""Synthetic tasks that need long memory, generated on the fly from a numpy Generator.

Every generator has the signature `make(steps, batch, rng) -> TaskBatch`. Inputs are in time-major
row convention, shape (L, B, D) with L the sequence length; the loss is read at the time indices
`loss_steps` (into the outputs y_1, ..., y_L), where the targets are given:
- 'mse': targets (S, B, O) floats, loss = mean over steps, batch and outputs of (y - target)^2;
- 'xent': targets (S, B) integer classes in [0, O), loss = mean over steps and batch of
  -log softmax(y)[target].
`baseline` is the loss of the best memoryless predictor, the level a model must beat to show it
remembers anything. `memory_steps` are the loss steps whose answer needs memory (an input seen
earlier decides it): accuracy, the fraction of them whose largest output is the target, is
measured there, and `chance` is the accuracy of the best memoryless guess. Tasks without a
meaningful accuracy (the adding problem, a regression; the character model) leave both None.
"""

from typing import NamedTuple

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import logsumexp

__all__ = ["TaskBatch", "TASKS", "make_task", "adding_problem", "copy_memory", "delayed_recall",
           "hello_lm", "copy_memory_baseline", "task_loss", "loss_sum", "task_shape",
           "memory_distance"]


class TaskBatch(NamedTuple):
    """One batch of a task: inputs (L, B, D), targets (S, B, O) or (S, B), loss_steps (S,),
    memory_steps (M,) a subset of loss_steps (time indices) or None, chance a float or None."""
    name: str
    inputs: np.ndarray
    targets: np.ndarray
    loss_steps: np.ndarray
    loss: str
    output_size: int
    baseline: float
    memory_steps: np.ndarray | None = None
    chance: float | None = None


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _one_hot(tokens, size):
    return np.eye(size)[tokens]


def adding_problem(steps, batch, rng):
    """The adding problem (Hochreiter & Schmidhuber 1997, as in Le et al. 2015).

    Length L = steps; input channel 0 holds U(0, 1) numbers, channel 1 marks two positions, one
    in each half of the sequence. Target: the sum of the two marked numbers, read at the last step
    (MSE). Memoryless baseline: always answering 1 gives MSE Var(u1 + u2) = 1/6. A regression:
    no accuracy (memory_steps and chance are None).
    """
    if steps < 2:
        raise ValueError(f"the adding problem needs at least 2 steps, got {steps}")
    rng = _rng(rng)
    values = rng.uniform(0.0, 1.0, size=(steps, batch))
    half = steps // 2
    first = rng.integers(0, half, size=batch)
    second = rng.integers(half, steps, size=batch)
    marks = np.zeros((steps, batch))
    marks[first, np.arange(batch)] = 1.0
    marks[second, np.arange(batch)] = 1.0
    inputs = np.stack([values, marks], axis=-1)
    targets = np.sum(values * marks, axis=0)[None, :, None]
    return TaskBatch("adding", inputs, targets, np.array([steps - 1]), "mse", 1, 1.0 / 6.0)


def copy_memory_baseline(steps, n_copy=10, n_symbols=8):
    """Cross-entropy of the memoryless copy-task strategy (Arjovsky et al. 2016):
    n_copy log(n_symbols) / (steps + 2 n_copy); 10 log 8 / (T + 20) with the paper's sizes."""
    return n_copy * np.log(n_symbols) / (steps + 2 * n_copy)


def copy_memory(steps, batch, rng, n_copy=10, n_symbols=8):
    """The copy-memory task (Arjovsky, Shah & Bengio 2016, "Unitary evolution RNNs").

    Tokens: 0 blank, 1..n_symbols data, n_symbols + 1 the delimiter; inputs are one-hot, D =
    n_symbols + 2, length L = steps + 2 n_copy: n_copy data tokens, steps - 1 blanks, the
    delimiter, n_copy blanks. Targets at every step: blanks for steps + n_copy steps, then the
    n_copy data tokens (cross-entropy over O = n_symbols + 1 classes). Memoryless baseline:
    `copy_memory_baseline(steps)` = 10 log 8 / (T + 20). Memory steps: the last n_copy, where
    the data tokens are copied (the blanks before them need no memory); chance 1 / n_symbols.
    """
    if steps < 1:
        raise ValueError(f"the copy task needs at least 1 step, got {steps}")
    rng = _rng(rng)
    data = rng.integers(1, n_symbols + 1, size=(n_copy, batch))
    length = steps + 2 * n_copy
    tokens = np.zeros((length, batch), dtype=int)
    tokens[:n_copy] = data
    tokens[n_copy + steps - 1] = n_symbols + 1
    targets = np.zeros((length, batch), dtype=int)
    targets[steps + n_copy:] = data
    return TaskBatch("copy", _one_hot(tokens, n_symbols + 2), targets, np.arange(length), "xent",
                     n_symbols + 1, copy_memory_baseline(steps, n_copy, n_symbols),
                     np.arange(steps + n_copy, length), 1.0 / n_symbols)


def delayed_recall(steps, batch, rng, n_tokens=8):
    """Recall the first token after `steps` distractors (the seeds' word that must be remembered
    across a long sentence).

    Length L = steps + 2: a token from n_tokens, `steps` distractor tokens drawn from the same
    vocabulary, then a query marker (an extra input channel, D = n_tokens + 1). Target: the first
    token, read at the query step (cross-entropy over n_tokens classes). Memoryless baseline:
    log(n_tokens). Memory step: the query step; chance 1 / n_tokens.
    """
    if steps < 0:
        raise ValueError(f"delayed recall needs steps >= 0, got {steps}")
    rng = _rng(rng)
    tokens = rng.integers(0, n_tokens, size=(steps + 1, batch))
    inputs = np.concatenate([_one_hot(tokens, n_tokens + 1),
                             _one_hot(np.full((1, batch), n_tokens), n_tokens + 1)])
    return TaskBatch("recall", inputs, tokens[:1], np.array([steps + 1]), "xent", n_tokens,
                     float(np.log(n_tokens)), np.array([steps + 1]), 1.0 / n_tokens)


def hello_lm(steps, batch, rng, text="hello"):
    """Character-level language model on "hello" (seed 003, after Karpathy's min-char-rnn).

    Vocabulary: the sorted distinct characters of `text` ('e', 'h', 'l', 'o'). Each batch row is
    `text` repeated, starting at a random offset, cut to steps + 1 characters; input the first
    `steps` one-hot, target the next character at every step. With steps = 4 and offset 0 this is
    'hell' -> 'ello'. Baseline: the entropy of the character frequencies of `text` (a memoryless
    unigram model). A language model, judged by its loss: no accuracy (memory_steps and chance
    are None).
    """
    if steps < 1:
        raise ValueError(f"the language model needs at least 1 step, got {steps}")
    rng = _rng(rng)
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    offsets = rng.integers(0, len(text), size=batch)
    index = (offsets[None, :] + np.arange(steps + 1)[:, None]) % len(text)
    seq = ids[index]
    freq = np.bincount(ids, minlength=len(vocab)) / len(ids)
    entropy = float(-np.sum(freq * np.log(freq)))
    return TaskBatch("hello", _one_hot(seq[:-1], len(vocab)), seq[1:], np.arange(steps), "xent",
                     len(vocab), entropy)


TASKS = {"adding": adding_problem, "copy": copy_memory, "recall": delayed_recall,
         "hello": hello_lm}


def make_task(name, steps, batch, rng):
    """One batch of task `name` ('adding', 'copy', 'recall', 'hello'); see each generator."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    return TASKS[name](steps, batch, rng)


def task_shape(name, steps):
    """(sequence length L, input size D, output size O) of task `name` at length `steps`, from
    two tiny batches (L is affine in steps for every task): nothing of size `steps` is
    allocated."""
    rng = np.random.default_rng(0)
    small, next_ = (make_task(name, k, 1, rng) for k in (2, 3))
    a, b = small.inputs.shape, next_.inputs.shape
    return a[0] + (steps - 2) * (b[0] - a[0]), a[-1], small.output_size


def loss_sum(kind, outputs, targets):
    """Sum of the per-element losses (autograd-differentiable).

    'mse': outputs and targets (S, B, O); 'xent': outputs (S, B, O) logits, targets (S, B) ints.
    """
    if kind == "mse":
        return anp.sum((outputs - targets) ** 2)
    if kind == "xent":
        picked = anp.sum(outputs * np.eye(np.shape(outputs)[-1])[targets], axis=-1)
        return anp.sum(logsumexp(outputs, axis=-1) - picked)
    raise ValueError(f"unknown loss {kind!r}")


def task_loss(task, outputs):
    """The mean loss of `outputs` (S, B, O) on `task`: `loss_sum` over the number of target
    elements (S B O for 'mse', S B for 'xent')."""
    return loss_sum(task.loss, outputs, task.targets) / task.targets.size


def memory_distance(name, steps):
    """The task's delay as a distance d = L - t back from the last state s_L of a sequence of
    length L: how far back ds_L/ds_t must carry the input that the last answer needs.

    recall: steps + 1 (the token enters s_1, the query is answered at s_{T+2}); copy: steps + 10
    (the last data token enters s_10, the last copied token is read at s_{T+20}); adding:
    steps - 1 (the first marked number may enter s_1, the sum is read at s_T); hello: 1 (the
    next character after 'l' depends on the character before). At least 1.
    """
    length = task_shape(name, steps)[0]
    distance = {"recall": steps + 1, "copy": steps + 10, "adding": steps - 1, "hello": 1}[name]
    return max(1, min(distance, length))
