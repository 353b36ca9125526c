"""The headline figure: the tanh RNN's gradients vanish while the LSTM and GRU, with the
memory gate biased open (forget bias 3), hold them over 200 steps.

Writes figures/decay.png by running COMMAND through the CLI (what the README quotes).
Run it from anywhere: `python analyses/decay.py`, or every figure with `make figures`.
"""

from _run import run_command

COMMAND = ("gradflow plot decay --cell rnn --cell lstm --cell gru --steps 200 --samples 5 "
           "--forget-bias 3 -o figures/decay.png")

if __name__ == "__main__":
    run_command(COMMAND)
