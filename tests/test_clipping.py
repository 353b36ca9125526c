import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradflow.training.clipping import clip, clip_by_global_norm, clip_by_value, global_norm


def _grads(seed, scale):
    rng = np.random.default_rng(seed)
    return {"a": scale * rng.standard_normal((3, 4)), "b": scale * rng.standard_normal(5)}


def _flat(d):
    return np.concatenate([d[k].ravel() for k in sorted(d)])


def test_global_norm_is_the_norm_of_the_concatenation():
    g = _grads(0, 2.0)
    assert global_norm(g) == pytest.approx(np.linalg.norm(_flat(g)), rel=1e-14)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31), scale=st.floats(1e-3, 1e3), threshold=st.floats(1e-2, 1e2))
def test_norm_clipping_keeps_direction_and_caps_norm(seed, scale, threshold):
    g = _grads(seed, scale)
    c, norm = clip_by_global_norm(g, threshold)
    before, after = _flat(g), _flat(c)
    assert norm == pytest.approx(np.linalg.norm(before), rel=1e-12)
    assert np.linalg.norm(after) == pytest.approx(min(norm, threshold), rel=1e-12)
    cosine = before @ after / (np.linalg.norm(before) * np.linalg.norm(after))
    assert cosine == pytest.approx(1.0, abs=1e-12)
    assert {k: v.shape for k, v in c.items()} == {k: v.shape for k, v in g.items()}


def test_norm_clipping_below_threshold_is_identity_and_does_not_mutate():
    g = _grads(1, 0.01)
    copy = {k: v.copy() for k, v in g.items()}
    c, _ = clip_by_global_norm(g, 10.0)
    assert all(np.array_equal(c[k], copy[k]) for k in g)
    clip_by_global_norm(_grads(1, 100.0), 1.0)
    assert all(np.array_equal(g[k], copy[k]) for k in g)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31), scale=st.floats(1e-3, 1e3), threshold=st.floats(1e-2, 1e2))
def test_value_clipping_bounds_every_element(seed, scale, threshold):
    g = _grads(seed, scale)
    c = clip_by_value(g, threshold)
    for k in g:
        assert np.all(np.abs(c[k]) <= threshold)
        inside = np.abs(g[k]) <= threshold
        assert np.array_equal(c[k][inside], g[k][inside])
        assert np.array_equal(c[k][~inside], threshold * np.sign(g[k][~inside]))


def test_clip_flags():
    g = {"w": np.array([3.0, 4.0])}  # norm 5
    assert clip(g, "none", 1.0)[1] is False
    assert clip(g, "norm", 5.0)[1] is True  # Pascanu et al.: clip when ||g|| >= threshold
    assert clip(g, "norm", 5.1)[1] is False
    assert clip(g, "value", 4.0)[1] is False
    out, flag = clip(g, "value", 3.5)
    assert flag is True and np.array_equal(out["w"], [3.0, 3.5])
    with pytest.raises(ValueError, match="unknown clipping mode"):
        clip(g, "bogus", 1.0)
    with pytest.raises(ValueError, match="positive"):
        clip_by_global_norm(g, 0.0)
