"""Spectral norms of ds_T/ds_t for every structure of the step Jacobians, against a dense product
with numpy's SVD at every distance.

The engine's warm-started Krylov iteration once returned a singular value that was not the
largest when the step Jacobians were diagonal: the warm block stayed an exact invariant subspace
and a direction overtaking from outside it was never seen. These tests drive `gradient_flow` over
sequences of structured step Jacobians (diagonal, permuted diagonal, block diagonal, nearly
diagonal, a dense block beside a diagonal, low rank, near-degenerate tops, dense) of sizes 16
to 200, and `top_singular_value`
directly on the case that fooled it.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gradflow.engine import spectral_norm
from gradflow.engine.jacobians import gradient_flow
from gradflow.engine.spectral_norm import top_singular_value

TOL = 1e-10  # in log10 of the norm


def sequence_cell(params, state, x):
    """s_t = J_t s_{t-1}, J_t = params['jacobians'][x[0]]: any sequence of step Jacobians."""
    return anp.dot(state, params["jacobians"][int(x[0])].T)


def run_sequence(jacobians, blocks=None):
    """gradient_flow over the step Jacobians J_1..J_T (the cell receives x_t = t - 1)."""
    T, n = len(jacobians), jacobians[0].shape[0]
    steps = np.arange(T, dtype=float)[:, None]
    return gradient_flow(sequence_cell, {"jacobians": np.asarray(jacobians)}, steps,
                         state0=np.ones(n), blocks=blocks or {})


def dense_norms(jacobians, sl=slice(None)):
    """log10 ||(J_T ... J_{T-d+1})[sl, sl]||_2 for d = 1..T by explicit rescaled products and
    numpy's SVD (LAPACK, no warm start)."""
    P, scale, out = None, 0.0, []
    for J in reversed(jacobians):
        P = J if P is None else P @ J
        frob = np.linalg.norm(P)
        P, scale = P / frob, scale + np.log10(frob)
        with np.errstate(divide="ignore"):  # a block of a permuted product can be all zero
            out.append(np.log10(np.linalg.svd(P[sl, sl], compute_uv=False)[0]) + scale)
    return np.array(out)


def diagonal_steps(rng, n, T, spread):
    """Diagonal factors whose entries drift independently: their order changes all the time."""
    return [np.diag(rng.choice([-1.0, 1.0], n) * np.exp(spread * rng.standard_normal(n)))
            for _ in range(T)]


def block_diagonal(rng, n, max_block):
    J = np.zeros((n, n))
    start = 0
    while start < n:
        size = int(rng.integers(1, max_block + 1))
        stop = min(n, start + size)
        J[start:stop, start:stop] = rng.standard_normal((stop - start, stop - start)) / np.sqrt(
            stop - start)
        start = stop
    return J


def structured_steps(kind, rng, n, T):
    if kind == "diagonal":
        return diagonal_steps(rng, n, T, spread=rng.uniform(0.01, 0.3))
    if kind == "permuted diagonal":
        perm = rng.permutation(n)
        return [D[:, perm] if rng.random() < 0.5 else D[rng.permutation(n)]
                for D in diagonal_steps(rng, n, T, spread=rng.uniform(0.01, 0.3))]
    if kind == "block diagonal":
        perm = rng.permutation(n)
        max_block = int(rng.integers(2, 9))
        return [block_diagonal(rng, n, max_block)[np.ix_(perm, perm)] for _ in range(T)]
    if kind == "nearly diagonal":
        eps = 10.0 ** rng.uniform(-14, -8)
        return [D + eps * rng.standard_normal((n, n)) / np.sqrt(n)
                for D in diagonal_steps(rng, n, T, spread=0.05)]
    if kind == "dense block beside a diagonal":
        # A coupled block (larger than the direct-SVD size when n allows) and a drifting
        # diagonal part that overtakes it, exactly or nearly decoupled from it.
        k = int(rng.integers(n // 4, 3 * n // 4 + 1))
        eps = rng.choice([0.0, 1e-13, 1e-10])
        out = []
        for t in range(T):
            J = np.zeros((n, n))
            J[:k, :k] = rng.standard_normal((k, k)) / np.sqrt(k)
            J[k:, k:] = np.diag(np.exp(0.02 * rng.standard_normal(n - k) + 0.01 * (t - T / 2)))
            out.append(J + eps * rng.standard_normal((n, n)) / np.sqrt(n))
        return out
    if kind == "low rank":
        r = int(rng.integers(1, 5))
        return [rng.standard_normal((n, r)) @ rng.standard_normal((r, n)) / n for _ in range(T)]
    if kind == "near-degenerate top":
        # Q diag(s) Q'^T with s_1 / s_2 = 1 + delta, the rest well below.
        out = []
        for _ in range(T):
            delta = 10.0 ** rng.uniform(-10, -3)
            s = np.concatenate([[1 + delta, 1.0], rng.uniform(0.1, 0.9, n - 2)])
            Q1 = np.linalg.qr(rng.standard_normal((n, n)))[0]
            Q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
            out.append((Q1 * s) @ Q2.T)
        return out
    if kind == "dense":
        return [rng.standard_normal((n, n)) * rng.uniform(0.5, 1.5) / np.sqrt(n)
                for _ in range(T)]
    raise AssertionError(kind)


KINDS = ["diagonal", "permuted diagonal", "block diagonal", "nearly diagonal",
         "dense block beside a diagonal", "low rank", "near-degenerate top", "dense"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), n=st.integers(16, 200), T=st.integers(2, 40),
       seed=st.integers(0, 2 ** 32 - 1))
def test_spectral_norm_at_every_distance_matches_dense_svd(kind, n, T, seed):
    jacobians = structured_steps(kind, np.random.default_rng(seed), n, T)
    half = slice(0, n // 2)
    flow = run_sequence(jacobians, blocks={"half": half})
    np.testing.assert_allclose(flow.log10_spectral_norm, dense_norms(jacobians), rtol=0, atol=TOL)
    np.testing.assert_allclose(flow.blocks["half"].log10_spectral_norm,
                               dense_norms(jacobians, half), rtol=0, atol=TOL)


@pytest.mark.parametrize("n", [80, 128, 200])
def test_long_diagonal_sequences_whose_top_keeps_changing(n):
    # The failure seen in the identity-initialised RNN: at T = 300 the largest entry of the
    # diagonal product changes hands dozens of times; every distance must get the new one.
    rng = np.random.default_rng(n)
    jacobians = diagonal_steps(rng, n, 300, spread=0.05)
    leaders = np.argmax(np.abs(np.cumprod(np.array([np.diag(J) for J in jacobians[::-1]]),
                                          axis=0)), axis=1)
    assert len(set(leaders.tolist())) > 5  # the case is as hard as it should be
    flow = run_sequence(jacobians)
    np.testing.assert_allclose(flow.log10_spectral_norm, dense_norms(jacobians), rtol=0, atol=TOL)


@pytest.mark.parametrize("seed", range(6))
def test_an_invariant_warm_block_does_not_hide_the_top(seed):
    # A dense matrix (no zero entries, so not the decoupled route) with a flat spectrum, and a
    # warm start that is an exact singular subspace of it but not the top one: the old
    # iteration accepted s[3]; the answer must be s[0].
    rng = np.random.default_rng(seed)
    n = 150
    s = np.sort(1 + 0.01 * rng.random(n))[::-1]
    Q1 = np.linalg.qr(rng.standard_normal((n, n)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
    P = (Q1 * s) @ Q2.T
    assert np.all(P != 0)
    sigma, _ = top_singular_value(P, Q1[:, 3:6].copy())
    assert sigma == pytest.approx(s[0], rel=1e-13)


def test_the_invariant_warm_block_is_decided_by_a_full_svd(monkeypatch):
    # White-box: a warm block that the product does not move, and a spectrum too flat for the
    # certificate, is the one case in which the Krylov answer is not trusted.
    rng = np.random.default_rng(0)
    n = 150
    s = np.sort(1 + 0.01 * rng.random(n))[::-1]
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    P = (Q * s) @ Q.T
    calls = []
    real_svd = spectral_norm.svd
    monkeypatch.setattr(spectral_norm, "svd", lambda *a, **k: calls.append(1) or real_svd(*a, **k))
    sigma, _ = top_singular_value(P, Q[:, 3:6].copy())
    assert sigma == pytest.approx(s[0], rel=1e-13)
    assert calls, "the full SVD was not consulted"


def test_a_dominant_direction_is_certified_without_svd(monkeypatch):
    # Rank-one-like products (long distances of dense products) are certified by the bound
    # from the Ritz values, the residuals and the energy outside the Krylov space.
    rng = np.random.default_rng(1)
    n = 200
    s = np.concatenate([[10.0], 0.1 * rng.random(n - 1)])
    Q1 = np.linalg.qr(rng.standard_normal((n, n)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
    P = (Q1 * s) @ Q2.T
    monkeypatch.setattr(spectral_norm, "svd", lambda *a, **k: pytest.fail("SVD was called"))
    sigma, _ = top_singular_value(P, Q1[:, :3] + 0.1 * rng.standard_normal((n, 3)))
    assert sigma == pytest.approx(10.0, rel=1e-13)


def test_certificate_refuses_when_energy_outside_the_space_could_hold_a_larger_value():
    # Ritz value 1 with tiny residual, but energy 4 outside the space: sigma_1 could be 2.
    S = np.array([1.0, 0.5])
    assert not spectral_norm._certified(S, lambda j: np.full(j, 1e-12), frob2=1.25 + 4.0)
    assert spectral_norm._certified(S, lambda j: np.full(j, 1e-12), frob2=1.25 + 0.1)


@pytest.mark.parametrize("shape", [(70, 90), (90, 70), (100, 100)])
def test_decoupled_rectangular_blocks_and_zero_rows(shape):
    # Blocks of different shapes, some rows and columns entirely zero, permuted.
    rng = np.random.default_rng(sum(shape))
    m, n = shape
    P = np.zeros((m, n))
    r = c = 0
    while r < m - 5 and c < n - 5:
        a, b = (int(v) for v in rng.integers(1, 6, 2))
        P[r:r + a, c:c + b] = rng.standard_normal((a, b))
        r, c = r + a + int(rng.integers(0, 2)), c + b
    P = P[rng.permutation(m)][:, rng.permutation(n)]
    sigma, _ = top_singular_value(P)
    assert sigma == pytest.approx(np.linalg.svd(P, compute_uv=False)[0], rel=1e-14)


def test_zero_and_tiny_matrices():
    assert top_singular_value(np.zeros((100, 100)))[0] == 0.0
    assert top_singular_value(np.zeros((0, 5)))[0] == 0.0
    P = np.diag(np.r_[1e-300, np.full(99, 1e-301)])
    assert top_singular_value(P)[0] == pytest.approx(1e-300, rel=1e-15)
