"""Training recurrent cells and what it meets: the training loop with BPTT (`loop`), optimizers
(`optimizers`), synthetic tasks (`tasks`), held-out loss and accuracy (`evaluation`), clipping
(`clipping`) and the clipping ablation (`clipping_ablation`), Pascanu's cliff (`cliff`),
gradient-flow checkpoints while training (`flow`), gradient flossing (`flossing`, which `train`
calls), the comparison of models trained at several delays (`skip_training`: skip connections
and other cells) and the flossing ablation built on it (`flossing_ablation`). Beside the
analyses: imports cells, engine and io, and (`flow` alone) the decay summary and gate values of
`gradflow.analysis`, which import nothing of training; only plotting and the CLI import it.
"""

from .loop import TrainingResult, bptt, floss_seeds, init_model, memory_needed, readout, train
from .optimizers import OPTIMIZERS, Optimizer, adam, momentum, sgd
from .clipping_ablation import (ABLATION_COLUMNS, Summary, ablation_from_table,
                                ablation_to_table, clipping_ablation, summarize)
from .evaluation import Evaluation, evaluate
from .flow import FlowRecord, FlowRun

__all__ = ["init_model", "readout", "bptt", "Optimizer", "sgd", "momentum", "adam", "OPTIMIZERS",
           "TrainingResult", "train", "Summary", "summarize", "clipping_ablation",
           "ABLATION_COLUMNS", "ablation_to_table", "ablation_from_table", "memory_needed",
           "floss_seeds", "Evaluation", "evaluate", "FlowRecord", "FlowRun"]
