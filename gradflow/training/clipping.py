"""Gradient clipping as pure functions over dicts of arrays (parameter name -> gradient).

Norm clipping is the algorithm of Pascanu, Mikolov & Bengio (2013), "On the difficulty of training
recurrent neural networks", Algorithm 1, applied to the global norm over all parameters:
if ||g|| >= threshold then g <- threshold * g / ||g||. Value clipping bounds every element to
[-threshold, threshold] (Mikolov 2012); it changes the direction of g, norm clipping does not.
"""

import numpy as np

__all__ = ["CLIP_MODES", "global_norm", "clip_by_global_norm", "clip_by_value", "clip"]

CLIP_MODES = ("none", "norm", "value")


def global_norm(grads):
    """The Euclidean norm of all arrays in `grads` taken together, as if flattened into one vector."""
    return float(np.sqrt(sum(np.sum(np.square(g)) for g in grads.values())))


def _check_threshold(threshold):
    if not threshold > 0:
        raise ValueError(f"the clipping threshold must be positive, got {threshold}")


def clip_by_global_norm(grads, threshold):
    """Rescale `grads` to global norm `threshold` when their norm is at least `threshold`.

    Returns (clipped dict, norm before clipping). Every array keeps its shape; the direction of the
    concatenated gradient is unchanged and its norm becomes min(||g||, threshold).
    """
    _check_threshold(threshold)
    norm = global_norm(grads)
    if norm >= threshold:
        factor = threshold / norm
        return {k: g * factor for k, g in grads.items()}, norm
    return dict(grads), norm


def clip_by_value(grads, threshold):
    """Clip every element of every array in `grads` to [-threshold, threshold]; returns a new dict."""
    _check_threshold(threshold)
    return {k: np.clip(g, -threshold, threshold) for k, g in grads.items()}


def clip(grads, mode, threshold):
    """Apply clipping `mode` ('none', 'norm' or 'value') at `threshold`.

    Returns (clipped dict, clipped flag): the flag says whether the gradient was changed, i.e.
    ||g|| >= threshold for 'norm' and some |g_i| > threshold for 'value'; always False for 'none'.
    """
    if mode == "none":
        return dict(grads), False
    if mode == "norm":
        clipped, norm = clip_by_global_norm(grads, threshold)
        return clipped, bool(norm >= threshold)
    if mode == "value":
        changed = any(np.any(np.abs(g) > threshold) for g in grads.values())
        return clip_by_value(grads, threshold), bool(changed)
    raise ValueError(f"unknown clipping mode {mode!r}; choose from {', '.join(CLIP_MODES)}")
