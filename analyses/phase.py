"""The phase diagram: decay against the recurrent weight scale, the tanh RNN's heatmap with
its vanishing/exploding boundary, and each cell's rate beside mean-field theory.

Writes figures/phase.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/phase.py`, or every figure with `make figures`.
"""

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ("gradflow plot phase --hidden 128 --input-size 64 --steps 60 --samples 2 "
           "--scales 0.25:2.5:19 --limit 12 -o figures/phase.png")

if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    os.makedirs("figures", exist_ok=True)
    from gradflow.cli import main

    main(shlex.split(COMMAND)[1:], standalone_mode=False)
