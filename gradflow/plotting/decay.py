"""The decay figure: log10 ||ds_T/ds_t|| against the distance T - t, cells overlaid."""

import matplotlib.pyplot as plt
import numpy as np

from .style import OKABE_ITO, cell_color, get_ax

__all__ = ["plot_decay", "profile_label", "cell_name", "describe", "weights_text"]

_YLABEL = {"spectral": r"$\log_{10}\,\|\partial s_T/\partial s_t\|_2$",
           "frobenius": r"$\log_{10}\,\|\partial s_T/\partial s_t\|_F$",
           "loss_gradient": r"$\log_{10}\,\|\partial L/\partial s_t\|$",
           "h_spectral": r"$\log_{10}\,\|\partial h_T/\partial h_t\|_2$",
           "c_spectral": r"$\log_{10}\,\|\partial c_T/\partial c_t\|_2$"}
VARIANT_COLORS = [OKABE_ITO[-1]] + OKABE_ITO[:-1]  # black first: the plain cell, then the rest
_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "gru_torch": "GRU (torch)",
          "indrnn": "IndRNN", "mingru": "minGRU", "minlstm": "minLSTM", "lru": "LRU",
          "orthogonal": "orthogonal (expRNN)"}


def cell_name(cell, activation=None):
    """The name a reader knows: 'RNN (tanh)', 'LSTM', 'GRU', 'GRU (torch)', and a skip
    connection after a '+': 'RNN (tanh) + skip:4'."""
    base, _, connection = str(cell).partition("+")
    name = _NAMES.get(base, base.upper())
    name = f"{name} ({activation or 'tanh'})" if base == "rnn" else name
    return f"{name} + {connection}" if connection else name


def weights_text(init, scale):
    """The random weights in words: 'weights N(0, 1/H)', 'orthogonal weights x 0.9', ..."""
    if init == "gaussian":
        return "weights N(0, 1/H)" if scale == 1 else f"weights N(0, {scale:g}\u00b2/H)"
    return f"{init} weights \u00d7 {scale:g}"


def _settings(item):
    """The settings that made one result, as {key: text}, in reading order."""
    m, out = item.metadata, {}
    if m.get("hidden") is not None:
        out["hidden"] = f"H = {m['hidden']}"
    if m.get("steps") is not None:
        out["steps"] = f"T = {m['steps']}"
    if m.get("samples") is not None:
        n = int(m["samples"])
        out["samples"] = "1 input sequence" if n == 1 else f"mean of {n} input sequences"
    if m.get("weights"):
        out["weights"] = f"trained weights {m['weights']}"
    elif m.get("init") is not None and m.get("scale") is not None:
        out["weights"] = weights_text(m["init"], m["scale"])
    if not str(item.cell).startswith("rnn") and m.get("forget_bias") is not None \
            and not m.get("weights"):
        out["forget_bias"] = f"forget bias {m['forget_bias']:g}"
    if m.get("skip_scale") is not None:
        out["skip_scale"] = f"skip scale {m['skip_scale']:g}"
    if m.get("highway_bias") is not None:
        out["highway_bias"] = f"highway bias {m['highway_bias']:g}"
    if m.get("input_file"):
        out["inputs"] = f"inputs {m['input_file']}"
    return out


def describe(items):
    """Legend labels and the settings they share, for results with `.cell` and `.metadata`.

    Returns (labels, shared): one label per item, the cell's name followed by the settings in
    which it differs from the others; and the settings every item has in common (the forget
    bias: every gated cell), as text in up to three lines (sizes; input sequences; weights),
    '' if none.
    """
    settings = [_settings(it) for it in items]
    keys = list(dict.fromkeys(k for s in settings for k in s))
    shared = {}
    for k in keys:
        having = [s[k] for s in settings if k in s]
        if len(set(having)) == 1 and (k == "forget_bias" or len(having) == len(settings)):
            shared[k] = having[0]
    labels = [", ".join([cell_name(it.cell, it.metadata.get("activation"))]
                        + [text for k, text in s.items() if k not in shared])
              for it, s in zip(items, settings)]
    groups = [("hidden", "steps"), ("samples",), None]  # None: the rest (weights, ...)
    lines = [", ".join(v for k, v in shared.items()
                       if (k in g if g else not any(k in h for h in groups[:-1])))
             for g in groups]
    return labels, "\n".join(line for line in lines if line)


def profile_label(profile):
    """A legend entry naming the cell and the weights that made it (one result alone)."""
    labels, _ = describe([profile])
    s = _settings(profile)
    return ", ".join([labels[0]] + [s[k] for k in ("weights", "forget_bias") if k in s])


def plot_decay(profiles, *, ax=None, quantity="spectral", band=True, references=None,
               settings=True, line_kws=None, band_kws=None):
    """Draw log10 of a norm of ds_T/ds_t against distance for each `DecayProfile`.

    Args:
      profiles: a `DecayProfile` or a sequence of them (one curve each, coloured by cell).
      quantity: 'spectral', 'frobenius', 'loss_gradient', 'h_spectral', 'c_spectral', ...
      band: shade mean +/- one standard deviation over samples.
      references: {label: log10 factor per step} drawn as dashed lines through the origin,
        e.g. {"Pascanu bound": log10(gamma ||W_hh||_2)}.
      settings: write what the curves share (H, T, number of input sequences, weights, forget
        bias) as the legend's title; each curve's label names its cell and what differs.
      line_kws, band_kws: extra keyword arguments for `plot` and `fill_between` (copied).

    Returns:
      The Axes.
    """
    ax = get_ax(ax)
    profiles = [profiles] if hasattr(profiles, "distance") else list(profiles)
    labels, shared = describe(profiles)
    colors = [cell_color(p.cell, i) for i, p in enumerate(profiles)]
    if len(set(colors)) < len(colors):  # variants of one cell: a colour each, not the cell's
        colors = [VARIANT_COLORS[i % len(VARIANT_COLORS)] for i in range(len(profiles))]
    for p, label, color in zip(profiles, labels, colors):
        if quantity not in p.mean:
            continue
        d = p.distance
        mean = np.where(np.isfinite(p.mean[quantity]), p.mean[quantity], np.nan)
        kws = {"color": color, "label": label, **(line_kws or {})}
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
    ax.legend(frameon=False, title=shared if settings and shared else None, alignment="left",
              title_fontsize=plt.rcParams["legend.fontsize"])
    return ax
