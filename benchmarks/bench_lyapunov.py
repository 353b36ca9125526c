"""Benchmark of Lyapunov spectra over long trajectories: chunked step Jacobians against one step
at a time.

Two systems, each run in the same process by both routes of `lyapunov_spectrum`:
  - the Henon map (a = 1.4, b = 0.3; n = 2, no input), written by a user in autograd.numpy:
    its exponents sum to ln 0.3 exactly (det J = -0.3 at every step), which the script checks,
    and the top one is 0.419 (Sprott 2003, Chaos and Time-Series Analysis, table A.1);
  - a GRU with H = 32 driven by Gaussian inputs (all 32 exponents).
Routes: the default (K step Jacobians per forward-mode call, the frame re-orthonormalised by
LAPACK's QR called directly) and `chunk_bytes=0` (one forward-mode call per step, the route
before chunks). The two must agree to 1e-12; the script fails otherwise. Wall time with
time.perf_counter, best of the repeats, OpenBLAS on one thread.

    python benchmarks/bench_lyapunov.py            # full run, writes benchmarks/results_lyapunov.md
    python benchmarks/bench_lyapunov.py --quick    # smoke run in seconds, writes nothing
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402
import numpy as np  # noqa: E402

from gradflow import concat  # noqa: E402
from gradflow.cells import get_cell  # noqa: E402
from gradflow.cells.initializers import init_params  # noqa: E402
from gradflow.engine.jacobians import lyapunov_spectrum  # noqa: E402
from _report import emit, machine_line  # noqa: E402

RESULTS = Path(__file__).with_name("results_lyapunov.md")


def henon(params, s, x):
    """The Henon map (x, y) -> (1 - 1.4 x^2 + y, 0.3 x), as a user writes it."""
    return concat(1 - 1.4 * s[..., :1] ** 2 + s[..., 1:], 0.3 * s[..., :1])


def systems(quick):
    """(name, steps, kwargs of lyapunov_spectrum)."""
    T_map, T_gru = (2000, 300) if quick else (10 ** 6, 20000)
    gru = get_cell("gru")
    params = init_params(gru, 32, 8, scale=1.5, seed=0)
    inputs = np.random.default_rng(1).standard_normal((T_gru, 8))
    return [("Henon map, n = 2", T_map,
             dict(cell=henon, params={}, inputs=None, state0=np.array([0.1, 0.1]),
                  steps=T_map, discard=100)),
            ("GRU H = 32, all 32 exponents", T_gru,
             dict(cell=gru, params=params, inputs=inputs, discard=100))]


def best_seconds(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


@click.command()
@click.option("--quick", is_flag=True, help="Tiny sizes, a few seconds, writes nothing.")
@click.option("--output", type=click.Path(dir_okay=False), default=str(RESULTS),
              show_default=True, help="Where the table goes (not with --quick unless given).")
def main(quick, output):
    repeats = 1 if not quick else 2
    lines = ["| system | steps | chunked s | one step at a time s | speed-up | top exponent "
             "(ln) | sum - exact |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, T, kws in systems(quick):
        chunked, a = best_seconds(lambda: lyapunov_spectrum(**kws), repeats)
        single, b = best_seconds(lambda: lyapunov_spectrum(**kws, chunk_bytes=0), repeats)
        assert np.max(np.abs(a - b)) < 1e-12, (name, a, b)
        exact = f"{a.sum() - np.log(0.3):.1e}" if name.startswith("Henon") else "-"
        if name.startswith("Henon"):
            assert abs(a.sum() - np.log(0.3)) < 1e-12, a.sum()
        lines.append(f"| {name} | {T:,} | {chunked:.3g} | {single:.3g} | {single / chunked:.1f} "
                     f"| {a[0]:.5f} | {exact} |")
    lines += ["", machine_line(f"best of {repeats}; both routes agree to 1e-12")]
    emit(lines, output, RESULTS, quick)


if __name__ == "__main__":
    main()
