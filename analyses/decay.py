"""The headline figure: the tanh RNN's gradients vanish while the LSTM and GRU, with the
memory gate biased open (forget bias 3), hold them over 200 steps.

Writes figures/decay.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS, the numbers the README quotes from it (`decay_numbers`).
Run it from anywhere: `python analyses/decay.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot decay --cell rnn --cell lstm --cell gru --steps 200 --samples 5 "
           "--forget-bias 3 -o figures/decay.png")
NUMBERS = "figures/decay.json"


def decay_numbers(table, command, path):
    """Per cell: the verdict, the fitted factor per step, the horizon and log10
    ||ds_T/ds_t||_2 at the largest distance (mean over the samples, and its spread)."""
    from gradflow.analysis.decay import profiles_from_table

    columns = {k: [] for k in ("cell", "verdict", "rate_per_step", "horizon", "distance",
                               "log10_spectral_norm", "log10_spectral_norm_std")}
    for p in profiles_from_table(table):
        columns["cell"].append(p.cell)
        columns["verdict"].append(p.summary.verdict)
        columns["rate_per_step"].append(p.summary.rate)
        columns["horizon"].append(p.summary.horizon)
        columns["distance"].append(int(p.distance[-1]))
        columns["log10_spectral_norm"].append(float(p.mean["spectral"][-1]))
        columns["log10_spectral_norm_std"].append(float(np.asarray(p.std["spectral"])[-1]))
    write_numbers(path, columns, {"kind": "decay_summary", "command": command})


def main():
    decay_numbers(run_with_results(COMMAND), COMMAND, NUMBERS)


if __name__ == "__main__":
    main()
