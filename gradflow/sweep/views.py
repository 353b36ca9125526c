"""A sweep's folder read back as the results the figures draw: a phase diagram
(`gradflow plot phase DIR`) and decay profiles (`gradflow plot decay DIR`)."""

import json
import os

import numpy as np

from ..analysis.decay import DecayProfile, summarize
from ..analysis.phase import assemble_phase
from .points import read_point
from .run import INDEX
from .spec import network_of

__all__ = ["read_sweep", "phase_from_sweep", "profiles_from_sweep"]


def read_sweep(folder):
    """(index, records): `sweep.json` and the point records in grid order. ValueError (one
    line) for a folder that is not a finished decay sweep."""
    try:
        with open(os.path.join(folder, INDEX)) as fh:
            index = json.load(fh)
    except (OSError, ValueError):
        raise ValueError(f"{folder}: not a sweep folder (no readable {INDEX}; run "
                         "`gradflow sweep` first)") from None
    if index.get("analysis") != "decay":
        raise ValueError(f"{folder}: a {index.get('analysis')!r} sweep; the figure needs a "
                         "decay sweep")
    records = []
    for name in index["points"]:
        path = os.path.join(folder, "points", name + ".json")
        try:
            with open(path) as fh:
                settings = json.load(fh)["settings"]
            record = read_point(folder, name, "decay", settings, index["options"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: cannot be read ({err}); run the sweep again") from None
        if record["status"] != "done":
            raise ValueError(f"{path}: the point failed ({record['error']}); run the sweep "
                             "again with --retry-failed")
        records.append(record)
    return index, records


def _curve(values):
    return np.array([float(v) for v in values])


def phase_from_sweep(folder):
    """The `PhaseDiagram` of a decay sweep over cell and scale (everything else fixed): the
    numbers `phase_diagram` computes for the same settings, bit for bit."""
    index, records = read_sweep(folder)
    varied = [k for k in index["grid"] if k not in ("cell", "scale")
              and len({json.dumps(r["settings"][k]) for r in records}) > 1]
    if varied or "scale" not in index["grid"]:
        raise ValueError(f"{folder}: the phase diagram needs a sweep over scale (and cell) "
                         f"with everything else fixed; this one varies "
                         f"{', '.join(varied) or 'no scale'}")
    cells = tuple(dict.fromkeys(r["settings"]["cell"] for r in records))
    scales = np.array(sorted({r["settings"]["scale"] for r in records}))
    log10_norm, log10_rate, weight_norm = {}, {}, {}
    for cell in cells:
        mine = sorted((r for r in records if r["settings"]["cell"] == cell),
                      key=lambda r: r["settings"]["scale"])
        rates = [float(r["result"]["rate_per_step"]) for r in mine]
        log10_norm[cell] = np.array([_curve(r["result"]["log10_spectral_norm"]) for r in mine])
        log10_rate[cell] = np.array([np.log10(x) if x > 0 else -np.inf for x in rates])
        weight_norm[cell] = np.array([np.nan if r["result"]["weight_norm"] is None
                                      else float(r["result"]["weight_norm"]) for r in mine])
    template = network_of(dict(records[0]["settings"], cell=cells[0], scale=1.0))
    return assemble_phase(template, scales, cells, log10_norm, log10_rate, weight_norm)


def profiles_from_sweep(folder):
    """One `DecayProfile` per point of a decay sweep, in grid order (the spectral norm only),
    named as `gradflow jacobians` names it ('lstm', 'rnn+skip:4'): the figure's legend names
    the settings in which the curves differ, from their metadata."""
    _, records = read_sweep(folder)
    profiles = []
    for r in records:
        mean = _curve(r["result"]["log10_spectral_norm"])
        distance = np.arange(1, len(mean) + 1)
        name = network_of(r["settings"]).name
        profiles.append(DecayProfile(cell=name, distance=distance, mean={"spectral": mean},
                                     std={"spectral": _curve(
                                         r["result"]["log10_spectral_norm_std"])},
                                     summary=summarize(distance, mean),
                                     metadata=r["metadata"]))
    return profiles
