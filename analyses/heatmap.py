"""The pairwise picture log10 ||ds_s/ds_t||_2 for all t < s, for a tanh RNN (weights scaled by 1.5) and one input
sequence.

Writes figures/heatmap.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/heatmap.py`, or every figure with `make figures`.
"""

from _run import run_command

COMMAND = ("gradflow plot heatmap --cell rnn --scale 1.5 --steps 200 --stride 2 --height "
           "3.2 -o figures/heatmap.png")

if __name__ == "__main__":
    run_command(COMMAND)
