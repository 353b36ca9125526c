"""The phase diagram: decay against the recurrent weight scale, the tanh RNN's heatmap with
its vanishing/exploding boundary, and each cell's rate beside mean-field theory.

Writes figures/phase.png through a sweep on the local pool of processes: SWEEP runs the grid of
SPEC (one point per cell and scale) into FOLDER, then PLOT draws the figure from FOLDER. That is
the figure COMMAND (what the README quotes) computes in one process, byte for byte
(tests/test_analyses.py checks that SPEC is COMMAND's grid). FOLDER is deleted first: the sweep
resumes from finished points, and points left by older code would give older numbers.
Beside the figure, NUMBERS: per cell the fitted log10 factor per step at the smallest and
largest scale and the scale where it crosses 0 (linear interpolation between grid scales), the
mean-field crossing, the scale where the measured ||W_hh||_2 = 1/gamma (Pascanu et al. 2013)
and ||W_hh||_2 / g.
Run it from anywhere: `python analyses/phase.py`, or every figure with `make figures`.
"""

import os
import shutil

from _run import ROOT, run_command, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot phase --hidden 128 --input-size 64 --steps 60 --samples 2 "
           "--scales 0.25:2.5:19 --limit 12 -o figures/phase.png")
NUMBERS = "figures/phase.json"
SPEC = "analyses/phase_sweep.toml"
FOLDER = "results/phase_sweep"  # the spec's output (git ignores results/)
SWEEP = f"gradflow sweep {SPEC} --quiet"
PLOT = f"gradflow plot phase {FOLDER} --limit 12 -o figures/phase.png"


def zero_crossing(x, y):
    """The first x where y changes sign from below 0 to at least 0, linearly interpolated
    between grid points; None when it does not."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    for i in range(len(y) - 1):
        if y[i] < 0 <= y[i + 1]:
            return float(x[i] + (x[i + 1] - x[i]) * (-y[i]) / (y[i + 1] - y[i]))
    return None


def main():
    from gradflow.sweep.views import phase_from_sweep

    shutil.rmtree(os.path.join(ROOT, FOLDER), ignore_errors=True)
    run_command(SWEEP)
    run_command(PLOT)
    diagram = phase_from_sweep(os.path.join(ROOT, FOLDER))
    columns = {k: [] for k in ("cell", "log10_rate_at_smallest_scale",
                               "log10_rate_at_largest_scale", "zero_crossing_scale")}
    for cell in diagram.cells:
        rate = diagram.log10_rate[cell]
        columns["cell"].append(cell)
        columns["log10_rate_at_smallest_scale"].append(float(rate[0]))
        columns["log10_rate_at_largest_scale"].append(float(rate[-1]))
        columns["zero_crossing_scale"].append(zero_crossing(diagram.scales, rate))
    ratio = np.asarray(diagram.weight_norm["rnn"]) / np.asarray(diagram.scales)
    write_numbers(NUMBERS, columns, {
        "kind": "phase_summary", "command": COMMAND,
        "scales": [float(diagram.scales[0]), float(diagram.scales[-1])],
        "pascanu_scale": diagram.pascanu_scale,
        "rnn_weight_norm_per_scale": float(np.mean(ratio)),
        "meanfield_zero_crossing_scale": zero_crossing(diagram.scales,
                                                       diagram.meanfield_log10_rate)})


if __name__ == "__main__":
    main()
