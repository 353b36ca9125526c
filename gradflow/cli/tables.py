"""The tables people read: the first line that says what was analysed, and the decay table
that `gradflow jacobians` and `gradflow ablate skip` print."""

import numpy as np

from .._version import __version__

__all__ = ["setup_line", "decay_table", "log_spaced"]

FOOTER = ("verdict: the fitted line changes by more than a factor 10 over T steps; "
          "horizon: first distance with norm < 1e-3 or > 1e3")


def setup_line(metadata, T, discard=0):
    """The first line of a table people read: the version, what was analysed, from which seed."""
    if metadata.get("weights"):
        setup = f"weights {metadata['weights']}, H={metadata['hidden']}, D={metadata['input_size']}"
    else:
        setup = (f"H={metadata['hidden']}, D={metadata['input_size']}, init {metadata['init']} "
                 f"x{metadata['scale']:g}, forget bias {metadata['forget_bias']:g}")
    if metadata.get("skip_scale") is not None:
        setup += f", skip scale {metadata['skip_scale']:g}"
    if metadata.get("highway_bias") is not None:
        setup += f", highway bias {metadata['highway_bias']:g}"
    steps = f"T={T}" + (f" (the first {discard} discarded)" if discard else "")
    samples = metadata["samples"]
    return (f"gradflow {__version__}: {setup}, {steps}, seed {metadata['seed']}, "
            f"{samples} input sequence{'s' if samples > 1 else ''}")


def log_spaced(T, per_decade=2):
    """Distances 1, 3, 10, 30, ... up to T, and T itself: a handful a person can read."""
    marks = sorted({int(round(10 ** (k / per_decade))) for k in range(0, 64)
                    if 10 ** (k / per_decade) <= T} | {T})
    return [m for m in marks if m >= 1]


def decay_table(profiles, labels=None, metadata=None, heading="cell"):
    """Per profile the verdict, the factor per step, the horizon and log10 ||ds_T/ds_t||_2 at a
    few distances (and the LSTM's blocks); `labels` name the rows (default: the cells),
    `metadata` makes the first line (default: the first profile's)."""
    first = metadata or profiles[0].metadata
    labels = labels or [p.cell for p in profiles]
    width = max(16, 2 + max(len(label) for label in labels))
    T = len(profiles[0].distance)
    marks = log_spaced(T)
    samples = first["samples"]
    lines = [setup_line(first, T), "",
             f"{'':{width}}{'':11}{'factor':>8}{'':9}log10 ||ds_T/ds_t||_2 at distance"
             + (" (mean over samples)" if samples > 1 else ""),
             f"{heading:{width}}{'verdict':11}{'/step':>8}{'horizon':>9}"
             + "".join(f"{m:>8}" for m in marks)]
    for label, p in zip(labels, profiles):
        s = p.summary
        horizon = "-" if s.horizon is None else str(s.horizon)
        lines.append(f"{label:{width}}{s.verdict:11}{_factor(s.rate):>8}{horizon:>9}"
                     + _row(p.mean["spectral"], marks))
        for block, name in (("h", "dh_T/dh_t"), ("c", "dc_T/dc_t")):
            if f"{block}_spectral" in p.mean:
                lines.append(f"  {name:{width - 2}}{'':28}"
                             + _row(p.mean[f'{block}_spectral'], marks))
    return "\n".join(lines + ["", FOOTER])


def _factor(rate):
    """The factor per step in a column of 8: three decimals, or scientific when far from 1."""
    if not np.isfinite(rate):
        return str(rate)
    return f"{rate:.3f}" if 1e-3 <= rate < 1e3 else f"{rate:.1e}"


def _row(values, marks):
    return "".join(f"{values[m - 1]:>8.2f}" if np.isfinite(values[m - 1])
                   else f"{str(values[m - 1]):>8}" for m in marks)
