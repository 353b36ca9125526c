"""Benchmark of gradient flossing: what `train(floss=k)` costs per update on top of the same
training without it, at the settings of `gradflow ablate flossing`.

Per configuration (the tanh RNN on delayed recall with the command's budget: H = 32, batch 32,
Adam at 0.005, norm clipping at 1) three runs from seed 0, alternately, `--repeats` times:
without flossing; flossing the leading k exponents at every update; and 100 preflossing
updates only (floss_every=None). The wall time (time.perf_counter) of each is the best over
the repeats (the machine is shared: the best is the run least disturbed). Reported: ms per
update without flossing, ms per update with flossing at every update and their ratio, and ms
per preflossing update. The run without flossing must have the losses of `train` without the
flossing arguments (it is that run), and the flossed run must differ from it (it flossed).

    python benchmarks/bench_flossing.py          # full run, writes results_flossing.md
    python benchmarks/bench_flossing.py --quick  # smoke run in seconds, writes nothing
"""

import datetime
import platform
import time
from pathlib import Path

import click
import numpy as np

from gradflow.training.loop import train

from _report import emit  # beside this script

RESULTS = Path(__file__).with_name("results_flossing.md")

BUDGET = {"task": "recall", "hidden": 32, "batch": 32, "updates": 100, "lr": 0.005,
          "optimizer": "adam", "clip_mode": "norm", "threshold": 1.0}
PREFLOSS = 100
FULL = [(steps, k) for steps in (20, 40, 60) for k in (1, 8, 32)]
QUICK = [(5, 2)]


def timed(steps, budget, **flossing):
    start = time.perf_counter()
    result = train("rnn", steps=steps, seed=0, **budget, **flossing)
    return time.perf_counter() - start, result


@click.command()
@click.option("--quick", is_flag=True, help="Tiny sizes, a few seconds, writes nothing.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Alternating triples of runs per configuration.")
@click.option("--output", type=click.Path(dir_okay=False), default=str(RESULTS),
              show_default=True, help="Where the table goes (not with --quick unless given).")
def main(quick, repeats, output):
    configs = QUICK if quick else FULL
    budget = {**BUDGET, "hidden": 6, "batch": 4, "updates": 5} if quick else BUDGET
    prefloss = 3 if quick else PREFLOSS
    repeats = 1 if quick else repeats
    lines = [f"Gradient flossing of the tanh RNN on delayed recall (H = {budget['hidden']}, batch "
             f"{budget['batch']}, {budget['updates']} updates of Adam, norm clipping at 1): "
             f"best of {repeats} alternating run{'s' if repeats > 1 else ''} of each kind", "",
             "| T | k | ms/update | ms/update flossing every update | ratio | "
             "ms/preflossing update |", "|---:|---:|---:|---:|---:|---:|"]
    for steps, k in configs:
        plain, flossed, pre = [], [], []
        for _ in range(repeats):
            seconds, base = timed(steps, budget)
            plain.append(seconds)
            seconds, with_floss = timed(steps, budget, floss=k)
            flossed.append(seconds)
            seconds, _ = timed(steps, {**budget, "updates": 1}, floss=k, floss_every=None,
                               prefloss=prefloss)
            pre.append(seconds)
            assert not np.array_equal(base.loss, with_floss.loss), "flossing changed nothing"
        updates = budget["updates"]
        per_update, per_floss = min(plain) / updates, min(flossed) / updates
        per_prefloss = (min(pre) - per_update) / prefloss
        lines.append(f"| {steps} | {k} | {1e3 * per_update:.1f} | {1e3 * per_floss:.1f} | "
                     f"{per_floss / per_update:.1f} | {1e3 * per_prefloss:.1f} |")
    stamp = datetime.date.today().isoformat()
    lines += ["", f"{stamp}, {platform.processor() or platform.machine()}, Python "
              f"{platform.python_version()}, numpy {np.__version__}; ratio = ms/update flossing "
              "every update / ms/update without; a preflossing update is the time of 100 of "
              "them and one training update, less one training update, over 100"]
    emit(lines, output, RESULTS, quick)


if __name__ == "__main__":
    main()
