"""Benchmark of the depth x time map: one reverse sweep over a stack against per-layer flows.

`depth_flow` of an L-layer stack gives, for every layer l and distance d, the total derivative
d s^(L-1)_T / d s^(l)_{T-d}. Its cost per step should be that of L single-layer analyses (one
step Jacobian, one adjoint product and the norms per layer), not an unroll per entry. In one
run, for the RNN, LSTM and GRU at H in {32, 128} and L in {2, 8}, T = 100:
  - depth: `depth_flow` wall time / T;
  - L layers: L times `gradient_flow` of one layer on an input sequence of the layer's width,
    wall time / T (what L separate one-layer analyses cost);
  - brute force: autograd's `jacobian` of the top state over the unrolled network for one
    entry (l = 0, d = T/2), times L T entries: what the map costs without the sweep
    (one entry timed, the rest extrapolated; only at H = 32).
Every time is the median of repeats after a warm-up, with time.perf_counter.

    python benchmarks/bench_depth.py            # full run, writes benchmarks/results_depth.md
    python benchmarks/bench_depth.py --quick    # smoke run in seconds, writes nothing
"""

import datetime
import os
import platform
import time
from pathlib import Path

import click
import numpy as np
from autograd import jacobian

from gradflow.cells import get_cell
from gradflow.cells.initializers import init_params
from gradflow.cells.layers import layer_params, stack
from gradflow.engine.depth import depth_flow
from gradflow.engine.jacobians import gradient_flow
from gradflow.io.files import atomic_path

from bench_jacobians import median_seconds  # the same timer: median after a warm-up

RESULTS = Path(__file__).with_name("results_depth.md")
INPUT_SIZE = 8


def brute_force_entry_seconds(cell, params, x, L):
    """One entry of the map by autograd over the unrolled stack: d s^(L-1)_T / d s^(0)_{T/2}."""
    T = len(x)
    n = cell.state_size(layer_params(params, "_l0"))
    H = np.shape(params["weight_hh_l0"])[1]

    def top(eps):
        states = [np.zeros(n)] * L
        for t in range(1, T + 1):
            u, new = x[t - 1], []
            for l in range(L):
                s = cell(layer_params(params, f"_l{l}"), states[l], u)
                s = s + eps if (l, t) == (0, T // 2) else s
                new.append(s)
                u = s[:H]
            states = new
        return states[-1]

    start = time.perf_counter()
    jacobian(top)(np.zeros(n))
    return time.perf_counter() - start


def row(name, H, L, T, repeats, brute):
    cell = get_cell(name)
    net = stack([cell] * L)
    params = init_params(net, H, INPUT_SIZE, seed=0)
    x = np.random.default_rng(1).standard_normal((T, INPUT_SIZE))
    depth = median_seconds(lambda: depth_flow(net, params, x), repeats) / T
    one = layer_params(params, "_l1")
    u = np.random.default_rng(2).standard_normal((T, H))
    single = median_seconds(lambda: gradient_flow(cell, one, u), repeats) / T
    entry = brute_force_entry_seconds(cell, params, x, L) if brute else None
    return {"cell": name, "H": H, "L": L, "depth": depth, "layers": L * single,
            "brute": None if entry is None else entry * L}  # L T entries over T steps


@click.command()
@click.option("--quick", is_flag=True, help="Tiny sizes, a few seconds, writes nothing.")
@click.option("--output", type=click.Path(dir_okay=False), default=str(RESULTS),
              show_default=True, help="Where the table goes (not with --quick unless given).")
def main(quick, output):
    T, repeats = (20, 1) if quick else (100, 3)
    sizes = [(32, 2)] if quick else [(32, 2), (32, 8), (128, 2), (128, 8)]
    lines = [f"Depth x time map, T = {T}, D = {INPUT_SIZE}: ms per step (median of {repeats})",
             "",
             "| cell | H | L | depth_flow ms/step | L one-layer flows ms/step | ratio | "
             "brute force ms/step | brute / depth |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for name in ("rnn", "lstm", "gru"):
        for H, L in sizes:
            r = row(name, H, L, T, repeats, brute=H == 32)
            brute = "-" if r["brute"] is None else f"{1e3 * r['brute']:.1f}"
            speedup = "-" if r["brute"] is None else f"{r['brute'] / r['depth']:.0f}"
            lines.append(f"| {name} | {H} | {L} | {1e3 * r['depth']:.2f} | "
                         f"{1e3 * r['layers']:.2f} | {r['depth'] / r['layers']:.2f} | {brute} | "
                         f"{speedup} |")
            print(lines[-1], flush=True)
    stamp = datetime.date.today().isoformat()
    lines += ["", f"{stamp}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy "
              f"{np.__version__}; brute force: one entry by autograd over the unrolled stack, "
              "times L T entries"]
    text = "\n".join(lines) + "\n"
    print("\n".join(lines[-2:]))
    if not quick or output != str(RESULTS):
        with atomic_path(output) as tmp:
            Path(tmp).write_text(text)


if __name__ == "__main__":
    main()
