"""What gradient flossing does to learning: the tanh RNN trained on delayed recall with and
without flossing (the leading 8 Lyapunov exponents, weight 1, 100 preflossing updates and then
at every update), beside the RNN with skip:4, the LSTM and the GRU, at delays 10, 20, 40 and 60
from seeds 0 to 4 with one budget (Adam at 0.005, norm clipping at 1, H = 32, batch 32, 300
updates, forget bias 1), judged on held-out sequences; the gradient flow is measured before the
first update and after the last.

Writes figures/flossing.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS, per model: the success rate (share of seeds with held-out accuracy >= 0.9), the mean,
smallest and largest accuracy, and the leading exponent and the log10 norm at the task's delay
before and after training (means over the seeds), per delay. Two worker processes (the results
do not depend on their number); about six minutes on two cores. The time flossing adds to an
update is measured by benchmarks/bench_flossing.py, not here (a time is not reproducible).
Run it from anywhere: `python analyses/flossing.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

COMMAND = "gradflow ablate flossing --workers 2 --figure figures/flossing.png"
NUMBERS = "figures/flossing.json"


def main():
    from gradflow.training.flossing_ablation import flow_by_delay
    from gradflow.training.skip_training import accuracy_by_delay, skip_training_from_table

    result = skip_training_from_table(run_with_results(COMMAND, "-o"))
    meta = result.metadata
    (task,) = meta["tasks"]
    s = accuracy_by_delay(result, task)
    flows = {(q, w): flow_by_delay(result, task, q, w)
             for q in ("lyapunov_1", "log10_norm_delay") for w in ("start", "end")}
    columns = {"model": list(s.models)}
    for j, d in enumerate(s.delays):
        for name, values in (("success", s.success), ("mean", s.mean), ("min", s.low),
                             ("max", s.high)):
            columns[f"{name}_T{d}"] = [float(v) for v in values[:, j]]
        for (q, w), f in flows.items():
            columns[f"{q}_{w}_T{d}"] = [float(v) for v in f.mean[:, j]]
    settings = {k: meta[k] for k in ("cell", "models", "tasks", "delays", "seeds", "hidden",
                                     "batch", "updates", "lr", "optimizer", "clip_threshold",
                                     "forget_bias", "skip_scale", "eval_batch", "solved_level",
                                     "floss", "floss_weight", "floss_every", "prefloss",
                                     "flow_samples", "flow_exponents")}
    write_numbers(NUMBERS, columns, {"kind": "flossing_summary", "command": COMMAND,
                                     "chance": s.chance, **settings})


if __name__ == "__main__":
    main()
