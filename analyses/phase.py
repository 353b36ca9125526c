"""The phase diagram: decay against the recurrent weight scale, the tanh RNN's heatmap with
its vanishing/exploding boundary, and each cell's rate beside mean-field theory.

Writes figures/phase.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/phase.py`, or every figure with `make figures`.
"""

from _run import run_command

COMMAND = ("gradflow plot phase --hidden 128 --input-size 64 --steps 60 --samples 2 "
           "--scales 0.25:2.5:19 --limit 12 -o figures/phase.png")

if __name__ == "__main__":
    run_command(COMMAND)
