"""What skip connections do to learning: the tanh RNN alone and with each skip connection, the
LSTM and the GRU, trained with one budget (Adam, norm clipping at 1) on delayed recall and copy
at several delays from seeds 0, 1 and 2, and judged on held-out sequences.

Writes figures/skip_training.png by running COMMAND through the CLI (what the README quotes),
and NUMBERS, the numbers the README quotes from it (`skip_training_numbers`). Two worker
processes (the results do not depend on their number); about four minutes on two cores.
Run it from anywhere: `python analyses/skip_training.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

COMMAND = ("gradflow ablate skip-training --forget-bias 3 --workers 2 "
           "--figure figures/skip_training.png")
NUMBERS = "figures/skip_training.json"


def skip_training_numbers(table, command, path):
    """Per task and model: the largest delay solved (None: none) and, per delay T, the mean,
    smallest and largest held-out accuracy over the seeds (columns mean_T<T>, min_T<T>,
    max_T<T>; None where the task was not run at T)."""
    from gradflow.training.skip_training import accuracy_by_delay, skip_training_from_table

    result = skip_training_from_table(table)
    meta = result.metadata
    columns = {"task": [], "model": [], "largest_solved": []}
    every = sorted({d for task in meta["tasks"] for d in meta["delays"][task]})
    for d in every:
        columns.update({f"{q}_T{d}": [] for q in ("mean", "min", "max")})
    chance = {}
    for task in meta["tasks"]:
        s = accuracy_by_delay(result, task)
        chance[task] = s.chance
        for i, model in enumerate(s.models):
            columns["task"].append(task)
            columns["model"].append(model)
            columns["largest_solved"].append(s.solved[i])
            for d in every:  # None where the task was not run at delay d
                j = s.delays.index(d) if d in s.delays else None
                for q, values in (("mean", s.mean), ("min", s.low), ("max", s.high)):
                    columns[f"{q}_T{d}"].append(None if j is None else float(values[i, j]))
    settings = {k: meta[k] for k in ("hidden", "batch", "updates", "lr", "optimizer",
                                     "clip_threshold", "forget_bias", "skip_scale",
                                     "highway_bias", "seeds", "delays", "eval_batch",
                                     "solved_level")}
    write_numbers(path, columns, {"kind": "skip_training_summary", "command": command,
                                  "chance": chance, **settings})


def main():
    skip_training_numbers(run_with_results(COMMAND, "-o"), COMMAND, NUMBERS)


if __name__ == "__main__":
    main()
