"""Benchmark of gradient-flow checkpoints during training: what `train(flow_every=N)` costs on
top of the same training without them.

Each configuration is the default of a training command, run by `train` in this process, once
without checkpoints and once with `flow_every` = 20 (the default of `gradflow plot
training-flow`; `--every` for another) at the default 4 held-out sequences and 3 Lyapunov
exponents, alternately, `--repeats` times; the wall time (time.perf_counter) of each is the
best over the repeats (the machine is shared: the best is the run least disturbed). Reported
per cell: ms per update without checkpoints, the overhead of the run with them, and the cost of
one checkpoint in ms and in updates (so the overhead at another N is about that ratio / N).
The losses of the two runs must be identical, bit for bit (the checkpoints draw from their own
seed); the script fails otherwise.

    python benchmarks/bench_training_flow.py          # full run, writes results_training_flow.md
    python benchmarks/bench_training_flow.py --quick  # smoke run in seconds, writes nothing
"""

import datetime
import platform
import time
from pathlib import Path

import click
import numpy as np

from gradflow.training.loop import train

from _report import emit  # beside this script

RESULTS = Path(__file__).with_name("results_training_flow.md")

# (what, cells, train keywords): `gradflow ablate clipping`'s defaults (with norm clipping),
# `gradflow plot training-flow`'s, and the latter at the longest delay of `gradflow ablate
# skip-training` (recall at T = 40).
CLIPPING = {"task": "adding", "steps": 50, "hidden": 16, "batch": 16, "updates": 200,
            "lr": 0.1, "optimizer": "sgd", "scale": 2.0, "clip_mode": "norm", "threshold": 1.0}
RECALL = {"task": "recall", "steps": 20, "hidden": 32, "batch": 32, "updates": 300, "lr": 0.005,
          "optimizer": "adam", "clip_mode": "norm", "threshold": 1.0}
FULL = [("ablate clipping", ("rnn",), CLIPPING),
        ("plot training-flow", ("rnn", "lstm", "gru"), RECALL),
        ("plot training-flow --steps 40", ("rnn", "lstm", "gru"), {**RECALL, "steps": 40})]
QUICK = [("tiny", ("rnn", "lstm"), {"task": "recall", "steps": 5, "hidden": 6, "batch": 4,
                                     "updates": 12, "optimizer": "adam"})]


def timed(cell, kws, flow_every):
    """(seconds, TrainingResult) of one run from seed 0."""
    start = time.perf_counter()
    result = train(cell, seed=0, flow_every=flow_every, **kws)
    return time.perf_counter() - start, result


@click.command()
@click.option("--quick", is_flag=True, help="Tiny sizes, a few seconds, writes nothing.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Alternating pairs of runs (without, with) per cell.")
@click.option("--every", type=click.IntRange(min=1), default=20, show_default=True,
              help="flow_every of the runs with checkpoints.")
@click.option("--output", type=click.Path(dir_okay=False), default=str(RESULTS),
              show_default=True, help="Where the table goes (not with --quick unless given).")
def main(quick, repeats, every, output):
    configs = QUICK if quick else FULL
    repeats = 1 if quick else repeats
    lines = [f"Gradient-flow checkpoints every {every} updates (4 held-out sequences, 3 "
             "exponents) against the same training without them; best of "
             f"{repeats} alternating pair{'s' if repeats > 1 else ''} of runs", "",
             "| command (defaults) | cell | T | updates | ms/update | checkpoints | "
             "overhead | ms/checkpoint | checkpoint / update |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for what, cells, kws in configs:
        for cell in cells:
            plain, flowing = [], []
            for _ in range(repeats):
                seconds, base = timed(cell, kws, None)
                plain.append(seconds)
                seconds, withflow = timed(cell, kws, every)
                flowing.append(seconds)
                assert np.array_equal(base.loss, withflow.loss), "checkpoints changed the losses"
            off, on = min(plain), min(flowing)
            count = len(withflow.flow)
            per_update = off / len(base.loss)
            per_checkpoint = (on - off) / count
            lines.append(f"| {what} | {cell} | {kws['steps']} | {len(base.loss)} | "
                         f"{1e3 * per_update:.1f} | {count} | {100 * (on / off - 1):.0f} % | "
                         f"{1e3 * per_checkpoint:.1f} | {per_checkpoint / per_update:.2f} |")
    stamp = datetime.date.today().isoformat()
    lines += ["", f"{stamp}, {platform.processor() or platform.machine()}, Python "
              f"{platform.python_version()}, numpy {np.__version__}; overhead = best time "
              "with checkpoints / best time without - 1; the losses of both runs identical"]
    emit(lines, output, RESULTS, quick)


if __name__ == "__main__":
    main()
