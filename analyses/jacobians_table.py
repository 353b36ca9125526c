"""The README's first table: what `gradflow jacobians` prints for the three cells.

Makes no figure: runs COMMAND (what the README quotes) and writes its output, exactly as
printed, to NUMBERS; the README shows that text.
Run it from anywhere: `python analyses/jacobians_table.py`, or every figure with `make figures`.
"""

import os

from _run import ROOT, run_capturing

COMMAND = "gradflow jacobians --cell rnn --cell lstm --cell gru"
NUMBERS = "figures/jacobians_table.txt"


def main():
    text = run_capturing(COMMAND)
    from gradflow.io.files import atomic_path
    with atomic_path(os.path.join(ROOT, NUMBERS)) as tmp, open(tmp, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
