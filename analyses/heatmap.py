"""The pairwise picture log10 ||ds_s/ds_t||_2 for all t < s, for a tanh RNN (weights scaled by
1.5) and one input sequence.

Writes figures/heatmap.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS: the range of the picture, and along the diagonals of fixed gap s - t the smallest,
largest and mean log10 norm (how much the rate depends on where in the sequence it is taken).
Run it from anywhere: `python analyses/heatmap.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot heatmap --cell rnn --scale 1.5 --steps 200 --stride 2 --height "
           "3.2 -o figures/heatmap.png")
NUMBERS = "figures/heatmap.json"
GAPS = (10, 50, 100)  # steps; multiples of the stride


def main():
    from gradflow.analysis.pairwise import pairwise_from_table

    result = pairwise_from_table(run_with_results(COMMAND))
    Z, times = np.asarray(result.log10_norm, float), np.asarray(result.times)
    stride = int(times[1] - times[0])
    columns = {k: [] for k in ("gap", "pairs", "log10_spectral_norm_min",
                               "log10_spectral_norm_max", "log10_spectral_norm_mean")}
    for gap in GAPS:
        diagonal = np.diagonal(Z, offset=-(gap // stride))  # row s, column t = s - gap
        columns["gap"].append(gap)
        columns["pairs"].append(int(diagonal.size))
        columns["log10_spectral_norm_min"].append(float(diagonal.min()))
        columns["log10_spectral_norm_max"].append(float(diagonal.max()))
        columns["log10_spectral_norm_mean"].append(float(diagonal.mean()))
    finite = Z[np.isfinite(Z)]
    write_numbers(NUMBERS, columns, {"kind": "heatmap_summary", "command": COMMAND,
                                     "stride": stride, "log10_spectral_norm_min": finite.min(),
                                     "log10_spectral_norm_max": finite.max()})


if __name__ == "__main__":
    main()
