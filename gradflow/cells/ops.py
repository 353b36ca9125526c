"""Differentiable building blocks that autograd's own versions get wrong in batched forward mode.

gradflow evaluates a cell once at an unbatched state of shape (n,) and pushes a whole batch of
tangents of shape (k, n) through it (see `gradflow.engine.jacobians`). That needs every primitive's
JVP to broadcast over the extra leading axis. autograd's `concatenate` pads the tangent with
zeros shaped like the primal, which breaks that; `concat` below pads with zeros shaped like the
tangent instead. Its VJP is the matching slice, so the same cells also train in reverse mode.
"""

import autograd.numpy as np
import numpy as onp
from autograd.extend import defjvp, defjvp_argnums, defvjp, defvjp_argnum, primitive

__all__ = ["concat", "sigmoid"]


def concat(*arrays):
    """Concatenate along the last axis: shapes (..., n1), (..., n2), ... -> (..., n1 + n2 + ...).

    Takes the arrays as separate arguments, `concat(h, x)`, or as one list or tuple, the
    spelling of `numpy.concatenate`: `concat([h, x])`. Leading axes broadcast against each
    other. Raises ValueError when given no array.
    """
    if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)):
        arrays = tuple(arrays[0])  # autograd sees boxes only in positional arguments: unpack
    if not arrays:
        raise ValueError("concat needs at least one array")
    return _concat(*arrays)


@primitive
def _concat(*arrays):
    lead = onp.broadcast_shapes(*(onp.shape(a)[:-1] for a in arrays))
    return onp.concatenate([onp.broadcast_to(a, lead + onp.shape(a)[-1:]) for a in arrays],
                           axis=-1)


def _bounds(arrays, argnum):
    widths = [onp.shape(a)[-1] for a in arrays]
    start = sum(widths[:argnum])
    return start, start + widths[argnum], sum(widths)


def _concat_jvp(argnums, gs, ans, args, kwargs):
    # One joint JVP: the tangents side by side, zeros (tangent-shaped) for constant arguments.
    lead = np.broadcast_shapes(*(np.shape(g)[:-1] for g in gs))
    tangent = dict(zip(argnums, gs))
    parts = []
    for i, a in enumerate(args):
        width = onp.shape(a)[-1]
        parts.append(np.broadcast_to(tangent[i], lead + (width,)) if i in tangent
                     else np.zeros(lead + (width,)))
    return np.concatenate(parts, axis=-1)


def _concat_vjp(argnum, ans, args, kwargs):
    start, stop, _ = _bounds(args, argnum)
    shape = onp.shape(args[argnum])

    def vjp(g):
        part = g[..., start:stop]
        # Undo broadcasting: sum over the axes along which this argument was stretched.
        while np.ndim(part) > len(shape):
            part = np.sum(part, axis=0)
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and np.shape(part)[i] != 1)
        return np.sum(part, axis=axes, keepdims=True) if axes else part

    return vjp


defjvp_argnums(_concat, _concat_jvp)
defvjp_argnum(_concat, _concat_vjp)


@primitive
def sigmoid(a):
    """The logistic function 1 / (1 + exp(-a)), computed through tanh so it never overflows.

    A primitive so that its derivative s (1 - s) costs one multiplication of the tangent, not
    the three that differentiating 0.5 (tanh(a / 2) + 1) through autograd would.
    """
    return 0.5 * (onp.tanh(0.5 * a) + 1.0)


defjvp(sigmoid, lambda g, ans, a: g * (ans * (1.0 - ans)))
defvjp(sigmoid, lambda ans, a: lambda g: g * (ans * (1.0 - ans)))
