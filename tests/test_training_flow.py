"""Gradient-flow checkpoints during training (`train(flow_every=N)`): a checkpoint is what the
engine says of the same weights on the same held-out sequences, computed here by hand; the
checkpoints change nothing about training; runs are reproducible from the seed; the tables
carry them and read them back."""

import math

import numpy as np
import pytest

from gradflow.cells import get_cell, transform
from gradflow.engine.jacobians import gradient_flow, lyapunov_spectrum
from gradflow.io.results import read_table, write_table
from gradflow.training import (ABLATION_COLUMNS, ablation_from_table, ablation_to_table,
                               clipping_ablation, init_model, summarize, train)
from gradflow.training.flow import (checkpoint_updates, flow_runs_from_table,
                                    flow_runs_to_table, FlowRun)
from gradflow.training.skip_training import (skip_training, skip_training_from_table,
                                             skip_training_to_table)
from gradflow.training.tasks import make_task


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _held_out(task, steps, seed, samples=4):
    """The documented draw: make_task from child 4 of SeedSequence(seed); (samples, L, D)."""
    child = np.random.SeedSequence(seed).spawn(5)[4]
    return np.moveaxis(make_task(task, steps, samples, np.random.default_rng(child)).inputs, 1, 0)


def _forward(cell, params, seq, n):
    states = [np.zeros(n)]
    for x in seq:
        states.append(np.asarray(cell(params, states[-1], x)))
    return np.array(states)


def _gate_by_hand(name, params, states, seq, H):
    """The memory gate at every step from the weights (PyTorch layout), (T, H or n)."""
    prev = states[:-1]
    if name == "lstm":
        a = seq @ params["weight_ih"].T + params["bias_ih"] + prev[:, :H] @ params["weight_hh"].T \
            + params["bias_hh"]
        return _sigmoid(a[:, H:2 * H])  # the forget gate, PyTorch's order i, f, g, o
    if name == "gru":
        a = seq @ params["weight_ih"][H:2 * H].T + params["bias_ih"][H:2 * H] \
            + prev @ params["weight_hh"][H:2 * H].T + params["bias_hh"][H:2 * H]
        return 1.0 - _sigmoid(a)  # keep 1 - z, Cho's form
    a = prev @ params["highway_weight_hh"].T + seq @ params["highway_weight_ih"].T \
        + params["highway_bias"]
    return 1.0 - _sigmoid(a)  # the highway's carry


def _summary_by_hand(mean):
    """Verdict, factor per step and horizon of a mean log10 curve, straight from the README's
    definitions: least-squares line over d = 1..L; the first d with |log10 norm| > 3."""
    d = np.arange(1, len(mean) + 1)
    slope = np.polyfit(d, mean, 1)[0]
    change = slope * len(mean)
    verdict = "vanishing" if change <= -1 else "exploding" if change >= 1 else "neutral"
    outside = np.flatnonzero(np.abs(mean) > 3)
    return verdict, 10 ** slope, (int(d[outside[0]]) if outside.size else None)


MODELS = {"rnn": lambda: get_cell("rnn"), "lstm": lambda: get_cell("lstm"),
          "gru": lambda: get_cell("gru"),
          "rnn+highway": lambda: transform(get_cell("rnn"), "highway")}


# Weights chosen so that the summaries differ: the RNN at scale 0.3 vanishes with a horizon of
# 6 steps, the LSTM at scale 6 with forget bias 5 explodes, the GRU and the highway vanish.
@pytest.mark.parametrize("name,scale,forget_bias", [("rnn", 0.3, 1.0), ("lstm", 6.0, 5.0),
                                                    ("gru", 0.3, 1.0), ("rnn+highway", 1.0, 1.0)])
def test_the_checkpoint_at_update_0_is_the_engine_on_the_initial_weights(name, scale,
                                                                         forget_bias):
    cell, H, steps, seed = MODELS[name](), 5, 12, 7
    D, O = 9, 8  # recall: 8 tokens and the query marker in, 8 classes out
    params = init_model(cell, H, D, O, seed=123, scale=scale, forget_bias=forget_bias)
    if name == "rnn+highway":
        params.update(cell.init_extra(params, H, D, np.random.default_rng(5)))
    result = train(cell, "recall", steps=steps, hidden=H, batch=3, updates=3, seed=seed,
                   params=params, flow_every=2, flow_exponents=3)
    flow = result.flow
    assert flow.update.tolist() == [0, 2, 3]

    n = cell.state_size(params)
    sequences = _held_out("recall", steps, seed)
    L = sequences.shape[1]
    curves = [gradient_flow(cell, params, seq, np.zeros(n)).log10_spectral_norm
              for seq in sequences]
    mean = np.mean(curves, axis=0)
    verdict, rate, horizon = _summary_by_hand(mean)
    assert verdict == {"rnn": "vanishing", "lstm": "exploding"}.get(name, "vanishing")
    assert (horizon is not None) == (name == "rnn")
    assert flow.verdict[0] == verdict
    assert flow.rate[0] == pytest.approx(rate, rel=1e-9)
    assert (None if np.isnan(flow.horizon[0]) else int(flow.horizon[0])) == horizon
    delay = steps + 1  # recall: the token enters s_1, the answer is read at s_(T+2)
    assert flow.delay == delay and flow.length == L == steps + 2
    assert flow.distances.tolist() == [1, 10, delay]
    np.testing.assert_allclose(flow.log10_norms[0], [mean[0], mean[9], mean[delay - 1]],
                               rtol=1e-9)

    exponents = np.mean([lyapunov_spectrum(cell, params, seq, np.zeros(n), k=3)
                         for seq in sequences], axis=0)
    np.testing.assert_allclose(flow.lyapunov[0], exponents / math.log(10), rtol=1e-9)

    gate = {"rnn": None, "lstm": "forget", "gru": "keep", "rnn+highway": "carry"}[name]
    assert list(flow.gates) == ([] if gate is None else [gate])
    if gate is not None:
        by_hand = np.mean([_gate_by_hand(name.partition("+")[2] or name, params,
                                         _forward(cell, params, seq, n), seq, H)
                           for seq in sequences])
        assert flow.gates[gate][0] == pytest.approx(by_hand, rel=1e-12)


def test_a_later_checkpoint_is_of_the_weights_after_that_many_updates():
    kws = dict(steps=4, hidden=4, batch=3, seed=2, optimizer="adam", lr=0.05)
    two = train("gru", "recall", updates=2, **kws)
    later = train("gru", "recall", updates=5, flow_every=2, **kws)
    cell, sequences = get_cell("gru"), _held_out("recall", 4, 2)
    curves = [gradient_flow(cell, two.params, seq, np.zeros(4)).log10_spectral_norm
              for seq in sequences]
    assert later.flow.update.tolist() == [0, 2, 4, 5]
    assert later.flow.log10_norms[1, 0] == pytest.approx(np.mean(curves, axis=0)[0], rel=1e-9)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_checkpoints_change_nothing_about_training(cell):
    kws = dict(steps=5, hidden=4, batch=3, updates=6, seed=3, optimizer="adam", lr=0.05,
               clip_mode="norm", threshold=0.5)
    plain = train(cell, "recall", **kws)
    flowing = train(cell, "recall", flow_every=1, flow_samples=2, **kws)
    for name in ("loss", "grad_norm_before", "grad_norm_after", "clipped", "nonfinite"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(flowing, name))
    assert all(np.array_equal(plain.params[k], flowing.params[k]) for k in plain.params)
    assert plain.flow is None and len(flowing.flow) == 7
    assert "flow_every" not in plain.metadata and flowing.metadata["flow_every"] == 1


def test_skip_training_with_checkpoints_gives_the_same_runs():
    kws = dict(variants=("none", "highway"), extra_cells=("lstm",), tasks=("recall",),
               delays=(3,), seeds=(0, 1), hidden=4, batch=3, updates=4, eval_batch=8)
    plain, flowing = skip_training(**kws), skip_training(flow_every=2, **kws)
    assert plain.runs == flowing.runs and plain.flows is None
    assert [f.label for f in flowing.flows] == [r.model for r in flowing.runs]
    assert all(f.flow.update.tolist() == [0, 2, 4] for f in flowing.flows)


def _same_flow(a, b):
    assert a.update.tolist() == b.update.tolist() and a.verdict.tolist() == b.verdict.tolist()
    for name in ("rate", "horizon", "log10_norms", "lyapunov"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.gates.keys() == b.gates.keys() and (a.length, a.delay) == (b.length, b.delay)
    for g in a.gates:
        np.testing.assert_array_equal(a.gates[g], b.gates[g])


def test_runs_are_reproducible_from_the_seed():
    kws = dict(steps=5, hidden=4, batch=3, updates=4, flow_every=2, optimizer="adam", lr=0.05)
    first, again = (train("lstm", "recall", seed=11, **kws) for _ in range(2))
    np.testing.assert_array_equal(first.loss, again.loss)
    _same_flow(first.flow, again.flow)
    other = train("lstm", "recall", seed=12, **kws)
    assert not np.array_equal(first.flow.lyapunov, other.flow.lyapunov)


def test_the_schedule_and_a_run_stopped_early():
    assert checkpoint_updates(7, 3) == [0, 3, 6, 7] and checkpoint_updates(6, 3) == [0, 3, 6]
    flow = train("rnn", "recall", steps=3, hidden=3, batch=2, updates=7, flow_every=3,
                 flow_samples=1).flow
    assert flow.update.tolist() == [0, 3, 6, 7]
    assert flow.distances.tolist() == [1, 10, 4] and flow.length == 5
    assert np.isnan(flow.log10_norms[:, 1]).all()  # distance 10 is beyond the 5 steps
    # a loss above max_loss stops the run after its first update: the end is update 1
    stopped = train("rnn", "recall", steps=3, hidden=3, batch=2, updates=7, flow_every=3,
                    max_loss=1e-9, flow_samples=1)
    assert stopped.diverged and len(stopped.loss) == 1
    assert stopped.flow.update.tolist() == [0, 1]


@pytest.mark.parametrize("kws,match", [
    ({"flow_every": 0}, "flow_every must be a whole number of at least 1"),
    ({"flow_every": 1.5}, "flow_every"), ({"flow_every": True}, "flow_every"),
    ({"flow_every": 1, "flow_samples": 0}, "flow_samples"),
    ({"flow_every": 1, "flow_exponents": 4}, "at most the state size 3"),
])
def test_bad_checkpoint_settings_are_refused(kws, match):
    with pytest.raises(ValueError, match=match):
        train("rnn", "recall", steps=3, hidden=3, batch=2, updates=2, **kws)


@pytest.fixture(scope="module")
def clipping_runs():
    return clipping_ablation("lstm", "recall", modes=("none", "norm"), steps=3, hidden=3,
                             batch=2, updates=5, flow_every=2, flow_exponents=2)


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_the_clipping_table_carries_the_checkpoints(tmp_path, clipping_runs, suffix):
    table = ablation_to_table(clipping_runs)
    assert list(table.columns)[:len(ABLATION_COLUMNS)] == list(ABLATION_COLUMNS)
    assert "lyapunov_2" in table.columns and "lyapunov_3" not in table.columns
    assert len(table) == 2 * 6  # updates 0..5 of each run
    path = tmp_path / f"c.{suffix}"
    write_table(path, table)
    back = ablation_from_table(read_table(path))
    for a, b in zip(clipping_runs, back):
        np.testing.assert_array_equal(a.loss, b.loss)
        np.testing.assert_array_equal(a.clipped, b.clipped)
        _same_flow(a.flow, b.flow)
        assert summarize(a) == summarize(b)  # the row at update 0 is not a training record


def test_without_checkpoints_the_clipping_table_is_as_before():
    runs = clipping_ablation("rnn", "recall", modes=("none",), steps=3, hidden=3, batch=2,
                             updates=3)
    table = ablation_to_table(runs)
    assert tuple(table.columns) == ABLATION_COLUMNS
    assert table.columns["update"].tolist() == [1, 2, 3]
    assert not any(k.startswith("flow") for k in table.metadata)


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_the_skip_training_and_training_flow_tables_read_back(tmp_path, suffix):
    result = skip_training(variants=("none",), extra_cells=("gru",), tasks=("recall",),
                           delays=(3,), seeds=(0,), hidden=4, batch=2, updates=3, eval_batch=4,
                           flow_every=2)
    path = tmp_path / f"s.{suffix}"
    write_table(path, skip_training_to_table(result))
    back = skip_training_from_table(read_table(path))
    assert back.runs == result.runs
    for a, b in zip(result.flows, back.flows):
        assert a.label == b.label
        np.testing.assert_array_equal(a.loss, b.loss)
        _same_flow(a.flow, b.flow)
    path = tmp_path / f"f.{suffix}"
    write_table(path, flow_runs_to_table(result.flows, {"what": "test"}))
    table = read_table(path)
    again = flow_runs_from_table(table)
    assert [r.label for r in again] == ["rnn", "gru"]
    for a, b in zip(result.flows, again):
        np.testing.assert_array_equal(a.loss, b.loss)
        _same_flow(a.flow, b.flow)
        if suffix != "csv":  # a CSV has no metadata: no baseline
            assert b.baseline == pytest.approx(math.log(8))
    assert isinstance(again[0], FlowRun)


@pytest.mark.parametrize("task,steps", [("recall", 7), ("copy", 4), ("adding", 9), ("hello", 6)])
def test_the_delay_is_the_distance_back_to_the_first_input_the_last_answer_needs(task, steps):
    from gradflow.training.tasks import memory_distance

    batch = make_task(task, steps, 2, np.random.default_rng(0))
    L = len(batch.inputs)  # s_t is the state after input t (1-based); the last answer at s_L
    if task == "recall":
        needed = 1  # the token to recall is the first input
    elif task == "copy":
        needed = 10  # the last of the 10 data tokens to copy
    elif task == "adding":
        needed = 1  # the first marked number may be the first input
    else:
        needed = L - 1  # the character before the last one decides the next after an 'l'
    assert memory_distance(task, steps) == L - needed
