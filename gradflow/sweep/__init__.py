"""Sweeps: one analysis over a grid of settings, each point run on its own (local processes or
a dask.distributed cluster), written to its own file, resumable after any interruption.
Above the analyses and training, below the CLI: imports cells, engine, analysis, training, io.

    spec = read_spec("sweep.toml")
    tally = run_sweep(spec, lambda: LocalExecutor(workers=4))
"""

from .executors import DaskExecutor, LocalExecutor
from .points import point_name, read_point, run_point
from .run import Estimate, SweepLocked, Tally, estimate, run_sweep, scan, write_summary
from .spec import ANALYSES, NETWORK_KEYS, Spec, SpecError, parse_spec, read_spec

__all__ = ["read_spec", "parse_spec", "Spec", "SpecError", "ANALYSES", "NETWORK_KEYS",
           "run_sweep", "Tally", "SweepLocked", "scan", "write_summary", "estimate", "Estimate",
           "LocalExecutor", "DaskExecutor", "point_name", "read_point", "run_point"]
