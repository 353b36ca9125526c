"""How much memory an analysis needs, and how much the machine has: refuse a run up front
instead of failing (or swapping the machine to a halt) minutes into it.

Every analysis keeps O(n^2 + T n) numbers (see `gradflow.engine.jacobians`): a handful of n x n
products and their temporaries, the forward-mode tangents of the gate pre-activations
(n x G H), LAPACK's workspace, the trajectory (T + 1, n) and the inputs (T, D) of each sample.
`needed_bytes` counts them with coefficients measured on the built-in cells (tracemalloc's peak
for n from 16 to 320, T from 30 to 600, 1 to 3 samples) and rounded up, plus LAPACK's workspace,
which tracemalloc does not see: an upper estimate, 1.2 to 2.7 times the traced peak there, and
tested against it and against the resident size of a real run.
"""

import os

from .jacobians import CHUNK_BYTES, chunk_steps

__all__ = ["ANALYSES", "needed_bytes", "available_bytes", "format_bytes"]

# n x n matrices alive at once, LAPACK workspace (about 6) included. 'heatmap' also keeps its
# grid of block products, counted separately.
ANALYSES = {"decay": 11, "phase": 11, "gates": 11, "spectrum": 15, "heatmap": 18, "depth": 11,
            "sensitivity": 11, "truncation": 11}
CHUNKED = ("decay", "phase", "gates", "spectrum", "heatmap")  # see `chunk_steps`
_BASE = 2 ** 20  # bytes: small arrays, independent of the sizes


def needed_bytes(cell, *, hidden, input_size, steps, samples=1, analysis="decay", blocks=0,
                 chunk_bytes=CHUNK_BYTES):
    """An upper estimate of the memory, in bytes, that `analysis` of `cell` needs.

    Args:
      cell: a built-in cell's name or function (its `gate_blocks` G and `state_blocks` tell
        the state size n = state_blocks H and the gate width G H).
      hidden, input_size, steps, samples: H, D, T and the number of input sequences.
      analysis: one of ANALYSES ('decay' for `decay_profile` and `gradient_flow`; 'depth' and
        'sensitivity' for the layered sweeps of `gradflow.engine.depth`, whose adjoints of
        m x n numbers per step, m <= n, are kept between layers; 'truncation' for
        `gradflow.analysis.truncation`, which keeps a parameter-sized gradient per band of
        truncation lengths and the batch's states).
      blocks: for 'heatmap', the number of n x n block products kept (grid points - 1).
      chunk_bytes: the analyses' memory for step Jacobians evaluated at once
        (`gradflow.engine.jacobians.chunk_steps`): K = min(T, chunk_steps(n)) steps of them,
        their gates' tangents and their products, 2 n^2 + 3 n G H numbers per step.

    Returns:
      int, bytes (float64 numbers).
    """
    from ..cells.builtin import get_cell

    fn = get_cell(cell) if isinstance(cell, str) else cell
    if analysis not in ANALYSES:
        raise ValueError(f"unknown analysis {analysis!r}; choose from {', '.join(ANALYSES)}")
    H, D, T, S = int(hidden), int(input_size), int(steps), int(samples)
    n = getattr(fn, "state_blocks", 1) * H
    W = getattr(fn, "gate_blocks", 1) * H
    numbers = ((ANALYSES[analysis] + blocks) * n * n   # products, temporaries, workspace
               + 4 * n * W                              # batched tangents of the gates
               + W * (H + D + 2)                        # the weights
               + 3 * T * n                              # the trajectory and its copies
               + T * S * (D + 16))                      # inputs and curves of each sample
    if analysis in CHUNKED:
        K = min(T, chunk_steps(n, chunk_bytes))
        numbers += K * (2 * n * n + 3 * n * W)          # a chunk of step Jacobians
    if analysis in ("depth", "sensitivity"):
        numbers += 3 * T * n * n                        # adjoints passed between layers
    if analysis == "truncation":
        numbers += (22 * W * (H + D + 2)                # gradient per lag band, about 20 k
                    + 4 * T * S * n)                    # the batch's states and adjoints
    if analysis == "gates":
        numbers += T * S * (2 * W + 40)                 # every gate at every step, pooled
    return 8 * numbers + _BASE


def available_bytes():
    """Memory this process may still use, in bytes, or None where that cannot be read.

    The smaller of the memory the system reports available (MemAvailable of /proc/meminfo:
    free memory plus the caches it can drop; elsewhere the free pages sysconf reports) and what
    a cgroup (v2) memory limit leaves, which is what bounds a process in a container.
    """
    limits = [_meminfo_available(), _cgroup_left()]
    if limits[0] is None:
        try:
            limits[0] = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pass
    limits = [v for v in limits if v is not None]
    return min(limits) if limits else None


def _meminfo_available():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_left(root="/sys/fs/cgroup"):
    try:
        with open(os.path.join(root, "memory.max")) as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(root, "memory.current")) as fh:
            return max(0, int(limit) - int(fh.read().strip()))
    except (OSError, ValueError):
        return None


def format_bytes(n):
    """'1.5 GB', '340 MB', '12 kB': decimal units, two or three significant digits."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n} bytes"
