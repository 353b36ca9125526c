"""Step Jacobians of skip:k and dense:k assembled from the base cell's (gradflow.engine.
linearization._Augmented) against two independent routes: autograd's reverse-mode `jacobian` of
the transformed cell on the whole augmented state, and the engine's generic route, forced by a
plain-function copy of the cell that keeps every attribute but `link` (the engine cannot
recognise it and differentiates the whole cell along k n tangents)."""

import functools

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from hypothesis import given, settings, strategies as st

from gradflow import cells
from gradflow.analysis.pairwise import pairwise_norms
from gradflow.cells import layers
from gradflow.cells.feedforward import mlp, mlp_params
from gradflow.cells.initializers import init_params
from gradflow.cells.ops import concat
from gradflow.cells.skips import dense, skip
from gradflow.engine.jacobians import (gradient_flow, lyapunov_spectrum, step_jacobians,
                                       trajectory)
from gradflow.engine.linearization import Linearization
from gradflow.engine.parameters import parameter_flow


def _leaky(params, state, x):  # a user cell: no state_size, written in autograd.numpy
    return 0.3 * state + 0.7 * anp.tanh(anp.dot(concat(state, x), params["W"].T) + params["b"])


BASES = {
    "rnn": lambda: cells.rnn,
    "lstm": lambda: cells.lstm,
    "gru": lambda: cells.gru,
    "user": lambda: _leaky,
    "stack": lambda: layers.stack([cells.lstm, cells.gru]),
}
TRANSFORMS = {"skip:2": (skip, 2), "skip:4": (skip, 4), "dense:3": (dense, 3)}


def _params(base, cell, H, D, rng):
    """Random parameters, the connection's weights B non-diagonal: N(0, 0.5^2 / n)."""
    if base == "user":
        n = H
        params = {"W": rng.standard_normal((n, n + D)) * 1.2 / np.sqrt(n),
                  "b": rng.standard_normal(n)}
    else:
        params = init_params(cell, H, D, scale=1.3, seed=int(rng.integers(1000)))
        n = cell.base_size(params)
    k = cell.lag
    key = "skip_weight" if "skip_weight" in cell.extra_params else "dense_weight"
    params[key] = rng.standard_normal((n, n if key == "skip_weight" else k * n)) * 0.5 / np.sqrt(n)
    return params, n


def _plain(cell):
    """The cell as a plain function with all its attributes except `link`: the generic route."""
    def plain(params, state, x):
        return cell(params, state, x)

    plain.__dict__.update({k: v for k, v in cell.__dict__.items() if k != "link"})
    return plain


def _case(base, transform, H=4, D=3, T=11, seed=0):
    rng = np.random.default_rng(seed)
    make, k = TRANSFORMS[transform]
    cell = make(BASES[base](), k)
    params, n = _params(base, cell, H, D, rng)
    inputs = rng.standard_normal((T, D))
    state0 = rng.standard_normal(k * n) * 0.5
    return cell, params, inputs, state0


def _oracle(cell, params, state, x):
    # autograd's tanh derivative 1 / cosh(x)^2 overflows cosh on the way to its right value 0
    with np.errstate(over="ignore"):
        return jacobian(lambda a: cell(params, a, x))(state)


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("base", list(BASES))
def test_assembled_step_jacobians_equal_reverse_mode_on_the_augmented_state(base, transform):
    cell, params, inputs, state0 = _case(base, transform)
    inputs, state0, states = trajectory(cell, params, inputs, state0)
    N = len(state0)
    linear = Linearization(cell, params)
    assert linear.augmented is not None
    chunked = np.concatenate(list(step_jacobians(linear, states, inputs, 4)))
    assert linear.augmented.checked  # the assembled route was taken, and kept
    for t, J in enumerate(chunked):
        oracle = _oracle(cell, params, states[t], inputs[t])
        np.testing.assert_allclose(J, oracle, rtol=0, atol=1e-12)
        one = linear(states[t], inputs[t], np.eye(N), t).T  # one step at a time
        np.testing.assert_allclose(one, oracle, rtol=0, atol=1e-12)
    # a few tangents (Lyapunov's route for k << n): only their first n entries reach the base
    tangents = np.random.default_rng(1).standard_normal((2, N))
    np.testing.assert_allclose(linear(states[5], inputs[5], tangents, 5),
                               tangents @ _oracle(cell, params, states[5], inputs[5]).T,
                               rtol=0, atol=1e-12)


def _flows_agree(cell, params, inputs, state0=None, **kws):
    kws.setdefault("blocks", {**cell.blocks(params), "augmented": slice(None)})
    fast = gradient_flow(cell, params, inputs, state0, **kws)
    generic = gradient_flow(_plain(cell), params, inputs, state0, **kws)
    for a, b in [(fast.log10_spectral_norm, generic.log10_spectral_norm),
                 (fast.log10_frobenius_norm, generic.log10_frobenius_norm),
                 (fast.log10_loss_gradient_norm, generic.log10_loss_gradient_norm)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert fast.blocks.keys() == generic.blocks.keys() and "augmented" in fast.blocks
    for name in fast.blocks:
        np.testing.assert_allclose(fast.blocks[name], generic.blocks[name], rtol=0, atol=1e-12)
    for d in fast.products:
        a, b = fast.products[d].value(), generic.products[d].value()
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    return fast


@pytest.mark.parametrize("chunk_bytes", [None, 0])  # chunks of steps; one step at a time
@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("base", list(BASES))
def test_gradient_flow_equals_the_generic_route(base, transform, chunk_bytes):
    cell, params, inputs, state0 = _case(base, transform, T=40, seed=2)
    kws = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    flow = _flows_agree(cell, params, inputs, state0, products_at=(1, 17, 40), **kws)
    assert np.all(np.isfinite(flow.log10_spectral_norm[:3]))


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("base", ["rnn", "lstm", "user"])
def test_lyapunov_spectrum_equals_the_generic_route(base, transform):
    cell, params, inputs, state0 = _case(base, transform, H=5, T=60, seed=3)
    for k in (None, 2):  # all exponents (whole Jacobians); the top two
        fast = lyapunov_spectrum(cell, params, inputs, state0, k)
        generic = lyapunov_spectrum(_plain(cell), params, inputs, state0, k)
        np.testing.assert_allclose(fast, generic, rtol=0, atol=1e-11)


def test_lyapunov_frame_route_equals_the_generic_route():
    # k << n and n > 64: the frame's columns are pushed through each step as tangents
    cell, params, inputs, state0 = _case("rnn", "skip:4", H=20, T=30, seed=4)
    assert len(state0) == 80
    fast = lyapunov_spectrum(cell, params, inputs, state0, 3)
    generic = lyapunov_spectrum(_plain(cell), params, inputs, state0, 3)
    np.testing.assert_allclose(fast, generic, rtol=0, atol=1e-11)


def test_pairwise_and_parameter_flow_equal_the_generic_route():
    cell, params, inputs, state0 = _case("gru", "dense:3", T=12, seed=5)
    fast = pairwise_norms(cell, params, inputs, state0, stride=3)
    generic = pairwise_norms(_plain(cell), params, inputs, state0, stride=3)
    np.testing.assert_array_equal(np.isnan(fast.log10_norm), np.isnan(generic.log10_norm))
    np.testing.assert_allclose(fast.log10_norm, generic.log10_norm, rtol=0, atol=1e-12)
    fast = parameter_flow(cell, params, inputs, state0)
    generic = parameter_flow(_plain(cell), params, inputs, state0)
    np.testing.assert_allclose(fast.log10_frobenius_norm, generic.log10_frobenius_norm,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("outer,inner", [((dense, 2), (skip, 2)), ((skip, 3), (dense, 2))])
def test_nested_connections_equal_reverse_mode(outer, inner):
    # (two skips nested would share the parameter name 'skip_weight')
    rng = np.random.default_rng(6)
    H, D = 3, 2
    inside = inner[0](cells.gru, inner[1])
    cell = outer[0](inside, outer[1])
    params = init_params(inside, H, D, scale=1.3, seed=6)
    for c in (inside, cell):  # non-diagonal connection weights
        key = c.extra_params[0]
        n = c.base_size(params) if key in params else inside.state_size(params)
        params[key] = rng.standard_normal((n, n * (c.lag if key == "dense_weight" else 1))) * 0.4
    n = inside.state_size(params)
    assert cell.base_size(params) == n == H * inner[1]
    inputs = rng.standard_normal((9, D))
    state0 = rng.standard_normal(outer[1] * n) * 0.5
    inputs, state0, states = trajectory(cell, params, inputs, state0)
    linear = Linearization(cell, params)
    assert linear.augmented.base.augmented is not None  # assembled at both levels
    chunked = np.concatenate(list(step_jacobians(linear, states, inputs, 4)))
    assert linear.augmented.checked
    for t, J in enumerate(chunked):
        np.testing.assert_allclose(J, _oracle(cell, params, states[t], inputs[t]),
                                   rtol=0, atol=1e-12)
    _flows_agree(cell, params, inputs, state0)


def test_a_layer_stack_with_per_step_parameters_equals_the_generic_route():
    # DenseNet as a chain: dense:3 around a feed-forward layer, parameters per layer (PerStep)
    cell = dense(mlp, 3)
    params = mlp_params(cell, 12, 5, scale=1.5, seed=7)
    rng = np.random.default_rng(8)
    for p in params:
        p["dense_weight"] = rng.standard_normal((5, 15)) * 0.3
    state0 = rng.standard_normal(15)
    assert Linearization(cell, params).augmented is not None  # the assembled route is tried
    flow = _flows_agree(cell, params, None, state0, steps=12)  # equal to 1e-12, in the helper
    assert np.all(np.isfinite(flow.log10_spectral_norm))  # every one of the 12 layers compared
    assert flow.log10_spectral_norm.shape == (12,)


def test_a_wrapped_cell_that_steps_differently_falls_back_to_the_generic_route():
    # functools.wraps copies `link`, `base` and `lag`, but the step is no longer theirs
    cell, params, inputs, state0 = _case("rnn", "skip:2", seed=9)

    @functools.wraps(cell)
    def doubled(params, state, x):
        return 2.0 * cell(params, state, x)

    inputs, state0, states = trajectory(doubled, params, inputs, state0)
    linear = Linearization(doubled, params)
    assert linear.augmented is not None  # it looks like a skip connection...
    chunked = np.concatenate(list(step_jacobians(linear, states, inputs, 4)))
    assert linear.augmented is None  # ...until the first chunk is compared
    for t, J in enumerate(chunked):
        np.testing.assert_allclose(J, _oracle(doubled, params, states[t], inputs[t]),
                                   rtol=0, atol=1e-12)
    one = Linearization(doubled, params)  # likewise one step at a time
    np.testing.assert_allclose(one(states[3], inputs[3], np.eye(len(state0)), 3).T,
                               _oracle(doubled, params, states[3], inputs[3]), rtol=0, atol=1e-12)
    assert one.augmented is None


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 5), n=st.integers(1, 5), kind=st.sampled_from(["skip", "dense"]),
       b=st.sampled_from(["zero", "random", "diagonal"]), seed=st.integers(0, 2 ** 16))
def test_any_lag_size_and_weights(k, n, kind, b, seed):
    rng = np.random.default_rng(seed)
    cell = (skip if kind == "skip" else dense)(cells.rnn, k)
    params = init_params(cell, n, 2, scale=1.3, seed=seed)
    key = f"{kind}_weight"
    shape = params[key].shape
    params[key] = {"zero": np.zeros(shape), "random": rng.standard_normal(shape),
                   "diagonal": params[key] * rng.standard_normal()}[b]
    inputs = rng.standard_normal((5, 2))
    inputs, state0, states = trajectory(cell, params, inputs, rng.standard_normal(k * n))
    linear = Linearization(cell, params)
    chunked = np.concatenate(list(step_jacobians(linear, states, inputs, 3)))
    assert linear.augmented is not None and linear.augmented.checked
    for t, J in enumerate(chunked):
        np.testing.assert_allclose(J, _oracle(cell, params, states[t], inputs[t]),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("transform", ["skip:3", "dense:2"])
@pytest.mark.parametrize("base", ["indrnn", "mingru", "minlstm", "lru", "orthogonal"])
def test_modern_cells_with_a_skip_against_the_unrolled_sequence(base, transform):
    """The assembled route on the modern cells (diagonal, complex-as-real and expm-built step
    Jacobians): log10 ||ds_T/ds_t||_2 at every distance against autograd's jacobian of the
    unrolled map from the augmented state at t to s_T, its first n rows and columns by hand."""
    make, k = {"skip:3": (skip, 3), "dense:2": (dense, 2)}[transform]
    cell = make(cells.get_cell(base), k)
    params = init_params(cell, 3, 2, scale=1.2, seed=11)
    n = cells.get_cell(base).state_size(params)
    rng = np.random.default_rng(12)
    inputs = rng.standard_normal((9, 2))
    state0 = rng.standard_normal(k * n) * 0.5
    flow = gradient_flow(cell, params, inputs, state0)
    states = [state0]
    for x in inputs:
        states.append(cell(params, states[-1], x))
    T = len(inputs)
    for d in range(1, T + 1):
        def unroll(a, t=T - d):
            for u in range(t, T):
                a = cell(params, a, inputs[u])
            return a
        J = _oracle_unrolled(unroll, states[T - d])[:n, :n]
        assert flow.log10_spectral_norm[d - 1] == pytest.approx(
            np.log10(np.linalg.norm(J, 2)), abs=1e-11)


def _oracle_unrolled(unroll, state):
    with np.errstate(over="ignore"):
        return jacobian(unroll)(state)
