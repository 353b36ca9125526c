"""Lyapunov spectra of the three cells side by side, and the singular values of ds_T/ds_t at
one distance.

Writes figures/spectrum.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS: per cell the largest and smallest Lyapunov exponent (log10 per step), the median
exponent, and that of the first and of the second half of the indices (the LSTM's two groups
of H), and the largest and smallest log10 singular value of ds_T/ds_{T-20} with the decades
between them.
Run it from anywhere: `python analyses/spectrum.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot spectrum --steps 200 --distances 20 --width 7 -o "
           "figures/spectrum.png")
NUMBERS = "figures/spectrum.json"
DISTANCE = 20


def main():
    from gradflow.analysis.spectra import spectrum_from_table

    spectra = spectrum_from_table(run_with_results(COMMAND))
    columns = {k: [] for k in ("cell", "state_size", "lyapunov_max", "lyapunov_min",
                               "lyapunov_median", "lyapunov_median_first_half",
                               "lyapunov_median_second_half",
                               "log10_singular_value_max", "log10_singular_value_min",
                               "decades")}
    for sp in spectra:
        lyap, sv = np.asarray(sp.lyapunov), np.asarray(sp.singular_values[DISTANCE])
        n = len(lyap)
        columns["cell"].append(sp.cell)
        columns["state_size"].append(n)
        columns["lyapunov_max"].append(float(lyap.max()))
        columns["lyapunov_min"].append(float(lyap.min()))
        columns["lyapunov_median"].append(float(np.median(lyap)))
        columns["lyapunov_median_first_half"].append(float(np.median(lyap[:n // 2])))
        columns["lyapunov_median_second_half"].append(float(np.median(lyap[n // 2:])))
        columns["log10_singular_value_max"].append(float(sv.max()))
        columns["log10_singular_value_min"].append(float(sv.min()))
        columns["decades"].append(float(sv.max() - sv.min()))
    write_numbers(NUMBERS, columns, {"kind": "spectrum_summary", "command": COMMAND,
                                     "distance": DISTANCE})


if __name__ == "__main__":
    main()
