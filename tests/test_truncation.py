"""Truncated BPTT (`gradflow.analysis.truncation`) against independent routes: brute force
(autograd through the last k steps from a detached state, one loss term at a time), k >= T
(full BPTT), and closed forms of a linear RNN."""

import autograd
import autograd.numpy as anp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gradflow.analysis.network import Network  # noqa: E402
from gradflow.analysis.truncation import (  # noqa: E402
    default_truncations, keeps, language_model, output_block, truncated_bptt,
    truncated_gradients, truncation_from_table, truncation_to_table)
from gradflow.cells.builtin import rnn_linear  # noqa: E402
from gradflow.io.results import read_table, write_table  # noqa: E402
from gradflow.plotting.truncation import plot_truncation, plot_truncation_panels  # noqa: E402

T, H, V, SAMPLES = 7, 3, 4, 2
NETWORKS = [Network("rnn", hidden=H, input_size=V, steps=T, samples=SAMPLES, seed=3),
            Network("lstm", hidden=H, input_size=V, steps=T, samples=SAMPLES, seed=4),
            Network("gru", hidden=H, input_size=V, steps=T, samples=SAMPLES, seed=5),
            Network("rnn", hidden=H, input_size=V, steps=T, samples=SAMPLES, seed=6,
                    skip="skip:2", skip_scale=0.8),
            Network("lstm", hidden=H, input_size=V, steps=T, samples=SAMPLES, seed=7,
                    skip="skip:2", skip_scale=0.5)]


def brute_force(cell, params, symbols, readout, state0, k, loss, out):
    """g_k by its definition: for each loss term L_tau, the state k steps back as a plain
    numpy constant (autograd cannot see through it), the loss recomputed over the last k
    steps, and autograd's gradient over the parameters; summed over the terms."""
    S, T = symbols.shape[0], symbols.shape[1] - 1
    x = np.eye(len(readout))[symbols[:, :-1]]  # (S, T, V)
    states = [np.tile(state0, (S, 1))]
    for t in range(T):
        states.append(np.array([cell(params, states[-1][i], x[i, t]) for i in range(S)]))
    total = {key: np.zeros(np.shape(v)) for key, v in params.items()}
    for tau in (range(1, T + 1) if loss == "sum" else [T]):
        start = max(tau - k, 0)
        detached = np.array(states[start])

        def term(p, start=start, tau=tau, detached=detached):
            s = detached
            for t in range(start + 1, tau + 1):
                s = cell(p, s, x[:, t - 1])
            logits = anp.dot(out(s) if callable(out) else s[:, out], readout.T)
            target = logits[np.arange(S), symbols[:, tau]]
            return -anp.sum(anp.log(anp.exp(target) / anp.sum(anp.exp(logits), axis=1)))

        for key, g in autograd.grad(term)(params).items():
            total[key] = total[key] + g
    return np.concatenate([np.ravel(total[key]) for key in sorted(params)])


def pieces(net):
    built = net.build()
    out = output_block(built.cell, built.params)
    n_out = len(range(*out.indices(len(built.state0))))
    lm = language_model(net, n_out)
    return built, out, lm


@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: n.name)
@pytest.mark.parametrize("loss", ["last", "sum"])
def test_every_truncated_gradient_is_the_brute_force_one(net, loss):
    built, out, lm = pieces(net)
    inputs = np.eye(V)[lm.symbols[:, :-1]]
    ks = [3, 1, 9, 2, 7, 5]  # any order; 9 > T is full BPTT
    g = truncated_gradients(built.cell, built.params, inputs, lm.symbols[:, 1:], lm.readout,
                            state0=built.state0, truncations=ks, loss=loss, out=out)
    assert g.truncations.tolist() == [1, 2, 3, 5, 7, 9]
    full = brute_force(built.cell, built.params, lm.symbols, lm.readout, built.state0, T,
                       loss, out)
    scale = np.linalg.norm(full)
    assert scale > 0
    np.testing.assert_allclose(g.full, full, rtol=0, atol=1e-10 * scale)
    for k, kept, lost in zip(g.truncations, g.kept, g.lost):
        oracle = brute_force(built.cell, built.params, lm.symbols, lm.readout, built.state0,
                             int(k), loss, out)
        np.testing.assert_allclose(kept, oracle, rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(lost, full - oracle, rtol=0, atol=1e-10 * scale)


def test_a_residual_stack_reads_out_its_top_plus_the_layer_below():
    """Two GRU layers joined by an identity connection: the readout sees s^(1) + s^(0) (the
    state is (s^(0), s^(1)), H entries each), written out here for the oracle."""
    net = Network("gru", layers=2, layer_residual=True, hidden=H, input_size=V, steps=T,
                  samples=SAMPLES, seed=8)
    built = net.build()
    lm = language_model(net, H)
    inputs = np.eye(V)[lm.symbols[:, :-1]]
    g = truncated_gradients(built.cell, built.params, inputs, lm.symbols[:, 1:], lm.readout,
                            state0=built.state0, truncations=[1, 3, T], loss="sum",
                            out=output_block(built.cell, built.params))
    def top_plus_below(s):
        return s[..., H:2 * H] + s[..., :H]
    for k, kept in zip(g.truncations, g.kept):
        oracle = brute_force(built.cell, built.params, lm.symbols, lm.readout, built.state0,
                             int(k), "sum", top_plus_below)
        np.testing.assert_allclose(kept, oracle, rtol=0, atol=1e-10 * np.linalg.norm(oracle))


@pytest.mark.parametrize("net", NETWORKS[:4], ids=lambda n: n.name)
def test_the_curves_are_the_brute_force_cosines_and_lost_shares(net):
    built, out, lm = pieces(net)
    result = truncated_bptt(net, truncations=[1, 2, 4, T])
    assert result.cell == net.name and result.losses == ("last", "sum")
    for i, loss in enumerate(result.losses):
        full = brute_force(built.cell, built.params, lm.symbols, lm.readout, built.state0, T,
                           loss, out)
        for j, k in enumerate(result.truncations):
            g = brute_force(built.cell, built.params, lm.symbols, lm.readout, built.state0,
                            int(k), loss, out)
            cos = g @ full / (np.linalg.norm(g) * np.linalg.norm(full))
            lost = np.linalg.norm(full - g) / np.linalg.norm(full)
            assert result.cosine[i, j] == pytest.approx(cos, abs=1e-10)
            assert result.lost_share[i, j] == pytest.approx(lost, abs=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_full_bptt_keeps_everything(cell):
    net = Network(cell, hidden=16, input_size=5, steps=30, samples=2, seed=1)
    result = truncated_bptt(net, truncations=[30])
    np.testing.assert_allclose(result.cosine, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.lost_share, 0.0, rtol=0, atol=1e-12)
    built, out, lm = pieces(net)
    inputs = np.eye(5)[lm.symbols[:, :-1]]
    for loss in ("last", "sum"):
        g = truncated_gradients(built.cell, built.params, inputs, lm.symbols[:, 1:],
                                lm.readout, state0=built.state0, truncations=[30, 31, 100],
                                loss=loss, out=out)
        np.testing.assert_array_equal(g.lost, 0.0)
        for kept in g.kept:
            np.testing.assert_allclose(kept, g.full, rtol=1e-14, atol=0)


def _linear_rnn(a, c):
    """H = 1, V = 2: h_t = a h_{t-1} + c x_t[0] (biases zero, x_t[1] unweighted)."""
    return {"weight_hh": np.array([[a]]), "weight_ih": np.array([[c, 0.0]]),
            "bias_ih": np.zeros(1), "bias_hh": np.zeros(1)}


@pytest.mark.parametrize("a,c,steps", [(0.7, 0.9, 6), (-0.5, 1.3, 9), (1.2, -0.4, 5)])
def test_one_step_truncation_of_a_linear_rnn_has_a_closed_form(a, c, steps):
    # Every input is e_0 and h_0 = 0, so h_t = c (1 - a^t) / (1 - a). The loss at the last step
    # has dL/dh_T = delta and dL/dh_t = delta a^(T-t); the parameters' own derivatives at step t
    # are h_{t-1} (weight_hh), x_t = e_0 (weight_ih) and 1 (each bias). With
    #   B = sum_{t=1..T} a^(T-t) = (1 - a^T) / (1 - a),
    #   A = sum_{t=1..T} a^(T-t) h_{t-1} = c / (1 - a) (B - T a^(T-1)),
    # g_T = delta (b_hh: B, b_ih: B, W_hh: A, W_ih: (B, 0)) and g_1 = delta (1, 1, h_{T-1}, (1, 0)):
    #   lost share = sqrt((A - h_{T-1})^2 + 3 (B - 1)^2) / sqrt(A^2 + 3 B^2),
    # whatever delta (the readout and the target) is.
    T = steps
    h = lambda t: c * (1 - a ** t) / (1 - a)  # noqa: E731
    B = (1 - a ** T) / (1 - a)
    A = c / (1 - a) * (B - T * a ** (T - 1))
    expected = np.sqrt((A - h(T - 1)) ** 2 + 3 * (B - 1) ** 2) / np.sqrt(A ** 2 + 3 * B ** 2)
    inputs = np.tile([1.0, 0.0], (1, T, 1))
    g = truncated_gradients(rnn_linear, _linear_rnn(a, c), inputs, np.ones((1, T), int),
                            np.array([[1.0], [-0.5]]), state0=np.zeros(1), truncations=[1],
                            loss="last")
    lost = np.linalg.norm(g.lost[0]) / np.linalg.norm(g.full)
    assert lost == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss", ["last", "sum"])
def test_without_recurrence_one_step_is_everything(loss):
    # W_hh = 0 (identity init at scale 0): s_t does not depend on s_{t-1}, so the lags
    # beyond 0 contribute nothing and k = 1 is already full BPTT.
    net = Network("rnn", activation="linear", init="identity", scale=0.0, hidden=4,
                  input_size=3, steps=12, samples=2)
    result = truncated_bptt(net, truncations=[1, 5], losses=[loss])
    np.testing.assert_allclose(result.cosine, 1.0, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(result.lost_share, 0.0)


def test_the_language_model_draws_from_the_seed_and_keeps_them_as_samples_grow():
    net = Network("lstm", hidden=5, input_size=6, steps=40, samples=2, seed=11)
    one = language_model(net, 5)
    again = language_model(net, 5)
    more = language_model(net.replace(samples=4), 5)
    other = language_model(net.replace(seed=12), 5)
    assert one.symbols.shape == (2, 41) and one.readout.shape == (6, 5)
    assert one.symbols.min() >= 0 and one.symbols.max() < 6
    assert set(np.ravel(language_model(net.replace(samples=8), 5).symbols)) == set(range(6))
    np.testing.assert_array_equal(one.symbols, again.symbols)
    np.testing.assert_array_equal(more.symbols[:2], one.symbols)
    np.testing.assert_array_equal(more.readout, one.readout)
    assert not np.array_equal(other.symbols, one.symbols)


def test_the_readout_sees_the_output():
    H = 4
    for net, expected in [(Network("lstm", hidden=H), slice(0, H)),
                          (Network("lstm", hidden=H, skip="skip:3"), slice(0, H)),
                          (Network("rnn", hidden=H, skip="dense:2"), slice(0, H)),
                          (Network("gru", hidden=H, skip="highway"), slice(None))]:
        built = net.build()
        got = output_block(built.cell, built.params)
        assert range(*got.indices(len(built.state0))) == \
            range(*expected.indices(len(built.state0))), net.name


def test_default_grid_spreads_from_one_to_T():
    assert default_truncations(100).tolist() == [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 50,
                                                 60, 80, 100]
    assert default_truncations(7).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert default_truncations(1).tolist() == [1]
    assert default_truncations(250)[-3:].tolist() == [150, 200, 250]


def test_keeps_is_the_smallest_k_from_which_the_cosine_stays_above_the_level():
    net = Network("rnn", hidden=4, input_size=3, steps=6)
    result = truncated_bptt(net, truncations=[1, 2, 3, 6], losses=["sum"])
    fake = result.__class__(cell="x", losses=("sum",), truncations=np.array([1, 2, 3, 6]),
                            cosine=np.array([[0.95, 0.85, 0.92, 1.0]]),
                            lost_share=result.lost_share)
    assert keeps(fake, "sum") == 3
    assert keeps(fake, "sum", level=0.8) == 1
    below = fake.__class__(**{**fake.__dict__, "cosine": np.array([[0.95, 0.9, 0.92, 0.5]])})
    assert keeps(below, "sum") is None


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_the_table_round_trips(suffix, tmp_path):
    results = [truncated_bptt(Network(c, hidden=3, input_size=3, steps=5), [1, 3, 5])
               for c in ("rnn", "gru")]
    path = tmp_path / f"r.{suffix}"
    write_table(path, truncation_to_table(results))
    table = read_table(path)
    assert list(table.columns) == ["cell", "loss", "truncation", "cosine", "lost_share"]
    back = truncation_from_table(table)
    assert [r.cell for r in back] == ["rnn", "gru"]
    for r, b in zip(results, back):
        assert b.losses == r.losses
        np.testing.assert_array_equal(b.truncations, r.truncations)
        np.testing.assert_allclose(b.cosine, r.cosine, rtol=1e-15)
        np.testing.assert_allclose(b.lost_share, r.lost_share, rtol=1e-15)
        if suffix != "csv":
            assert b.metadata["vocabulary"] == 3 and b.metadata["cell"] == r.cell


@pytest.mark.parametrize("kwargs,message", [
    ({"truncations": [0, 2]}, "outside 1..T"), ({"truncations": [2, 9]}, "outside 1..T"),
    ({"truncations": []}, "at least one truncation"), ({"truncations": [2, 2]}, "repeated"),
    ({"losses": ["mean"]}, "unknown loss"), ({"losses": []}, "at least one loss"),
    ({"losses": ["sum", "sum"]}, "given twice")])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        truncated_bptt(Network("rnn", hidden=3, steps=8), **kwargs)


def test_fixed_inputs_and_overflow_are_refused():
    fixed = Network("rnn", hidden=3, inputs=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="one-hot"):
        truncated_bptt(fixed)
    exploding = Network("rnn", activation="linear", init="identity", scale=1e80, hidden=2,
                        steps=8)
    with pytest.raises(ValueError, match="not finite at step"):
        truncated_bptt(exploding)


def test_the_plot_draws_a_line_per_cell_and_loss_on_the_axes_given():
    results = [truncated_bptt(Network(c, hidden=3, input_size=3, steps=6), [1, 2, 6],
                              losses=losses) for c, losses in (("rnn", ["last", "sum"]),
                                                               ("gru", ["sum"]))]
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_truncation(results, ax=left) is left
    lines = [line for line in left.get_lines() if len(line.get_xdata()) == 3]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "--"]
    np.testing.assert_array_equal(lines[2].get_ydata(), results[1].cosine[0])
    assert left.get_xscale() == "log"
    plot_truncation(results[0], ax=right, quantity="lost_share", legend=False)
    np.testing.assert_array_equal(right.get_lines()[1].get_ydata(), results[0].lost_share[1])
    with pytest.raises(ValueError, match="unknown quantity"):
        plot_truncation(results, ax=right, quantity="norm")
    with pytest.raises(ValueError, match="need 2 Axes"):
        plot_truncation_panels(results, [left])
    plt.close(fig)
