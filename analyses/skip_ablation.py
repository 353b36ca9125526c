"""The skip-connection ablation: the same tanh RNN (weights and inputs) without a skip
connection and with each variant, at the default settings of `gradflow ablate skip`.

Writes figures/skip_decay.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS, the numbers the README quotes from it (`skip_numbers`).
Run it from anywhere: `python analyses/skip_ablation.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

COMMAND = "gradflow ablate skip --figure figures/skip_decay.png"
NUMBERS = "figures/skip_decay.json"


def skip_numbers(table, command, path):
    """Per variant: the verdict, the fitted factor per step, the horizon (None: the norm stays
    within [1e-3, 1e3] over all T steps) and log10 ||ds_T/ds_t||_2 at the largest distance."""
    from gradflow.analysis.skip_ablation import skip_ablation_from_table

    result = skip_ablation_from_table(table)
    columns = {k: [] for k in ("variant", "verdict", "rate_per_step", "horizon", "distance",
                               "log10_spectral_norm")}
    for variant, p in zip(result.variants, result.profiles):
        columns["variant"].append(variant)
        columns["verdict"].append(p.summary.verdict)
        columns["rate_per_step"].append(p.summary.rate)
        columns["horizon"].append(p.summary.horizon)
        columns["distance"].append(int(p.distance[-1]))
        columns["log10_spectral_norm"].append(float(p.mean["spectral"][-1]))
    write_numbers(path, columns, {"kind": "skip_summary", "command": command,
                                  "hidden": result.metadata["hidden"],
                                  "steps": result.metadata["steps"]})


def main():
    skip_numbers(run_with_results(COMMAND, "-o"), COMMAND, NUMBERS)


if __name__ == "__main__":
    main()
