"""The gating mechanism: the LSTM's forget gate and the GRU's keep fraction along the
sequence, beside the decay of the c-block and h-block norms.

Writes figures/gates.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/gates.py`, or every figure with `make figures`.
"""

from _run import run_command

COMMAND = ("gradflow plot gates --steps 200 --samples 3 --forget-bias 3 -o figures/gates.png"
           "")

if __name__ == "__main__":
    run_command(COMMAND)
