"""Optimizers as pure functions over dicts of arrays (parameter name -> array): `init(params)
-> state` and `update(state, grads) -> (state, params)`, so that a run is a fold over its
gradients and can be repeated to the last bit."""

from typing import Callable, NamedTuple

import numpy as np

__all__ = ["Optimizer", "sgd", "momentum", "adam", "OPTIMIZERS"]


class Optimizer(NamedTuple):
    """`init(params) -> state`; `update(state, grads) -> (state, params)`; pure functions."""
    name: str
    init: Callable
    update: Callable


def _tree(f, *dicts):
    return {k: f(*(d[k] for d in dicts)) for k in dicts[0]}


class SGDState(NamedTuple):
    params: dict


def sgd(lr):
    """Plain gradient descent, p <- p - lr g."""
    def update(state, grads):
        params = _tree(lambda p, g: p - lr * g, state.params, grads)
        return SGDState(params), params
    return Optimizer("sgd", lambda params: SGDState(dict(params)), update)


class MomentumState(NamedTuple):
    params: dict
    velocity: dict


def momentum(lr, beta=0.9):
    """Heavy-ball momentum (Polyak 1964): v <- beta v + g, p <- p - lr v."""
    def init(params):
        return MomentumState(dict(params), _tree(np.zeros_like, params))

    def update(state, grads):
        velocity = _tree(lambda v, g: beta * v + g, state.velocity, grads)
        params = _tree(lambda p, v: p - lr * v, state.params, velocity)
        return MomentumState(params, velocity), params
    return Optimizer("momentum", init, update)


class AdamState(NamedTuple):
    params: dict
    m: dict
    v: dict
    count: int


def adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma & Ba 2015) with bias correction."""
    def init(params):
        zeros = _tree(np.zeros_like, params)
        return AdamState(dict(params), zeros, dict(zeros), 0)

    def update(state, grads):
        count = state.count + 1
        m = _tree(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
        v = _tree(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)
        c1, c2 = 1 - b1 ** count, 1 - b2 ** count
        params = _tree(lambda p, m, v: p - lr * (m / c1) / (np.sqrt(v / c2) + eps),
                       state.params, m, v)
        return AdamState(params, m, v, count), params
    return Optimizer("adam", init, update)


OPTIMIZERS = {"sgd": sgd, "momentum": momentum, "adam": adam}
