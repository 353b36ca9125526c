"""The cells side by side at their own initialisations: the RNN, LSTM and GRU beside IndRNN,
minGRU, minLSTM, the LRU and the orthogonal RNN (expRNN): how fast ||ds_T/ds_t||_2 decays, and
their Lyapunov exponents, on the same 8 input sequences.

Writes figures/cells.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS: per cell its state size, the fitted factor per step of the decay and its verdict, the
horizon (first distance below 1e-3), log10 ||ds_T/ds_t||_2 at distances 10 and 100, the
leading and the median Lyapunov exponent (log10 per step) and how many exponents are -inf
(directions a relu switches off). A few seconds.
Run it from anywhere: `python analyses/cells.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot cells --hidden 32 --steps 200 --samples 8 --seed 0 --height 3.0 "
           "-o figures/cells.png")
NUMBERS = "figures/cells.json"
DISTANCES = (10, 100)


def main():
    from gradflow.analysis.comparison import comparison_from_table

    comparison = comparison_from_table(run_with_results(COMMAND))
    columns = {k: [] for k in ("cell", "state_size", "verdict", "factor_per_step", "horizon",
                               *(f"log10_norm_d{d}" for d in DISTANCES), "lyapunov_max",
                               "lyapunov_median", "lyapunov_minus_inf")}
    for p, sp in zip(comparison.profiles, comparison.spectra):
        lyap = np.asarray(sp.lyapunov)
        columns["cell"].append(p.cell)
        columns["state_size"].append(sp.state_size)
        columns["verdict"].append(p.summary.verdict)
        columns["factor_per_step"].append(float(p.summary.rate))
        columns["horizon"].append(p.summary.horizon)
        for d in DISTANCES:
            columns[f"log10_norm_d{d}"].append(float(p.mean["spectral"][d - 1]))
        columns["lyapunov_max"].append(float(lyap[0]))
        columns["lyapunov_median"].append(float(np.median(lyap)))
        columns["lyapunov_minus_inf"].append(int(np.sum(lyap == -np.inf)))
    write_numbers(NUMBERS, columns, {"kind": "cells_summary", "command": COMMAND})


if __name__ == "__main__":
    main()
