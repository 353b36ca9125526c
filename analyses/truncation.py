"""What truncated BPTT throws away: the tanh RNN, the LSTM and the GRU at the default settings of
`gradflow ablate truncation` (H = 64, T = 100, vocabulary 8, seed 0), the gradient of a batch of
16 sequences (one sequence is a noisy sample of what a mini-batch sees), for the loss at the
last step and the loss summed over the steps.

Writes figures/truncation.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS, the numbers the README quotes from it (`truncation_numbers`).
Run it from anywhere: `python analyses/truncation.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = "gradflow ablate truncation --samples 16 --figure figures/truncation.png"
NUMBERS = "figures/truncation.json"
QUOTED_K = (1, 10)  # the truncation lengths whose cosine and lost share the README quotes


def truncation_numbers(table, command, path):
    """Per cell and loss: the smallest k of the grid from which the cosine stays at least 0.9
    (`keeps`), and the cosine and lost share at each k of QUOTED_K."""
    from gradflow.analysis.truncation import keeps, truncation_from_table

    columns = {k: [] for k in ("cell", "loss", "keeps_90")}
    for k in QUOTED_K:
        columns[f"cosine_k{k}"], columns[f"lost_share_k{k}"] = [], []
    results = truncation_from_table(table)
    for r in results:
        for i, loss in enumerate(r.losses):
            columns["cell"].append(r.cell)
            columns["loss"].append(loss)
            columns["keeps_90"].append(keeps(r, loss, 0.9))
            for k in QUOTED_K:
                at = int(np.flatnonzero(r.truncations == k)[0])
                columns[f"cosine_k{k}"].append(float(r.cosine[i, at]))
                columns[f"lost_share_k{k}"].append(float(r.lost_share[i, at]))
    meta = results[0].metadata
    write_numbers(path, columns, {"kind": "truncation_summary", "command": command,
                                  **{k: meta[k] for k in ("hidden", "steps", "seed",
                                                          "vocabulary", "samples")},
                                  "truncations": results[0].truncations.tolist()})


def main():
    truncation_numbers(run_with_results(COMMAND, "-o"), COMMAND, NUMBERS)


if __name__ == "__main__":
    main()
