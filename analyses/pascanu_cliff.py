"""figures/pascanu_cliff.png: Pascanu's single-unit cliff, with plain and norm-clipped gradient
descent.

Run it from anywhere: `python analyses/pascanu_cliff.py`, or every figure with `make figures`.
"""

from _run import run_command

COMMAND = ("gradflow plot cliff --x0 0.5 --steps 20 --target 0.7 --w-range 2,10 --b-range -7,0 "
           "--grid 301 --start 6,-4.2 --lr 0.03 --updates 60 --clip-threshold 3 "
           "-o figures/pascanu_cliff.png")

if __name__ == "__main__":
    run_command(COMMAND)
