"""Lyapunov spectra of the three cells side by side, and the singular values of ds_T/ds_t at
one distance.

Writes figures/spectrum.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/spectrum.py`, or every figure with `make figures`.
"""

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ("gradflow plot spectrum --steps 200 --distances 20 --width 7 -o "
           "figures/spectrum.png")

if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    os.makedirs("figures", exist_ok=True)
    from gradflow.cli import main

    main(shlex.split(COMMAND)[1:], standalone_mode=False)
