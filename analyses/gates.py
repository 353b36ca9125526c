"""The gating mechanism: the LSTM's forget gate and the GRU's keep fraction along the
sequence, beside the decay of the c-block and h-block norms.

Writes figures/gates.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/gates.py`, or every figure with `make figures`.
"""

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ("gradflow plot gates --steps 200 --samples 3 --forget-bias 3 -o figures/gates.png"
           "")

if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    os.makedirs("figures", exist_ok=True)
    from gradflow.cli import main

    main(shlex.split(COMMAND)[1:], standalone_mode=False)
