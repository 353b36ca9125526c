"""Benchmark of gradflow's Jacobian engine: `gradient_flow` per step against three yardsticks.

In one run, for the RNN, LSTM and GRU at H in {32, 128, 256} and T = 200 steps:
  - gradflow: `gradient_flow` wall time / T (forward unroll, step Jacobian, running product,
    spectral and Frobenius norms, loss-gradient norm, the LSTM's block norms);
  - one n x n float64 matmul, the unit of the target "within 10x of one matmul at n >= 256";
  - the naive route: autograd's reverse-mode `jacobian` per step, the product P @ J and a full
    SVD for the 2-norm (few steps: it is slow);
  - the torch.func route, when torch imports: `torch.func.jacrev` of the same cell written in
    torch (float64), the product and `torch.linalg.svdvals`.
Then the memory check: T = 10,000 steps of an LSTM with H = 128, peak traced by tracemalloc
(numpy reports its buffers to it) against the size of the states and of all T Jacobians.

Every time is the median of several repeats after a warm-up, with time.perf_counter. The
machine is shared in development, so the one-matmul yardstick is re-measured next to each row.

    python benchmarks/bench_jacobians.py            # full run, writes benchmarks/results.md
    python benchmarks/bench_jacobians.py --quick    # smoke run in seconds, writes nothing
"""

import datetime
import os
import platform
import statistics
import time
import tracemalloc
from importlib import metadata
from pathlib import Path

import click
import numpy as np
from autograd import jacobian

from gradflow.cells import get_cell
from gradflow.cells.initializers import init_params
from gradflow.engine.jacobians import gradient_flow, step_jacobian
from gradflow.engine.unroll import default_state, unroll
from gradflow.io.files import atomic_path

CELLS = ("rnn", "lstm", "gru")
INPUT_SIZE = 16
RESULTS = Path(__file__).with_name("results.md")


def median_seconds(fn, repeats, warmup=1):
    """Median wall time of `fn()` over `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_seconds(n, rng, repeats=15):
    """One n x n float64 matmul; each timed run loops enough products to last about 2 ms."""
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    start = time.perf_counter()
    A @ B
    loops = max(1, int(2e-3 / max(time.perf_counter() - start, 1e-7)))

    def run():
        for _ in range(loops):
            A @ B

    return median_seconds(run, repeats) / loops


def problem(name, H, T, seed=0):
    """(cell, params, inputs (T, D), states (T+1, n)) for one benchmark row."""
    cell = get_cell(name)
    params = init_params(cell, H, INPUT_SIZE, seed=seed)
    inputs = np.random.default_rng(seed + 1).standard_normal((T, INPUT_SIZE))
    states = unroll(cell, params, inputs, default_state(cell, params))
    return cell, params, inputs, states


def naive_autograd_seconds(cell, params, inputs, states, steps, repeats):
    """Per step: autograd's reverse-mode `jacobian`, the product P @ J, a full SVD for the norms."""
    T = len(inputs)

    def run():
        P = np.eye(states.shape[-1])
        for d in range(1, steps + 1):
            t = T - d
            J = jacobian(lambda s: cell(params, s, inputs[t]))(states[t])
            P = P @ J
            svals = np.linalg.svd(P, compute_uv=False)
            svals[0], np.sqrt(np.sum(svals ** 2))

    return median_seconds(run, repeats) / steps


def torch_cell(name, params):
    """The gradflow cell `name` written in torch, float64, as `f(state (n,), x (D,)) -> (n,)`."""
    import torch

    p = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()}
    H = p["weight_hh"].shape[1]

    def rnn(s, x):
        return torch.tanh(p["weight_ih"] @ x + p["bias_ih"] + p["weight_hh"] @ s + p["bias_hh"])

    def lstm(s, x):
        h, c = s[:H], s[H:]
        a = p["weight_ih"] @ x + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"]
        i, f = torch.sigmoid(a[:H]), torch.sigmoid(a[H:2 * H])
        g, o = torch.tanh(a[2 * H:3 * H]), torch.sigmoid(a[3 * H:])
        c_new = f * c + i * g
        return torch.cat([o * torch.tanh(c_new), c_new])

    def gru(s, x):
        gi = p["weight_ih"] @ x + p["bias_ih"]
        gh = p["weight_hh"][:2 * H] @ s + p["bias_hh"][:2 * H]
        r, z = torch.sigmoid(gi[:H] + gh[:H]), torch.sigmoid(gi[H:2 * H] + gh[H:])
        n = torch.tanh(gi[2 * H:] + p["weight_hh"][2 * H:] @ (r * s) + p["bias_hh"][2 * H:])
        return (1 - z) * s + z * n

    return {"rnn": rnn, "lstm": lstm, "gru": gru}[name]


def torch_func_seconds(name, cell, params, inputs, states, steps, repeats):
    """Per step: torch.func.jacrev of the torch cell, the product, torch.linalg.svdvals."""
    import torch
    from torch.func import jacrev

    f = torch_cell(name, params)
    xs = torch.as_tensor(inputs)
    ss = torch.as_tensor(states)
    T = len(inputs)
    # The comparison is only fair if both routes compute the same Jacobian.
    J_torch = jacrev(f)(ss[T - 1], xs[T - 1]).numpy()
    J_ours = step_jacobian(cell, params, states[T - 1], inputs[T - 1])
    if not np.allclose(J_torch, J_ours, rtol=1e-10, atol=1e-12):
        raise AssertionError(f"torch's {name} Jacobian differs from gradflow's")
    jac = jacrev(f)

    def run():
        P = torch.eye(ss.shape[-1], dtype=torch.float64)
        for d in range(1, steps + 1):
            t = T - d
            J = jac(ss[t], xs[t])
            P = P @ J
            svals = torch.linalg.svdvals(P)
            float(svals[0]), float(torch.linalg.vector_norm(svals))

    return median_seconds(run, repeats) / steps


def memory_check(T, H):
    """Peak traced memory and wall time of `gradient_flow` for an LSTM, T steps, hidden size H."""
    cell = get_cell("lstm")
    params = init_params(cell, H, INPUT_SIZE, seed=0)
    inputs = np.random.default_rng(1).standard_normal((T, INPUT_SIZE))
    n = cell.state_size(params)
    result = {"T": T, "H": H, "n": n, "states": (T + 1) * n * 8, "matrix": n * n * 8,
              "all_jacobians": T * n * n * 8, "error": None}
    done = [0]

    def progress(d):
        done[0] = d

    start = time.perf_counter()
    tracemalloc.start()
    try:
        flow = gradient_flow(cell, params, inputs, progress=progress)
        result["peak"] = tracemalloc.get_traced_memory()[1]
    except (np.linalg.LinAlgError, FloatingPointError) as error:
        result["error"] = f"{type(error).__name__}: {error} (at distance {done[0] + 1})"
        return result
    finally:
        tracemalloc.stop()
    result["traced_wall"] = time.perf_counter() - start
    result["finite"] = bool(np.all(np.isfinite(flow.log10_spectral_norm)))
    del flow
    start = time.perf_counter()
    gradient_flow(cell, params, inputs)
    result["wall"] = time.perf_counter() - start
    return result


def version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "numpy": np.__version__, "autograd": version("autograd"), "torch": version("torch"),
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}


def fmt_ms(seconds):
    if seconds is None:
        return "n/a"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def fmt_ratio(x):
    return "n/a" if x is None else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def report(rows, mem, info, T, load, quick):
    lines = [
        "# Benchmark of the Jacobian engine" + (" (quick smoke run)" if quick else ""),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, numpy "
        f"{info['numpy']}, autograd {info['autograd']}, torch {info['torch']}; {info['date']}; "
        f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end.",
        "",
        f"Per step of a T = {T} sequence, milliseconds, float64, median of repeats. "
        "*gradflow*: `gradient_flow` (unroll, step Jacobian, product, spectral, Frobenius and "
        "loss-gradient norms, the LSTM's h and c blocks). *matmul*: one n x n product. "
        "*autograd*: `autograd.jacobian` + product + full SVD. *torch.func*: `jacrev` + "
        "product + `svdvals`. Speed-ups are the other route's time over gradflow's.",
        "",
        "| cell | H | n | gradflow ms/step | matmul ms | gradflow / matmul "
        "| autograd ms/step | speed-up | torch.func ms/step | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        g = r["gradflow"]
        lines.append(
            f"| {r['cell']} | {r['H']} | {r['n']} | {fmt_ms(g)} | {fmt_ms(r['matmul'])} | "
            f"{fmt_ratio(g / r['matmul'])} | {fmt_ms(r['autograd'])} | "
            f"{fmt_ratio(r['autograd'] / g)} | {fmt_ms(r['torch'])} | "
            f"{fmt_ratio(None if r['torch'] is None else r['torch'] / g)} |")
    lines += ["", "Targets at n >= 256 (within 10x of one matmul, 5x the aim; at least 10x faster "
              "than autograd's `jacobian`; faster than torch.func):", ""]
    big = [r for r in rows if r["n"] >= 256]
    for r in big:
        g = r["gradflow"]
        verdicts = [f"matmul ratio {g / r['matmul']:.1f} "
                    f"({'met' if g <= 10 * r['matmul'] else 'NOT met'})",
                    f"vs autograd {r['autograd'] / g:.1f}x "
                    f"({'met' if r['autograd'] >= 10 * g else 'NOT met'})"]
        if r["torch"] is not None:
            verdicts.append(f"vs torch.func {r['torch'] / g:.1f}x "
                            f"({'met' if r['torch'] > g else 'NOT met'})")
        lines.append(f"- {r['cell']} n = {r['n']}: " + "; ".join(verdicts))
    if not big:
        lines.append("- no row with n >= 256 in this run")
    mb = 2.0 ** 20
    head = f"Memory: LSTM, H = {mem['H']} (n = {mem['n']}), T = {mem['T']}: "
    sizes = (f"states (T+1) n 8 B = {mem['states'] / mb:.1f} MiB, one n x n matrix = "
             f"{mem['matrix'] / mb:.2f} MiB, all T Jacobians T n^2 8 B = "
             f"{mem['all_jacobians'] / mb:.0f} MiB.")
    if mem["error"] is not None:
        body = f"`gradient_flow` FAILED with {mem['error']}. For scale: {sizes}"
    else:
        body = (f"wall time {mem['wall']:.1f} s ({mem['wall'] / mem['T'] * 1e3:.2f} ms/step; "
                f"{mem['traced_wall']:.1f} s under tracemalloc); peak traced memory "
                f"{mem['peak'] / mb:.1f} MiB, against {sizes} Norms finite at every distance: "
                f"{'yes' if mem['finite'] else 'NO'}.")
    lines += ["", head + body, ""]
    return "\n".join(lines)


@click.command()
@click.option("--quick", is_flag=True,
              help="Smoke run in seconds: H = 32 only, T = 20, memory check at T = 200; "
                   "writes no file unless --output is given.")
@click.option("--output", type=click.Path(dir_okay=False), metavar="PATH", default=None,
              help="Markdown file for the table [default: benchmarks/results.md, none with "
                   "--quick].")
@click.option("--no-torch", is_flag=True, help="Skip the torch.func route even if torch imports.")
def main(quick, output, no_torch):
    """Time gradflow's Jacobian engine against one matmul, autograd.jacobian and torch.func."""
    if quick:
        sizes, T, repeats, naive_steps, torch_steps, mem_T, mem_H = (32,), 20, 2, 2, 2, 200, 32
    else:
        sizes, T, repeats, naive_steps, torch_steps, mem_T, mem_H = (32, 128, 256), 200, 3, 5, 20, \
            10_000, 128
    have_torch = False
    if not no_torch:
        try:
            import torch  # noqa: F401
            have_torch = True
        except ImportError:
            pass
    rng = np.random.default_rng(0)
    info = machine()
    load_start = os.getloadavg()[0]
    rows = []
    for name in CELLS:
        for H in sizes:
            cell, params, inputs, states = problem(name, H, T)
            n = states.shape[-1]
            click.echo(f"{name} H={H} n={n} ...", err=True)
            row = {"cell": name, "H": H, "n": n}
            row["gradflow"] = median_seconds(
                lambda: gradient_flow(cell, params, inputs), repeats) / T
            row["matmul"] = matmul_seconds(n, rng)
            row["autograd"] = naive_autograd_seconds(
                cell, params, inputs, states, naive_steps, 2)
            row["torch"] = (torch_func_seconds(name, cell, params, inputs, states, torch_steps,
                                               repeats) if have_torch else None)
            rows.append(row)
    click.echo(f"memory check: LSTM H={mem_H}, T={mem_T} ...", err=True)
    mem = memory_check(mem_T, mem_H)
    text = report(rows, mem, info, T, (load_start, os.getloadavg()[0]), quick)
    click.echo(text)
    if output is None and not quick:
        output = RESULTS
    if output is not None:
        with atomic_path(output) as tmp:
            Path(tmp).write_text(text)


if __name__ == "__main__":
    main()
