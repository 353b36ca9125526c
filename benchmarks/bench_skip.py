"""Benchmark of skip connections that augment the state (skip:k, dense:k): what the k past
states the state carries cost, with the step Jacobians assembled from the base cell's and with
the generic route that differentiates the whole augmented cell.

Cells: the RNN at H = 64 and 256 and the LSTM at H = 64 (n = 128), alone, with skip:4 and with
dense:4 (state 4 n). Routes: "assembled", the transformed cell as gradflow builds it (the engine
differentiates the base cell along n tangents and assembles the 4n x 4n Jacobian,
`gradflow.engine.linearization`), and "generic", a plain-function copy of the same cell without
`link`, which the engine cannot recognise (it pushes 4n tangents through the whole cell: the
route before). Three times per case, ms per step at T = 500, D = 8: the step Jacobians alone
(`step_jacobians` over the whole sequence, chunked as `gradient_flow` chunks them),
`gradient_flow` end to end as it runs by default (only the product's rows of s_T carried), and
end to end with the whole augmented product carried and its norms reported (the block
'augmented', what every skip run cost before). Min of the interleaved repeats,
time.perf_counter, OpenBLAS on one thread. Both routes' norms, and the default's and the whole
product's, must agree to 1e-12 (the script fails otherwise).

    python benchmarks/bench_skip.py            # full run, writes benchmarks/results_skip.md
    python benchmarks/bench_skip.py --quick    # smoke run in seconds, writes nothing
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402
import numpy as np  # noqa: E402

from gradflow.cells import get_cell  # noqa: E402
from gradflow.cells.initializers import init_params  # noqa: E402
from gradflow.cells.skips import transform  # noqa: E402
from gradflow.engine.jacobians import (chunk_steps, gradient_flow, step_jacobians,  # noqa: E402
                                       trajectory)
from gradflow.engine.linearization import Linearization  # noqa: E402
from _report import emit, machine_line  # noqa: E402

RESULTS = Path(__file__).with_name("results_skip.md")
CONNECTIONS = ("none", "skip:4", "dense:4")


def plain(cell):
    """The cell as a plain function with every attribute but `link`: the generic route."""
    def step(params, state, x):
        return cell(params, state, x)

    step.__dict__.update({k: v for k, v in cell.__dict__.items() if k != "link"})
    return step


def jacobians_only(cell, params, inputs):
    """The step Jacobians of the whole sequence, chunked as gradient_flow chunks them."""
    inputs, state0, states = trajectory(cell, params, inputs)
    K = chunk_steps(len(state0))
    for _ in step_jacobians(Linearization(cell, params), states, inputs, K, reverse=True):
        pass


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def whole(cell, params):
    """The blocks that make gradient_flow carry the whole augmented product."""
    return {**cell.blocks(params), "augmented": slice(None)}


def run_case(name, H, T, D, repeats):
    """{(connection, route): (jacobian, end-to-end, end-to-end with the whole product)
    ms/step} and the largest difference between the routes' norms."""
    base = get_cell(name)
    inputs = np.random.default_rng(1).standard_normal((T, D))
    routes = {}
    for spec in CONNECTIONS:
        cell = transform(base, spec)
        params = init_params(cell, H, D, scale=1.2, seed=0)
        routes[spec, "assembled"] = (cell, params)
        if spec != "none":
            routes[spec, "generic"] = (plain(cell), params)
    best = {key: [np.inf, np.inf, np.inf] for key in routes}
    for _ in range(repeats):  # interleaved: every route once per round
        for key, (cell, params) in routes.items():
            best[key][0] = min(best[key][0], timed(lambda: jacobians_only(cell, params, inputs)))
            best[key][1] = min(best[key][1], timed(lambda: gradient_flow(cell, params, inputs)))
            if key[0] != "none":
                best[key][2] = min(best[key][2], timed(lambda: gradient_flow(
                    cell, params, inputs, blocks=whole(cell, params))))
    worst = 0.0
    for spec in CONNECTIONS[1:]:
        a, b = (gradient_flow(*routes[spec, r], inputs) for r in ("assembled", "generic"))
        c = gradient_flow(*routes[spec, "assembled"], inputs,
                          blocks=whole(*routes[spec, "assembled"]))
        for x, y in [(a.log10_spectral_norm, b.log10_spectral_norm),
                     (a.log10_frobenius_norm, b.log10_frobenius_norm),
                     (a.log10_spectral_norm, c.log10_spectral_norm),
                     (a.log10_loss_gradient_norm, c.log10_loss_gradient_norm),
                     *[(a.blocks[k], b.blocks[k]) for k in a.blocks]]:
            worst = max(worst, float(np.max(np.abs(np.asarray(x) - np.asarray(y)))))
    assert worst <= 1e-12, (name, H, worst)
    return {key: tuple(1e3 * v / T for v in times) for key, times in best.items()}, worst


@click.command()
@click.option("--quick", is_flag=True, help="Tiny sizes, a few seconds, writes nothing.")
@click.option("--output", type=click.Path(dir_okay=False), default=str(RESULTS),
              show_default=True, help="Where the table goes (not with --quick unless given).")
def main(quick, output):
    T, D, repeats = (20, 3, 1) if quick else (500, 8, 3)
    cases = [("rnn", 4), ("lstm", 4)] if quick else [("rnn", 64), ("rnn", 256), ("lstm", 64)]
    lines = ["| cell | n | connection | route | Jacobians ms/step | end to end ms/step "
             "| with the augmented block | Jacobians / cell alone | end to end / cell alone "
             "| with the augmented block / cell alone |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    worst = 0.0
    for name, H in cases:
        times, diff = run_case(name, H, T, D, repeats)
        worst = max(worst, diff)
        n = H * (2 if name == "lstm" else 1)
        alone = times["none", "assembled"]
        for (spec, route), (jac, e2e, full) in times.items():
            shown = "-" if spec == "none" else route
            full_ms, full_ratio = ("-", "-") if spec == "none" else \
                (f"{full:.3g}", f"{full / alone[1]:.2f}")
            lines.append(f"| {name} | {n} | {spec} | {shown} | {jac:.3g} | {e2e:.3g} "
                         f"| {full_ms} | {jac / alone[0]:.2f} | {e2e / alone[1]:.2f} "
                         f"| {full_ratio} |")
    lines += ["", machine_line(f"T = {T}, D = {D}, min of {repeats} interleaved repeats; the "
                               f"routes' norms agree to {worst:.1e}")]
    emit(lines, output, RESULTS, quick)


if __name__ == "__main__":
    main()
