"""The decay figure: log10 ||ds_T/ds_t|| against the distance T - t, cells overlaid."""

import numpy as np

from .style import cell_color, get_ax

__all__ = ["plot_decay", "profile_label"]

_YLABEL = {"spectral": r"$\log_{10}\,\|\partial s_T/\partial s_t\|_2$",
           "frobenius": r"$\log_{10}\,\|\partial s_T/\partial s_t\|_F$",
           "loss_gradient": r"$\log_{10}\,\|\partial L/\partial s_t\|$",
           "h_spectral": r"$\log_{10}\,\|\partial h_T/\partial h_t\|_2$",
           "c_spectral": r"$\log_{10}\,\|\partial c_T/\partial c_t\|_2$"}


def profile_label(profile):
    """A legend entry naming the cell and the settings that made it."""
    m = profile.metadata
    name = profile.cell.upper().replace("_TORCH", " (torch)")
    if m.get("activation") and m.get("activation") != "tanh":
        name += f" {m['activation']}"
    if m.get("weights"):
        return f"{name}, trained"
    parts = [name]
    if m.get("init") is not None and m.get("scale") is not None:
        parts.append(f"{m['init']} x{m['scale']:g}")
    if profile.cell != "rnn" and m.get("forget_bias") is not None:
        parts.append(f"forget bias {m['forget_bias']:g}")
    return ", ".join(parts)


def plot_decay(profiles, *, ax=None, quantity="spectral", band=True, references=None,
               line_kws=None, band_kws=None):
    """Draw log10 of a norm of ds_T/ds_t against distance for each `DecayProfile`.

    Args:
      profiles: a `DecayProfile` or a sequence of them (one curve each, coloured by cell).
      quantity: 'spectral', 'frobenius', 'loss_gradient', 'h_spectral', 'c_spectral', ...
      band: shade mean +/- one standard deviation over samples.
      references: {label: log10 factor per step} drawn as dashed lines through the origin,
        e.g. {"Pascanu bound": log10(gamma ||W_hh||_2)}.
      line_kws, band_kws: extra keyword arguments for `plot` and `fill_between` (copied).

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    profiles = [profiles] if hasattr(profiles, "distance") else list(profiles)
    for i, p in enumerate(profiles):
        if quantity not in p.mean:
            continue
        color = cell_color(p.cell, i)
        d = p.distance
        mean = np.where(np.isfinite(p.mean[quantity]), p.mean[quantity], np.nan)
        kws = {"color": color, "label": profile_label(p), **(line_kws or {})}
        ax.plot(d, mean, **kws)
        spread = p.std.get(quantity)
        if band and spread is not None and np.any(spread > 0):
            ax.fill_between(d, mean - spread, mean + spread,
                            **{"color": color, "alpha": 0.2, "linewidth": 0, **(band_kws or {})})
    for j, (label, log10_rate) in enumerate((references or {}).items()):
        d_max = max(p.distance[-1] for p in profiles)
        ax.plot([0, d_max], [0, log10_rate * d_max], linestyle="--", linewidth=0.9,
                color="0.35", dashes=(4, 2 + 2 * j), label=label)
    ax.axhline(0.0, color="0.7", linewidth=0.6, zorder=0)
    ax.set_xlabel("distance T - t (steps)")
    ax.set_ylabel(_YLABEL.get(quantity, f"log10 {quantity} norm"))
    ax.set_xlim(left=0)
    ax.legend(frameon=False)
    return ax
