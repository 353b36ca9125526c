"""Deep and bidirectional networks: the depth x time map and the input sensitivity against
brute-force autograd over the whole unrolled network (a forward pass written here, with the
perturbation added where the definition puts it), closed forms of linear stacks, and
parameters that change with the step (the deep feed-forward network)."""

import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from hypothesis import given, settings, strategies as st

import gradflow as gf
from gradflow.analysis.depth import depth_map, feedforward_flow, sensitivity
from gradflow.cells.feedforward import PerStep, mlp, mlp_params
from gradflow.cells.layers import bidirectional, layer_params, stack
from gradflow.cells.skips import transform
from gradflow.engine.depth import depth_flow, input_sensitivity
from gradflow.engine.layered import forward

TOL = 1e-10


def _log_norms(M):
    if not np.any(M):
        return -np.inf, -np.inf
    return np.log10(np.linalg.norm(M, 2)), np.log10(np.linalg.norm(M))


def _out(cell, params, s):
    """What a layer passes up, written out: the LSTM's h (its first H entries), else s."""
    return s[:np.shape(params["weight_hh"])[1]] if cell is gf.lstm else s


def _unrolled_top(cells, params, x, residual, layer, step, eps):
    """s^(L-1)_T with eps added to layer `layer`'s state right after step `step` computes it."""
    states = [np.zeros(c.state_size(layer_params(params, f"_l{l}"))) for l, c in enumerate(cells)]
    for t in range(1, len(x) + 1):
        u, new = x[t - 1], []
        for l, c in enumerate(cells):
            p = layer_params(params, f"_l{l}")
            s = c(p, states[l], u)
            if (l, t) == (layer, step):
                s = s + eps
            new.append(s)
            u = _out(c, p, s) + u if residual and l > 0 else _out(c, p, s)
        states = new
    return states[-1]


def _unrolled_output(cells, params, x, residual, tau):
    states = [np.zeros(c.state_size(layer_params(params, f"_l{l}"))) for l, c in enumerate(cells)]
    for t in range(1, tau + 1):
        u, new = x[t - 1], []
        for l, c in enumerate(cells):
            p = layer_params(params, f"_l{l}")
            s = c(p, states[l], u)
            new.append(s)
            u = _out(c, p, s) + u if residual and l > 0 else _out(c, p, s)
        states = new
    return u


@pytest.mark.parametrize("residual", [False, True])
def test_depth_map_is_the_total_derivative_of_the_unrolled_network(residual):
    cells = [gf.rnn, gf.lstm, gf.gru]
    H, T = 4, 6
    D = H if residual else 3
    net = stack(cells, residual=residual)
    params = gf.init_params(net, H, D, seed=1)
    x = np.random.default_rng(2).standard_normal((T, D))
    flow = depth_flow(net, params, x)
    assert flow.log10_spectral_norm.shape == (3, T)
    for l, c in enumerate(cells):
        n = c.state_size(layer_params(params, f"_l{l}"))
        for d in range(T):
            J = jacobian(lambda e: _unrolled_top(cells, params, x, residual, l, T - d, e))(
                np.zeros(n))
            spec, frob = _log_norms(J)
            assert flow.log10_spectral_norm[l, d] == pytest.approx(spec, abs=TOL)
            assert flow.log10_frobenius_norm[l, d] == pytest.approx(frob, abs=TOL)


def test_depth_map_lstm_blocks_are_dh_dh_and_dc_dc():
    cells = [gf.lstm, gf.lstm]
    H, D, T = 3, 2, 5
    net = stack(cells)
    params = gf.init_params(net, H, D, seed=4)
    x = np.random.default_rng(5).standard_normal((T, D))
    flow = depth_flow(net, params, x)
    for l in range(2):
        for d in range(T):
            J = jacobian(lambda e: _unrolled_top(cells, params, x, False, l, T - d, e))(
                np.zeros(2 * H))
            for name, rows in (("h", slice(0, H)), ("c", slice(H, 2 * H))):
                spec, frob = _log_norms(J[rows, rows])
                got = flow.blocks[name]
                assert got[0][l, d] == pytest.approx(spec, abs=TOL)
                assert got[1][l, d] == pytest.approx(frob, abs=TOL)


@pytest.mark.parametrize("residual", [False, True])
def test_input_sensitivity_of_a_stack_against_autograd(residual):
    cells = [gf.gru, gf.rnn, gf.lstm]
    H, T = 4, 7
    D = H if residual else 2
    net = stack(cells, residual=residual)
    params = gf.init_params(net, H, D, seed=6)
    x = np.random.default_rng(7).standard_normal((T, D))
    for tau in (1, 4, T):
        sens = input_sensitivity(net, params, x, tau)
        J = jacobian(lambda xx: _unrolled_output(cells, params, xx, residual, tau))(x)
        for t in range(T):
            spec, frob = _log_norms(J[:, t, :])
            assert sens.log10_spectral_norm[t] == pytest.approx(spec, abs=TOL)
            assert sens.log10_frobenius_norm[t] == pytest.approx(frob, abs=TOL)
        assert not sens.directions


def _bidirectional_outputs(cells, params, x, residual):
    u, T = x, len(x)
    for l, c in enumerate(cells):
        halves = []
        for end, order in ((f"_l{l}", range(T)), (f"_l{l}_reverse", range(T - 1, -1, -1))):
            p = layer_params(params, end)
            s, out = np.zeros(c.state_size(p)), [None] * T
            for t in order:
                s = c(p, s, u[t])
                out[t] = _out(c, p, s)
            halves.append(out)
        y = anp.stack([anp.concatenate([f, r]) for f, r in zip(*halves)])
        u = y + u if residual and l > 0 else y
    return u


@pytest.mark.parametrize("cells,residual", [([gf.lstm, gf.gru_torch], False),
                                            ([gf.rnn, gf.rnn, gf.rnn], True)])
def test_bidirectional_outputs_and_sensitivity_against_autograd(cells, residual):
    H, D, T = 4, 3, 7
    net = bidirectional(cells, residual=residual)
    params = gf.init_params(net, H, D, seed=3)
    x = np.random.default_rng(4).standard_normal((T, D))
    np.testing.assert_allclose(forward(net, params, x).outputs,
                               _bidirectional_outputs(cells, params, x, residual), atol=1e-14)
    for tau in (1, 4, T):
        J = jacobian(lambda xx: _bidirectional_outputs(cells, params, xx, residual)[tau - 1])(x)
        sens = input_sensitivity(net, params, x, tau)
        parts = {"forward": slice(0, H), "reverse": slice(H, 2 * H)}
        for t in range(T):
            spec, frob = _log_norms(J[:, t, :])
            assert sens.log10_spectral_norm[t] == pytest.approx(spec, abs=TOL)
            assert sens.log10_frobenius_norm[t] == pytest.approx(frob, abs=TOL)
            for name, rows in parts.items():
                spec, frob = _log_norms(J[rows, t, :])
                assert sens.directions[name][0][t] == pytest.approx(spec, abs=TOL)
                assert sens.directions[name][1][t] == pytest.approx(frob, abs=TOL)


def test_one_layer_bidirectional_halves_see_only_their_side():
    """A single bidirectional layer: the forward half of y_tau depends on x_1..x_tau only, the
    backward half on x_tau..x_T only (exact zeros, -inf, on the other side)."""
    net = bidirectional([gf.rnn])
    params = gf.init_params(net, 5, 2, seed=0)
    x = np.random.default_rng(0).standard_normal((9, 2))
    sens = input_sensitivity(net, params, x, 4)
    fwd, rev = sens.directions["forward"][0], sens.directions["reverse"][0]
    assert np.all(np.isfinite(fwd[:4])) and np.all(fwd[4:] == -np.inf)
    assert np.all(rev[:3] == -np.inf) and np.all(np.isfinite(rev[3:]))


def _linear_stack(L, H, a, c):
    net = stack([gf.rnn_linear] * L)
    params = {}
    for l in range(L):
        params.update({f"weight_ih_l{l}": c * np.eye(H), f"weight_hh_l{l}": a * np.eye(H),
                       f"bias_ih_l{l}": np.zeros(H), f"bias_hh_l{l}": np.zeros(H)})
    return net, params


def _paths(d, m, a, c):
    """log10 of C(d + m, m) a^d c^m: the C(d + m, m) paths of d steps in time (factor a each)
    and m steps up the layers (factor c each), in any order."""
    return math.log10(math.comb(d + m, m)) + d * math.log10(a) + m * math.log10(c)


@settings(max_examples=25, deadline=None)
@given(L=st.integers(1, 4), a=st.floats(0.2, 1.5), c=st.floats(0.2, 2.0), T=st.integers(1, 12))
def test_linear_stack_depth_map_is_a_binomial_sum_of_paths(L, a, c, T):
    """W_hh = a I, W_ih = c I: from s^(l)_{T-d} to s^(L-1)_T a path takes d steps in time
    (factor a each) and m = L-1-l steps up (factor c each), in any order: C(d + m, m) paths,
    so ds^(L-1)_T/ds^(l)_{T-d} = C(d + m, m) a^d c^m I, and the Frobenius norm is sqrt(H)
    times the spectral one."""
    H = 3
    net, params = _linear_stack(L, H, a, c)
    x = np.random.default_rng(0).standard_normal((T, H))
    flow = depth_flow(net, params, x)
    for l in range(L):
        m = L - 1 - l
        for d in range(T):
            expected = _paths(d, m, a, c)
            assert flow.log10_spectral_norm[l, d] == pytest.approx(expected, abs=1e-11)
            assert flow.log10_frobenius_norm[l, d] == pytest.approx(
                expected + 0.5 * math.log10(H), abs=1e-11)


def test_linear_stack_far_beyond_float_range():
    """T = 3000, a = 0.5: the map reaches 10^-900 at the far end, and stays exact."""
    L, H, a, c, T = 3, 2, 0.5, 1.5, 3000
    net, params = _linear_stack(L, H, a, c)
    flow = depth_flow(net, params, np.zeros((T, H)))
    d = T - 1
    for l in range(L):
        m = L - 1 - l
        assert flow.log10_spectral_norm[l, d] == pytest.approx(_paths(d, m, a, c), abs=1e-9)
    assert flow.log10_spectral_norm[0, d] < -800


@pytest.mark.parametrize("a", [1e200, 1e-200])
def test_linear_stack_with_a_step_factor_near_the_float_limits(a):
    """W_hh = 1e200 I: one step's adjoint has entries near 1e200, whose squares overflow a
    plain norm (and 1e-200 underflow); the binomial closed form holds at every distance, in
    the depth map and in the input sensitivity, whose states overflow to inf on the way."""
    L, H, c, T = 2, 3, 1.5, 6
    net, params = _linear_stack(L, H, a, c)
    x = np.random.default_rng(1).standard_normal((T, H))
    flow = depth_flow(net, params, x)
    sens = input_sensitivity(net, params, x)
    for l in range(L):
        for d in range(T):
            assert flow.log10_spectral_norm[l, d] == pytest.approx(_paths(d, L - 1 - l, a, c),
                                                                   abs=1e-11)
    for d in range(T):  # x_{T-d} enters layer 0 with c and climbs L - 1 layers more
        assert sens.log10_spectral_norm[T - 1 - d] == pytest.approx(
            _paths(d, L - 1, a, c) + math.log10(c), abs=1e-11)


def test_linear_stack_input_sensitivity_closed_form():
    """y_tau = s^(L-1)_tau; x_t enters layer 0 with c, so dy_tau/dx_t = C(d + L-1, L-1) a^d
    c^L I for d = tau - t >= 0, and 0 for t > tau."""
    L, H, a, c, T, tau = 3, 2, 0.8, 1.3, 10, 7
    net, params = _linear_stack(L, H, a, c)
    sens = input_sensitivity(net, params, np.zeros((T, H)), tau)
    for t in range(1, T + 1):
        d = tau - t
        if d < 0:
            assert sens.log10_spectral_norm[t - 1] == -np.inf
            continue
        assert sens.log10_spectral_norm[t - 1] == pytest.approx(
            _paths(d, L - 1, a, c) + math.log10(c), abs=1e-12)


def test_zero_weights_between_layers_decouple_them():
    net = stack([gf.rnn, gf.gru, gf.rnn])
    params = gf.init_params(net, 4, 3, seed=2)
    params["weight_ih_l2"] = np.zeros_like(params["weight_ih_l2"])
    flow = depth_flow(net, params, np.random.default_rng(1).standard_normal((8, 3)))
    assert np.all(flow.log10_spectral_norm[:2] == -np.inf)
    assert np.all(flow.log10_frobenius_norm[:2] == -np.inf)
    assert np.all(np.isfinite(flow.log10_spectral_norm[2]))


def test_top_layer_row_is_its_own_gradient_flow():
    """For the top layer, d >= 1: ds^(L-1)_T/ds^(L-1)_{T-d} is the top layer's own product,
    which gradient_flow of the top cell on the inputs it read must give."""
    net = stack([gf.lstm, gf.gru])
    params = gf.init_params(net, 5, 3, seed=8)
    x = np.random.default_rng(9).standard_normal((12, 3))
    flow = depth_flow(net, params, x)
    run = forward(net, params, x)
    own = gf.gradient_flow(gf.gru, layer_params(params, "_l1"), run.reads[1])
    np.testing.assert_allclose(flow.log10_spectral_norm[1, 1:], own.log10_spectral_norm[:-1],
                               atol=1e-12)
    assert flow.log10_spectral_norm[1, 0] == pytest.approx(0.0, abs=1e-15)


def test_a_stack_is_a_cell_every_analysis_takes():
    net = gf.Network("gru", layers=3, hidden=6, steps=15, samples=2)
    built = net.build()
    assert sorted(built.params)[:2] == ["bias_hh_l0", "bias_hh_l1"]
    assert built.state0.shape == (18,)
    profile = gf.decay_profile(net)
    assert profile.mean["spectral"].shape == (15,)
    exps = gf.lyapunov_spectrum(built.cell, built.params, built.sequences[0], k=3)
    assert exps.shape == (3,) and exps[0] >= exps[-1]
    assert net.metadata()["layers"] == 3
    one = stack([gf.rnn])
    p1 = gf.init_params(one, 4, 2, seed=0)
    plain = {k[:-3]: v for k, v in p1.items()}
    x = np.random.default_rng(0).standard_normal((10, 2))
    np.testing.assert_array_equal(gf.gradient_flow(one, p1, x).log10_spectral_norm,
                                  gf.gradient_flow(gf.rnn, plain, x).log10_spectral_norm)


def test_bidirectional_network_is_refused_where_a_cell_is_needed():
    net = gf.Network("rnn", layers=2, bidirectional=True, hidden=4, steps=5)
    with pytest.raises(ValueError, match="not a cell"):
        gf.decay_profile(net)
    with pytest.raises(ValueError, match="forwards in time"):
        depth_map(net)
    assert sensitivity(net).mean["forward"]["spectral"].shape == (5,)


def test_output_step_outside_the_sequence_is_refused():
    net = stack([gf.rnn, gf.rnn])
    params = gf.init_params(net, 3, 2, seed=0)
    for tau in (0, 6):
        with pytest.raises(ValueError, match="output_step"):
            input_sensitivity(net, params, np.zeros((5, 2)), tau)


def test_residual_layers_need_equal_sizes():
    """Layer 1 reads the 4 outputs of layer 0 but has 3 units: no identity connection fits."""
    rng = np.random.default_rng(0)
    params = {"weight_ih_l0": rng.standard_normal((4, 2)), "weight_hh_l0": np.eye(4),
              "bias_ih_l0": np.zeros(4), "bias_hh_l0": np.zeros(4),
              "weight_ih_l1": rng.standard_normal((3, 4)), "weight_hh_l1": np.eye(3),
              "bias_ih_l1": np.zeros(3), "bias_hh_l1": np.zeros(3)}
    x = rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match="equal sizes: layer 1 reads 4 and gives 3"):
        forward(stack([gf.rnn, gf.rnn], residual=True), params, x)
    assert forward(stack([gf.rnn, gf.rnn]), params, x).outputs.shape == (5, 3)


# Parameters that change with the step: the deep feed-forward network.

@pytest.mark.parametrize("spec", [None, "residual", "dense:3", "highway"])
def test_feedforward_chain_against_autograd(spec):
    L, n = 9, 5
    cell = transform(mlp, spec)
    params = mlp_params(cell, L, n, seed=2)
    y0 = np.random.default_rng(1).standard_normal(n)
    s0 = np.tile(y0, cell.state_size(params[0]) // n)
    flow = gf.gradient_flow(cell, params, state0=s0, steps=L)

    def top(e, layer):  # y_L with e added to y_layer (layer 0: the input)
        pad = anp.concatenate([e, anp.zeros(len(s0) - n)])
        s = s0 + pad if layer == 0 else s0
        for t in range(L):
            s = cell(params[t], s, None)
            if t + 1 == layer:
                s = s + pad
        return s[:n]

    for d in range(1, L + 1):
        J = jacobian(lambda e: top(e, L - d))(np.zeros(n))
        spec_, frob = _log_norms(J)
        assert flow.log10_spectral_norm[d - 1] == pytest.approx(spec_, abs=TOL)
        assert flow.log10_frobenius_norm[d - 1] == pytest.approx(frob, abs=TOL)


def test_per_step_linear_chain_closed_form():
    """s_t = a_t s_{t-1}: ds_T/ds_{T-d} = a_T ... a_{T-d+1} I."""
    def scaled(params, state, x):
        return params["a"] * state
    scaled.state_size = lambda params: 3
    a = np.array([0.5, 2.0, 3.0, 0.1, 1.5])
    flow = gf.gradient_flow(scaled, PerStep([{"a": v} for v in a]), state0=np.ones(3), steps=5)
    expected = np.cumsum(np.log10(a[::-1]))
    np.testing.assert_allclose(flow.log10_spectral_norm, expected, atol=1e-14)
    with pytest.raises(ValueError, match="5 steps"):
        gf.gradient_flow(scaled, PerStep([{"a": v} for v in a]), state0=np.ones(3), steps=4)


def test_feedforward_flow_indexes_layers_from_the_input():
    f = feedforward_flow(None, depth=6, width=4, scale=0.5, seed=3)
    assert f.layer.tolist() == list(range(6))
    assert f.log10_spectral_norm[0] < f.log10_spectral_norm[-1]  # the input is furthest back


def test_stack_trains_on_its_top_output_with_exact_gradients():
    """The read-out of a stack reads the top layer's h (here an LSTM's first H entries of the
    top block), and BPTT's gradient through two layers matches central finite differences."""
    from gradflow.training.loop import bptt, init_model, readout
    from gradflow.training.tasks import make_task

    net = stack([gf.gru, gf.lstm])
    H = 3
    task = make_task("recall", 3, 2, np.random.default_rng(0))
    params = init_model(net, H, task.inputs.shape[-1], task.output_size, seed=1)
    state = np.random.default_rng(2).standard_normal(net.state_size(params))
    top_h = state[H:2 * H]  # layer 0 (GRU) holds 3 entries, then the LSTM's h, c
    np.testing.assert_allclose(readout(params, state, net),
                               params["weight_out"] @ top_h + params["bias_out"], atol=1e-15)
    s0 = np.zeros((2, net.state_size(params)))
    loss, grads, _ = bptt(net, params, task, s0)
    for key in ("weight_hh_l0", "weight_ih_l1", "bias_hh_l1"):
        flat = params[key].reshape(-1)
        for i in (0, flat.size - 1):
            bumped = []
            for h in (1e-6, -1e-6):
                p = {k: v.copy() for k, v in params.items()}
                p[key].reshape(-1)[i] += h
                bumped.append(bptt(net, p, task, s0)[0])
            fd = (bumped[0] - bumped[1]) / 2e-6
            assert grads[key].reshape(-1)[i] == pytest.approx(fd, rel=1e-6, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(L=st.integers(1, 3), T=st.integers(2, 40), seed=st.integers(0, 2 ** 31 - 1))
def test_diagonal_linear_stacks_leaders_that_overtake(L, T, seed):
    """Linear layers with diagonal W_hh = diag(a^(l)) and W_ih = diag(c^(l)), n = 70 units
    (above the size where spectral norms switch from a full SVD to Krylov with warm starts):
    every map is diagonal and its leading coordinate changes with d. The oracle is a scalar
    recursion per coordinate: V(j, t) = a^(j) V(j, t+1) + c^(j+1) V(j+1, t), V(L-1, T) = 1."""
    n = 70
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.2, 1.2, (L, n)) * rng.choice([-1, 1], (L, n))
    c = rng.uniform(0.2, 2.0, (L, n))
    net = stack([gf.rnn_linear] * L)
    params = {}
    for l in range(L):
        params.update({f"weight_ih_l{l}": np.diag(c[l]), f"weight_hh_l{l}": np.diag(a[l]),
                       f"bias_ih_l{l}": np.zeros(n), f"bias_hh_l{l}": np.zeros(n)})
    flow = depth_flow(net, params, np.zeros((T, n)))
    V = np.zeros((L, T + 2, n))  # V[j, t]: d s^(L-1)_T[i] / d s^(j)_t[i], t = 1..T
    for t in range(T, 0, -1):
        for j in range(L - 1, -1, -1):
            V[j, t] = (1.0 if (j, t) == (L - 1, T) else 0.0) + a[j] * V[j, t + 1] \
                + (c[j + 1] * V[j + 1, t] if j + 1 < L else 0.0)
    for j in range(L):
        for d in range(T):
            v = np.abs(V[j, T - d])
            assert flow.log10_spectral_norm[j, d] == pytest.approx(np.log10(v.max()), abs=1e-10)
            assert flow.log10_frobenius_norm[j, d] == pytest.approx(
                0.5 * np.log10(np.sum(v ** 2)), abs=1e-10)


@pytest.mark.parametrize("spec", ["skip:3", "dense:2", "highway"])
def test_input_sensitivity_of_skip_networks_against_autograd(spec):
    """A skip connection in time carries past states; y_tau is the network's own output (the
    LSTM's h of s_tau), written out here from the first H entries of the augmented state."""
    base = gf.lstm
    cell = transform(base, spec)
    H, D, T, tau = 3, 2, 8, 6
    params = gf.init_params(cell, H, D, seed=5)
    x = np.random.default_rng(6).standard_normal((T, D))

    def y(xx):
        s = np.zeros(cell.state_size(params))
        for t in range(tau):
            s = cell(params, s, xx[t])
        return s[:H]

    J = jacobian(y)(x)
    sens = input_sensitivity(cell, params, x, tau)
    for t in range(T):
        spec_, frob = _log_norms(J[:, t, :])
        assert sens.log10_spectral_norm[t] == pytest.approx(spec_, abs=TOL)
        assert sens.log10_frobenius_norm[t] == pytest.approx(frob, abs=TOL)


@pytest.mark.parametrize("base", [gf.rnn, gf.gru])
def test_a_layer_with_a_skip_of_lag_k_passes_only_its_state_up(base):
    """s_t of rnn+skip:3 is the first H entries of its augmented state (s_t, s_{t-1}, s_{t-2}):
    the layer above reads those H numbers, written out here with numpy by hand."""
    H, D, T = 3, 2, 6
    layer = transform(base, "skip:3")
    net = stack([layer, layer])
    params = gf.init_params(net, H, D, seed=4)
    assert params["weight_ih_l1"].shape[1] == H
    x = np.random.default_rng(5).standard_normal((T, D))
    s0, s1 = np.zeros(3 * H), np.zeros(3 * H)
    p0, p1 = layer_params(params, "_l0"), layer_params(params, "_l1")
    for t in range(T):
        s0 = layer(p0, s0, x[t])
        s1 = layer(p1, s1, s0[:H])
    np.testing.assert_allclose(forward(net, params, x).outputs[-1], s1[:H], rtol=1e-13)


def _own_indices(layers):
    """The layers' own states inside a stack's state, by hand: layer l of base size n_l and
    lag k_l holds (s_t, ..., s_{t-k+1}), k_l n_l entries, of which the first n_l are s_t."""
    out, lo = [], 0
    for n, k in layers:
        out.append(np.arange(lo, lo + n))
        lo += k * n
    return out


@pytest.mark.parametrize("specs", [("skip:3", "skip:3"), ("dense:2", None), (None, "skip:4")])
def test_stack_with_skip_layers_reports_the_layers_own_states(specs):
    """A stack of layers that carry past states: ds_T/ds_t is that of (s^(0)_t, s^(1)_t),
    every path counted, against autograd's jacobian of the unrolled stack restricted by hand to
    the layers' own states. (The whole stacked state would hold the identity shifts of the
    past states, norm >= 1 below the lag: decades off for a vanishing network.)"""
    H, D, T = 3, 2, 9
    bases = (gf.lstm, gf.rnn)
    layers = [transform(b, s) if s else b for b, s in zip(bases, specs)]
    net = stack(layers)
    params = gf.init_params(net, H, D, scale=0.6, seed=2)
    x = np.random.default_rng(3).standard_normal((T, D))
    lags = [int(s.split(":")[1]) if s else 1 for s in specs]
    own = _own_indices([(2 * H, lags[0]), (H, lags[1])])
    rows = np.concatenate(own)
    flow = gf.gradient_flow(net, params, x, keep_loss_gradients=True)
    states = [np.zeros(net.state_size(params))]
    for t in range(T):
        states.append(net(params, states[-1], x[t]))
    g = np.ones(len(rows)) / np.sqrt(len(rows))
    for d in range(1, T + 1):
        def unroll(a, t=T - d):
            for u in range(t, T):
                a = net(params, a, x[u])
            return a
        J = jacobian(unroll)(states[T - d])[np.ix_(rows, rows)]
        spec, frob = _log_norms(J)
        assert flow.log10_spectral_norm[d - 1] == pytest.approx(spec, abs=TOL)
        assert flow.log10_frobenius_norm[d - 1] == pytest.approx(frob, abs=TOL)
        assert flow.log10_loss_gradient_norm[d - 1] == pytest.approx(
            np.log10(np.linalg.norm(g @ J)), abs=TOL)
        for l, idx in enumerate(own):
            block = jacobian(unroll)(states[T - d])[np.ix_(idx, idx)]
            assert flow.blocks[f"layer{l}"].log10_spectral_norm[d - 1] == pytest.approx(
                _log_norms(block)[0], abs=TOL)
    # ds_T/dW_hh of the top layer, on the layers' own states at T
    def final(w):
        p = dict(params, weight_hh_l1=w)
        a = np.zeros(net.state_size(params))
        for t in range(T):
            a = net(p, a, x[t])
        return a[rows]

    dW = jacobian(final)(params["weight_hh_l1"]).reshape(len(rows), -1)
    pflow = gf.parameter_flow(net, params, x, wrt=["weight_hh_l1"])
    np.testing.assert_allclose(pflow.total.value(), dW, rtol=1e-10, atol=1e-12 * np.abs(dW).max())
