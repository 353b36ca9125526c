"""The same comparison at the default forget bias 1: the gated cells still decay, slower than
the RNN; the headline's hold depends on the gate bias.

Writes figures/decay_bias1.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS, the numbers the README quotes from it (as analyses/decay.py).
Run it from anywhere: `python analyses/decay_bias1.py`, or every figure with `make figures`.
"""

from _run import run_with_results
from decay import decay_numbers

COMMAND = ("gradflow plot decay --cell rnn --cell lstm --cell gru --steps 200 --samples 5 "
           "-o figures/decay_bias1.png")
NUMBERS = "figures/decay_bias1.json"


def main():
    decay_numbers(run_with_results(COMMAND), COMMAND, NUMBERS)


if __name__ == "__main__":
    main()
