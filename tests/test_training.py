import autograd.numpy as anp
import numpy as np
import pytest

from gradflow.cells import get_cell, transform
from gradflow.training import (adam, bptt, clipping_ablation, init_model, momentum, sgd,
                               summarize, train)
from gradflow.training.tasks import make_task


def _fd_grad(f, params, eps=1e-6):
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            plus = {**params, k: v.copy()}
            minus = {**params, k: v.copy()}
            plus[k][i] += eps
            minus[k][i] -= eps
            g[i] = (f(plus) - f(minus)) / (2 * eps)
        out[k] = g
    return out


def _check_directional(f, grads, params, n=4, seed=0):
    """grad . v against the central difference of f along random directions v (as autograd's
    check_grads does): cheap enough for every parameter at once."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        v = {k: rng.standard_normal(p.shape) for k, p in params.items()}
        eps = 1e-6
        fd = (f({k: params[k] + eps * v[k] for k in params})
              - f({k: params[k] - eps * v[k] for k in params})) / (2 * eps)
        exact = sum(np.sum(grads[k] * v[k]) for k in params)
        assert exact == pytest.approx(fd, rel=1e-6, abs=1e-9)


def _setup(cell, task="recall", steps=4, batch=2, hidden=3, seed=0):
    rng = np.random.default_rng(seed)
    batch_task = make_task(task, steps, batch, rng)
    params = init_model(cell, hidden, batch_task.inputs.shape[-1], batch_task.output_size,
                        scale=1.5, seed=seed)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    return batch_task, params


def _user_cell(params, state, x):
    """A cell no built-in knows: h' = tanh(W h + U x) * sigmoid(a) + 0.5 h."""
    a = anp.dot(state, params["W"].T) + anp.dot(x, params["U"].T)
    return anp.tanh(a) / (1 + anp.exp(-params["a"])) + 0.5 * state


@pytest.mark.parametrize("cell,task", [("rnn", "copy"), ("lstm", "adding"), ("gru", "recall"),
                                       ("gru_torch", "hello")])
def test_bptt_gradient_matches_finite_differences(cell, task):
    batch_task, params = _setup(cell, task, steps=3)
    c = get_cell(cell)
    s0 = np.zeros((2, c.state_size(params)))
    loss, grads, _ = bptt(c, params, batch_task, s0)
    assert set(grads) == set(params)
    _check_directional(lambda p: bptt(c, p, batch_task, s0)[0], grads, params)
    # and element by element for the recurrent weights, where BPTT does its work
    fd = _fd_grad(lambda w: bptt(c, {**params, **w}, batch_task, s0)[0],
                  {"weight_hh": params["weight_hh"]})
    np.testing.assert_allclose(grads["weight_hh"], fd["weight_hh"], rtol=1e-6, atol=1e-9)


def test_user_cell_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    batch_task = make_task("recall", 4, 2, rng)
    params = {"W": rng.standard_normal((3, 3)), "U": rng.standard_normal((3, 9)),
              "a": rng.standard_normal(3), "weight_out": rng.standard_normal((8, 3)),
              "bias_out": rng.standard_normal(8)}
    s0 = np.full((2, 3), 0.1)
    _, grads, _ = bptt(_user_cell, params, batch_task, s0)
    fd = _fd_grad(lambda p: bptt(_user_cell, p, batch_task, s0)[0], params)
    for k in params:
        np.testing.assert_allclose(grads[k], fd[k], rtol=1e-6, atol=1e-8, err_msg=k)
    result = train(_user_cell, "recall", steps=4, hidden=3, updates=3, params=params,
                   state0=np.full(3, 0.1), seed=0)
    assert len(result.loss) == 3 and not result.diverged


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_truncation_at_or_beyond_length_is_full_bptt(cell):
    batch_task, params = _setup(cell, "hello", steps=6)
    c = get_cell(cell)
    s0 = np.zeros((2, c.state_size(params)))
    full = bptt(c, params, batch_task, s0)
    for k in (6, 7, 100):
        trunc = bptt(c, params, batch_task, s0, truncation=k)
        assert trunc[0] == full[0]
        for name in params:
            np.testing.assert_allclose(trunc[1][name], full[1][name], rtol=1e-13, atol=1e-15)
    short = bptt(c, params, batch_task, s0, truncation=2)
    assert short[0] == pytest.approx(full[0], rel=1e-13)  # same forward pass
    np.testing.assert_allclose(short[2], full[2], rtol=1e-13)  # state carried forward
    assert not np.allclose(short[1]["weight_hh"], full[1]["weight_hh"])


def test_truncated_gradient_is_the_sum_of_window_gradients():
    # Oracle: finite differences of each window's loss with its entering state held fixed.
    batch_task, params = _setup("rnn", "hello", steps=4)
    c = get_cell("rnn")
    s0 = np.zeros((2, 3))
    _, grads, _ = bptt(c, params, batch_task, s0, truncation=2)
    from gradflow.engine.unroll import unroll
    s2 = unroll(c, params, batch_task.inputs[:2], s0)[-1]
    first = batch_task._replace(inputs=batch_task.inputs[:2], targets=batch_task.targets[:2],
                                loss_steps=np.arange(2))
    second = batch_task._replace(inputs=batch_task.inputs[2:], targets=batch_task.targets[2:],
                                 loss_steps=np.arange(2))
    fd1 = _fd_grad(lambda p: bptt(c, p, first, s0)[0], params)
    fd2 = _fd_grad(lambda p: bptt(c, p, second, s2)[0], params)
    for k in params:  # each window's mean counts half of the terms
        np.testing.assert_allclose(grads[k], 0.5 * (fd1[k] + fd2[k]), rtol=1e-6, atol=1e-9)


def test_one_sgd_step_by_hand():
    seed, lr = 3, 0.05
    result = train("rnn", "adding", steps=5, hidden=4, batch=3, updates=2, lr=lr, seed=seed)
    init_ss, data_ss = np.random.SeedSequence(seed).spawn(2)
    data = np.random.default_rng(data_ss)
    first = make_task("adding", 5, 3, data)
    p0 = init_model("rnn", 4, 2, 1, scale=1.0, seed=np.random.default_rng(init_ss))
    rnn = get_cell("rnn")
    s0 = np.zeros((3, 4))

    def mse(p):  # the adding loss written out independently of gradflow.training.tasks
        h = s0
        for x in first.inputs:
            h = np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
        y = h @ p["weight_out"].T + p["bias_out"]
        return np.mean((y - first.targets[0]) ** 2)

    assert result.loss[0] == pytest.approx(mse(p0), rel=1e-13)
    g = _fd_grad(mse, p0)
    p1 = {k: p0[k] - lr * g[k] for k in p0}
    second = make_task("adding", 5, 3, data)
    assert result.loss[1] == pytest.approx(bptt(rnn, p1, second, s0)[0], rel=1e-8)
    assert result.grad_norm_before[0] == pytest.approx(
        np.sqrt(sum(np.sum(v ** 2) for v in g.values())), rel=1e-7)


def test_seeded_runs_reproduce_exactly():
    kws = dict(steps=8, hidden=5, batch=4, updates=5, lr=0.1, optimizer="adam")
    a = train("gru", "copy", seed=11, **kws)
    b = train("gru", "copy", seed=11, **kws)
    c = train("gru", "copy", seed=12, **kws)
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.grad_norm_before, b.grad_norm_before)
    assert not np.any(a.loss == c.loss)


def test_diverging_run_is_reported_not_raised():
    # Exploding recurrent weights and an absurd step: the loss overflows to inf/nan.
    r = train("rnn", "adding", steps=30, hidden=8, batch=4, updates=200, lr=1e3, scale=3.0,
              seed=0, max_loss=np.inf)
    assert r.diverged and r.nonfinite[-1] and not r.nonfinite[:-1].any()
    assert len(r.loss) < 200 and np.isnan(r.grad_norm_after[-1])
    assert all(np.all(np.isfinite(v)) for v in r.params.values())
    big = train("rnn", "adding", steps=30, hidden=8, batch=4, updates=200, lr=1e3, scale=3.0,
                seed=0, max_loss=1e3)
    assert big.diverged and big.loss[-1] > 1e3 and np.all(big.loss[:-1] <= 1e3)
    s = summarize(r)
    assert s.diverged and s.updates == len(r.loss)


def test_clipping_inside_training():
    kws = dict(steps=20, hidden=8, batch=4, updates=15, lr=0.2, scale=2.5, seed=1)
    none, norm, value = clipping_ablation("rnn", "adding", thresholds=(0.5,), **kws)
    assert none.loss[0] == norm.loss[0] == value.loss[0]  # same model, same first batch
    np.testing.assert_array_equal(none.grad_norm_after, none.grad_norm_before)
    assert not none.clipped.any()
    assert np.all(norm.grad_norm_after <= 0.5 * (1 + 1e-12))
    np.testing.assert_array_equal(norm.clipped, norm.grad_norm_before >= 0.5)
    np.testing.assert_allclose(norm.grad_norm_after,
                               np.minimum(norm.grad_norm_before, 0.5), rtol=1e-12)
    assert norm.clipped.any()
    assert np.all(value.grad_norm_after <= value.grad_norm_before * (1 + 1e-12))


def test_optimizers_against_hand_formulas():
    p = {"w": np.array([1.0, -2.0])}
    g1, g2 = {"w": np.array([0.5, -4.0])}, {"w": np.array([-1.0, 2.0])}
    opt = momentum(0.1, beta=0.9)
    s, _ = opt.update(opt.init(p), g1)
    _, p2 = opt.update(s, g2)
    np.testing.assert_allclose(p2["w"], p["w"] - 0.1 * g1["w"] - 0.1 * (0.9 * g1["w"] + g2["w"]))
    opt = adam(0.01)
    _, p1 = opt.update(opt.init(p), g1)  # first Adam step: -lr * g / (|g| + eps)
    np.testing.assert_allclose(p1["w"], p["w"] - 0.01 * g1["w"] / (np.abs(g1["w"]) + 1e-8))
    opt = sgd(0.3)
    state = opt.init(p)
    _, p1 = opt.update(state, g1)
    np.testing.assert_allclose(p1["w"], p["w"] - 0.3 * g1["w"])
    assert np.array_equal(state.params["w"], [1.0, -2.0])  # pure: nothing mutated


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="optimizer"):
        train("rnn", "adding", steps=5, optimizer="lbfgs")
    with pytest.raises(ValueError, match="clipping mode"):
        train("rnn", "adding", steps=5, clip_mode="soft")
    with pytest.raises(ValueError, match="truncation"):
        train("rnn", "adding", steps=5, updates=1, truncation=0)
    with pytest.raises(ValueError, match="user cell"):
        train(_user_cell, "adding", steps=5)


@pytest.mark.parametrize("setting,value,match", [
    ("lr", np.nan, "learning rate"), ("lr", np.inf, "learning rate"), ("lr", 0.0, "learning rate"),
    ("scale", np.nan, "scale"), ("scale", -1.0, "scale"), ("scale", np.inf, "scale"),
    ("max_loss", np.nan, "max_loss"), ("max_loss", 0.0, "max_loss"),
    ("threshold", np.nan, "threshold"), ("threshold", np.inf, "threshold"),
    ("forget_bias", np.nan, "forget bias"),
])
def test_settings_no_run_can_use_raise_before_training(setting, value, match):
    calls = []
    with pytest.raises(ValueError, match=match):
        train("rnn", "adding", steps=5, updates=1, progress=lambda: calls.append(1),
              **{setting: value})
    assert calls == []


def test_max_loss_inf_means_no_limit():
    r = train("rnn", "adding", steps=5, hidden=3, batch=2, updates=2, max_loss=np.inf)
    assert len(r.loss) == 2 and not r.diverged


@pytest.mark.parametrize("kws,match", [
    ({"modes": ("none", "none")}, "given twice"), ({"modes": ("norm", "soft")}, "soft"),
    ({"modes": ()}, "at least one"), ({"thresholds": (1.0, 1.0)}, "given twice"),
    ({"thresholds": (np.nan,)}, "positive and finite"), ({"thresholds": ()}, "at least one"),
])
def test_ablation_refuses_runs_that_repeat_or_cannot_run(kws, match):
    with pytest.raises(ValueError, match=match):
        clipping_ablation("rnn", "adding", steps=5, updates=1, **kws)


def test_ablation_table_round_trip_in_every_format(tmp_path):
    from gradflow.io.results import read_table, write_table
    from gradflow.training import ablation_from_table, ablation_to_table
    runs = clipping_ablation("rnn", "adding", thresholds=(0.5, 2.0), steps=20, hidden=8,
                             batch=4, updates=12, lr=0.5, scale=3.0, seed=1, max_loss=1e2)
    assert runs[0].diverged and len(runs[0].loss) < 12  # a short, diverged run among them
    table = ablation_to_table(runs, window=4)
    assert table.kind == "clipping" and len(table) == sum(len(r.loss) for r in runs)
    assert table.metadata["summary"] == [summarize(r, 4)._asdict() for r in runs]
    for suffix in ("json", "npz", "csv"):
        path = tmp_path / f"a.{suffix}"
        write_table(path, table)
        back = ablation_from_table(read_table(path))
        assert [(r.metadata["clip_mode"], r.metadata["threshold"]) for r in back] == \
            [("none", 0.5), ("norm", 0.5), ("norm", 2.0), ("value", 0.5), ("value", 2.0)]
        for got, want in zip(back, runs):
            for name in ("loss", "grad_norm_before", "grad_norm_after", "clipped", "nonfinite"):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
            assert got.diverged == want.diverged
            if suffix == "csv":  # no metadata
                assert np.isnan(got.baseline)
            else:
                assert got.baseline == want.baseline
                assert got.metadata["task"] == "adding" and got.metadata["seed"] == 1


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("truncation", [None, 7])
@pytest.mark.parametrize("task", ["copy", "recall"])
def test_memory_estimate_is_above_the_measured_peak(cell, truncation, task):
    import tracemalloc

    from gradflow.training import memory_needed
    kws = dict(steps=120, hidden=24, batch=8)
    tracemalloc.start()
    try:
        train(cell, task, updates=1, truncation=truncation, **kws)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = memory_needed(cell, task, truncation=truncation, **kws)
    assert peak <= estimate <= 30 * peak


def test_training_that_cannot_fit_in_memory_is_refused_up_front(monkeypatch):
    import gradflow.training.loop as loop
    monkeypatch.setattr(loop, "available_bytes", lambda: 2**30)
    calls = []
    with pytest.raises(ValueError, match="GiB of memory"):
        train("lstm", "adding", steps=10_000, hidden=512, batch=64, updates=1,
              progress=lambda: calls.append(1))
    assert calls == []


@pytest.mark.parametrize("spec,cell,task", [("skip:2", "rnn", "recall"), ("dense:3", "gru", "copy"),
                                            ("highway", "lstm", "adding"),
                                            ("residual", "rnn", "recall")])
def test_bptt_gradient_of_a_skip_network_matches_finite_differences(spec, cell, task):
    c = transform(get_cell(cell), spec, scale=0.7, highway_bias=0.3)
    batch_task, params = _setup(c, task, steps=4)
    s0 = np.zeros((2, c.state_size(params)))
    loss, grads, _ = bptt(c, params, batch_task, s0)
    assert set(grads) == set(params) and set(c.extra_params) <= set(grads)
    _check_directional(lambda p: bptt(c, p, batch_task, s0)[0], grads, params)
    own = {k: params[k] for k in c.extra_params}  # the connection's own weights, one by one
    fd = _fd_grad(lambda w: bptt(c, {**params, **w}, batch_task, s0)[0], own)
    for k in own:
        np.testing.assert_allclose(grads[k], fd[k], rtol=1e-6, atol=1e-9)
