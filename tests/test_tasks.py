import numpy as np
import pytest

from gradflow.training.tasks import (adding_problem, copy_memory, copy_memory_baseline,
                                     delayed_recall, hello_lm, make_task, task_loss)


@pytest.mark.parametrize("T", [1, 10, 100])
def test_copy_baseline_is_the_loss_of_the_memoryless_strategy(T):
    task = copy_memory(T, 3, np.random.default_rng(0))
    L, B, O = len(task.targets), 3, task.output_size
    # Memoryless: certain "blank" for T + 10 steps, then uniform over the 8 data symbols.
    logits = np.full((L, B, O), -1e3)
    logits[:T + 10, :, 0] = 0.0
    logits[T + 10:, :, 1:9] = 0.0
    assert task_loss(task, logits) == pytest.approx(10 * np.log(8) / (T + 20), rel=1e-12)
    assert copy_memory_baseline(T) == pytest.approx(10 * np.log(8) / (T + 20), rel=1e-15)
    assert task.baseline == copy_memory_baseline(T)


def test_copy_task_layout():
    T, B = 7, 4
    task = copy_memory(T, B, np.random.default_rng(1))
    tokens = task.inputs.argmax(-1)
    assert task.inputs.shape == (T + 20, B, 10)
    assert np.all(tokens[10 + T - 1] == 9) and np.all(tokens[10:10 + T - 1] == 0)
    assert np.all(tokens[T + 10:] == 0)
    assert np.array_equal(task.targets[T + 10:], tokens[:10])
    assert np.all(task.targets[:T + 10] == 0) and np.all(tokens[:10] >= 1)


def test_adding_problem_targets_and_baseline():
    task = adding_problem(20, 4000, np.random.default_rng(2))
    values, marks = task.inputs[..., 0], task.inputs[..., 1]
    assert np.all(marks[:10].sum(0) == 1) and np.all(marks[10:].sum(0) == 1)
    assert np.allclose(task.targets[0, :, 0], (values * marks).sum(0))
    constant = np.ones((1, 4000, 1))  # the best constant answer, E[u1 + u2] = 1
    assert task_loss(task, constant) == pytest.approx(1 / 6, rel=0.05)


def test_delayed_recall_asks_for_the_first_token():
    task = delayed_recall(5, 6, np.random.default_rng(3))
    assert task.inputs.shape == (7, 6, 9)
    assert np.array_equal(task.targets[0], task.inputs[0].argmax(-1))
    assert np.all(task.inputs[-1].argmax(-1) == 8) and np.all(task.inputs[:-1, :, 8] == 0)
    assert task.loss_steps.tolist() == [6]
    uniform = np.zeros((1, 6, 8))
    assert task_loss(task, uniform) == pytest.approx(np.log(8), rel=1e-14)


def test_hello_is_hell_to_ello():
    task = hello_lm(4, 50, np.random.default_rng(4))
    vocab = "ehlo"
    words = {("".join(vocab[i] for i in task.inputs[:, b].argmax(-1)),
              "".join(vocab[i] for i in task.targets[:, b])) for b in range(50)}
    assert ("hell", "ello") in words
    assert all(x[1:] == y[:-1] for x, y in words)
    p = np.array([1, 1, 2, 1]) / 5
    assert task.baseline == pytest.approx(-np.sum(p * np.log(p)), rel=1e-14)


def test_cross_entropy_against_direct_formula():
    rng = np.random.default_rng(5)
    task = hello_lm(4, 3, rng)
    logits = rng.standard_normal((4, 3, 4))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    direct = -np.mean(np.log(np.take_along_axis(p, task.targets[..., None], -1)))
    assert task_loss(task, logits) == pytest.approx(direct, rel=1e-13)


@pytest.mark.parametrize("name", ["adding", "copy", "recall", "hello"])
def test_tasks_are_seeded(name):
    a = make_task(name, 12, 5, np.random.default_rng(7))
    b = make_task(name, 12, 5, np.random.default_rng(7))
    c = make_task(name, 12, 5, np.random.default_rng(8))
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)
    assert not (np.array_equal(a.inputs, c.inputs) and np.array_equal(a.targets, c.targets))


def test_bad_task_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        make_task("nope", 5, 1, 0)
    with pytest.raises(ValueError, match="batch"):
        make_task("adding", 5, 0, 0)
