"""gradflow.concat in both spellings: values, derivatives against finite differences and against
autograd's own concatenate, the batched forward mode, and a user cell written with it."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from autograd.core import make_jvp
from autograd.test_util import check_grads

import gradflow as gf
from gradflow.engine.jacobians import Linearization, gradient_flow

RNG = np.random.default_rng(0)
A, B, C = RNG.standard_normal(3), RNG.standard_normal(2), RNG.standard_normal(4)


@pytest.mark.parametrize("spelling", ["arguments", "list", "tuple"])
def test_values_match_numpy(spelling):
    arrays = (A, B, C)
    got = {"arguments": lambda: gf.concat(*arrays), "list": lambda: gf.concat(list(arrays)),
           "tuple": lambda: gf.concat(tuple(arrays))}[spelling]()
    np.testing.assert_array_equal(got, np.concatenate(arrays))


def test_leading_axes_broadcast_in_the_sequence_spelling_too():
    batch = RNG.standard_normal((5, 3))
    got = gf.concat([batch, B])
    np.testing.assert_array_equal(got, np.concatenate([batch, np.tile(B, (5, 1))], axis=-1))


def test_no_array_is_refused():
    with pytest.raises(ValueError, match="at least one array"):
        gf.concat([])


def _f_sequence(a, b, c):
    return anp.sum(anp.sin(gf.concat([a * b[0], b, c ** 2])) ** 2)


def test_derivatives_of_the_sequence_spelling_against_finite_differences():
    # forward and reverse mode, first and second order, every argument
    check_grads(_f_sequence, modes=["fwd", "rev"], order=2)(A, B, C)


@pytest.mark.parametrize("argnum", [0, 1, 2])
def test_jacobian_equals_autograds_own_concatenate(argnum):
    ours = jacobian(lambda *xs: gf.concat([xs[0], xs[1] * 3.0, anp.tanh(xs[2])]), argnum)
    theirs = jacobian(lambda *xs: anp.concatenate([xs[0], xs[1] * 3.0, anp.tanh(xs[2])]),
                      argnum)
    np.testing.assert_allclose(ours(A, B, C), theirs(A, B, C), rtol=1e-15, atol=0)


def test_batched_tangents_broadcast():
    # a batch of k tangents through the sequence spelling gives the k single JVPs
    jvp = make_jvp(lambda a: gf.concat([anp.tanh(a), B, a * a]), A)
    tangents = RNG.standard_normal((4, 3))
    batched = jvp(tangents)[1]
    singles = np.stack([jvp(t)[1] for t in tangents])
    np.testing.assert_allclose(batched, singles, rtol=1e-14, atol=1e-15)


def cell_sequence_concat(params, state, x):
    return anp.tanh(anp.dot(gf.concat([state, x]), params["W"].T) + params["b"])


def test_user_cell_in_numpys_spelling_takes_the_batched_route_and_is_right():
    n, D, T = 5, 3, 12
    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((n, n + D)) / np.sqrt(n), "b": rng.standard_normal(n)}
    inputs, s0 = rng.standard_normal((T, D)), rng.standard_normal(n)
    lin = Linearization(cell_sequence_concat, params)
    J = lin(s0, inputs[0], np.eye(n)).T
    h = np.tanh(params["W"] @ np.concatenate([s0, inputs[0]]) + params["b"])
    np.testing.assert_allclose(J, np.diag(1 - h ** 2) @ params["W"][:, :n], rtol=1e-12,
                               atol=1e-14)
    assert lin.batched is True
    flow = gradient_flow(cell_sequence_concat, params, inputs, s0)
    assert np.all(np.isfinite(flow.log10_spectral_norm))
