"""The sensitivity of the final state to the parameters, ds_T/dtheta, and where it comes from.

With s_t = f(theta, s_{t-1}, x_t), the total derivative of the final state with respect to the
parameters is a sum over the steps of each step's own partial carried to T:

    ds_T/dtheta = sum_{t=1..T} C_t,     C_t = (ds_T/ds_t) (df/dtheta at (s_{t-1}, x_t)),

C_t the contribution from distance d = T - t (d = 0: the last step's partial). Zucchet &
Orvieto (2024) show that where ds_T/ds_t holds (|lambda| -> 1) this sum grows like
(1 - lambda^2)^(-3/2): the curse of memory. Both are n x p matrices (n the state, p the
parameters asked for); their size is the Frobenius norm.

One backward sweep computes them: the adjoint A_t = ds_T/ds_t is carried from T down by the
step Jacobians (`gradflow.engine.jacobians.step_jacobians`, A_{t-1} = A_t J_t), held at unit
Frobenius norm with its log10 scale as in `gradient_flow`, so nothing overflows at any length;
each C_t is the adjoint times the step's partial, and the total is their sum on a common scale.
The partial comes from autograd by one of two routes that give the same numbers: reverse mode,
one vector-Jacobian product per row of the adjoint and step (m products per step, m the state
size: the route for p = H^2 recurrent weights), or forward mode, one Jacobian-vector product per
parameter over a chunk of steps at once (p per chunk: the route for a few parameters, such as
the lambda of a linear recurrence). Memory O(T n + m p): the contributions are not kept.

References:
  Zucchet & Orvieto (2024), Recurrent neural networks: vanishing and exploding gradients are
  not the end of the story. NeurIPS.
"""

import re
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Tuple

import numpy as np
from autograd import make_jvp, make_vjp

from ..cells.feedforward import PerStep
from .jacobians import (Scaled, SparseProduct, state_rows, step_jacobians, trajectory,
                        _not_finite)
from .linearization import Linearization

__all__ = ["RECURRENT", "recurrent_parameters", "parameter_groups", "ParameterFlow",
           "parameter_flow", "chunk_length", "needed_bytes"]

# Parameters that multiply the previous state: the cells' recurrent weights and the
# connections in time of `gradflow.cells.skips`. A layer's copy (`_l1`), the backward
# direction's (`_reverse`) or a nested connection's (`skip_weight_2`) is recurrent when its
# name is.
RECURRENT = ("weight_hh", "skip_weight", "dense_weight", "highway_weight_hh")
_SUFFIX = re.compile(r"(_\d+)?(_l\d+)?(_reverse)?$")
_PART_NUMBERS = 2 ** 21  # numbers of a chunk of contributions and partials (16 MiB)


def _declared(cell):
    """The names the cell and the cells it wraps declare recurrent (`recurrent_params`), or
    None when none of them declares any."""
    names = None
    while cell is not None:
        if hasattr(cell, "recurrent_params"):
            names = (names or set()) | set(cell.recurrent_params)
        cell = getattr(cell, "base", None)
    return names


def recurrent_parameters(cell, params):
    """The names of the recurrent parameters among `params`, in their order.

    Recurrent are the parameters that multiply the previous state: those named in RECURRENT
    (`weight_hh` of the built-in cells, `skip_weight`, `dense_weight` and `highway_weight_hh`
    of the skip connections), per layer (`weight_hh_l1`) and direction as well, and those a
    cell names in its attribute `recurrent_params` (a tuple of names, e.g. an LRU's
    ('nu_log', 'theta_log'); a skip connection adds those of the cell it wraps). A cell that
    declares none and whose parameters include none of RECURRENT (a user's cell such as
    h_t = lam h_{t-1} + x_t with params {"lam": ...}) has all its parameters recurrent; one
    that declares an empty tuple has none (then name the parameters with `wrt`).
    """
    declared = _declared(cell)
    names = set(RECURRENT) | (declared or set())
    found = tuple(k for k in params if _SUFFIX.sub("", k) in names or k in names)
    return found if found or declared is not None else tuple(params)


def parameter_groups(cell, params, wrt=None):
    """The parameter names `wrt` selects, in the order of `params`.

    `wrt`: None or 'recurrent' (`recurrent_parameters`), 'all', one name, or a sequence of
    names and of those two words. Raises ValueError naming a name the cell lacks, and the
    names it has.
    """
    if wrt is None:
        wrt = ("recurrent",)
    elif isinstance(wrt, str):
        wrt = (wrt,)
    chosen = set()
    for name in wrt:
        if name == "recurrent":
            chosen |= set(recurrent_parameters(cell, params))
        elif name == "all":
            chosen |= set(params)
        elif name in params:
            chosen.add(name)
        else:
            raise ValueError(f"the cell has no parameter {name!r}; its parameters: "
                             f"{', '.join(params)} (or 'recurrent', 'all')")
    if not chosen:
        raise ValueError(f"the cell declares no recurrent parameters; name some among "
                         f"{', '.join(params)} (or 'all')")
    return tuple(k for k in params if k in chosen)


@dataclass(frozen=True)
class ParameterFlow:
    """ds_T/dtheta and its contributions C_d = (ds_T/ds_{T-d}) (df/dtheta at step T - d).

    `groups` are the parameter names, in the order of the columns of every matrix here: group
    g is `columns[g]` (a slice), its entries raveled in C order from shape `shapes[g]`.
    `distance` (T,) is d = 0, ..., T - 1. `log10_frobenius_norm` (T,) is log10 ||C_d||_F over
    all the groups, `group_norms[g]` (T,) over group g's columns alone (-inf where exactly
    zero). `total` is ds_T/dtheta as a `Scaled` (m, p) matrix (m the state: for a skip
    connection of length k the network's own state s_T, not the augmented one), with
    `log10_total_frobenius_norm`, `group_totals[g]` (log10 Frobenius norm of group g's columns)
    and `log10_total_spectral_norm`. `contributions` maps the distances asked for to C_d as
    `Scaled` (m, p). `route` says how the partials were taken: 'reverse' or 'forward'.
    """
    groups: Tuple[str, ...]
    columns: Mapping[str, slice]
    shapes: Mapping[str, tuple]
    distance: np.ndarray
    log10_frobenius_norm: np.ndarray
    group_norms: Mapping[str, np.ndarray]
    total: Scaled
    log10_total_frobenius_norm: float
    log10_total_spectral_norm: float
    group_totals: Mapping[str, float]
    contributions: Mapping[int, Scaled] = field(default_factory=dict)
    route: str = "reverse"


def parameter_flow(cell, params, inputs=None, state0=None, *, wrt=None, steps=None,
                   contributions_at=(), route=None,
                   progress: Optional[Callable[[int], None]] = None):
    """The sensitivity ds_T/dtheta of the final state to the parameters, on one sequence.

    Args:
      cell: `cell(params, state, x) -> state`, built in or written in autograd.numpy, skip
        connections and stacks included.
      params: the cell's parameters (dict of arrays or floats), shared by every step.
      inputs: (T, D), or None for a cell without input (with `steps` = T).
      state0: (n,) initial state; zeros by default for a built-in cell, required otherwise.
      wrt: the parameters theta (`parameter_groups`): the recurrent ones by default.
      contributions_at: distances d (0..T-1) at which to keep C_d itself.
      route: 'reverse' or 'forward' to force how the partials are taken; by default forward
        mode when there are fewer parameters than rows of the adjoint times steps per chunk
        and the cell runs on a chunk of steps at once, reverse mode otherwise.
      progress: called with the number of steps done.

    Returns:
      A `ParameterFlow`.

    Raises:
      ValueError for bad inputs, a name the cell lacks or parameters given per step;
      FloatingPointError when the forward pass or a contribution is not finite.
    """
    if isinstance(params, PerStep):
        raise ValueError("the parameters change with the step: ds_T/dtheta needs parameters "
                         "shared by every step")
    if route not in (None, "reverse", "forward"):
        raise ValueError(f"route must be 'reverse' or 'forward', got {route!r}")
    inputs, state0, states = trajectory(cell, params, inputs, state0, steps)
    T, N = len(inputs), state0.shape[-1]
    rows = state_rows(cell, params, N)
    m = len(rows)
    groups = parameter_groups(cell, params, wrt)
    partial = _Partial(cell, params, groups)
    p = partial.size
    keep = {int(d) for d in contributions_at}
    if keep and not 0 <= min(keep) <= max(keep) <= T - 1:
        raise ValueError(f"contributions_at: distances must lie between 0 and T - 1 = {T - 1}, "
                         f"got {sorted(keep)}")
    K = chunk_length(m, N, p)
    forward = route == "forward" or (route is None and p < m * K and K > 1)

    A = np.eye(N)[list(rows)] / np.sqrt(m)  # ds_T/ds_T on the rows of s_T, unit norm
    scale = np.log10(np.sqrt(m))
    norms = np.full(T, -np.inf)
    group_norms = {g: np.full(T, -np.inf) for g in groups}
    total, total_scale = np.zeros((m, p)), -np.inf
    kept = {}
    linear = Linearization(cell, params)
    plan = SparseProduct()  # A J at the cost of J's non-zero blocks (skip connections)
    t = T  # the step whose partial is taken next
    zero = False
    for Js in step_jacobians(linear, states, inputs, K, reverse=True):
        k = len(Js)  # steps t - k + 1 .. t, Js[j] = J_{t - j}
        adjoints, scales = np.empty((k, m, N)), np.empty(k)
        live = 0
        multiply = plan(Js)
        for J in Js:
            adjoints[live], scales[live] = A, scale
            live += 1
            A, previous = np.empty_like(A), A
            multiply(previous, J, A)
            frob = np.sqrt(np.einsum("ij,ij->", A, A))
            if not np.isfinite(frob):
                raise FloatingPointError(_not_finite(states, inputs, t - live))
            if frob == 0:  # every earlier step's contribution is exactly zero
                zero = True
                break
            A /= frob
            scale += np.log10(frob)
        lo = t - k
        C = None
        if forward and partial.forward_ok is not False:
            C = partial.forward(states, inputs, lo, t, adjoints[:live])
            if partial.forward_ok is False and route == "forward":
                raise ValueError("the cell does not run on a chunk of steps at once: "
                                 "use route='reverse'")
        if C is None:
            C = np.stack([partial.reverse(states[t - 1 - j], inputs[t - 1 - j], adjoints[j])
                          for j in range(live)]) if live else np.empty((0, m, p))
        if not np.all(np.isfinite(C)):
            bad = int(np.argmin(np.isfinite(C).reshape(live, -1).all(axis=1)))
            raise FloatingPointError(
                f"the partial ds_{t - bad}/dtheta is not finite at step {t - bad}"
                + ("" if states.finite.all() else "; " + _not_finite(states, inputs, t - bad - 1)))
        # each contribution at unit peak, its size moved into its scale: a partial of
        # a state near float64's limit must not overflow when squared for its norm
        peaks = np.abs(C).reshape(live, -1).max(axis=1) if live and p else np.zeros(live)
        C /= np.where(peaks > 0, peaks, 1.0)[:, None, None]
        with np.errstate(divide="ignore"):
            scales[:live] += np.log10(peaks)  # -inf: an exactly zero contribution
        at = slice(T - t, T - t + live)  # distances of this chunk
        with np.errstate(divide="ignore"):
            norms[at] = np.log10(np.sqrt(np.einsum("kij,kij->k", C, C))) + scales[:live]
            for g in groups:
                part = C[:, :, partial.columns[g]]
                group_norms[g][at] = np.log10(np.sqrt(np.einsum("kij,kij->k", part, part))) \
                    + scales[:live]
        for j in range(live):
            if T - t + j in keep:
                kept[T - t + j] = Scaled(C[j].copy(), float(scales[j]))
        if live and scales[:live].max() > -np.inf:
            top = max(total_scale, scales[:live].max())
            total *= 10.0 ** (total_scale - top) if total_scale > -np.inf else 0.0
            total += np.einsum("k,kij->ij", 10.0 ** (scales[:live] - top), C)
            total_scale = top
        t -= live
        if progress is not None:
            progress(T - t)
        if zero:
            break
    for d in keep - set(kept):  # beyond an exactly zero adjoint
        kept[d] = Scaled(np.zeros((m, p)), -np.inf)
    frob = np.sqrt(np.einsum("ij,ij->", total, total))
    if frob > 0:
        total, total_scale = total / frob, total_scale + np.log10(frob)
    else:
        total_scale = -np.inf
    with np.errstate(divide="ignore"):
        group_totals = {g: float(np.log10(np.linalg.norm(total[:, partial.columns[g]]))
                                 + total_scale) for g in groups}
        gram = total @ total.T if m <= p else total.T @ total
        spectral = float(0.5 * np.log10(max(np.linalg.eigvalsh(gram)[-1], 0.0)) + total_scale) \
            if frob > 0 else -np.inf
    return ParameterFlow(groups=groups, columns=dict(partial.columns), shapes=dict(partial.shapes),
                         distance=np.arange(T), log10_frobenius_norm=norms,
                         group_norms=group_norms, total=Scaled(total, float(total_scale)),
                         log10_total_frobenius_norm=float(total_scale),
                         log10_total_spectral_norm=spectral, group_totals=group_totals,
                         contributions=kept, route="forward" if partial.forward_ok else "reverse")


def chunk_length(m, n, p):
    """Steps whose contributions (m x p) and partials (n x p) `parameter_flow` holds at once:
    as many as 2^21 numbers (16 MiB) hold, between 1 and 64."""
    return int(np.clip(_PART_NUMBERS // ((m + n) * max(p, 1)), 1, 64))


def needed_bytes(m, n, p, steps):
    """An upper estimate of the memory, in bytes, that `parameter_flow` needs beyond the
    state Jacobians' (`gradflow.engine.memory`): for a state of n entries (m of them s_T's)
    and p parameters, the total and a temporary (m x p each), a chunk of contributions and
    partials, the adjoints (K m n) and the trajectory."""
    K = chunk_length(m, n, p)
    return 8 * (3 * m * p + 2 * K * (m + n) * p + K * m * n + 3 * (steps + 1) * n)


class _Partial:
    """The partial df/dtheta of one step, multiplied from the left by the adjoint's rows."""

    def __init__(self, cell, params, groups):
        self.cell, self.params, self.groups = cell, params, groups
        self.values = {g: np.asarray(params[g], dtype=float) for g in groups}
        self.shapes = {g: v.shape for g, v in self.values.items()}
        self.columns, lo = {}, 0
        for g, v in self.values.items():
            self.columns[g] = slice(lo, lo + v.size)
            lo += v.size
        self.size = lo
        self.forward_ok = None  # unknown until the first chunk

    def _fun(self, state, x):
        def fun(sub):
            return self.cell({**self.params, **sub}, state, x)
        return fun

    def _flat(self, grads):
        return np.concatenate([np.ravel(np.asarray(grads[g], dtype=float)) for g in self.groups])

    def reverse(self, state, x, adjoint):
        """adjoint (m, N) times df/dtheta at (state, x): (m, p), one VJP per row."""
        if not np.any(adjoint):
            return np.zeros((len(adjoint), self.size))
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
            warnings.filterwarnings("ignore", "Output seems independent of input")
            vjp, _ = make_vjp(self._fun(state, x))(self.values)
            return np.stack([self._flat(vjp(row)) for row in adjoint])

    def forward(self, states, inputs, lo, hi, adjoints):
        """The contributions of steps hi, hi - 1, ..., (adjoints (k, m, N) in that order) from
        one JVP per parameter over the steps lo + 1..hi at once; None for a chunk of one step
        or with a state that is not finite (the reverse route takes those), and for good when
        the cell does not run on a chunk of steps (checked once against the reverse route)."""
        k = len(adjoints)
        if k == 0:
            return np.empty((0, adjoints.shape[1], self.size))
        lo = hi - k
        if k < 2 or not states.finite[lo:hi].all():
            return None
        window = states.window(lo, hi)
        x = None if inputs[lo] is None else np.asarray(inputs[lo:hi])
        partials = np.empty((k, window.shape[1], self.size))  # time order lo+1..hi
        jvp = make_jvp(self._fun(window, x))(self.values)
        zeros = {g: np.zeros(s) for g, s in self.shapes.items()}
        try:
            with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
                warnings.filterwarnings("ignore", "Output seems independent of input")
                for g in self.groups:
                    for i in range(self.values[g].size):
                        tangent = dict(zeros)
                        e = np.zeros(self.values[g].size)
                        e[i] = 1.0
                        tangent[g] = e.reshape(self.shapes[g])
                        out = np.asarray(jvp(tangent)[1], dtype=float)
                        if out.shape != window.shape:
                            raise ValueError("not a chunk")
                        partials[:, :, self.columns[g].start + i] = out
        except (ValueError, IndexError, TypeError):
            self.forward_ok = False
            return None
        partials = partials[::-1]  # steps hi, ..., lo + 1, as the adjoints
        if self.forward_ok is None:
            for j in (0, k - 1):
                t = hi - 1 - j  # the step's state s_t and input x_{t+1}
                eye = np.eye(window.shape[1])
                single = self.reverse(states[t], inputs[t], eye)
                if not np.allclose(partials[j], single, rtol=1e-12,
                                   atol=1e-14 * (1 + np.abs(single).max())):
                    self.forward_ok = False
                    return None
            self.forward_ok = True
        return np.matmul(adjoints, partials)
