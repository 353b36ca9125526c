"""Running a sweep: skip the finished points, run the rest on an executor, write each point's
file as it arrives, and rebuild the summary from the point files.

The folder of a sweep holds `points/<name>.json` (one per point, see `points`), `summary.csv`
(rebuilt after every run, atomically) and, while a sweep runs, `sweep.lock`. Only this process
writes there: workers return their records, so a cluster needs no shared disk.

Faults. A point that raises is recorded failed with its error and the sweep goes on. When a
local worker dies (SIGKILL, the out-of-memory killer), ProcessPoolExecutor fails every point
the pool held and kills its other workers, so which point killed it is unknown; the pool is
rebuilt and those points rerun one at a time, alone in a one-process pool, where the one that
kills its worker again is recorded failed (DIED) and the others finish. (Dask reruns a task
whose worker died on its own, and gives up with KilledWorker after a few deaths: that point is
recorded failed.) Ctrl-C cancels the points not started, waits for the running ones and keeps
every point finished.
"""

import collections
import json
import os
import socket
import time
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from ..io.results import Table, write_table
from ..training.tasks import task_shape
from .points import (CLIPPING_METRICS, SKIP_TRAINING_RESULT, PointFileError, failed_record,
                     point_name, read_point, run_point, write_point)
from .spec import ANALYSIS_KEYS, network_of
from .executors import DIED, WorkerDied

__all__ = ["run_sweep", "Tally", "SweepLocked", "sweep_lock", "scan", "write_summary",
           "estimate", "Estimate", "COST_MODELS"]

LOCK = "sweep.lock"
SUMMARY = "summary.csv"


class SweepLocked(RuntimeError):
    """Another sweep holds the folder's lock."""


class Tally(NamedTuple):
    """points: in the spec; skipped: done before this run; done, failed: by this run (failed
    counts every point whose file says failed at the end); left: not run (Ctrl-C)."""
    points: int
    skipped: int
    done: int
    failed: int
    left: int


def _tasks(spec):
    """{name: (analysis, settings, options)} in grid order."""
    return {point_name(spec.analysis, s, spec.options): (spec.analysis, s, spec.options)
            for s in spec.points}


def scan(spec, report=lambda line: None):
    """{name: record or None} of every point: None when it has no file or one that cannot be
    trusted (reported, one line each: it will be recomputed)."""
    records = {}
    for name, task in _tasks(spec).items():
        try:
            records[name] = read_point(spec.output, name, *task)
        except PointFileError as err:
            report(f"warning: {os.path.join(spec.output, 'points', name + '.json')}: {err}; "
                   "recomputing it")
            records[name] = None
    return records


def run_sweep(spec, make_executor, *, retry_failed=False, progress=None, report=None):
    """Run the points of `spec` not yet done; returns a `Tally`.

    make_executor: called once, after the lock is taken, to make the executor (`executors`).
    retry_failed: rerun the points recorded failed too.
    progress: called with a dict (done, running, failed, left, total: counts of this run's
      points) whenever one of them changes.
    report: called with one line for each thing a user should know (a corrupt point file, a
      stale lock taken over).
    Raises SweepLocked, OSError for a folder that cannot be written, KeyboardInterrupt after
    stopping cleanly (the summary rebuilt).
    """
    report = report or (lambda line: None)
    progress = progress or (lambda state: None)
    os.makedirs(os.path.join(spec.output, "points"), exist_ok=True)
    with sweep_lock(spec.output, report):
        tasks = _tasks(spec)
        _write_index(spec, tasks)
        records = scan(spec, report)
        todo = [n for n, r in records.items()
                if r is None or (r["status"] == "failed" and retry_failed)]
        skipped = sum(1 for r in records.values() if r is not None and r["status"] == "done")
        counts = {"done": 0, "running": 0, "failed": 0, "left": len(todo), "total": len(todo)}
        try:
            if todo:
                executor = make_executor()
                try:
                    _loop(executor, tasks, todo, spec.output, counts, progress)
                finally:
                    executor.shutdown()
        finally:
            records = write_summary(spec)
    failed = sum(1 for r in records.values() if r is not None and r["status"] == "failed")
    return Tally(len(tasks), skipped, counts["done"], failed, counts["left"])


def _loop(executor, tasks, todo, folder, counts, progress):
    queue = collections.deque(todo)
    inflight = {}  # future -> point name

    def finish(name, record):
        write_point(folder, record)
        counts["done" if record["status"] == "done" else "failed"] += 1
        counts["running"] = len(inflight)
        progress(dict(counts))

    def died(name):
        finish(name, failed_record(*tasks[name], DIED))

    def submit(name):
        inflight[executor.submit(tasks[name])] = name
        counts["left"] -= 1
        counts["running"] = len(inflight)

    try:
        progress(dict(counts))
        while queue or inflight:
            while queue and len(inflight) < executor.capacity:
                submit(queue.popleft())
            progress(dict(counts))
            suspects = []
            for future in executor.wait(inflight):
                name = inflight.pop(future)
                try:
                    finish(name, executor.result(future))
                except WorkerDied:
                    if executor.isolates_deaths:
                        suspects.append(name)
                    else:
                        died(name)
            if suspects:  # the local pool broke: every point it held is a suspect
                for future, name in list(inflight.items()):
                    del inflight[future]
                    if future.done() and not future.cancelled() and future.exception() is None:
                        finish(name, future.result())
                    else:
                        suspects.append(name)
                _isolate(executor, suspects, tasks, inflight, finish, died, counts)
    except KeyboardInterrupt:
        for future in inflight:
            future.cancel()
        executor.shutdown()  # waits for the points already running
        for future, name in list(inflight.items()):
            del inflight[future]
            record = None
            try:
                if future.done() and not future.cancelled():
                    record = future.result()
            except Exception:  # a point cut short by the stop: it stays to do
                pass
            if record is None:
                counts["left"] += 1
            else:
                finish(name, record)
        raise


def _isolate(executor, suspects, tasks, inflight, finish, died, counts):
    """Rerun the points a broken pool held, each alone; the one whose worker dies fails."""
    if len(suspects) == 1:
        executor.restart()
        died(suspects[0])
        return
    executor.restart(1)
    for name in suspects:
        future = executor.submit(tasks[name])
        inflight[future] = name
        while not future.done():
            executor.wait([future])
        del inflight[future]
        try:
            finish(name, executor.result(future))
        except WorkerDied:
            executor.restart(1)
            died(name)
    executor.restart()


INDEX = "sweep.json"


def _write_index(spec, tasks):
    """`sweep.json`: the analysis, its options, the grid keys and the point names in grid
    order, so the folder can be read without its spec (`gradflow plot phase DIR`)."""
    from ..io.files import atomic_path

    with atomic_path(os.path.join(spec.output, INDEX)) as tmp:
        with open(tmp, "w") as fh:
            json.dump({"format": "gradflow-sweep", "analysis": spec.analysis,
                       "options": spec.options, "grid": list(spec.grid),
                       "points": list(tasks)}, fh, indent=1)


# ------------------------------------------------------------------ the lock

@contextmanager
def sweep_lock(folder, report=lambda line: None):
    """Hold `folder/sweep.lock` (created with O_CREAT | O_EXCL, holding host and pid) while the
    block runs. SweepLocked when a live sweep holds it; a lock whose process, on this machine,
    no longer exists is taken over (reported)."""
    path = os.path.join(folder, LOCK)
    host, pid = socket.gethostname(), os.getpid()
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is not None and holder[0] == host and not _alive(holder[1]):
                report(f"note: {path}: the sweep that held it (pid {holder[1]}) no longer "
                       "runs; taking it over")
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
                continue
            who = f"pid {holder[1]} on {holder[0]}" if holder else "unknown process"
            raise SweepLocked(f"{folder} is in use by another sweep ({who}); if none is "
                              f"running, remove {path}") from None
        with os.fdopen(fd, "w") as fh:
            json.dump({"host": host, "pid": pid}, fh)
        break
    else:
        raise SweepLocked(f"{folder}: could not take the lock {path}")
    try:
        yield
    finally:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _holder(path):
    try:
        with open(path) as fh:
            doc = json.load(fh)
        return str(doc["host"]), int(doc["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists and belongs to someone else
        return True
    return True


# ------------------------------------------------------------------ the summary

def write_summary(spec):
    """Rebuild `summary.csv` from the point files (see `summary_table`); returns the records."""
    records = scan(spec)
    write_table(os.path.join(spec.output, SUMMARY), summary_table(spec, records))
    return records


def summary_table(spec, records):
    """One row per point in grid order: the settings, status ('done', 'failed' or 'pending'),
    the analysis's columns (empty unless done), error."""
    settings_keys = ANALYSIS_KEYS[spec.analysis]
    rows = [(s, records[point_name(spec.analysis, s, spec.options)]) for s in spec.points]
    cols = {k: [s[k] for s, _ in rows] for k in settings_keys}
    cols["status"] = [r["status"] if r else "pending" for _, r in rows]
    done = [r["result"] if r and r["status"] == "done" else None for _, r in rows]
    for name, values in _result_columns(spec, done).items():
        cols[name] = values
    cols["error"] = [r["error"] if r else None for _, r in rows]
    return Table({k: np.array(v, dtype=object) for k, v in cols.items()},
                 {"kind": "sweep_summary", "analysis": spec.analysis})


def _float(value):
    return None if value is None else float(value)


def _result_columns(spec, results):
    if spec.analysis == "decay":
        return {"verdict": [r and r["verdict"] for r in results],
                "rate_per_step": [r and _float(r["rate_per_step"]) for r in results],
                "horizon": [r and r["horizon"] for r in results]}
    if spec.analysis == "lyapunov":
        k = max([len(r["lyapunov"]) for r in results if r] or [spec.options["exponents"] or 0])
        return {f"lyapunov_{i + 1}": [_float(r["lyapunov"][i]) if r and i < len(r["lyapunov"])
                                      else None for r in results] for i in range(k)}
    if spec.analysis == "skip_training":  # diverged 1 or 0, as `gradflow ablate skip-training`
        kinds = {"model": str, "diverged": int, "updates": int}
        return {k: [r and kinds.get(k, _metric)(r[k]) for r in results]
                for k in SKIP_TRAINING_RESULT}
    cols = {}
    for j, (mode, threshold) in enumerate(clipping_runs(spec.options)):
        prefix = mode if mode == "none" else f"{mode}_{threshold!r}"
        for metric in CLIPPING_METRICS:
            cols[f"{prefix}_{metric}"] = [r and _metric(r["runs"][j][metric]) for r in results]
    return cols


def _metric(value):
    return float(value) if isinstance(value, str) else value


def clipping_runs(options):
    """(mode, threshold) of each training run of a clipping point, in `clipping_ablation`'s
    order."""
    t = options["thresholds"]
    return [(m, x) for m in options["modes"] for x in (t[:1] if m == "none" else t)]


# ------------------------------------------------------------------ dry run

class Estimate(NamedTuple):
    """points, done, failed: in the spec and its folder; to_run: what a run would compute;
    seconds: the estimated time of those in one process (None when nothing is to run);
    calibration: the settings of the point timed."""
    points: int
    done: int
    failed: int
    to_run: int
    seconds: float
    calibration: dict


COST_MODELS = {"decay": "samples x steps x layers x n^2 (n the state size)",
               "lyapunov": "samples x steps x layers x n^2 (n the state size)",
               "clipping": "runs x updates x batch x steps x hidden^2",
               "skip_training": "updates x batch x sequence length x gates x hidden^2 (gates 1 "
                                "for the RNN, 3 for the GRU, 4 for the LSTM)"}


def cost(analysis, settings, options):
    """The cost model of a point, in arbitrary units: COST_MODELS[analysis]."""
    if analysis == "clipping":
        return (len(clipping_runs(options)) * options["updates"] * options["batch"]
                * settings["steps"] * settings["hidden"] ** 2)
    net = network_of(settings)
    if analysis == "skip_training":
        length = task_shape(settings["task"], settings["delay"])[0]
        return (options["updates"] * options["batch"] * length
                * getattr(net.cell_function(), "gate_blocks", 1) * settings["hidden"] ** 2)
    n = getattr(net.cell_function(), "state_blocks", 1) * settings["hidden"]
    return settings["samples"] * settings["steps"] * settings["layers"] * n * n


def estimate(spec, retry_failed=False):
    """What `run_sweep` would do, and how long it would take in one process: the cheapest
    point to run (by `cost`) is run once, here, unsaved, and the others scaled from it by
    their cost. Writes nothing."""
    records = scan(spec) if os.path.isdir(spec.output) else dict.fromkeys(_tasks(spec))
    tasks = _tasks(spec)
    todo = [n for n, r in records.items()
            if r is None or (r["status"] == "failed" and retry_failed)]
    done = sum(1 for r in records.values() if r is not None and r["status"] == "done")
    failed = sum(1 for r in records.values() if r is not None and r["status"] == "failed")
    if not todo:
        return Estimate(len(tasks), done, failed, 0, None, None)
    costs = {n: cost(*tasks[n]) for n in todo}
    cheapest = min(todo, key=costs.get)
    start = time.perf_counter()
    run_point(tasks[cheapest])
    elapsed = time.perf_counter() - start
    seconds = elapsed * sum(costs.values()) / costs[cheapest]
    return Estimate(len(tasks), done, failed, len(todo), seconds, tasks[cheapest][1])
