"""The pairwise picture: log10 ||ds_s/ds_t||_2 for every pair of times t < s on a grid.

`gradient_flow` measures ds_T/ds_t from one end point T; a gradient at an intermediate time s
(a loss on every output, as in sequence labelling) flows back through ds_s/ds_t. This module
measures them all, on the grid of times 0, k, 2k, ... (stride k), as a lower-triangular matrix.

Cost, with m = T/k grid points and n the state size: one step Jacobian per step, computed once
(T forward-mode passes) and multiplied into m block products B_i = ds_{t_i}/ds_{t_{i-1}}
(T matrix products); then for each end point the backward product through the blocks (m^2/2
matrix products of n x n, and as many warm-started power iterations). Memory O(m n^2 + T n)
for the m blocks, which is why the grid is strided: T = 1000, n = 128, k = 10 keeps 13 MB.
Every product is kept at unit Frobenius norm with its log10 scale carried separately, as in
`gradient_flow`, so no length overflows or underflows.
"""

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..engine.jacobians import chunk_steps, primary_block, step_jacobians, trajectory
from ..engine.linearization import Linearization
from ..engine.spectral_norm import frobenius, top_singular_values

__all__ = ["PairwiseNorms", "pairwise_norms", "pairwise_to_table", "pairwise_from_table"]

MAX_BLOCK_BYTES = 2 ** 30


@dataclass(frozen=True)
class PairwiseNorms:
    """times (m,): the grid t_0 = 0 < t_1 < ... (multiples of the stride, up to T);
    log10_norm (m, m): entry [i, j] = log10 ||ds_{t_i}/ds_{t_j}||_2 for j < i, nan on and above
    the diagonal; cell: its name; metadata: what made it."""
    cell: str
    times: np.ndarray
    log10_norm: np.ndarray
    metadata: Mapping[str, object] = field(default_factory=dict)


def pairwise_norms(cell, params, inputs, state0=None, *, stride=1, progress=None,
                   metadata=None):
    """log10 ||ds_s/ds_t||_2 for all grid times t < s.

    Args:
      cell: `cell(params, state, x) -> state`.
      params: its parameters.
      inputs: (T, D) input sequence.
      state0: (n,) initial state; zeros for a built-in cell.
      stride: grid spacing k in steps; the grid is 0, k, 2k, ..., <= T.
      progress: called with the number of end points done (m - 1 in all).
      metadata: dict stored in the result.

    Returns:
      A `PairwiseNorms`.
    """
    stride = int(stride)
    inputs, state0, states = trajectory(cell, params, inputs, state0)
    T = len(inputs)
    if not 1 <= stride <= T:
        raise ValueError(f"stride must be between 1 and the length {T}, got {stride}")
    n = state0.shape[-1]
    times = np.arange(0, T + 1, stride)
    m = len(times)
    if (m - 1) * n * n * 8 > MAX_BLOCK_BYTES:
        raise ValueError(f"{m - 1} blocks of {n} x {n} need more than 1 GiB: raise the stride")
    linear = Linearization(cell, params)
    K = chunk_steps(n)
    jacobians = (J for Js in step_jacobians(linear, states, inputs, K) for J in Js)
    # blocks[i] = ds_{t_{i+1}}/ds_{t_i} / 10**scales[i], unit Frobenius norm.
    blocks, scales = [], []
    for i in range(m - 1):
        B, scale = np.eye(n), 0.0
        for t in range(times[i], times[i + 1]):
            J = next(jacobians)  # ds_{t+1}/ds_t
            if scale == -np.inf:
                continue  # an exactly zero block stays zero
            B = J @ B
            frob = frobenius(B)
            if not np.isfinite(frob):
                raise FloatingPointError(f"the Jacobian ds_{t + 1}/ds_{t} is not finite")
            if frob == 0:
                scale = -np.inf
                continue
            B, scale = B / frob, scale + np.log10(frob)
        blocks.append(B)
        scales.append(scale)
    out = np.full((m, m), np.nan)
    own = primary_block(cell, params)  # ds_s/ds_t: s_t perturbed alone (see gradient_flow)
    rng = np.random.default_rng(0)  # fresh Krylov columns of the spectral norms: reproducible
    for i in range(1, m):
        # only the rows of s_s are carried (for a skip connection n of the k n; P's
        # Frobenius norm is that of those rows, and an exact zero stays zero)
        P, scale, u = np.eye(n)[own], 0.0, None
        products, at, logs = [], [], []  # the products' blocks, their j, their scales
        for j in range(i - 1, -1, -1):
            scale += scales[j]
            if not np.isfinite(scale):
                out[i, :j + 1] = -np.inf  # an exactly zero factor: zero for every earlier t
                break
            P = P @ blocks[j]
            frob = frobenius(P)
            if frob == 0:
                out[i, :j + 1] = -np.inf
                break
            P, scale = P / frob, scale + np.log10(frob)
            products.append(P[:, own])
            at.append(j)
            logs.append(scale)
            if len(products) == K:
                u = _norms_into(out[i], products, at, logs, u, rng)
                products, at, logs = [], [], []
        _norms_into(out[i], products, at, logs, u, rng)
        if progress is not None:
            progress(i)
    name = getattr(cell, "name", getattr(cell, "__name__", "cell"))
    return PairwiseNorms(cell=name, times=times, log10_norm=out,
                         metadata={"stride": stride, "steps": T, **(metadata or {})})


def _norms_into(row, products, at, logs, u, rng):
    """row[at] = log10 ||products||_2 + logs, the norms of the list in one call; returns the
    warm start for the next."""
    if products:
        sigma, u = top_singular_values(np.array(products), u, rng=rng)
        with np.errstate(divide="ignore"):
            row[at] = np.log10(sigma) + logs
    return u


def pairwise_to_table(result):
    """A long `Table` (kind 'heatmap'): one row per grid pair t < s.

    Columns: cell, s (the later time), t (the earlier time), distance (s - t, steps),
    log10_spectral_norm (log10 ||ds_s/ds_t||_2). The metadata holds the grid `times` and the
    settings.
    """
    from ..io.results import Table

    i, j = np.tril_indices(len(result.times), k=-1)
    columns = {"cell": np.array([result.cell] * len(i)), "s": result.times[i],
               "t": result.times[j], "distance": result.times[i] - result.times[j],
               "log10_spectral_norm": result.log10_norm[i, j]}
    return Table(columns, {**result.metadata, "kind": "heatmap", "cell": result.cell,
                           "times": result.times.tolist()})


def pairwise_from_table(table):
    """The `PairwiseNorms` of a heatmap table read back. Raises ValueError if columns are missing."""
    for name in ("s", "t", "log10_spectral_norm"):
        if name not in table.columns:
            raise ValueError(f"not a heatmap table: no column {name!r}")
    s = np.asarray(table.columns["s"]).astype(int)
    t = np.asarray(table.columns["t"]).astype(int)
    times = table.metadata.get("times")
    times = np.array(sorted(set(s.tolist()) | set(t.tolist())) if times is None else times, int)
    index = {int(v): k for k, v in enumerate(times)}
    out = np.full((len(times), len(times)), np.nan)
    out[[index[v] for v in s], [index[v] for v in t]] = np.asarray(
        table.columns["log10_spectral_norm"], dtype=float)
    cells = np.asarray(table.columns["cell"]).astype(str) if "cell" in table.columns else ["cell"]
    meta = {k: v for k, v in table.metadata.items() if k not in ("kind", "times", "cell")}
    return PairwiseNorms(cell=str(cells[0]), times=times, log10_norm=out, metadata=meta)
