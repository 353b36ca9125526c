"""The pairwise picture log10 ||ds_s/ds_t||_2 for all t < s, for one LSTM and one input
sequence.

Writes figures/heatmap.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/heatmap.py`, or every figure with `make figures`.
"""

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ("gradflow plot heatmap --cell rnn --scale 1.5 --steps 200 --stride 2 --height "
           "3.2 -o figures/heatmap.png")

if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    os.makedirs("figures", exist_ok=True)
    from gradflow.cli import main

    main(shlex.split(COMMAND)[1:], standalone_mode=False)
