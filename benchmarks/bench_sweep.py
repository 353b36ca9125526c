"""Benchmark of `gradflow sweep` on the local pool: N worker processes against one.

One grid, a decay sweep of 3 cells x 8 weight scales x 4 seeds (96 points, each a fraction of
a second), run twice in the same run: on a pool of 1 process and on a pool of N =
os.cpu_count() processes, each into a fresh folder. Reported: wall time of the whole sweep
(pool start-up, point files and summary included), points per second and the speed-up of N
workers over 1. The two summaries must be identical, byte for byte (seeds come from a point's
settings, never from its worker or the order): the script fails otherwise.

    python benchmarks/bench_sweep.py            # full run, writes benchmarks/results_sweep.md
    python benchmarks/bench_sweep.py --quick    # smoke run in seconds, writes nothing
"""

import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from gradflow.io.files import atomic_path
from gradflow.sweep.executors import LocalExecutor
from gradflow.sweep.run import SUMMARY, run_sweep
from gradflow.sweep.spec import parse_spec

RESULTS = Path(__file__).with_name("results_sweep.md")

# (grid, fixed): the full run's points take 0.1-0.5 s each on one core (RNN fastest, LSTM
# slowest); the quick run's a few milliseconds.
FULL = ({"cell": ["rnn", "lstm", "gru"], "scale": [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5],
         "seed": [0, 1, 2, 3]},
        {"hidden": 96, "input_size": 8, "steps": 150, "samples": 2})
QUICK = ({"cell": ["rnn", "lstm", "gru"], "scale": [0.5, 1.5], "seed": [0, 1]},
         {"hidden": 6, "input_size": 3, "steps": 10, "samples": 2})


def timed_sweep(grid, fixed, folder, workers):
    """(seconds, summary bytes, tally) of the sweep of `grid` into a fresh `folder`."""
    spec = parse_spec({"analysis": "decay", "output": folder, "grid": grid, "fixed": fixed},
                      os.path.join(folder, "spec.toml"))
    start = time.perf_counter()
    tally = run_sweep(spec, lambda: LocalExecutor(workers))
    seconds = time.perf_counter() - start
    return seconds, Path(folder, SUMMARY).read_bytes(), tally


@click.command()
@click.option("--quick", is_flag=True, help="Tiny sizes, a few seconds, writes nothing.")
@click.option("--output", type=click.Path(dir_okay=False), default=str(RESULTS),
              show_default=True, help="Where the table goes (not with --quick unless given).")
def main(quick, output):
    grid, fixed = QUICK if quick else FULL
    n = os.cpu_count() or 1
    points = int(np.prod([len(v) for v in grid.values()]))
    rows, summaries = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, n):
            seconds, summary, tally = timed_sweep(grid, fixed, os.path.join(tmp, f"w{workers}"),
                                                  workers)
            assert tally.done == points and tally.failed == 0, tally
            rows.append((workers, seconds))
            summaries.append(summary)
    identical = summaries[0] == summaries[1]
    settings = ", ".join(f"{k} = {v}" for k, v in fixed.items())
    lines = [f"Decay sweep of {' x '.join(str(len(v)) for v in grid.values())} = {points} "
             f"points ({' x '.join(grid)}; {settings}) on the local pool",
             "",
             "| workers | wall time s | points/s | speed-up |",
             "|---:|---:|---:|---:|"]
    for workers, seconds in rows:
        lines.append(f"| {workers} | {seconds:.3g} | {points / seconds:.3g} | "
                     f"{rows[0][1] / seconds:.2f} |")
    stamp = datetime.date.today().isoformat()
    lines += ["", f"Summaries of the two runs identical: {'yes' if identical else 'NO'}.",
              "", f"{stamp}, {platform.processor() or platform.machine()}, {n} cores, Python "
              f"{platform.python_version()}, numpy {np.__version__}; wall time of the whole "
              "sweep (pool start-up, point files and summary included)"]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    assert identical, "the 1-worker and N-worker sweeps wrote different summaries"
    if not quick or output != str(RESULTS):
        with atomic_path(output) as tmp:
            Path(tmp).write_text(text)


if __name__ == "__main__":
    main()
