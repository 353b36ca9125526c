"""Gradient flow while networks learn: the tanh RNN, the LSTM and the GRU trained on delayed
recall at T = 20 (where the RNN fails: `figures/skip_training.png`) with one budget (Adam at
0.005, norm clipping at 1, H = 32, batch 32, 300 updates, seed 0, forget bias 1), checkpoints
of the flow every 10 updates on 4 held-out sequences.

Writes figures/training_flow.png by running COMMAND through the CLI (what the README quotes),
and NUMBERS, per cell: the training loss at the start and the end (mean of WINDOW updates);
two moments, the first checkpoint at which the leading exponent is at least NEAR_ZERO
(`near_zero_at`) and the first at which the mean of the WINDOW losses before it is below
LEAVES times the memoryless loss (`leaves_at`; None where it never is); at the start, at those
moments and at the end the leading exponent, the log10 norm at the task's delay and the memory
gate; the horizon at the start and the end, its smallest value and the checkpoints at which it
is below the task's delay. About 20 to 35 s on two cores.
Run it from anywhere: `python analyses/training_flow.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot training-flow --cell rnn,lstm,gru --task recall --steps 20 "
           "--updates 300 --flow-every 10 -o figures/training_flow.png")
NUMBERS = "figures/training_flow.json"
LEAVES = 0.75      # the loss has left the memoryless level below this fraction of it
NEAR_ZERO = -0.01  # a leading exponent (log10 per step) at least this is "about 0"
WINDOW = 10        # losses averaged (one mini-batch is noisy)
MOMENTS = ("start", "near_zero", "leaving", "end")


def leaves_at(run):
    """The index of the first checkpoint u whose WINDOW losses before it average below
    LEAVES x baseline, or None."""
    for i, u in enumerate(run.flow.update):
        if u >= WINDOW and np.mean(run.loss[u - WINDOW:u]) < LEAVES * run.baseline:
            return i
    return None


def near_zero_at(run):
    """The index of the first checkpoint whose leading exponent is at least NEAR_ZERO, or
    None."""
    hits = np.flatnonzero(run.flow.lyapunov[:, 0] >= NEAR_ZERO)
    return int(hits[0]) if hits.size else None


def main():
    from gradflow.training.flow import flow_runs_from_table

    table = run_with_results(COMMAND)
    runs = flow_runs_from_table(table)
    made = table.metadata["runs"][runs[0].label]  # the settings every run shares
    columns = {k: [] for k in ("cell", "loss_start", "loss_end", "horizon_start", "horizon_end",
                               "horizon_smallest", "horizon_below_delay")}
    for q in ("update", "lyapunov_1", "log10_norm_delay", "gate"):
        columns.update({f"{q}_{m}": [] for m in MOMENTS})
    for r in runs:
        f = r.flow
        columns["cell"].append(r.label)
        columns["loss_start"].append(float(np.mean(r.loss[:WINDOW])))
        columns["loss_end"].append(float(np.mean(r.loss[-WINDOW:])))
        horizon = [None if np.isnan(h) else int(h) for h in f.horizon]
        columns["horizon_start"].append(horizon[0])
        columns["horizon_end"].append(horizon[-1])
        inside = [h for h in horizon if h is not None]
        columns["horizon_smallest"].append(min(inside) if inside else None)
        columns["horizon_below_delay"].append(sum(h < f.delay for h in inside))
        gate = next(iter(f.gates.values()), None)
        for m, k in zip(MOMENTS, (0, near_zero_at(r), leaves_at(r), len(f) - 1)):
            columns[f"update_{m}"].append(None if k is None else int(f.update[k]))
            columns[f"lyapunov_1_{m}"].append(None if k is None else float(f.lyapunov[k, 0]))
            columns[f"log10_norm_delay_{m}"].append(None if k is None
                                                    else float(f.log10_norms[k, -1]))
            columns[f"gate_{m}"].append(None if k is None or gate is None else float(gate[k]))
    f = runs[0].flow
    write_numbers(NUMBERS, columns, {
        "kind": "training_flow_summary", "command": COMMAND, "baseline": runs[0].baseline,
        "leaves": LEAVES, "near_zero": NEAR_ZERO, "window": WINDOW, "delay_distance": f.delay,
        "length": f.length, "checkpoints": len(f),
        **{k: made[k] for k in ("steps", "hidden", "batch", "updates", "lr", "optimizer",
                                "clip_mode", "threshold", "seed", "flow_every", "flow_samples",
                                "flow_exponents")}})


if __name__ == "__main__":
    main()
