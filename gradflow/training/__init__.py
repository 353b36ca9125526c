"""Training recurrent cells and what it meets: the training loop with BPTT, optimizers and the
clipping ablation (`loop`), synthetic tasks (`tasks`), held-out loss and accuracy
(`evaluation`), clipping (`clipping`), Pascanu's cliff (`cliff`). Beside the analyses: imports
cells, engine and io; only plotting and the CLI import it.
"""

from .loop import (ABLATION_COLUMNS, OPTIMIZERS, Optimizer, Summary, TrainingResult,
                   ablation_from_table, ablation_to_table, adam, bptt, clipping_ablation,
                   init_model, memory_needed, momentum, readout, sgd, summarize, train)
from .evaluation import Evaluation, evaluate

__all__ = ["init_model", "readout", "bptt", "Optimizer", "sgd", "momentum", "adam", "OPTIMIZERS",
           "TrainingResult", "train", "Summary", "summarize", "clipping_ablation",
           "ABLATION_COLUMNS", "ablation_to_table", "ablation_from_table", "memory_needed",
           "Evaluation", "evaluate"]
