"""The headline figure: the tanh RNN's gradients vanish while the LSTM and GRU, with the
memory gate biased open (forget bias 3), hold them over 200 steps.

Writes figures/decay.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/decay.py`, or every figure with `make figures`.
"""

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ("gradflow plot decay --cell rnn --cell lstm --cell gru --steps 200 --samples 5 "
           "--forget-bias 3 -o figures/decay.png")

if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    os.makedirs("figures", exist_ok=True)
    from gradflow.cli import main

    main(shlex.split(COMMAND)[1:], standalone_mode=False)
