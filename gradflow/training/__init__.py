"""Training recurrent cells and what it meets: the training loop with BPTT, optimizers and the
clipping ablation (`loop`), synthetic tasks (`tasks`), held-out loss and accuracy
(`evaluation`), clipping (`clipping`), Pascanu's cliff (`cliff`), gradient-flow checkpoints
while training (`flow`), gradient flossing (`flossing`, which `train` calls). Beside the
analyses: imports cells, engine and io, and (`flow` alone) the decay summary and gate values of
`gradflow.analysis`, which import nothing of training; only plotting and the CLI import it.
"""

from .loop import (ABLATION_COLUMNS, OPTIMIZERS, Optimizer, Summary, TrainingResult,
                   ablation_from_table, ablation_to_table, adam, bptt, clipping_ablation,
                   floss_seeds, init_model, memory_needed, momentum, readout, sgd, summarize,
                   train)
from .evaluation import Evaluation, evaluate
from .flow import FlowRecord, FlowRun

__all__ = ["init_model", "readout", "bptt", "Optimizer", "sgd", "momentum", "adam", "OPTIMIZERS",
           "TrainingResult", "train", "Summary", "summarize", "clipping_ablation",
           "ABLATION_COLUMNS", "ablation_to_table", "ablation_from_table", "memory_needed",
           "floss_seeds", "Evaluation", "evaluate", "FlowRecord", "FlowRun"]
