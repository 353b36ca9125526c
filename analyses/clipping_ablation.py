"""figures/clipping_ablation.png: an RNN on the adding problem whose training blows up without
clipping and survives with norm clipping (same weights, same batches).

Runs COMMAND (what the README quotes) with `-o` to a temporary results file, and writes NUMBERS:
the summary table of the runs (`clipping_numbers`).
Run it from anywhere: `python analyses/clipping_ablation.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

COMMAND = ("gradflow ablate clipping --cell rnn --task adding --steps 50 --hidden 16 --batch 16 "
           "--updates 200 --lr 0.1 --optimizer sgd --scale 2.0 --clip-threshold 1 --seed 0 "
           "--figure figures/clipping_ablation.png")
NUMBERS = "figures/clipping_ablation.json"
SUMMARY = ("mode", "threshold", "final_loss", "best_loss", "above_threshold", "clipped",
           "diverged", "updates", "largest_grad_norm")


def clipping_numbers(tables, path, command, extra=None):
    """One row per (seed,) mode and threshold: the summary `gradflow ablate clipping` prints,
    from the metadata of the results files it wrote (`tables`: {seed: Table})."""
    columns = {"seed": [], **{k: [] for k in SUMMARY}}
    for seed, table in tables.items():
        for row in table.metadata["summary"]:
            columns["seed"].append(seed)
            for k in SUMMARY:
                columns[k].append(row[k])
    first = next(iter(tables.values())).metadata
    write_numbers(path, columns, {
        "kind": "clipping_summary", "command": command, "baseline": first["baseline"],
        "max_loss": first["max_loss"], "final_loss_window": first["final_loss_window"],
        **(extra or {})})


def main():
    table = run_with_results(COMMAND, "-o")
    clipping_numbers({table.metadata["seed"]: table}, NUMBERS, COMMAND)


if __name__ == "__main__":
    main()
