"""One grid point: its name, its file, and running it.

A point is an analysis with its options and its full settings; `point_key` is that as canonical
JSON (sorted keys), and its name `point_name` the first 16 hex digits of the key's SHA-256. Its
file `points/<name>.json` is a JSON object:

    format          "gradflow-sweep-point", format_version 1
    analysis, options, settings   what the point is (the key's content)
    status          "done" or "failed"
    result          the analysis's numbers (see `run_point`), null when failed
    error           the error's one line when failed, else null
    metadata        Network.metadata() (the training run's for clipping and skip_training)
    gradflow_version, elapsed_seconds, worker   how it ran (never read into the summary)
    checksum        SHA-256 of the canonical JSON of all the other fields

Non-finite floats are written as the strings "inf", "-inf", "nan", as in results files.
`read_point` refuses (PointFileError) a file that is not valid JSON, whose checksum does not
match, or whose settings are not the point's: a truncated or edited file is recomputed.
"""

import hashlib
import json
import math
import os
import signal
import socket
import time

import numpy as np

from .._version import __version__
from ..analysis.decay import decay_profile
from ..analysis.spectra import spectrum
from ..cells.builtin import recurrent_norm
from ..io.files import atomic_path
from ..training.clipping_ablation import clipping_ablation, summarize
from ..training.skip_training import SKIP_TRAINING_COLUMNS, skip_training
from .spec import network_of

__all__ = ["point_key", "point_name", "point_path", "run_point", "write_point", "read_point",
           "PointFileError", "failed_record", "FORMAT", "CLIPPING_METRICS",
           "SKIP_TRAINING_RESULT", "FINAL_LOSS_WINDOW"]

FORMAT = "gradflow-sweep-point"
FORMAT_VERSION = 1
FINAL_LOSS_WINDOW = 10  # as `gradflow ablate clipping`: updates averaged into the final loss
CLIPPING_METRICS = ("final_loss", "best_loss", "above_threshold", "clipped", "diverged",
                    "updates", "largest_grad_norm")
# A skip_training point's result: the fields of its `Run` that its settings do not hold.
SKIP_TRAINING_RESULT = tuple(c for c in SKIP_TRAINING_COLUMNS
                             if c not in ("task", "delay", "seed"))
# Test-only hooks (tests/test_sweep_faults.py); never set them otherwise. A worker whose point
# is named in TEST_KILL_VARIABLE kills itself with SIGKILL, as the kernel's out-of-memory
# killer would. One whose point is among the comma-separated names of TEST_HOLD_VARIABLE
# creates the empty file NAME.held in its working directory, waits for Ctrl-C (SIGINT to the
# process group; local workers block it from their start while the variable is set, so it is
# never lost) and then runs the point: a test's Ctrl-C then lands while known points are
# running, however fast the others are.
TEST_KILL_VARIABLE = "GRADFLOW_SWEEP_TEST_KILL"
TEST_HOLD_VARIABLE = "GRADFLOW_SWEEP_TEST_HOLD"


class PointFileError(ValueError):
    """A point file that cannot be trusted: unreadable, truncated, edited, or another point's."""


def point_key(analysis, settings, options):
    """The canonical JSON text that names a point."""
    return json.dumps({"analysis": analysis, "options": options, "settings": settings},
                      sort_keys=True, separators=(",", ":"))


def point_name(analysis, settings, options):
    """The first 16 hex digits of the SHA-256 of `point_key`."""
    return hashlib.sha256(point_key(analysis, settings, options).encode()).hexdigest()[:16]


def point_path(folder, name):
    return os.path.join(folder, "points", name + ".json")


def _checksum(record):
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def _plain(value):
    """JSON-ready: numpy to Python, non-finite floats as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def run_point(task):
    """Run one point; never raises for the analysis's own errors (it returns them).

    `task` is (analysis, settings, options). Returns the point's record without its checksum
    (see the module docstring); its `result`:
      decay: verdict, rate_per_step, horizon, log10_spectral_norm and log10_spectral_norm_std
        (the mean and spread over samples of log10 ||ds_T/ds_{T-d}||_2, d = 1..T), and
        weight_norm (||W_hh||_2 of the drawn recurrent weights, max |u| for IndRNN's diag(u),
        null for a stack and for a cell without recurrent weights);
      lyapunov: lyapunov (the exponents, log10 per step, largest first) and state_size;
      clipping: runs, one per clipping mode and threshold: mode, threshold and CLIPPING_METRICS
        (`gradflow.training.clipping_ablation.summarize` over the last FINAL_LOSS_WINDOW updates);
      skip_training: SKIP_TRAINING_RESULT, the fields of the point's one `Run` of
        `skip_training` (model 'rnn+skip:4', ...; final_loss, eval_loss, accuracy, chance,
        baseline, diverged, updates).
    """
    analysis, settings, options = task
    name = point_name(analysis, settings, options)
    if os.environ.get(TEST_KILL_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if name in os.environ.get(TEST_HOLD_VARIABLE, "").split(","):
        open(f"{name}.held", "w").close()
        signal.sigwait({signal.SIGINT})
    start = time.perf_counter()
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "analysis": analysis,
              "options": options, "settings": settings, "status": "done", "result": None,
              "error": None, "metadata": None, "gradflow_version": __version__,
              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        record["result"], record["metadata"] = _ANALYSES[analysis](settings, options)
    except Exception as err:  # any error of one point is that point's, and the sweep goes on
        text = str(err).strip().splitlines()
        record.update(status="failed", error=f"{type(err).__name__}: "
                      + (text[0] if text else "no message"))
    record["elapsed_seconds"] = time.perf_counter() - start
    return _plain(record)


def _decay(settings, options):
    net = network_of(settings)
    profile = decay_profile(net)
    built = net.build()
    weight_norm = recurrent_norm(built.params, built.cell)
    return {"verdict": profile.summary.verdict, "rate_per_step": profile.summary.rate,
            "horizon": profile.summary.horizon,
            "log10_spectral_norm": profile.mean["spectral"],
            "log10_spectral_norm_std": profile.std["spectral"],
            "weight_norm": weight_norm}, profile.metadata


def _lyapunov(settings, options):
    result = spectrum(network_of(settings), exponents=options["exponents"],
                      discard=options["discard"])
    return {"lyapunov": result.lyapunov, "state_size": result.state_size}, result.metadata


def _clipping(settings, options):
    net = network_of(settings)
    runs = clipping_ablation(
        net.cell_function(), options["task"], thresholds=options["thresholds"],
        modes=options["modes"], steps=settings["steps"], hidden=settings["hidden"],
        batch=options["batch"], updates=options["updates"], lr=options["lr"],
        optimizer=options["optimizer"], init=settings["init"], scale=settings["scale"],
        forget_bias=settings["forget_bias"], truncation=options["truncation"],
        seed=settings["seed"], max_loss=options["max_loss"])
    out = []
    for run in runs:
        s = summarize(run, FINAL_LOSS_WINDOW)
        out.append({"mode": s.mode, "threshold": s.threshold,
                    **{m: getattr(s, m) for m in CLIPPING_METRICS}})
    metadata = {k: v for k, v in runs[0].metadata.items() if k not in ("clip_mode", "threshold")}
    return {"runs": out}, metadata


def _skip_training(settings, options):
    """The run of `skip_training` for one model, task, delay and seed: the same numbers as that
    run among any others (each run depends on its own settings alone)."""
    s, o = settings, options
    result = skip_training(
        s["cell"], variants=(s["skip"],), extra_cells=(), tasks=(s["task"],),
        delays=(s["delay"],), seeds=(s["seed"],), hidden=s["hidden"], batch=o["batch"],
        updates=o["updates"], lr=o["lr"], optimizer=o["optimizer"],
        clip_threshold=o["clip_threshold"], skip_scale=s["skip_scale"],
        highway_bias=s["highway_bias"], forget_bias=s["forget_bias"], init=s["init"],
        scale=s["scale"], eval_batch=o["eval_batch"], max_loss=o["max_loss"])
    (run,) = result.runs
    return {k: getattr(run, k) for k in SKIP_TRAINING_RESULT}, result.metadata


_ANALYSES = {"decay": _decay, "lyapunov": _lyapunov, "clipping": _clipping,
             "skip_training": _skip_training}


def write_point(folder, record):
    """Write `record` (from `run_point`) to its file, atomically, with its checksum."""
    record = dict(record, checksum=_checksum(record))
    name = point_name(record["analysis"], record["settings"], record["options"])
    path = point_path(folder, name)
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(record, fh, indent=1, sort_keys=True)
            fh.write("\n")
    return path


def read_point(folder, name, analysis, settings, options):
    """The record of point `name`, or None when it has no file; PointFileError when its file
    cannot be trusted (the message says why, one line)."""
    path = point_path(folder, name)
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise PointFileError(f"cannot read ({err.strerror})") from None
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PointFileError("not valid JSON (truncated or corrupt)") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise PointFileError("not a gradflow sweep point file")
    if record.get("checksum") != _checksum(record):
        raise PointFileError("its checksum does not match its content (edited or corrupt)")
    if point_key(record.get("analysis"), record.get("settings"), record.get("options")) != \
            point_key(analysis, settings, options):
        raise PointFileError("it holds another point's settings")
    if record.get("status") not in ("done", "failed"):
        raise PointFileError(f"unknown status {record.get('status')!r}")
    return record


def failed_record(analysis, settings, options, error):
    """The record of a point that failed outside `run_point` (its worker died)."""
    return _plain({"format": FORMAT, "format_version": FORMAT_VERSION, "analysis": analysis,
                   "options": options, "settings": settings, "status": "failed", "result": None,
                   "error": error, "metadata": None, "gradflow_version": __version__,
                   "worker": None, "elapsed_seconds": None})
