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
    at = [m - 1 for m in marks]
    col = _column([p.mean[key][at] for p in profiles for key in ("spectral", "h_spectral",
                                                                  "c_spectral") if key in p.mean])
    lines = [setup_line(first, T), "",
             f"{'':{width}}{'':11}{'factor':>8}{'':9}log10 ||ds_T/ds_t||_2 at distance"
             + (" (mean over samples)" if samples > 1 else ""),
             f"{heading:{width}}{'verdict':11}{'/step':>8}{'horizon':>9}"
             + "".join(f"{m:>{col}}" for m in marks)]
    for label, p in zip(labels, profiles):
        s = p.summary
        horizon = "-" if s.horizon is None else str(s.horizon)
        lines.append(f"{label:{width}}{s.verdict:11}{_factor(s.rate):>8}{horizon:>9}"
                     + _cells(p.mean["spectral"], at, col))
        for block, name in (("h", "dh_T/dh_t"), ("c", "dc_T/dc_t")):
            if f"{block}_spectral" in p.mean:
                lines.append(f"  {name:{width - 2}}{'':28}"
                             + _cells(p.mean[f'{block}_spectral'], at, col))
    return "\n".join(lines + ["", FOOTER])


def _factor(rate):
    """The factor per step in a column of 8: three decimals, or scientific when far from 1."""
    if not np.isfinite(rate):
        return str(rate)
    return f"{rate:.3f}" if 1e-3 <= rate < 1e3 else f"{rate:.1e}"


def _num(value):
    value = float(value)
    return f"{value:.2f}" if np.isfinite(value) else str(value)


def _column(rows):
    """The width of the number columns: 8, or wider so that the longest number (an exploding
    product's 10003.48) keeps a space before it."""
    return max([8] + [len(_num(v)) + 1 for row in rows for v in row])


def _cells(values, marks, col=8):
    return "".join(f"{_num(values[m]):>{col}}" for m in marks)


def depth_table(maps):
    """Per network, a row per layer: log10 ||d s^(L-1)_T / d s^(l)_{T-d}||_2 at a few
    distances d (0 = the same step, up through the layers only)."""
    first = maps[0].metadata
    T = len(maps[0].distance)
    marks = [0] + [m for m in log_spaced(T - 1) if m < T] if T > 1 else [0]
    width = max(16, 2 + max(len(m.cell) for m in maps))
    samples = first["samples"]
    col = _column([row[marks] for m in maps for row in m.mean["spectral"]])
    lines = [setup_line(first, T), "",
             f"{'':{width}}log10 ||ds^(L-1)_T/ds^(l)_(T-d)||_2 at distance d"
             + (" (mean over samples)" if samples > 1 else ""),
             f"{'cell':{width - 7}}{'layer':>7}" + "".join(f"{m:>{col}}" for m in marks)]
    for m in maps:
        for layer in m.layer:
            label = m.cell if layer == 0 else ""
            lines.append(f"{label:{width - 7}}{layer:>7}" + _cells(m.mean["spectral"][layer],
                                                                   marks, col))
    return "\n".join(lines + ["", "layer l: 0 the first, L-1 the top; s^(l)_t perturbed after it "
                              "is computed,", "every path to the top layer's state at step T "
                              "counted"])


def sensitivity_table(profiles):
    """Per network (and, bidirectionally, per output half), log10 ||dy_tau/dx_t||_2 at a few
    input steps t around the output step tau."""
    first = profiles[0].metadata
    T, tau = len(profiles[0].step), profiles[0].output_step
    back = [tau - d for d in [0] + log_spaced(tau - 1) if tau - d >= 1] if tau > 1 else [tau]
    ahead = [tau + d for d in log_spaced(T - tau) if tau + d <= T] if tau < T else []
    steps = sorted(set(back) | set(ahead))
    width = max(16, 2 + max(len(p.cell) for p in profiles))
    at = [t - 1 for t in steps]
    col = _column([values["spectral"][at] for p in profiles for values in p.mean.values()])
    lines = [setup_line(first, T), "",
             f"{'':{width + 9}}log10 ||dy_tau/dx_t||_2, tau = {tau}, at input step t"
             + (" (mean over samples)" if first["samples"] > 1 else ""),
             f"{'cell':{width}}{'output':>9}" + "".join(f"{t:>{col}}" for t in steps)]
    for p in profiles:
        for direction, values in p.mean.items():
            label = p.cell if direction == "both" else ""
            lines.append(f"{label:{width}}{direction if len(p.mean) > 1 else 'y':>9}"
                         + _cells(values["spectral"], at, col))
    return "\n".join(lines + ["", "output: y the whole output; forward and reverse the top "
                              "layer's two halves", "(of a bidirectional network)"])


def parameter_table(results):
    """Per network and parameter group, log10 ||(ds_T/ds_t)(ds_t/dtheta)||_F at a few
    distances d = T - t and log10 ||ds_T/dtheta||_F, their sum (mean over samples)."""
    first = results[0].metadata
    T = len(results[0].distance)
    marks = [0] + [m for m in log_spaced(T - 1) if m < T] if T > 1 else [0]
    width = max(16, 2 + max(len(r.cell) for r in results))
    group_width = max(8, 2 + max(len(label) for r in results for label in r.labels))
    samples = first["samples"]
    col = _column([list(r.mean[label][marks]) + [np.mean(r.total[label])]
                   for r in results for label in r.labels])
    lines = [setup_line(first, T), "",
             f"{'':{width + group_width}}log10 ||(ds_T/ds_t)(ds_t/dtheta)||_F at distance "
             "d = T - t" + (" (mean over samples)" if samples > 1 else ""),
             f"{'cell':{width}}{'theta':{group_width}}{'total':>{col}}"
             + "".join(f"{m:>{col}}" for m in marks)]
    for r in results:
        for i, label in enumerate(r.labels):
            total = float(np.mean(r.total[label]))
            lines.append(f"{r.cell if i == 0 else '':{width}}{label:{group_width}}"
                         + f"{_num(total):>{col}}" + _cells(r.mean[label], marks, col))
    return "\n".join(lines + ["", "total: log10 ||ds_T/dtheta||_F, the sum of the contributions "
                              "over t, taken before the norm"])
