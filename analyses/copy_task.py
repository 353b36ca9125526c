"""The copy task at T = 100 and T = 500 for the eight cells of figures/cells.png: the RNN, LSTM,
GRU, IndRNN, minGRU, minLSTM, LRU and orthogonal RNN, each at its own initialisation, trained
with one budget (Adam at 0.005, norm clipping at 1, H = 32, batch 32, 1000 updates, seed 0,
forget bias 1) and judged on 256 held-out sequences against the memoryless loss
10 ln 8 / (T + 20), the loss of a model that outputs the blanks right and guesses the copied
tokens (Arjovsky, Shah & Bengio 2016).

Writes figures/copy_task.png (the training loss against the update, one panel per T, the memoryless
loss dashed) by running COMMAND through the CLI (what the README quotes), and NUMBERS: per cell
and T the held-out loss over the memoryless loss (below 1: the cell beats it), the
held-out accuracy on the copied tokens, the training loss of the last 50 updates against the
memoryless loss, the first update after which the training loss (mean of 50) stays below it,
and the leading Lyapunov exponent and log10 norm at the copy distance T + 10 before and after
training. Two worker processes; about 35 minutes on two cores (a T = 500 update unrolls 520
steps, eight cells, 1000 updates).
Run it from anywhere: `python analyses/copy_task.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow ablate skip-training --variants none --extra-cells "
           "lstm,gru,indrnn,mingru,minlstm,lru,orthogonal --tasks copy --delays copy:100,500 "
           "--seeds 0 --updates 1000 --flow-every 50 --flow-samples 2 --workers 2 --curves "
           "--figure figures/copy_task.png")
NUMBERS = "figures/copy_task.json"
WINDOW = 50  # updates averaged: one mini-batch is noisy


def stays_below(loss, baseline, window=WINDOW):
    """The first update u after which the mean of every `window` consecutive training losses
    stays below `baseline` (to the end of the run), or None."""
    means = np.convolve(np.asarray(loss, float), np.ones(window) / window, mode="valid")
    below = means < baseline
    if not below[-1]:
        return None
    above = np.flatnonzero(~below)
    return int(above[-1] + 1 + window if above.size else window)


def copy_numbers(result, command, path):
    from gradflow.training.flossing_ablation import flow_by_delay

    meta = result.metadata
    flows = {(q, w): flow_by_delay(result, "copy", q, w)
             for q in ("lyapunov_1", "log10_norm_delay") for w in ("start", "end")}
    columns = {k: [] for k in ("model", "delay", "eval_over_baseline", "beats_baseline", "accuracy", "final_over_baseline",
                               "below_from", *(f"{q}_{w}" for q, w in flows))}
    for run, flow in zip(result.runs, result.flows):
        columns["model"].append(run.model)
        columns["delay"].append(run.delay)
        columns["eval_over_baseline"].append(run.eval_loss / run.baseline)
        columns["beats_baseline"].append(bool(run.eval_loss < run.baseline))
        columns["accuracy"].append(run.accuracy)
        columns["final_over_baseline"].append(float(np.mean(flow.loss[-WINDOW:])) / run.baseline)
        columns["below_from"].append(stays_below(flow.loss, run.baseline))
        for (q, w), f in flows.items():
            i, j = f.models.index(run.model), f.delays.index(run.delay)
            columns[f"{q}_{w}"].append(float(f.mean[i, j]))
    settings = {k: meta[k] for k in ("hidden", "batch", "updates", "lr", "optimizer",
                                     "clip_threshold", "forget_bias", "seeds", "delays",
                                     "eval_batch", "flow_every", "flow_samples")}
    baselines = {str(r.delay): r.baseline for r in result.runs}  # 10 ln 8 / (T + 20)
    write_numbers(path, columns, {"kind": "copy_summary", "command": command,
                                  "window": WINDOW, "baseline": baselines, **settings})


def main():
    from gradflow.training.skip_training import skip_training_from_table

    result = skip_training_from_table(run_with_results(COMMAND, "-o"))
    copy_numbers(result, COMMAND, NUMBERS)


if __name__ == "__main__":
    main()
