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
from autograd.numpy import numpy_jvps
from autograd.numpy.numpy_vjps import dot_vjp_0, dot_vjp_1

__all__ = ["concat", "sigmoid", "dot"]


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


@primitive
def dot(a, b):
    """numpy's `dot(a, b)`, the same numbers, with a forward mode made for step Jacobians.

    `gradflow.engine.linearization` pushes the identity through a cell evaluated at K states
    at once: the tangent of the state is e_i at every step, an (n, K, n) array that is constant
    along the step axis (a broadcast view with stride 0 there). Its product with the recurrent
    weights is the same at every step: it is computed once and broadcast, not K times (and
    not at all as a matrix product per step). Other tangents with more axes than `a` go
    through `matmul`, which numpy runs as one BLAS call, where `dot` on a 3-D array is slow.
    The reverse mode is autograd's own, so training is unchanged to the last bit.
    """
    return onp.dot(a, b)


def _dot_jvp_0(g, ans, a, b):
    extra = np.ndim(g) - np.ndim(a)  # leading tangent axes
    if extra and np.ndim(a) >= 2 and np.ndim(b) == 2:
        steps = np.ndim(g) - 2  # the step axis: the one before the last
        strides = getattr(g, "strides", None)  # None for a box (nested differentiation)
        if extra == 1 and np.shape(g)[steps] > 1 and strides and strides[steps] == 0:
            once = np.dot(g[:, 0], b)[:, None]  # the same product at every step
            return np.broadcast_to(once, np.shape(g)[:-1] + np.shape(b)[-1:])
        return np.matmul(g, b)
    return np.dot(g, b)


def _matmul_jvp_0(g, ans, a, b):
    extra = np.ndim(g) - np.ndim(a)
    strides = getattr(g, "strides", None)
    if extra == 1 and np.ndim(a) == 2 and np.ndim(b) == 2 and np.shape(g)[1] > 1 \
            and strides and strides[1] == 0:
        once = np.matmul(g[:, :1], b)  # the same product at every step
        return np.broadcast_to(once, np.shape(g)[:-1] + np.shape(b)[-1:])
    return np.matmul(g, b)


defjvp(dot, _dot_jvp_0, lambda g, ans, a, b: np.dot(a, g))
defvjp(dot, dot_vjp_0, dot_vjp_1)
# A user cell written with autograd's own `dot(h, W.T)` or `h @ W.T` gets the same forward
# mode: autograd's rules, except for tangents with an extra leading axis (which only
# gradflow's batched tangents have), so its other uses are unchanged.
defjvp(np.dot, _dot_jvp_0, lambda g, ans, a, b: np.dot(a, g))
defjvp(np.matmul, _matmul_jvp_0, lambda g, ans, a, b: np.matmul(a, g))


def _broadcast(x, target):
    """autograd's `numpy_jvps.broadcast`, which stretches the tangent of an operand to the
    shape of a result (the JVP of add, subtract, multiply, where, ...), with the tangent's
    leading batch axes told apart from the operand's own.

    autograd stretches every axis of length 1 by position from the left, which is right only
    when the tangent has the operand's shape. With gradflow's batched tangents (k, ...) it
    stretches a batch axis of length 1, or reads past the result's shape (an operand (1,)
    beside a result (n,), as `s[..., :1] + s[..., 1:]` makes, raised IndexError). Here the
    axes are aligned from the right, as numpy's broadcasting does; where the tangent has no
    extra axes (all of autograd's own uses) the result is the same as autograd's.
    """
    target_shape, target_ndim, _, target_iscomplex = np.metadata(target)
    while np.ndim(x) < target_ndim:
        x = np.expand_dims(x, 0)
    lead = np.ndim(x) - target_ndim
    for axis, size in enumerate(np.shape(x)[lead:]):
        if size == 1:
            x = np.repeat(x, target_shape[axis], axis=lead + axis)
    if target_iscomplex and not np.iscomplexobj(x):
        x = x + 0j
    return x


numpy_jvps.broadcast = _broadcast  # read at call time by autograd's JVP rules
