"""Where clipping also makes the model learn: delayed recall (recall the first of 10 + 1
tokens), the same RNN trained by SGD under each clipping mode, from seeds 0, 1 and 2.

Makes no figure: runs COMMAND (what the README quotes) once per seed with `-o` to a temporary
results file, and writes NUMBERS, the summary of every run (as analyses/clipping_ablation.py).
Run it from anywhere: `python analyses/clipping_recall.py`, or every figure with `make figures`.
"""

from _run import run_with_results
from clipping_ablation import clipping_numbers

COMMAND = "gradflow ablate clipping --task recall --steps 10 --lr 0.3 --updates 300"
SEEDS = (0, 1, 2)
NUMBERS = "figures/clipping_recall.json"


def main():
    tables = {seed: run_with_results(f"{COMMAND} --seed {seed}", "-o") for seed in SEEDS}
    clipping_numbers(tables, NUMBERS, COMMAND, {"seeds": list(SEEDS)})


if __name__ == "__main__":
    main()
