"""The gating mechanism: the LSTM's forget gate and the GRU's keep fraction along the
sequence, beside the decay of the c-block and h-block norms.

Writes figures/gates.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS: per cell the memory gate's mean over steps (of the mean over units and samples), the
mean of its 10 % and 90 % quantiles, and the log10 block norms at the largest distance.
Run it from anywhere: `python analyses/gates.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = "gradflow plot gates --steps 200 --samples 3 --forget-bias 3 -o figures/gates.png"
NUMBERS = "figures/gates.json"
KEEP = {"lstm": "forget", "gru": "keep", "gru_torch": "keep"}


def main():
    from gradflow.analysis.gates import gates_from_table

    traces = gates_from_table(run_with_results(COMMAND))
    columns = {k: [] for k in ("cell", "gate", "gate_mean", "gate_low_quantile_mean",
                               "gate_high_quantile_mean", "distance",
                               "log10_h_spectral_norm", "log10_c_spectral_norm")}
    for tr in traces:
        gate = KEEP[tr.cell]
        q = tr.gate_quantiles[gate]
        columns["cell"].append(tr.cell)
        columns["gate"].append(gate)
        columns["gate_mean"].append(float(np.mean(tr.gate_mean[gate])))
        columns["gate_low_quantile_mean"].append(float(np.mean(q[0])))
        columns["gate_high_quantile_mean"].append(float(np.mean(q[-1])))
        columns["distance"].append(int(tr.distance[-1]))
        for block in ("h", "c"):
            values = tr.decay.get(f"{block}_spectral")
            columns[f"log10_{block}_spectral_norm"].append(
                None if values is None else float(values[-1]))
    levels = traces[0].quantile_levels
    write_numbers(NUMBERS, columns, {"kind": "gates_summary", "command": COMMAND,
                                     "quantiles": [float(levels[0]), float(levels[-1])]})


if __name__ == "__main__":
    main()
