"""A sweep's spec: a TOML file read with tomllib, checked, and expanded into its grid points.

    analysis = "decay"              # decay | lyapunov | clipping | skip_training
    output = "results/scales"       # folder of the results, relative to the spec's folder

    [grid]                          # every value a list: the points are their Cartesian product
    cell = ["rnn", "lstm", "gru"]
    scale = [0.5, 1.0, 1.5]

    [fixed]                         # scalars shared by every point
    hidden = 32
    steps = 50

    [analysis_options]              # the analysis's own settings (see OPTIONS)
    exponents = 4

Grid and fixed keys are the options of `gradflow jacobians`, underscores for dashes
(NETWORK_KEYS); every value is checked as that command checks it, by building a `Network`, so a
spec the sweep accepts is one the command line would. A skip_training point is one run of the
skip-connection comparison (`gradflow ablate skip-training`): the base cell under the connection
`skip`, trained on `task` at `delay` (TRAINING_KEYS, grid keys as well) with one seed. A bad spec
raises `SpecError`, whose message is one line naming the file, the key and the value, before
anything runs.
"""

import itertools
import math
import os
import tomllib
from typing import NamedTuple

from ..analysis.network import Network
from ..cells.skips import parse_skip
from ..training.clipping import CLIP_MODES
from ..training.optimizers import OPTIMIZERS
from ..training.skip_training import SKIP_TRAINING_TASKS
from ..training.tasks import TASKS, task_shape

__all__ = ["SpecError", "Spec", "read_spec", "parse_spec", "ANALYSES", "NETWORK_KEYS",
           "TRAINING_KEYS", "KEYS"]

ANALYSES = ("decay", "lyapunov", "clipping", "skip_training")
TOP_KEYS = ("analysis", "output", "grid", "fixed", "analysis_options")

# The options of `gradflow jacobians` a point may set, their types and their defaults (the
# command's: Network's, with skip 'none' spelled as on the command line).
NETWORK_KEYS = {"cell": (str, "rnn"), "activation": (str, "tanh"), "hidden": (int, 64),
                "input_size": (int, 8), "steps": (int, 100), "init": (str, "gaussian"),
                "scale": (float, 1.0), "forget_bias": (float, 1.0), "seed": (int, 0),
                "samples": (int, 1), "skip": (str, "none"), "skip_scale": (float, 1.0),
                "highway_bias": (float, -1.0), "layers": (int, 1),
                "bidirectional": (bool, False), "layer_residual": (bool, False)}

# The task of a skip_training point and its length parameter T (no default: a spec names it).
TRAINING_KEYS = {"task": (str, "recall"), "delay": (int, None)}
KEYS = {**NETWORK_KEYS, **TRAINING_KEYS}

# The keys each analysis takes, in the summary's order, and its defaults where they are not
# NETWORK_KEYS': training runs have no input size, samples or second direction (the task sets
# the inputs); `gradflow ablate clipping`'s sizes and scale; skip_training trains one layer of a
# built-in cell (tanh for the RNN) on a task whose length is its delay, at the hidden size of
# `gradflow ablate skip-training`.
ANALYSIS_KEYS = {
    "decay": tuple(NETWORK_KEYS), "lyapunov": tuple(NETWORK_KEYS),
    "clipping": tuple(k for k in NETWORK_KEYS if k not in ("input_size", "samples",
                                                           "bidirectional")),
    "skip_training": ("cell", "hidden", "init", "scale", "forget_bias", "seed", "skip",
                      "skip_scale", "highway_bias", "task", "delay"),
}
DEFAULTS = {"clipping": {"hidden": 16, "steps": 50, "scale": 2.0},
            "skip_training": {"hidden": 32}}

# Each analysis's options: type and default (None: the analysis decides; see `points.run`).
OPTIONS = {
    "decay": {},
    "lyapunov": {"exponents": (int, None), "discard": (int, 0)},
    "clipping": {"task": (str, "adding"), "batch": (int, 16), "updates": (int, 200),
                 "lr": (float, 0.1), "optimizer": (str, "sgd"), "truncation": (int, None),
                 "thresholds": (list, [1.0]), "modes": (list, list(CLIP_MODES)),
                 "max_loss": (float, 1e6)},
    # `skip_training`'s budget, the same for every point; clip_threshold "none" for no clipping
    "skip_training": {"batch": (int, 32), "updates": (int, 300), "lr": (float, 0.005),
                      "optimizer": (str, "adam"), "clip_threshold": (float, 1.0),
                      "eval_batch": (int, 256), "max_loss": (float, 1e6)},
}


class SpecError(ValueError):
    """A spec that cannot run; the message is one line, 'SPEC.toml: key: what is wrong'."""


class Spec(NamedTuple):
    """A checked spec: `analysis`; `output`, the results folder (absolute); `grid`, the grid
    keys in the spec's order; `points`, the settings of every point (all ANALYSIS_KEYS of the
    analysis, defaults filled in) in grid order, the last grid key varying fastest;
    `options`, the analysis options (defaults filled in); `path`, the spec file."""
    analysis: str
    output: str
    grid: tuple
    points: tuple
    options: dict
    path: str


def read_spec(path):
    """Read and check the spec at `path`; a `Spec`, or SpecError (an unreadable file too)."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as err:
        raise SpecError(f"{path}: cannot read ({err.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: not valid TOML ({err})") from None
    return parse_spec(doc, path)


def parse_spec(doc, path):
    """Check the TOML document `doc` (a dict) read from `path`; returns a `Spec`."""
    def error(key, message):
        return SpecError(f"{path}: {key}: {message}")

    for key in doc:
        if key not in TOP_KEYS:
            raise error(key, f"unknown key; a spec has {', '.join(TOP_KEYS)}")
    for key in ("analysis", "output", "grid"):
        if key not in doc:
            raise error(key, "missing")
    analysis = doc["analysis"]
    if analysis not in ANALYSES:
        raise error("analysis", f"{analysis!r} is not one of {', '.join(ANALYSES)}")
    output = doc["output"]
    if not isinstance(output, str) or not output.strip():
        raise error("output", f"{output!r} is not a folder name")
    for table in ("grid", "fixed", "analysis_options"):
        if not isinstance(doc.get(table, {}), dict):
            raise error(table, "must be a table ([" + table + "])")
    grid, fixed = doc["grid"], doc.get("fixed", {})
    if not grid:
        raise error("grid", "empty: give at least one key with a list of values")
    keys = ANALYSIS_KEYS[analysis]
    for table, entries in (("grid", grid), ("fixed", fixed)):
        for key, value in entries.items():
            name = f"{table}.{key}"
            if key not in keys:
                if key in OPTIONS[analysis]:
                    raise error(name, "is an analysis option: give it in [analysis_options]")
                raise error(name, f"does not apply to analysis {analysis!r}"
                            + (" (the task's length is its delay)" if key == "steps" else "")
                            if key in KEYS else f"unknown key; choose from {', '.join(keys)}")
            if table == "grid":
                if not isinstance(value, list):
                    raise error(name, f"{value!r} is not a list (a single value goes in "
                                      "[fixed])")
                if not value:
                    raise error(name, "empty list")
                for v in value:
                    _check_value(name, key, v, error)
                twice = [v for i, v in enumerate(value) if _typed(key, v) in
                         [_typed(key, w) for w in value[:i]]]
                if twice:
                    raise error(name, f"{twice[0]!r} is given twice")
            else:
                if key in grid:
                    raise error(name, "is in [grid] as well; give it in one of them")
                _check_value(name, key, value, error)
    missing = [k for k in keys if KEYS[k][1] is None and k not in grid and k not in fixed]
    if missing:
        raise error(missing[0], f"missing: analysis {analysis!r} needs it in [grid] or [fixed]")
    options = _options(analysis, doc.get("analysis_options", {}), error)
    base = {k: KEYS[k][1] for k in keys}
    base.update(DEFAULTS.get(analysis, {}))
    base.update({k: _typed(k, v) for k, v in fixed.items()})
    points = []
    for values in itertools.product(*[[_typed(k, v) for v in grid[k]] for k in grid]):
        settings = {**base, **dict(zip(grid, values))}
        _check_point(settings, analysis, options, grid, error)
        points.append(settings)
    folder = os.path.dirname(os.path.abspath(path))
    return Spec(analysis, os.path.normpath(os.path.join(folder, output)), tuple(grid),
                tuple(points), options, os.fspath(path))


def _typed(key, value):
    """The canonical value: floats as float (so 1 and 1.0 name one point)."""
    return float(value) if KEYS[key][0] is float else value


def _type_ok(kind, value):
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_value(name, key, value, error):
    """One value on its own: its type, then the command line's rules (Network's, the skip
    option's, `gradflow ablate skip-training`'s for the task and the delay)."""
    kind = KEYS[key][0]
    if not _type_ok(kind, value):
        raise error(name, f"{value!r} is not {_TYPE_WORDS[kind]}")
    if key == "task" and value not in SKIP_TRAINING_TASKS:
        raise error(name, f"{value!r} is not a task with an accuracy; choose from "
                          f"{', '.join(SKIP_TRAINING_TASKS)}")
    if key == "delay" and value < 1:
        raise error(name, f"{value!r}: the delay must be at least 1")
    if key in TRAINING_KEYS:
        return
    try:
        if key == "skip":
            parse_skip(value)  # its message names the value
        else:
            Network(**{key: _typed(key, value)})
    except ValueError as err:
        raise error(name, str(err) if key == "skip" else f"{value!r}: {err}") from None


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list"}


def _check_point(settings, analysis, options, grid, error):
    """The rules that join several keys, on one point (named by its grid values)."""
    where = "point " + ", ".join(f"{k}={settings[k]!r}" for k in grid)
    try:
        net = network_of(settings)
    except ValueError as err:
        raise error(where, str(err)) from None
    parsed = parse_skip(settings["skip"])
    if analysis == "skip_training":
        length = task_shape(settings["task"], settings["delay"])[0]
        sequence = f"{length} steps: {settings['task']} at delay {settings['delay']}"
    else:
        length = settings["steps"]
        sequence = f"{length} steps"
    if parsed is not None and parsed[1] is not None and parsed[1] > length:
        raise error(where, f"{settings['skip']}: the lag {parsed[1]} is longer than the "
                           f"sequence ({sequence})")
    if analysis in ("decay", "lyapunov") and not net.is_cell:
        raise error(where, f"{analysis} needs a network that runs forwards in time, not a "
                           "bidirectional one")
    if analysis == "lyapunov":
        if options["discard"] >= settings["steps"]:
            raise error("analysis_options.discard", f"{options['discard']} leaves no steps to "
                        f"average at {where} (T = {settings['steps']})")
        n = net.cell_function().state_blocks * settings["hidden"]
        if options["exponents"] is not None and options["exponents"] > n:
            raise error("analysis_options.exponents", f"{options['exponents']} is more than "
                        f"the state size {n} at {where}")


def network_of(settings):
    """The `Network` of a point's settings (training points ignore its inputs, and a
    skip_training point its steps: its task sets them)."""
    kws = {k: v for k, v in settings.items() if k in NETWORK_KEYS}
    kws["skip"] = None if kws.get("skip", "none") == "none" else kws["skip"]
    return Network(**kws)


def _options(analysis, given, error):
    known = OPTIONS[analysis]
    out = {k: v for k, (_, v) in known.items()}
    for key, value in given.items():
        name = f"analysis_options.{key}"
        if key in ANALYSIS_KEYS[analysis]:
            raise error(name, "is a setting of the points: give it in [grid] or [fixed]")
        if key not in known:
            raise error(name, f"unknown key for analysis {analysis!r}"
                        + (f"; choose from {', '.join(known)}" if known else ": it has none"))
        if key == "clip_threshold" and value == "none":  # TOML has no null: no clipping
            out[key] = None
            continue
        kind = known[key][0]
        if not _type_ok(kind, value):
            raise error(name, f"{value!r} is not {_TYPE_WORDS[kind]}"
                        + (" or 'none'" if key == "clip_threshold" else ""))
        out[key] = float(value) if kind is float else value
    problem = _option_problem(analysis, out)
    if problem:
        key, message = problem
        raise error(f"analysis_options.{key}", f"{out[key]!r}: {message}")
    return out


def _option_problem(analysis, o):
    """(key, what is wrong) for the first option out of range, else None."""
    if analysis == "lyapunov":
        if o["exponents"] is not None and o["exponents"] < 1:
            return "exponents", "must be at least 1"
        if o["discard"] < 0:
            return "discard", "must be at least 0"
    if analysis not in ("clipping", "skip_training"):
        return None
    checks = [("optimizer", o["optimizer"] in OPTIMIZERS,  # the budget of `train`
               f"choose from {', '.join(sorted(OPTIMIZERS))}"),
              ("batch", o["batch"] >= 1, "must be at least 1"),
              ("updates", o["updates"] >= 1, "must be at least 1"),
              ("lr", o["lr"] > 0 and math.isfinite(o["lr"]), "must be positive and finite"),
              ("max_loss", o["max_loss"] > 0, "must be positive")]
    if analysis == "clipping":
        checks += [("task", o["task"] in TASKS, f"choose from {', '.join(sorted(TASKS))}"),
                   ("truncation", o["truncation"] is None or o["truncation"] >= 1,
                    "must be at least 1"),
                   ("thresholds", bool(o["thresholds"]) and all(
                       _type_ok(float, t) and t > 0 and math.isfinite(t)
                       for t in o["thresholds"])
                    and len(set(o["thresholds"])) == len(o["thresholds"]),
                    "must be a non-empty list of distinct positive numbers"),
                   ("modes", bool(o["modes"]) and all(m in CLIP_MODES for m in o["modes"])
                    and len(set(o["modes"])) == len(o["modes"]),
                    f"must be a non-empty list of distinct modes from {', '.join(CLIP_MODES)}")]
    else:
        checks += [("eval_batch", o["eval_batch"] >= 1, "must be at least 1"),
                   ("clip_threshold", o["clip_threshold"] is None or (
                       o["clip_threshold"] > 0 and math.isfinite(o["clip_threshold"])),
                    "must be positive and finite, or 'none'")]
    for key, ok, message in checks:
        if not ok:
            return key, message
    if analysis == "clipping":
        o["thresholds"] = [float(t) for t in o["thresholds"]]
    return None
