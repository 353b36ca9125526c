"""Lyapunov spectra of the three cells side by side, and the singular values of ds_T/ds_t at
one distance.

Writes figures/spectrum.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/spectrum.py`, or every figure with `make figures`.
"""

from _run import run_command

COMMAND = ("gradflow plot spectrum --steps 200 --distances 20 --width 7 -o "
           "figures/spectrum.png")

if __name__ == "__main__":
    run_command(COMMAND)
