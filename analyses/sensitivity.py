"""Input sensitivity around the middle step: log10 ||dy_tau/dx_t||_2 for every input step t and
tau = T/2 = 50, of a 2-layer bidirectional LSTM (and its top layer's two halves), beside a
1-layer LSTM, a 2-layer LSTM, the tanh RNN and the tanh RNN with a skip:4 connection: plain,
stacked, bidirectional and skip networks on one footing (issue 10, item 4).

Settings: the toolkit's defaults (H = 64, D = 8, gaussian weights N(0, 1/H), forget bias 1,
T = 100), mean of 3 input sequences; tau in the middle so that a bidirectional network's view
ahead is as long as its view back.

Each network is one `gradflow jacobians --wrt input` run (RUNS) writing its results into
results/ (which git ignores); COMMAND draws them all into figures/sensitivity.png. NUMBERS: per
network and output (the whole y, and the bidirectional network's forward and reverse halves)
log10 ||dy_50/dx_t||_2 at t = 1, 40, 50, 60, 100 (-inf right of tau for a network that runs
forwards in time), and how far back and ahead the norm stays at least 1e-3.
Run it from anywhere: `python analyses/sensitivity.py`, or every figure with `make figures`.
"""

from _run import ROOT, run_command, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

TAU = 50
# Each network's run (written into results/, which git ignores), then the figure from them all.
RUNS = ["gradflow jacobians --wrt input --output-step 50 --samples 3 -q --cell lstm "
        "-o results/sens_lstm.json",
        "gradflow jacobians --wrt input --output-step 50 --samples 3 -q --cell lstm --layers 2 "
        "-o results/sens_lstm2.json",
        "gradflow jacobians --wrt input --output-step 50 --samples 3 -q --cell lstm --layers 2 "
        "--bidirectional -o results/sens_bilstm2.json",
        "gradflow jacobians --wrt input --output-step 50 --samples 3 -q --cell rnn "
        "-o results/sens_rnn.json",
        "gradflow jacobians --wrt input --output-step 50 --samples 3 -q --cell rnn --skip skip:4 "
        "-o results/sens_rnn_skip4.json"]
COMMAND = ("gradflow plot sensitivity results/sens_lstm.json results/sens_lstm2.json "
           "results/sens_bilstm2.json results/sens_rnn.json results/sens_rnn_skip4.json "
           "--height 3 -o figures/sensitivity.png")
NUMBERS = "figures/sensitivity.json"
STEPS = (1, 40, 50, 60, 100)


def reach(values, tau):
    """(back, ahead): how many consecutive input steps right before tau (t = tau - 1, tau - 2,
    ...) and right after it have log10 ||dy_tau/dx_t|| >= -3; `values[t - 1]` is step t."""
    inside = np.asarray(values) >= -3
    back = ahead = 0
    while tau - 2 - back >= 0 and inside[tau - 2 - back]:
        back += 1
    while tau + ahead < len(inside) and inside[tau + ahead]:
        ahead += 1
    return back, ahead


def main():
    import os

    from gradflow.analysis.depth import sensitivity_from_table
    from gradflow.io.results import read_table

    files = [run.split(" -o ")[1] for run in RUNS]
    assert COMMAND.split()[3:3 + len(files)] == files  # the figure draws what the runs wrote
    os.makedirs(os.path.join(ROOT, "results"), exist_ok=True)
    for run in RUNS:
        run_command(run)
    run_command(COMMAND)
    columns = {k: [] for k in ("cell", "output", *(f"t{t}" for t in STEPS), "back", "ahead")}
    for path in files:
        (profile,) = sensitivity_from_table(read_table(os.path.join(ROOT, path)))
        assert profile.output_step == TAU
        for direction, values in profile.mean.items():
            spectral = values["spectral"]
            columns["cell"].append(profile.cell)
            columns["output"].append(direction)
            for t in STEPS:
                columns[f"t{t}"].append(float(spectral[t - 1]))
            back, ahead = reach(spectral, TAU)
            columns["back"].append(back)
            columns["ahead"].append(ahead)
    meta = profile.metadata
    write_numbers(NUMBERS, columns, {"kind": "sensitivity_summary", "command": COMMAND,
                                     "runs": RUNS,
                                     "output_step": TAU, "hidden": meta["hidden"],
                                     "steps": meta["steps"], "samples": meta["samples"]})


if __name__ == "__main__":
    main()
