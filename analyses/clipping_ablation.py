"""figures/clipping_ablation.png: an RNN on the adding problem whose training blows up without
clipping and survives with norm clipping (same weights, same batches).

Run it from anywhere: `python analyses/clipping_ablation.py`, or every figure with `make figures`.
"""

from _run import run_command

COMMAND = ("gradflow ablate clipping --cell rnn --task adding --steps 50 --hidden 16 --batch 16 "
           "--updates 200 --lr 0.1 --optimizer sgd --scale 2.0 --clip-threshold 1 --seed 0 "
           "--figure figures/clipping_ablation.png")

if __name__ == "__main__":
    run_command(COMMAND)
