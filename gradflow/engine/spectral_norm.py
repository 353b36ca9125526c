"""The largest singular value of ds_T/ds_t at every distance, right for every structure.

`gradient_flow` needs ||P_d||_2 for P_d = ds_T/ds_{T-d}, d = 1..T. A full SVD per distance costs
O(n^3); the products change little from one distance to the next, so a block Krylov iteration
warm-started from the previous distance's singular vectors costs O(n^2). Warm starts have one
danger: when the step Jacobians are diagonal or nearly so (IRNN and identity inits, gated cells
with small recurrent weights, IndRNN, minGRU, LRU and other diagonal recurrences), the singular
vectors stay put while the singular values change order, the warm block spans an exact
invariant subspace, and every singular triplet in it passes a residual test: a direction that
overtakes from outside the block is never seen. `top_singular_value` therefore never accepts an
answer on the residual alone. Its routes:

1. Small matrices (min(m, n) <= DIRECT_SIZE): a full SVD, which is also the faster route there.
2. Krylov with a certificate. Block Krylov iteration on A = P P^T from the warm block and one
   fresh Gaussian column, to a converged top Ritz pair. The Rayleigh-Ritz step on the Krylov
   space K yields Ritz values theta_1 >= theta_2 >= ... and residuals
   r_i = ||P v_i - theta_i u_i||. With e^2 = ||P||_F^2 - ||K^T P||_F^2, the energy of P
   outside K, f^2 = theta_{j+1}^2 + e^2 and c^2 = sum_{i<=j} theta_i^2 r_i^2,
       sigma_1^2 <= lambda_max([[theta_1^2, c], [c, f^2]])
   (split the space into the top j Ritz vectors, the other Ritz vectors and the complement of
   K: Ritz vectors are decoupled from each other by construction, so only the residuals
   couple the top group to the rest). When that bound is within CERTIFY_RTOL of theta_1, no
   direction, inside K or outside, is larger: the answer is certified, deterministically.
3. Not certified (a flat spectrum whose energy is spread over more directions than K holds, as
   at the first distances of a dense product, or in a diagonal one): if rows and columns of P
   split into blocks with no entry between them (diagonal, permuted diagonal, block diagonal,
   the LSTM with W_hh = 0), the answer is the largest of the blocks' singular values, each
   computed exactly. Entries below DECOUPLE_RTOL ||P||_F / sqrt(m n) count as zero: together
   they are below DECOUPLE_RTOL ||P||_F, which by Weyl's inequality bounds the change of every
   singular value.
4. Not certified, one coupled block: the answer theta_1 is accepted only if (a) the product
   moved the warm top direction u (||A u - (u.A u) u|| >= MOVED |u.A u|; a direction that P
   leaves in place is exactly how a larger one hides, as in route 3's diagonal case), so that
   P itself couples the Krylov space to the rest of the space, besides the fresh Gaussian
   column; and (b) no row and no column of P is longer than theta_1 (each is a lower bound on
   sigma_1: a coordinate direction that overtakes shows there, however weakly P couples it to
   the rest, as beside a dense block). Otherwise a full SVD decides. This is the one route
   without a proof: a nearly decoupled block of several coordinates, no row of which is as
   long as theta_1, could overtake beside a moving dense block unseen for a few distances.
   Checked: hypothesis draws of dense blocks beside drifting diagonals with couplings 0,
   1e-13 and 1e-10, and 1200 more draws of every kind of the property test outside the suite.

Measured on the benchmark's cells (gaussian weights, H = 128 and 256, T = 200, the LSTM's blocks
included): the certificate holds at 82 to 97 % of the distances; the others are the first 5 to
36 distances, where the spectrum is still flat and the top direction moves (route 4 accepts),
with one full SVD in 600 calls. Diagonal and block-diagonal products (identity inits,
W_hh = 0) take route 3 and agree with the dense SVD to 1e-15.

References:
  Musco & Musco (2015), Randomized block Krylov methods for stronger and faster approximate
  singular value decomposition. Parlett (1998), The symmetric eigenvalue problem, ch. 11
  (Rayleigh-Ritz bounds). Weyl (1912).
"""

import numpy as np
import scipy.linalg
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["top_singular_value", "top_singular_values", "singular_values", "svd", "frobenius"]

DIRECT_SIZE = 64       # up to this size a full SVD is cheaper than a Krylov iteration
DECOUPLE_RTOL = 1e-13  # entries this small, relative to ||P||_F / sqrt(m n), do not couple
CERTIFY_RTOL = 1e-13   # a certified sigma_1 is within this relative distance of the answer
MOVED = 1e-6           # a warm top direction moved by less than this may hide another
_EPS = np.finfo(float).eps


def svd(P, compute_uv=True):
    """numpy's SVD (LAPACK gesdd), or gesvd where gesdd fails to converge, as it can."""
    try:
        return np.linalg.svd(P, full_matrices=False, compute_uv=compute_uv)
    except np.linalg.LinAlgError:
        return scipy.linalg.svd(P, full_matrices=False, compute_uv=compute_uv,
                                lapack_driver="gesvd")


def frobenius(P):
    """||P||_F without the overflow (or underflow) of the squares of very large entries."""
    with np.errstate(over="ignore", under="ignore"):
        frob = np.linalg.norm(P)
    if 0 < frob < np.inf:
        return frob
    peak = np.abs(P).max()
    if not 0 < peak < np.inf:
        return peak  # zero, or not finite
    return peak * np.linalg.norm(P / peak)


def singular_values(P):
    """All singular values of P (..., m, n), descending; robust SVD, no vectors."""
    return svd(P, compute_uv=False)


def top_singular_value(P, U=None, *, rng=None, block=3, depth=4, rtol=1e-8, maxiter=50):
    """Largest singular value of P (m, n), exact for every structure (see the module docstring).

    Args:
      P: (m, n) array.
      U: (m, block) warm start, the block returned by the previous call on a nearby matrix, or
        None.
      rng: numpy Generator for the fresh Gaussian columns (and the first block); by default a
        Generator seeded with 0, so results are reproducible.
      block, depth: the Krylov space is span{B, A B, ..., A^depth B}, A = P P^T, B the warm
        block and one fresh Gaussian column: Krylov subspaces converge with the square root
        of the relative gap between the top singular values where plain power iteration
        converges with the gap itself (Musco & Musco 2015).
      rtol: the top Ritz pair is converged when ||P v - sigma u|| <= rtol sigma.
      maxiter: Krylov iterations before a full SVD is taken instead.

    Returns:
      (sigma, U): sigma a float, U the block to warm-start the next call (the argument itself
      when no Krylov iteration ran).
    """
    m, n = P.shape
    if P.size == 0:
        return 0.0, U
    with np.errstate(over="ignore", under="ignore"):
        frob = np.linalg.norm(P)
    if not 1e-100 < frob < 1e100:  # zero, not finite, or squares that under- or overflow
        peak = np.abs(P).max()
        if peak == 0 or not np.isfinite(peak):
            return float(peak), U
        sigma, U = top_singular_value(P / peak, U, rng=rng, block=block, depth=depth,
                                      rtol=rtol, maxiter=maxiter)
        return sigma * peak, U
    if min(m, n) <= DIRECT_SIZE:
        return float(singular_values(P)[0]), U
    rng = np.random.default_rng(0) if rng is None else rng
    sigma, U, trust = _krylov_top(P, U, rng, block, depth, rtol, maxiter, frob)
    if trust == "certified":
        return sigma, U
    exact = _decoupled_top(P, frob, rng)
    if exact is not None:
        return exact, U
    if trust == "moved" and not _longer_row_or_column(P, sigma):
        return sigma, U
    # The warm top direction did not move (it may hide a larger one), or a row or column of P
    # is longer than the answer (which therefore is not sigma_1): a full SVD decides.
    Uf, Sf, _ = svd(P)
    return float(Sf[0]), Uf[:, :U.shape[1]]


def top_singular_values(stack, U=None, *, rng=None):
    """`top_singular_value` of each matrix of `stack` (K, m, n), in order: (sigmas (K,), U).

    Small matrices (min(m, n) <= DIRECT_SIZE, entries of moderate size) go to LAPACK in one
    batched call (`_top_by_gram`), which removes the fixed cost of K calls; larger ones are
    taken one after the other, each warm-started from the block of the one before (U, returned
    for the next call).
    """
    K, m, n = stack.shape
    if K == 0 or stack.size == 0:
        return np.zeros(K), U
    if min(m, n) > DIRECT_SIZE:
        sigmas = np.empty(K)
        for j in range(K):
            sigmas[j], U = top_singular_value(stack[j], U, rng=rng)
        return sigmas, U
    with np.errstate(over="ignore", under="ignore"):
        frobs = np.sqrt(np.einsum("kij,kij->k", stack, stack))
    plain = (frobs > 1e-100) & (frobs < 1e100)
    sigmas = np.zeros(K)
    if plain.all():
        return _top_by_gram(stack), U
    if plain.any():
        sigmas[plain] = _top_by_gram(stack[plain])
    for j in np.flatnonzero(~plain):  # zero, or squares that under- or overflow: rescaled
        sigmas[j] = top_singular_value(stack[j], U, rng=rng)[0]
    return sigmas, U


def _top_by_gram(stack):
    """sigma_1 of each matrix of `stack` (K, m, n) as the square root of the largest eigenvalue
    of its Gram matrix (the smaller of P P^T and P^T P), by LAPACK's symmetric eigensolver in
    one batched call: a direct method like the SVD, 25 % faster up to n = 32 and 12 % at 64.
    The largest eigenvalue of a symmetric matrix is accurate to a few eps of itself (Weyl),
    so sigma_1 is too; entries of moderate size only (the caller's `plain`), whose squares
    neither under- nor overflow."""
    Pt = stack.transpose(0, 2, 1)
    gram = stack @ Pt if stack.shape[1] <= stack.shape[2] else Pt @ stack
    return np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0))


def _decoupled_top(P, frob, rng):
    """sigma_1 of P from its decoupled blocks, or None when P is one block."""
    m, n = P.shape
    coupled = np.abs(P) > DECOUPLE_RTOL * frob / np.sqrt(m * n)
    if coupled.all():
        return None
    rows, cols = np.flatnonzero(coupled.any(axis=1)), np.flatnonzero(coupled.any(axis=0))
    inner = coupled[np.ix_(rows, cols)]
    if inner.all():
        return None  # one dense block (plus rows and columns that are zero)
    # Blocks = connected components of the bipartite graph rows -- columns.
    r, c = np.nonzero(inner)
    R, C = len(rows), len(cols)
    graph = coo_matrix((np.ones(len(r)), (r, R + c)), shape=(R + C, R + C))
    count, labels = connected_components(graph, directed=False)
    if count == 1:
        return None
    row_label, col_label = labels[:R], labels[R:]
    row_order = rows[np.argsort(row_label, kind="stable")]
    col_order = cols[np.argsort(col_label, kind="stable")]
    row_start = np.concatenate([[0], np.cumsum(np.bincount(row_label, minlength=count))])
    col_start = np.concatenate([[0], np.cumsum(np.bincount(col_label, minlength=count))])
    by_shape = {}
    for label in range(count):
        shape = (row_start[label + 1] - row_start[label], col_start[label + 1] - col_start[label])
        by_shape.setdefault(shape, []).append(label)
    best = 0.0
    for (a, b), labels_ in by_shape.items():
        row_idx = np.array([row_order[row_start[k]:row_start[k + 1]] for k in labels_])
        col_idx = np.array([col_order[col_start[k]:col_start[k + 1]] for k in labels_])
        blocks = P[row_idx[:, :, None], col_idx[:, None, :]]  # (count, a, b)
        if min(a, b) <= DIRECT_SIZE:
            best = max(best, float(singular_values(blocks)[:, 0].max()))
        else:
            for B in blocks:  # a large connected block: the general route, cold-started
                best = max(best, top_singular_value(B, rng=rng)[0])
    return best


def _krylov_top(P, U, rng, block, depth, rtol, maxiter, frob):
    """(sigma, U, trust): trust is 'certified' (route 3 of the module docstring), 'moved' (a
    converged answer from a cold start or from a warm top direction that P moved), or None
    (not converged, or a warm top direction that P left in place)."""
    m, n = P.shape
    b = min(block, m, n)
    warm = U is not None and U.shape == (m, b)
    if not warm:
        U = rng.standard_normal((m, b))
    start, AU = U, None  # the warm block and, once computed, A times it
    for _ in range(maxiter):
        V = np.hstack([U, rng.standard_normal((m, 1))])
        basis = [V]
        for _ in range(depth):
            V = P @ (P.T @ V)
            AU = V[:, :b] if AU is None else AU
            V = V / np.maximum(np.linalg.norm(V, axis=0), np.finfo(float).tiny)
            basis.append(V)
        K = np.linalg.qr(np.hstack(basis))[0]
        Ub, S, Vt = np.linalg.svd(K.T @ P, full_matrices=False)
        if S[0] == 0:
            break  # P is zero on K: let the caller decide
        U = K @ Ub[:, :b]
        residual = np.linalg.norm(P @ Vt[0] - S[0] * U[:, 0])
        if residual <= rtol * S[0]:
            if _certified(S, lambda j: _residuals(P, S, U, Vt, j), frob * frob):
                return float(S[0]), U, "certified"
            if not warm or _moved(start[:, 0], AU[:, 0]) >= MOVED:
                return float(S[0]), U, "moved"
            break
    return None, U, None


def _longer_row_or_column(P, sigma):
    """Whether a row or a column of P is longer than `sigma`: each is a lower bound on sigma_1
    (||P^T e_i||, ||P e_j|| <= sigma_1), and a coordinate direction that has overtaken the
    answer shows here, however weakly P couples it to the rest."""
    limit = (sigma * (1 + CERTIFY_RTOL)) ** 2
    return (np.einsum("ij,ij->i", P, P).max() > limit
            or np.einsum("ij,ij->j", P, P).max() > limit)


def _residuals(P, S, U, Vt, j):
    """||P v_i - theta_i u_i|| for the top j Ritz pairs."""
    return np.linalg.norm(P @ Vt[:j].T - U[:, :j] * S[:j], axis=0)


def _moved(u, Au):
    """Relative size of the part of A u orthogonal to the unit vector u: 0 when u is an
    eigenvector of A = P P^T, that is a singular direction that P left in place."""
    along = u @ Au
    return np.linalg.norm(Au - along * u) / abs(along) if along != 0 else np.inf


def _certified(S, residuals, frob2):
    """Whether the Ritz values S and the top residuals prove S[0] = sigma_1 to CERTIFY_RTOL.

    `residuals(j)` returns the residual norms of the top j Ritz pairs; frob2 = ||P||_F^2.
    """
    k = len(S)
    # ||K^T P||_F^2 = sum S^2; the difference loses up to k eps frob2 to rounding: add it back.
    e2 = max(frob2 - float(np.sum(S * S)), 0.0) + 4 * k * _EPS * frob2
    top2 = S[0] * S[0]
    for j in range(1, min(k, 4)):  # the top group: Ritz pairs 1..j
        f2 = S[j] * S[j] + e2
        if f2 >= top2:
            continue  # theta_{j+1} is too close to theta_1: take it into the top group
        c2 = float(np.sum((S[:j] * residuals(j)) ** 2))
        half = 0.5 * (top2 - f2)
        if 0.5 * (top2 + f2) + np.sqrt(half * half + c2) <= top2 * (1 + CERTIFY_RTOL) ** 2:
            return True
    return False
