"""Held-out evaluation (`gradflow.training.evaluation`) against models whose answers are known:
a delay line whose read-out sees the input of exactly k steps ago, with a read-out that is
exactly right or exactly wrong, and an LSTM trained on an easy case."""

import autograd.numpy as anp
import numpy as np
import pytest

from gradflow.cells import lstm
from gradflow.training import train
from gradflow.training.evaluation import accuracy, evaluate, task_outputs
from gradflow.training.tasks import copy_memory, delayed_recall, make_task

C = 10.0  # the logit of the answer the read-out gives


def delay_line(params, state, x):
    """State = the last K inputs, oldest first: the read-out (first D entries) sees x_{t-K+1}."""
    D = np.shape(x)[-1]
    return anp.concatenate([state[..., D:], x], axis=-1)


def delay_model(K, D, O, rows=None):
    """Delay line of K blocks and a read-out C [I_O | 0] (rows permuted by `rows`)."""
    w = C * np.eye(O, D)
    return {"weight_out": w if rows is None else w[rows], "bias_out": np.zeros(O)}, np.zeros(K * D)


def test_task_fields_name_the_outputs_that_need_memory():
    rng = np.random.default_rng(0)
    recall, copy = delayed_recall(5, 3, rng), copy_memory(7, 3, rng)
    assert recall.memory_steps.tolist() == [6] and recall.chance == 1 / 8
    assert copy.memory_steps.tolist() == list(range(17, 27)) and copy.chance == 1 / 8
    assert np.all(copy.targets[copy.memory_steps] >= 1)  # data tokens, never the blank 0
    for name in ("adding", "hello"):
        task = make_task(name, 4, 2, rng)
        assert task.memory_steps is None and task.chance is None


@pytest.mark.parametrize("T", [1, 6])
def test_recall_read_out_exactly_right_and_exactly_wrong(T):
    params, s0 = delay_model(T + 2, 9, 8)
    right = evaluate(delay_line, params, "recall", T, batch=64, seed=3, state0=s0)
    assert right.accuracy == 1.0 and right.chance == 1 / 8
    assert right.loss == pytest.approx(np.log(1 + 7 * np.exp(-C)), rel=1e-12)
    assert right.baseline == pytest.approx(np.log(8))
    params, s0 = delay_model(T + 2, 9, 8, rows=np.roll(np.arange(8), 1))  # answers token + 1
    wrong = evaluate(delay_line, params, "recall", T, batch=64, seed=3, state0=s0)
    assert wrong.accuracy == 0.0
    assert wrong.loss == pytest.approx(np.log(np.exp(C) + 7), rel=1e-12)
    params, s0 = delay_model(T + 1, 9, 8)  # one step too short: it reads a distractor
    off = evaluate(delay_line, params, "recall", T, batch=4000, seed=3, state0=s0)
    assert off.accuracy == pytest.approx(1 / 8, abs=0.02)


def test_copy_accuracy_counts_the_copied_tokens_only():
    T, B = 5, 50
    params, s0 = delay_model(T + 11, 10, 9)  # reads the input of T + 10 steps ago
    right = evaluate(delay_line, params, "copy", T, batch=B, seed=4, state0=s0)
    assert right.accuracy == 1.0
    # before step T + 10 the oldest block is still the zero start: logits 0, loss log 9
    expected = ((T + 10) * np.log(9) + 10 * np.log(1 + 8 * np.exp(-C))) / (T + 20)
    assert right.loss == pytest.approx(expected, rel=1e-12)
    # memoryless (reads the current input): right at most blanks, wrong at every copied token
    params, s0 = delay_model(1, 10, 9)
    assert evaluate(delay_line, params, "copy", T, batch=B, seed=4, state0=s0).accuracy == 0.0
    # right for symbols 1..4, wrong for 5..8: accuracy = the share of copied tokens in 1..4
    rows = np.array([0, 1, 2, 3, 4, 6, 7, 8, 5])
    params, s0 = delay_model(T + 11, 10, 9, rows=rows)
    half = evaluate(delay_line, params, "copy", T, batch=B, seed=4, state0=s0)
    data = make_task("copy", T, B, np.random.default_rng(4)).inputs[:10].argmax(-1)
    assert half.accuracy == pytest.approx(np.mean(data <= 4), abs=1e-15)
    assert 0.3 < half.accuracy < 0.7


def test_accuracy_of_hand_built_outputs():
    task = copy_memory(3, 2, np.random.default_rng(5))
    outputs = np.eye(9)[task.targets] * 5.0  # exactly right everywhere
    assert accuracy(task, outputs) == 1.0
    outputs[:13] = np.eye(9)[3]  # wrong at every blank step: not counted
    assert accuracy(task, outputs) == 1.0
    outputs[13, 0] = np.nan  # a non-finite output is wrong: 1 of 20 memory outputs
    assert accuracy(task, outputs) == pytest.approx(19 / 20)
    assert accuracy(make_task("adding", 4, 2, np.random.default_rng(0)), np.zeros((1, 2, 1))) \
        is None


def test_adding_has_a_loss_and_no_accuracy():
    def silent(params, state, x):
        return 0.0 * state

    params = {"weight_out": np.zeros((1, 1)), "bias_out": np.ones(1)}  # always answers 1
    result = evaluate(silent, params, "adding", 10, batch=30, seed=6, state0=np.zeros(1))
    batch = make_task("adding", 10, 30, np.random.default_rng(6))
    sums = (batch.inputs[..., 0] * batch.inputs[..., 1]).sum(0)
    assert result.accuracy is None and result.chance is None
    assert result.loss == pytest.approx(np.mean((sums - 1) ** 2), rel=1e-12)


def test_outputs_are_the_read_out_at_the_loss_steps():
    task = delayed_recall(3, 4, np.random.default_rng(7))
    params, s0 = delay_model(5, 9, 8)
    out = task_outputs(delay_line, params, task, s0)
    assert out.shape == (1, 4, 8)
    np.testing.assert_array_equal(out[0], C * np.eye(8)[task.targets[0]])


def test_a_trained_lstm_recalls_across_two_distractors():
    run = train("lstm", "recall", steps=2, hidden=8, batch=32, updates=60, lr=0.05,
                optimizer="adam", seed=0)
    trained = evaluate(lstm, run.params, "recall", 2, batch=512, seed=11)
    assert trained.accuracy == 1.0 and trained.loss < 0.05
    untrained = train("lstm", "recall", steps=2, hidden=8, updates=1, lr=1e-12, seed=0).params
    before = evaluate(lstm, untrained, "recall", 2, batch=512, seed=11)
    assert before.accuracy < 0.3 and before.loss > 1.5
    # another seed is another batch: the loss differs, the accuracy stays perfect
    other = evaluate(lstm, run.params, "recall", 2, batch=512, seed=12)
    assert other.loss != trained.loss and other.accuracy == 1.0
