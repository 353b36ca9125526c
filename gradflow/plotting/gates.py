"""The gating mechanism: the memory gate along the sequence, and the decay it buys.

`plot_gates` draws the gate that keeps memory (the LSTM's forget gate f, the GRU's keep
fraction 1 - z) at each step; `plot_gate_decay` draws the decay of the c-block and h-block norms
with distance for the same runs.
"""

import numpy as np
from matplotlib.patches import Patch

from .style import cell_color, get_ax

__all__ = ["plot_gates", "plot_gate_decay", "GATE_LABELS"]

GATE_LABELS = {("lstm", "forget"): "LSTM forget gate $f$",
               ("gru", "keep"): "GRU keep $1 - z$", ("gru", "update"): "GRU update $z$",
               ("gru_torch", "keep"): "GRU (torch) keep $z$",
               ("gru_torch", "update"): "GRU (torch) update $z$",
               ("mingru", "keep"): "minGRU keep $1 - z$", ("mingru", "update"): "minGRU update $z$",
               ("minlstm", "forget"): "minLSTM forget $f'$",
               ("minlstm", "input"): "minLSTM input $i'$"}
_KEEP = {"lstm": "forget", "gru": "keep", "gru_torch": "keep", "mingru": "keep",
         "minlstm": "forget"}
# Bands that overlap must stay apart: the first is filled, the next ones hatched in their own
# direction, so two cells' bands differ in pattern as well as in colour.
_BAND_STYLES = [{"alpha": 0.25, "linewidth": 0},
                {"facecolor": "none", "hatch": "////", "alpha": 0.7, "linewidth": 0},
                {"facecolor": "none", "hatch": "\\\\\\\\", "alpha": 0.7, "linewidth": 0}]
_BLOCK = {"c_spectral": (r"$\|\partial c_T/\partial c_t\|_2$", "-"),
          "h_spectral": (r"$\|\partial h_T/\partial h_t\|_2$", "--")}


def _traces(traces):
    return [traces] if hasattr(traces, "gate_mean") else list(traces)


def plot_gates(traces, *, ax=None, gate=None, band=True, line_kws=None, band_kws=None):
    """Mean of a gate over units and samples at each step, with its quantile band.

    The y axis is fitted to where the gates are (within [0, 1], the range of a gate), and each
    cell's band has its own fill or hatch; the legend shows line and band together.

    Args:
      traces: a `GateTraces` or a sequence of them (one line each, coloured by cell).
      gate: which gate; by default the one that keeps memory: the LSTM's 'forget', the GRU's
        'keep' (1 - z in Cho's form: the fraction of h_{t-1} carried over).
      band: shade between the lowest and highest stored quantile (by default 10% and 90%).

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    levels = None
    handles, labels, lows, highs = [], [], [], []
    for i, tr in enumerate(_traces(traces)):
        g = gate or _KEEP.get(tr.cell)
        if g not in tr.gate_mean:
            continue
        color = cell_color(tr.cell, i)
        label = GATE_LABELS.get((tr.cell, g), f"{tr.cell.upper()} {g}")
        (line,) = ax.plot(tr.step, tr.gate_mean[g], **{"color": color, "label": label,
                                                         **(line_kws or {})})
        lows.append(np.nanmin(tr.gate_mean[g]))
        highs.append(np.nanmax(tr.gate_mean[g]))
        handle = line
        q = tr.gate_quantiles.get(g)
        if band and q is not None and len(q) >= 2:
            levels = tr.quantile_levels
            style = {"color": color, **_BAND_STYLES[len(handles) % len(_BAND_STYLES)],
                     **(band_kws or {})}
            if style.get("facecolor") == "none":
                style["edgecolor"] = style.pop("color")
            ax.fill_between(tr.step, q[0], q[-1], **style)
            handle = (Patch(**{k: v for k, v in style.items() if k != "linewidth"},
                            linewidth=0), line)
            lows.append(np.nanmin(q[0]))
            highs.append(np.nanmax(q[-1]))
        handles.append(handle)
        labels.append(label)
    if lows:
        # Fitted to the gates, with room below them for the legend, which stays off the data.
        lo, hi = min(lows), max(highs)
        span = max(hi - lo, 0.02)
        ax.set_ylim(max(0.0, lo - 0.45 * span), min(1.0, hi + 0.05 * span))
    else:
        ax.set_ylim(0, 1)
    ax.set_xlabel("step t")
    ax.set_ylabel("gate value (1 keeps memory)" if gate is None else f"{gate} gate value")
    if levels is not None:
        ax.set_title(f"mean over units; band {100 * levels[0]:.0f}-{100 * levels[-1]:.0f}%",
                     loc="left")
    ax.legend(handles, labels, frameon=False, loc="lower left", ncols=len(labels))
    return ax


def plot_gate_decay(traces, *, ax=None, line_kws=None):
    """log10 of the block norms ||dc_T/dc_t||_2 (solid) and ||dh_T/dh_t||_2 (dashed) against
    distance, coloured by cell: the LSTM's cell highway beside its h-block and the GRU's state.

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    for i, tr in enumerate(_traces(traces)):
        for q, (name, style) in _BLOCK.items():
            if q not in tr.decay:
                continue
            values = np.where(np.isfinite(tr.decay[q]), tr.decay[q], np.nan)
            label = f"{tr.cell.upper().replace('_TORCH', ' (torch)')} {name}"
            ax.plot(tr.distance, values, **{"color": cell_color(tr.cell, i), "linestyle": style,
                                            "label": label, **(line_kws or {})})
    ax.axhline(0.0, color="0.7", linewidth=0.6, zorder=0)
    ax.set_xlabel("distance T - t (steps)")
    ax.set_ylabel(r"$\log_{10}$ block norm")
    ax.set_xlim(left=0)
    ax.legend(frameon=False)
    return ax
