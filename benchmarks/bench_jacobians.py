"""Benchmark of gradflow's Jacobian engine against JAX, torch.func, naive autograd and one matmul.

In one run, for the RNN, LSTM and GRU at H = 32, 128, 256 and a user cell (a minimal gated
unit written in autograd.numpy, passed with its own state0), T = 500 steps, D = 8, float64, the
same work by every route (`jacobian_routes.py`): the forward pass, every step Jacobian, the
product ds_T/ds_{T-d} at every distance and its log10 spectral and Frobenius norms, the
loss-gradient norm, and the LSTM's 'h' and 'c' blocks:
  - gradflow: `gradient_flow` end to end (public API); its Jacobians alone (all T, as it
    computes them) when the engine has that piece;
  - JAX: `jit(vmap(jacfwd(step)))` over all steps, the rescaled product chain and
    `jnp.linalg.norm(P, 2)` per distance, in one jitted function (skipped without jax);
  - torch.func: `vmap(jacfwd(step))`, the same chain with `torch.linalg.matrix_norm(P, 2)`
    (skipped without torch);
  - autograd: reverse-mode `jacobian` per step, the product, `np.linalg.norm(P, 2)`, over the
    first few distances only (it is slow; its forward pass is not timed);
  - one n x n float64 matmul (numpy), the unit of the target "within 3x of one matmul".
Before timing, every route's log10 norms must agree with gradflow's to 1e-10 at every distance
(AGREE), or the run fails: the timings compare the same numbers.

Every time is the minimum of 6 interleaved repeats (every route once, then again), after an
untimed warm-up that also compiles JAX's function. Each BLAS thread count runs in a fresh
process whose thread variables are set before numpy, jax or torch import. Then the memory and
length check: `gradient_flow` of an LSTM with H = 128 over T = 100,000 steps in a fresh process,
wall time and max RSS at each thread count, and the peak traced by tracemalloc (1 thread).

    python benchmarks/bench_jacobians.py                 # full run: results.md and the README
    python benchmarks/bench_jacobians.py --no-memory     # without the T = 100,000 check
    python benchmarks/bench_jacobians.py --quick --output x.md   # smoke run in seconds
    python benchmarks/bench_jacobians.py --update-readme # results.md's tables into README.md
"""

import cProfile
import datetime
import json
import math
import os
import platform
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from importlib import metadata
from pathlib import Path

import click
import numpy as np

from gradflow.cells import get_cell
from gradflow.cells.initializers import init_params
from gradflow.engine.jacobians import gradient_flow
from gradflow.engine.unroll import unroll
from gradflow.io.files import atomic_path

import jacobian_routes as routes

CELLS = ("rnn", "lstm", "gru")
INPUT_SIZE = 8
AGREE = 1e-10         # max |difference| of log10 norms between any route and gradflow
RESULTS = Path(__file__).with_name("results.md")
README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- bench_jacobians: begin (written by benchmarks/bench_jacobians.py from results.md) -->"
END = "<!-- bench_jacobians: end -->"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
ONE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
MiB = 2.0 ** 20
SETTINGS = {  # sizes, T, repeats, autograd's distances, memory T, profiled rows
    "full": dict(sizes=(32, 128, 256), user=128, T=500, repeats=6, naive=5, memory_T=100_000,
                 profile=(("rnn", 32), ("lstm", 256))),
    "quick": dict(sizes=(8,), user=8, T=20, repeats=2, naive=2, memory_T=200,
                  profile=(("rnn", 8), ("lstm", 8))),
}


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


# --- one process, one thread count ---------------------------------------------------------------

def problem(name, H, T, seed=0):
    """The row's cell, params, blocks, inputs (T, D), state0 (n,) and states (T+1, n)."""
    if name == routes.USER:
        cell = routes.mgu
        params, state0 = routes.mgu_params(H, INPUT_SIZE, seed=seed)
        blocks = {}
    else:
        cell = get_cell(name)
        params = init_params(cell, H, INPUT_SIZE, seed=seed)
        state0 = np.zeros(cell.state_size(params))
        blocks = dict(cell.blocks(params))
    inputs = np.random.default_rng(seed + 1).standard_normal((T, INPUT_SIZE))
    states = unroll(cell, params, inputs, state0)
    return dict(name=name, H=H, cell=cell, params=params, blocks=blocks, inputs=inputs,
                state0=state0, states=states, n=len(state0))


def matmul_run(n, rng):
    """(run, loops): `run()` does `loops` n x n float64 matmuls, about 2 ms worth."""
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    start = time.perf_counter()
    A @ B
    loops = max(1, int(2e-3 / max(time.perf_counter() - start, 1e-7)))

    def run():
        for _ in range(loops):
            A @ B

    return run, loops


def disagreement(ours, theirs):
    """Largest |difference| of two (distances, k) arrays of log10 norms (equal infinities
    agree), and where: (difference, distance index, column)."""
    if theirs.shape != ours.shape:
        return math.inf, 0, 0
    with np.errstate(invalid="ignore"):
        diff = np.where(ours == theirs, 0.0, np.abs(ours - theirs))
    diff = np.where(np.isnan(diff), math.inf, diff)
    d, k = np.unravel_index(np.argmax(diff), diff.shape)
    return float(diff[d, k]), int(d), int(k)


def table_row(p, settings, peers, rng):
    """Times of every route for one problem `p`, per step in seconds, and their agreement."""
    T, naive_steps = len(p["inputs"]), settings["naive"]
    args = (p["params"], p["blocks"], p["n"])
    run = {"gradflow": routes.gradflow_route(p["cell"], p["params"], p["blocks"], p["state0"])}
    jac = routes.gradflow_jacobians(p["cell"], p["params"], p["states"], p["inputs"])
    if jac is not None:
        run["jacobians"] = jac
    if "jax" in peers:
        run["jax"] = routes.jax_route(p["name"], *args)
    if "torch" in peers:
        run["torch"] = routes.torch_route(p["name"], *args)
    naive = routes.autograd_route(p["cell"], p["params"], p["blocks"], p["states"],
                                  p["inputs"], naive_steps)
    mm, loops = matmul_run(p["n"], rng)
    calls = {"gradflow": lambda: run["gradflow"](p["inputs"]), "autograd": naive, "matmul": mm}
    for peer in ("jax", "torch"):
        if peer in run:
            calls[peer] = (lambda f: lambda: f(p["inputs"], p["state0"]))(run[peer])
    if jac is not None:
        calls["jacobians"] = jac
    per = {"gradflow": T, "jacobians": T, "jax": T, "torch": T, "autograd": naive_steps,
           "matmul": loops}

    # Warm-up (JAX compiles here) and the check that every route computes the same numbers.
    out = {name: fn() for name, fn in calls.items()}
    ours = out["gradflow"]
    names = routes.columns(p["blocks"])
    worst = 0.0
    for peer in ("jax", "torch", "autograd"):
        if peer not in out:
            continue
        diff, d, k = disagreement(ours[:len(out[peer])], out[peer])
        if not diff <= AGREE:
            raise AssertionError(
                f"{p['name']} H={p['H']}: {peer}'s log10 {names[k]} norm at distance {d + 1} "
                f"differs from gradflow's by {diff:.3g} (> {AGREE}): the routes do not compute "
                "the same thing, the timings would not compare")
        worst = max(worst, diff)

    times = {name: [] for name in calls}
    for _ in range(settings["repeats"]):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    row = {"cell": p["name"], "H": p["H"], "n": p["n"], "agree": worst}
    for name in ("gradflow", "jacobians", "jax", "torch", "autograd", "matmul"):
        row[name] = min(times[name]) / per[name] if name in times else None
    return row


def profile_row(p):
    """Where `gradient_flow`'s time goes, by cProfile: seconds per named piece of the engine
    (0 where this engine has no function of that name) and the top functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    gradient_flow(p["cell"], p["params"], p["inputs"], p["state0"])
    prof.disable()
    stats = pstats.Stats(prof).stats

    def cumulative(function):
        return sum(v[3] for k, v in stats.items() if k[2] == function)

    total = cumulative("gradient_flow")
    parts = {"forward pass (trajectory)": cumulative("trajectory"),
             "step Jacobians (step_jacobians)": cumulative("step_jacobians"),
             "norms of the products (_Norms.record)": cumulative("record"),
             "product P @ J (multiply, _matmul)": cumulative("multiply") + cumulative("_matmul"),
             "rescaling, Frobenius norms (gradient_flow's own lines, frobenius)":
                 sum(v[2] for k, v in stats.items() if k[2] == "gradient_flow")
                 + cumulative("frobenius")}
    parts["other (the by-hand columns' set-up, bookkeeping)"] = total - sum(parts.values())
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:6]
    top = [(f"{Path(k[0]).name}:{k[2]}", v[2], v[1]) for k, v in top]
    start = time.perf_counter()
    gradient_flow(p["cell"], p["params"], p["inputs"], p["state0"])
    wall = time.perf_counter() - start
    return {"cell": p["name"], "H": p["H"], "n": p["n"], "T": len(p["inputs"]),
            "total": total, "wall": wall, "parts": parts, "top": top}


def available_peers(threads, no_jax, no_torch):
    """The peers that import here ('jax', 'torch'), torch set to `threads` threads."""
    peers = []
    if not no_jax:
        try:
            import jax  # noqa: F401
            peers.append("jax")
        except ImportError:
            pass
    if not no_torch:
        try:
            import torch
            torch.set_num_threads(threads)
            torch.set_num_interop_threads(1)
            peers.append("torch")
        except ImportError:
            pass
    return peers


def worker_table(threads, quick, no_jax, no_torch):
    """Every row at this process's thread count, and the profile (1 thread only)."""
    settings = SETTINGS["quick" if quick else "full"]
    peers = available_peers(threads, no_jax, no_torch)
    load = [os.getloadavg()[0]]
    rng = np.random.default_rng(0)
    rows = []
    todo = [(c, H) for c in CELLS for H in settings["sizes"]] + [(routes.USER, settings["user"])]
    for name, H in todo:
        p = problem(name, H, settings["T"])
        click.echo(f"[{threads} thread(s)] {name} H={H} n={p['n']} ...", err=True)
        rows.append(table_row(p, settings, peers, rng))
    profiles = ([profile_row(problem(c, H, settings["T"])) for c, H in settings["profile"]]
                if threads == 1 else [])
    load.append(os.getloadavg()[0])
    return {"threads": threads, "peers": peers, "rows": rows, "profiles": profiles,
            "load": load, "T": settings["T"], "repeats": settings["repeats"],
            "naive": settings["naive"]}


def worker_memory(threads, steps, trace):
    """`gradient_flow` of an LSTM, H = 128 (8 for --quick's short run), over `steps` steps:
    wall time, max RSS of this process before and after, the peak traced by tracemalloc."""
    H = 128 if steps >= 10_000 else 8
    cell = get_cell("lstm")
    params = init_params(cell, H, INPUT_SIZE, seed=0)
    inputs = np.random.default_rng(1).standard_normal((steps, INPUT_SIZE))
    n = cell.state_size(params)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    load = [os.getloadavg()[0]]
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    flow = gradient_flow(cell, params, inputs)
    wall = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    tracemalloc.stop()
    load.append(os.getloadavg()[0])
    return {"threads": threads, "T": steps, "H": H, "n": n, "trace": trace, "wall": wall,
            "peak_traced": peak, "rss_before": rss_before,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "finite": bool(np.all(np.isfinite(flow.log10_spectral_norm))),
            "states": (steps + 1) * n * 8, "all_jacobians": steps * n * n * 8, "load": load}


# --- the parent: one fresh process per measurement ------------------------------------------------

def thread_env(threads):
    """The environment of a worker: every BLAS, OpenMP and XLA pool at `threads` threads (XLA's
    default on this machine is one thread per core, so only the 1-thread case needs flags)."""
    env = {**os.environ, **{v: str(threads) for v in THREAD_VARIABLES}}
    env.pop("XLA_FLAGS", None)
    if threads == 1:
        env["XLA_FLAGS"] = ONE_THREAD_XLA
    return env


def spawn(threads, *args):
    """Run this script as a worker at `threads` threads; its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", str(threads),
               "--json", str(path), *args]
        proc = subprocess.run(cmd, env=thread_env(threads))
        if proc.returncode != 0:
            raise click.ClickException(f"the worker {' '.join(args)} at {threads} thread(s) "
                                       f"failed (exit {proc.returncode}); see above")
        return json.loads(path.read_text())


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
            **{pkg: version(pkg) for pkg in ("numpy", "scipy", "autograd", "jax", "jaxlib",
                                             "torch")},
            "load": os.getloadavg(),
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}


def fmt_ms(seconds):
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 1000 else f"{ms:.0f}"


def fmt_ratio(x):
    return "-" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}")


def ratio(a, b):
    return None if a is None or b is None else a / b


def label(r):
    return f"{r['cell']} n={r['n']}"


HEADER = ("| cell | H | n | gradflow ms/step | its Jacobians | JAX | torch.func | autograd | "
          "matmul | gradflow / matmul | JAX / gradflow | torch.func / gradflow | "
          "autograd / gradflow | agree |")


def table(rows):
    lines = [HEADER, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        g = r["gradflow"]
        lines.append(
            f"| {r['cell']} | {r['H']} | {r['n']} | {fmt_ms(g)} | {fmt_ms(r['jacobians'])} | "
            f"{fmt_ms(r['jax'])} | {fmt_ms(r['torch'])} | {fmt_ms(r['autograd'])} | "
            f"{fmt_ms(r['matmul'])} | {fmt_ratio(ratio(g, r['matmul']))} | "
            f"{fmt_ratio(ratio(r['jax'], g))} | {fmt_ratio(ratio(r['torch'], g))} | "
            f"{fmt_ratio(ratio(r['autograd'], g))} | {r['agree']:.1e} |")
    return lines


def verdict(pairs, ok, worst, unit):
    """'met' or 'MISSED' for (row, value) pairs judged by `ok(value)`, with the worst row."""
    pairs = [(r, v) for r, v in pairs if v is not None]
    if not pairs:
        return "not measured"
    bad = [(r, v) for r, v in pairs if not ok(v)]
    good = [(r, v) for r, v in pairs if ok(v)]

    def listing(rows):
        return ", ".join(f"{label(r)} {fmt_ratio(v)}{unit}" for r, v in rows)
    if not bad:
        return f"met ({listing(good)})"
    w = worst(pairs, key=lambda rv: rv[1])
    text = f"MISSED in {len(bad)} of {len(pairs)} rows: {listing(bad)} (worst {label(w[0])})"
    return text + (f"; met: {listing(good)}" if good else "")


def targets(workers, memory):
    lines = []
    for w in workers:
        rows, th = w["rows"], f"{w['threads']} thread{'s' if w['threads'] > 1 else ''}"
        big = [r for r in rows if r["n"] >= 256 and r["cell"] in CELLS]
        mid = [r for r in rows if r["n"] >= 128]
        lines += [
            f"- {th}, within 3x of one n x n matmul per step at n >= 256 (built-in cells): "
            + verdict([(r, ratio(r["gradflow"], r["matmul"])) for r in big],
                      lambda v: v <= 3, max, "x"),
            f"- {th}, ahead of JAX in every row (JAX / gradflow > 1): "
            + verdict([(r, ratio(r["jax"], r["gradflow"])) for r in rows],
                      lambda v: v > 1, min, "x"),
            f"- {th}, ahead of torch.func in every row (torch.func / gradflow > 1): "
            + verdict([(r, ratio(r["torch"], r["gradflow"])) for r in rows],
                      lambda v: v > 1, min, "x"),
            f"- {th}, at least 10x ahead of naive autograd at n >= 128: "
            + verdict([(r, ratio(r["autograd"], r["gradflow"])) for r in mid],
                      lambda v: v >= 10, min, "x"),
        ]
    for m in memory:
        if m["trace"]:
            continue
        ok = m["wall"] < 180 and m["rss"] < 400 * MiB
        lines.append(f"- {m['threads']} thread{'s' if m['threads'] > 1 else ''}, LSTM H = "
                     f"{m['H']}, T = {m['T']:,} in under 3 minutes with peak memory under "
                     f"400 MiB: {'met' if ok else 'MISSED'} ({m['wall']:.0f} s, max RSS "
                     f"{m['rss'] / MiB:.0f} MiB)")
    return lines


def memory_lines(memory):
    lines = []
    for m in memory:
        th = f"{m['threads']} thread{'s' if m['threads'] > 1 else ''}"
        traced = (f"; peak traced by tracemalloc {m['peak_traced'] / MiB:.1f} MiB (the wall time "
                  "under tracemalloc is not comparable)" if m["trace"] else "")
        lines.append(
            f"- {th}{', tracemalloc on' if m['trace'] else ''}: wall time {m['wall']:.1f} s "
            f"({m['wall'] / m['T'] * 1e3:.2f} ms/step); max RSS {m['rss'] / MiB:.0f} MiB "
            f"({m['rss_before'] / MiB:.0f} MiB before the call: interpreter, numpy, scipy, "
            f"autograd, the inputs){traced}; norms finite at every distance: "
            f"{'yes' if m['finite'] else 'NO'}; load {m['load'][0]:.2f} -> {m['load'][1]:.2f}.")
    if memory:
        m = memory[0]
        lines.append(f"- For scale: the states (T+1) n 8 B = {m['states'] / MiB:.1f} MiB; all T "
                     f"Jacobians T n^2 8 B would take {m['all_jacobians'] / MiB:,.0f} MiB.")
    return lines


def profile_lines(profiles):
    lines = []
    for pr in profiles:
        lines += ["", f"{pr['cell']}, H = {pr['H']} (n = {pr['n']}), T = {pr['T']}: "
                  f"{pr['total']:.2f} s under cProfile, {pr['wall']:.2f} s without "
                  "(cProfile inflates the many small Python calls of autograd's tracing).", "",
                  "| piece | s | share |", "|---|---:|---:|"]
        for piece, s in pr["parts"].items():
            lines.append(f"| {piece} | {s:.3f} | {100 * s / pr['total']:.0f} % |")
        lines += ["", "Top functions by own time: " + "; ".join(
            f"`{name}` {s:.3f} s ({calls} calls)" for name, s, calls in pr["top"]) + "."]
    return lines


def report(info, workers, memory, quick):
    w0 = workers[0]
    lo = info["load"]
    lines = [
        "# Benchmark of the Jacobian engine" + (" (quick smoke run)" if quick else ""),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, shared with other jobs; Python "
        f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, autograd "
        f"{info['autograd']}, jax {info['jax']}, jaxlib {info['jaxlib']}, torch {info['torch']}; "
        f"{info['date']}. Load (uptime) at the start: {lo[0]:.2f}, {lo[1]:.2f}, {lo[2]:.2f}; "
        + "; ".join(f"during the {w['threads']}-thread table {w['load'][0]:.2f} -> "
                    f"{w['load'][1]:.2f}" for w in workers) + ".",
        "",
        f"Per step of a T = {w0['T']} sequence (D = {INPUT_SIZE}), milliseconds, float64, min of "
        f"{w0['repeats']} interleaved repeats after a warm-up. Every route does the same work: "
        "forward pass, all step Jacobians, the product ds_T/ds_t at every distance and its "
        "log10 spectral and Frobenius norms, the loss-gradient norm, and the LSTM's h and c "
        "blocks. *gradflow*: `gradient_flow`; *its Jacobians*: its T step Jacobians alone. "
        "*JAX*: one jitted function (`lax.scan` forward, `vmap(jacfwd)`, the rescaled product "
        "chain, `jnp.linalg.norm(P, 2)`). *torch.func*: `vmap(jacfwd)`, the same chain with "
        "`torch.linalg.matrix_norm(P, 2)`. *autograd*: reverse-mode `jacobian` + product + "
        f"`np.linalg.norm(P, 2)` over the first {w0['naive']} distances. *matmul*: one n x n "
        "product. Ratios above 1 in the last three ratio columns mean gradflow is ahead. "
        "*agree*: the largest difference of any route's log10 norms from gradflow's (checked "
        f"<= {AGREE:g} before timing). '-': route not available (not installed, or not "
        "separable in this engine).",
    ]
    for w in workers:
        lines += ["", f"## {w['threads']} BLAS thread{'s' if w['threads'] > 1 else ''}", "",
                  *table(w["rows"])]
    lines += ["", "## Targets (issue 12)", "", *targets(workers, memory)]
    if memory:
        m = memory[0]
        lines += ["", f"## Memory and length: LSTM, H = {m['H']} (n = {m['n']}), "
                  f"T = {m['T']:,}", "", *memory_lines(memory)]
    if w0["profiles"]:
        lines += ["", "## Where gradflow's time goes (cProfile, 1 thread)", *profile_lines(
            w0["profiles"])]
    return "\n".join(lines) + "\n"


def readme_block(text):
    """results.md without its title, its headings as bold lines: the README's block."""
    body = text.split("\n", 2)[2].strip()
    return re.sub(r"^## (.*)$", r"**\1**", body, flags=re.M)


def update_readme(results, readme=README):
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise click.ClickException(f"{readme} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with atomic_path(readme) as tmp:
        Path(tmp).write_text(f"{head}{BEGIN}\n{readme_block(results.read_text())}\n{END}{tail}")


@click.command()
@click.option("--quick", is_flag=True,
              help="Smoke run in seconds: H = 8, T = 20, 2 repeats, memory check at T = 200; "
                   "writes no file unless --output is given, never the README.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              default=None, help="Markdown file for the results [default: "
                                 "benchmarks/results.md, none with --quick].")
@click.option("--no-memory", is_flag=True, help="Skip the long memory and length check.")
@click.option("--no-jax", is_flag=True, help="Skip the JAX route even if jax imports.")
@click.option("--no-torch", is_flag=True, help="Skip the torch.func route even if torch imports.")
@click.option("--threads", "thread_counts", metavar="N,N", default="1,2", show_default=True,
              help="BLAS thread counts, one fresh process each.")
@click.option("--update-readme", "readme_only", is_flag=True,
              help="Only copy the results file into README.md's Benchmarks block.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), hidden=True)
@click.option("--worker", type=click.Choice(["table", "memory", "memory-traced"]), hidden=True)
@click.option("--steps", type=int, hidden=True)
def main(quick, output, no_memory, no_jax, no_torch, thread_counts, readme_only, json_out,
         worker, steps):
    """Time gradflow's gradient_flow against JAX, torch.func, naive autograd and one matmul."""
    if worker is not None:  # a fresh process at one thread count (see `spawn`)
        threads = int(thread_counts)
        if worker == "table":
            result = worker_table(threads, quick, no_jax, no_torch)
        else:
            result = worker_memory(threads, steps, worker == "memory-traced")
        json_out.write_text(json.dumps(result))
        return
    if readme_only:
        update_readme(output or RESULTS)
        return
    try:
        counts = [int(c) for c in thread_counts.split(",")]
    except ValueError:
        raise click.BadParameter("a comma-separated list of thread counts, e.g. 1,2",
                                 param_hint="--threads") from None
    info = machine()
    if output is None and not quick:
        output = RESULTS
    flags = [*(["--quick"] if quick else []), *(["--no-jax"] if no_jax else []),
             *(["--no-torch"] if no_torch else [])]
    workers, memory = [], []

    def save():  # after every part: a run stopped half way keeps the parts it finished
        if output is not None:
            with atomic_path(output) as tmp:
                Path(tmp).write_text(report(info, workers, memory, quick))

    for k in counts:
        workers.append(spawn(k, "--worker", "table", *flags))
        save()
    if not no_memory:
        mem_T = str(SETTINGS["quick" if quick else "full"]["memory_T"])
        for k in counts:
            click.echo(f"[{k} thread(s)] memory check, T = {mem_T} ...", err=True)
            memory.append(spawn(k, "--worker", "memory", "--steps", mem_T))
            save()
        click.echo(f"[{counts[0]} thread(s)] memory check under tracemalloc ...", err=True)
        memory.append(spawn(counts[0], "--worker", "memory-traced", "--steps", mem_T))
        save()
    click.echo(report(info, workers, memory, quick), nl=False)
    if output == RESULTS and not quick:
        update_readme(RESULTS)


if __name__ == "__main__":
    main()
