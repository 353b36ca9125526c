"""figures/clipping_ablation.png: an RNN on the adding problem that blows up without clipping
and trains with norm clipping. Run from the repository root: python analyses/clipping_ablation.py"""

import os

from gradflow.cli import main

ARGS = ["ablate", "clipping", "--cell", "rnn", "--task", "adding", "--steps", "50",
        "--hidden", "16", "--batch", "16", "--updates", "200", "--lr", "0.1",
        "--optimizer", "sgd", "--scale", "2.0", "--clip-threshold", "1", "--seed", "0",
        "--quiet", "--figure", "figures/clipping_ablation.png"]

if __name__ == "__main__":
    os.makedirs("figures", exist_ok=True)
    main(ARGS, standalone_mode=False)
