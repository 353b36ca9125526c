"""`gradflow sweep SPEC.toml`: options, progress bar and messages around `gradflow.sweep`."""

import os
import sys

import click

from ..sweep.executors import DaskExecutor, LocalExecutor
from ..sweep.run import COST_MODELS, SUMMARY, SweepLocked, estimate, run_sweep
from ..sweep.spec import SpecError, read_spec
from .base import fail, main, progress_bar, refuse


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False), metavar="SPEC.toml")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Local worker processes [default: the number of cores].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on the dask.distributed cluster whose scheduler is at ADDRESS "
                   "(tcp://host:8786) instead of local processes; needs "
                   "pip install 'gradflow[distributed]'.")
@click.option("--retry-failed", is_flag=True, help="Also rerun the points recorded as failed.")
@click.option("--dry-run", is_flag=True,
              help="Print how many points there are, how many are done, and an estimate of "
                   "the time the rest take (one point is timed); run nothing else.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sweep(spec, workers, scheduler, retry_failed, dry_run, quiet):
    """Run one analysis over a grid of settings, each point on its own, resumably.

    SPEC.toml names the analysis (decay, lyapunov, clipping, skip_training), the output
    folder, the [grid] (lists of values of `gradflow jacobians` options; a skip_training point
    adds task and delay) and [fixed] settings: the README's "Sweeps" section. Each point is
    written to OUTPUT/points/<hash>.json as it finishes, and OUTPUT/summary.csv holds one row
    per point. Run the same command again to go on after an interruption: finished points are
    skipped.
    """
    if workers is not None and scheduler is not None:
        refuse("--workers is for local processes; a --scheduler cluster has its own workers")
    try:
        parsed = read_spec(spec)
    except SpecError as err:
        refuse(str(err))
    workers = workers or os.cpu_count() or 1
    if dry_run:
        _dry_run(parsed, retry_failed, workers, scheduler)
        return

    try:  # before anything is written: a cluster we cannot reach is bad input
        executor = LocalExecutor(workers) if scheduler is None else DaskExecutor(scheduler)
    except (ImportError, ConnectionError) as err:
        fail(str(err))
    bar = _Bar(quiet)
    try:
        tally = run_sweep(parsed, lambda: executor, retry_failed=retry_failed, progress=bar.show,
                          report=lambda line: click.echo(line, err=True))
    except SweepLocked as err:
        fail(str(err))
    except OSError as err:
        fail(f"{parsed.output}: cannot write ({err.strerror or err})")
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"Error: interrupted; the finished points are kept in {parsed.output}: run "
                   "the same command again to go on", err=True)
        sys.exit(130)
    finally:
        bar.close()
        executor.shutdown()
    click.echo(f"{tally.points} points: {tally.skipped} done before, {tally.done} done now, "
               f"{tally.failed} failed, {tally.left} left; "
               f"{os.path.join(parsed.output, SUMMARY)}")
    if tally.failed:
        fail(f"{tally.failed} point{'s' if tally.failed != 1 else ''} failed (see the error "
             "column of the summary); rerun with --retry-failed")


class _Bar:
    """The progress bar, made at the first report (when the number of points to run is
    known): done / running / failed / left in its label, click's ETA."""

    def __init__(self, quiet):
        self.quiet, self.bar, self.shown = quiet, None, 0

    def show(self, state):
        if self.bar is None:
            self.bar = progress_bar(state["total"], "", self.quiet).__enter__()
        self.bar.label = (f"{state['done']} done, {state['running']} running, "
                          f"{state['failed']} failed, {state['left']} left")
        finished = state["done"] + state["failed"]
        self.bar.update(finished - self.shown)
        self.shown = finished

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _dry_run(spec, retry_failed, workers, scheduler):
    est = estimate(spec, retry_failed)
    click.echo(f"{spec.analysis}: {est.points} points, {est.done} done, {est.failed} failed; "
               f"{est.to_run} to run")
    if est.to_run:
        where = ("shared by the cluster's workers" if scheduler else
                 f"about {est.seconds / min(workers, est.to_run):.3g} s on {workers} "
                 f"worker{'s' if workers != 1 else ''}")
        timed = ", ".join(f"{k}={v!r}" for k, v in est.calibration.items() if k in spec.grid)
        click.echo(f"estimate: {est.seconds:.3g} s in one process, {where} (one point, "
                   f"{timed or 'the only one'}, timed here; the others scaled by "
                   f"{COST_MODELS[spec.analysis]})")
