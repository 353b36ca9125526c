"""Gradient flossing inside `train` (floss, floss_weight, floss_every, prefloss): the first update
against bptt + floss_gradient applied by hand, the flossing-loss record against `flossing_loss`
on the weights before each update, the seeds, preflossing a chaotic tanh RNN towards exponents
of 0 (measured by the engine's `lyapunov_spectrum`), runs without flossing unchanged to the bit,
the tables, and the settings refused."""

import dataclasses

import numpy as np
import pytest

from gradflow.cells import get_cell
from gradflow.engine.jacobians import lyapunov_spectrum
from gradflow.io.results import read_table, write_table
from gradflow.training import (ablation_from_table, ablation_to_table, bptt, clipping_ablation,
                               init_model, train)
from gradflow.training.flossing import floss_gradient, flossing_loss
from gradflow.training.flow import flow_sequences
from gradflow.training.tasks import make_task


def _children(seed):
    """The documented streams: weights child 0, batches child 1, flossing child 5 (its first
    child the frame, its second the preflossing sequences)."""
    ss = np.random.SeedSequence(seed).spawn(6)
    frame, sequences = ss[5].spawn(2)
    return np.random.default_rng(ss[0]), np.random.default_rng(ss[1]), frame, sequences


def _same(a, b, where="result"):
    """Two results equal to the last bit (nan where nan), field by field, recursively."""
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


SMALL = dict(steps=6, hidden=5, batch=3, lr=0.1, scale=1.5)


@pytest.mark.parametrize("clip_mode,threshold", [("none", 1.0), ("norm", 0.05)])
def test_the_first_update_is_bptt_plus_the_flossing_gradient_applied_by_hand(clip_mode,
                                                                           threshold):
    seed, k, weight, lr = 4, 2, 0.7, 0.1
    result = train("rnn", "adding", updates=1, seed=seed, floss=k, floss_weight=weight,
                   clip_mode=clip_mode, threshold=threshold, **SMALL)
    init_rng, data_rng, frame, _ = _children(seed)
    rnn = get_cell("rnn")
    p0 = init_model(rnn, 5, 2, 1, scale=1.5, seed=init_rng)
    batch = make_task("adding", 6, 3, data_rng)
    s0 = np.zeros((3, 5))
    loss, g, _ = bptt(rnn, p0, batch, s0)
    term = floss_gradient(p0, rnn, batch.inputs[:, 0], np.zeros(5), k, weight, seed=frame)
    total = {name: g[name] + term.grads[name] for name in g}
    norm = np.sqrt(sum(np.sum(v ** 2) for v in total.values()))
    factor = min(1.0, threshold / norm) if clip_mode == "norm" else 1.0
    if clip_mode == "norm":
        assert factor < 0.5  # the threshold bites
    for name in p0:
        np.testing.assert_allclose(result.params[name], p0[name] - lr * factor * total[name],
                                   rtol=1e-12, atol=1e-15)
    assert result.loss[0] == loss  # the record is the task's loss, the flossing loss apart
    assert result.grad_norm_before[0] == pytest.approx(norm, rel=1e-12)
    assert result.flossing_loss[0] == pytest.approx(term.loss / weight, rel=1e-12)
    assert np.any(term.grads["weight_hh"])  # flossing did change the update


def test_the_flossing_loss_record_is_flossing_loss_before_each_flossed_update():
    seed, k = 2, 3
    kws = dict(seed=seed, floss=k, floss_every=2, **SMALL)
    result = train("gru", "recall", updates=3, **kws)  # flosses at updates 1 and 3
    assert np.isnan(result.flossing_loss).tolist() == [False, True, False]
    _, data_rng, frame, _ = _children(seed)
    gru = get_cell("gru")
    batches = [make_task("recall", 6, 3, data_rng) for _ in range(3)]
    before = [init_model(gru, 5, 9, 8, scale=1.5, seed=_children(seed)[0]),
              None, train("gru", "recall", updates=2, **kws).params]
    for u in (0, 2):
        expected = flossing_loss(before[u], gru, batches[u].inputs[:, :1], np.zeros((1, 5)), k,
                                 seed=frame)
        assert result.flossing_loss[u] == pytest.approx(expected, rel=1e-12), u
        # the batches are those of the run without flossing: the task loss of update u is
        # bptt on the u-th batch of child 1
        assert result.loss[u] == pytest.approx(bptt(gru, before[u], batches[u],
                                                     np.zeros((3, 5)))[0], rel=1e-13)
    assert result.metadata["floss"] == k and result.metadata["floss_every"] == 2
    assert result.metadata["floss_weight"] == 1.0 and result.metadata["prefloss"] == 0


def test_runs_without_flossing_are_unchanged_to_the_bit():
    kws = dict(updates=4, seed=7, clip_mode="norm", threshold=0.5, optimizer="adam",
               flow_every=2, **SMALL)
    old = train("lstm", "copy", **kws)
    new = train("lstm", "copy", floss=0, floss_weight=1.0, floss_every=1, prefloss=0, **kws)
    _same(old, new)
    assert np.isnan(old.flossing_loss).all() and len(old.flossing_loss) == 4
    assert old.prefloss is None
    assert not {"floss", "floss_weight", "floss_every", "prefloss"} & set(old.metadata)
    # and the streams are the documented ones: weights child 0, batches child 1
    init_rng, data_rng, _, _ = _children(7)
    first = make_task("copy", 6, 3, data_rng)
    p0 = init_model(get_cell("lstm"), 5, first.inputs.shape[-1], first.output_size, scale=1.5,
                    seed=init_rng)
    assert old.loss[0] == bptt(get_cell("lstm"), p0, first, np.zeros((3, 10)))[0]
    # flossing leaves the weights and the stream of batches alone: the first loss is the same
    flossed = train("lstm", "copy", floss=2, **kws)
    assert flossed.loss[0] == old.loss[0] and flossed.loss[1] != old.loss[1]


def test_flossing_runs_are_reproducible_from_the_seed():
    kws = dict(updates=3, floss=2, floss_every=1, prefloss=4, optimizer="adam", **SMALL)
    a = train("rnn", "recall", seed=5, **kws)
    b = train("rnn", "recall", seed=5, **kws)
    _same(a, b)
    np.testing.assert_array_equal(a.prefloss.loss, b.prefloss.loss)
    c = train("rnn", "recall", seed=6, **kws)
    assert not np.any(a.flossing_loss == c.flossing_loss)
    assert not np.any(a.prefloss.loss == c.prefloss.loss)


def test_preflossing_starts_training_from_its_weights_on_its_own_sequences():
    seed, k, lr, weight = 1, 2, 0.05, 0.5
    result = train("rnn", "adding", updates=1, seed=seed, floss=k, floss_weight=weight,
                   floss_every=None, prefloss=3, lr=lr, flow_every=1,
                   **{key: v for key, v in SMALL.items() if key != "lr"})
    init_rng, data_rng, frame, sequences = _children(seed)
    rnn = get_cell("rnn")
    params = init_model(rnn, 5, 2, 1, scale=1.5, seed=init_rng)
    rng = np.random.default_rng(sequences)
    losses = []
    for _ in range(3):  # sgd by hand on weight times the flossing loss, one fresh sequence each
        inputs = make_task("adding", 6, 1, rng).inputs
        term = floss_gradient(params, rnn, inputs, np.zeros((1, 5)), k, weight, seed=frame)
        losses.append(term.loss / weight)
        params = {name: params[name] - lr * term.grads[name] for name in params}
    np.testing.assert_allclose(result.prefloss.loss, losses, rtol=1e-12)
    for name in params:
        np.testing.assert_allclose(result.prefloss.params[name], params[name], rtol=1e-12,
                                   atol=1e-15)
    # then one training update, without flossing (floss_every=None), on the first batch
    _, g, _ = bptt(rnn, params, make_task("adding", 6, 3, data_rng), np.zeros((3, 5)))
    for name in params:
        np.testing.assert_allclose(result.params[name], params[name] - lr * g[name],
                                   rtol=1e-12, atol=1e-15)
    assert np.isnan(result.flossing_loss).all()
    # the checkpoint at update 0 is of the weights training starts from, the preflossed ones
    exponents = [lyapunov_spectrum(rnn, params, seq, np.zeros(5), 3)
                 for seq in flow_sequences("adding", 6, seed)]
    np.testing.assert_allclose(result.flow.lyapunov[0], np.mean(exponents, axis=0) / np.log(10),
                               rtol=0, atol=1e-10)


def test_preflossing_moves_the_leading_exponent_of_a_chaotic_rnn_towards_0():
    # A tanh RNN with gaussian weights of scale 3 is chaotic: its leading finite-time exponent
    # on the recall task's 12-step sequences is about 0.25 per step. 300 Adam steps at 0.01 on
    # the flossing loss of one fresh sequence each cut it to a small fraction (measured on 16
    # held-out sequences by the engine's own Benettin chain, not by the flossing code). The
    # run is chaotic, so its details change with the machine's rounding: over seeds 0-4 the
    # exponent ends at |after| <= 0.30 before and the loss record at <= 0.51 of its start,
    # and the bounds below leave room for that. (At lr 0.005 seeds 2 and 3 kept 0.72 and 0.92
    # of the exponent: too slow to test on one seed.)
    H, steps = 16, 10
    result = train("rnn", "recall", steps=steps, hidden=H, batch=2, updates=1, lr=0.01,
                   optimizer="adam", scale=3.0, seed=0, floss=1, floss_every=None,
                   prefloss=300)
    rnn = get_cell("rnn")
    held_out = make_task("recall", steps, 16, np.random.default_rng(99)).inputs
    p0 = init_model(rnn, H, 9, 8, scale=3.0, seed=_children(0)[0])

    def leading(params):
        return np.mean([lyapunov_spectrum(rnn, params, held_out[:, b], np.zeros(H), 1)[0]
                        for b in range(16)])

    before, after = leading(p0), leading(result.prefloss.params)
    assert before > 0.2  # chaotic
    assert abs(after) < 0.5 * before, (before, after)
    loss = result.prefloss.loss  # each update's own fresh sequence: noisy, falling on the whole
    assert len(loss) == 300 and np.all(np.isfinite(loss))
    assert np.mean(loss[-100:]) < 0.75 * np.mean(loss[:50])


def test_a_flossing_blow_up_is_recorded_and_stops_the_run():
    # relu units that never fire: every step Jacobian is 0, the frame loses rank, the flossing
    # loss is inf and its gradient nan: a nonfinite update, as an overflow is
    from gradflow.cells import rnn_relu as relu
    params = {"weight_ih": np.zeros((3, 2)), "weight_hh": np.eye(3), "bias_ih": np.zeros(3),
              "bias_hh": -np.ones(3)}
    result = train(relu, "adding", steps=5, hidden=3, batch=2, updates=5, params=params,
                   state0=np.zeros(3), floss=2)
    assert result.diverged and result.nonfinite.tolist() == [True]
    assert result.flossing_loss.tolist() == [np.inf]
    np.testing.assert_array_equal(result.params["weight_hh"], np.eye(3))


def test_tables_carry_the_flossing_loss_and_the_preflossing_losses(tmp_path):
    runs = clipping_ablation("rnn", "hello", thresholds=(0.5,), modes=("none", "norm"), steps=4,
                             hidden=4, batch=2, updates=3, seed=0, floss=2, floss_every=2,
                             prefloss=2)
    np.testing.assert_array_equal(runs[0].prefloss.loss, runs[1].prefloss.loss)
    table = ablation_to_table(runs)
    assert list(table.columns)[8] == "flossing_loss"
    np.testing.assert_array_equal(table.columns["flossing_loss"],
                                  np.concatenate([r.flossing_loss for r in runs]))
    assert table.metadata["floss"] == 2 and table.metadata["prefloss"] == 2
    for suffix in ("json", "npz", "csv"):
        path = tmp_path / f"r.{suffix}"
        write_table(path, table)
        back = ablation_from_table(read_table(path))
        for r, b in zip(runs, back):
            np.testing.assert_array_equal(b.flossing_loss, r.flossing_loss)
            if suffix == "csv":  # no metadata
                assert b.prefloss is None
            else:
                np.testing.assert_array_equal(b.prefloss.loss, r.prefloss.loss)
    plain = ablation_to_table(clipping_ablation("rnn", "hello", modes=("none",), steps=4,
                                                hidden=4, batch=2, updates=2, seed=0))
    assert "flossing_loss" not in plain.columns and "prefloss_loss" not in plain.metadata
    assert np.isnan(ablation_from_table(plain)[0].flossing_loss).all()


@pytest.mark.parametrize("kws,message", [
    ({"floss": -1}, "floss must be a whole number of at least 0, got -1"),
    ({"floss": 1.5}, "floss must be a whole number"),
    ({"floss": True}, "floss must be a whole number"),
    ({"floss": 6}, "floss must be at most the state size 5, got 6"),
    ({"floss": 1, "floss_every": 0}, "floss_every must be a whole number of at least 1"),
    ({"floss": 1, "floss_every": 2.0}, "floss_every must be a whole number"),
    ({"prefloss": -1}, "prefloss must be a whole number of at least 0, got -1"),
    ({"floss": 1, "floss_weight": 0.0}, "flossing weight must be positive and finite, got 0.0"),
    ({"floss": 1, "floss_weight": -1.0}, "flossing weight must be positive and finite"),
    ({"floss": 1, "floss_weight": np.nan}, "flossing weight must be positive and finite"),
    ({"floss": 1, "floss_weight": np.inf}, "flossing weight must be positive and finite"),
    ({"floss_weight": np.nan}, "flossing weight must be positive and finite"),
    ({"prefloss": 3}, "prefloss=3 needs floss = k > 0"),
    ({"floss": 1, "floss_every": None}, "floss_every=None flosses only before training"),
])
def test_bad_flossing_settings_raise_one_line(kws, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        train("rnn", "adding", updates=1, **{**SMALL, "steps": 3}, **kws)
    assert "\n" not in str(err.value)
