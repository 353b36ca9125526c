"""`gradflow ablate truncation`, and `gradflow plot truncation`, which draws its figure from the
results file it wrote or computes it."""

import click
import matplotlib.pyplot as plt

from ..analysis.truncation import (LOSSES, TRUNCATION_COLUMNS, keeps, truncated_bptt,
                                   truncation_from_table, truncation_to_table)
from ..cells.builtin import CELLS, RNN_ACTIVATIONS
from ..plotting.style import RC, TWO_COLUMN
from ..plotting.truncation import plot_truncation_panels
from .base import ablate, check_results_path, emit, given, plot, refuse, write_results
from .figures import check_figure_path, figure_options, new_figure, save_figure
from .options import (DEFAULT_CELLS, INIT_OPTIONS, LAYER_OPTIONS, check_memory,
                      for_each_network, format_option, resolve_networks, skip_options)
from .params import FilePath, cell_list
from .plot_cmds import read_results
from .tables import setup_line

FIGURE_SIZE = (TWO_COLUMN[0], 2.9)  # inches: two panels, the legend above them
LEVEL = 0.9  # the cosine counted as keeping the gradient
NETWORK_OPTION_NAMES = ("cells", "activation", "hidden", "input_size", "steps", "init", "scale",
                        "forget_bias", "seed", "samples", "skip", "skip_scale", "highway_bias",
                        "weights_file", "layers", "layer_residual")


def _truncations(ctx, param, value):
    """--truncation 'K1,K2,...': whole numbers of steps, each at least 1, each once (the
    upper bound T is checked once T is known)."""
    if value is None:
        return None
    out = []
    for part in (p.strip() for p in value.split(",")):
        try:
            k = int(part)
        except ValueError:
            raise click.BadParameter(f"{part!r} in {value!r} is not a whole number of steps"
                                     if part else f"{value!r}: empty truncation length") \
                from None
        if k < 1:
            raise click.BadParameter(f"truncation length {k} is less than 1 step")
        if k in out:
            raise click.BadParameter(f"truncation length {k} is given twice")
        out.append(k)
    return tuple(out)


def network_options(command):
    """The options that describe the networks: cells, sizes, weights and seed."""
    options = [
        click.option("--cell", "cells", multiple=True, callback=cell_list(CELLS), metavar="CELL[,CELL]",
                     help=f"Cells to compare, from {', '.join(CELLS)}; repeat or give a comma "
                          f"list [default: {','.join(DEFAULT_CELLS)}]."),
        click.option("--activation", type=click.Choice(list(RNN_ACTIVATIONS)), default="tanh",
                     show_default=True, help="Nonlinearity of the RNN."),
        click.option("--hidden", type=click.IntRange(min=1), default=None, metavar="H",
                     help="Hidden units H [default: 64, or the weights file's]."),
        click.option("--input-size", type=click.IntRange(min=1), default=None, metavar="V",
                     help="Vocabulary size V: the inputs are one-hot symbols [default: 8, or "
                          "the weights file's input size]."),
        click.option("--steps", type=click.IntRange(min=1), default=None, metavar="T",
                     help="Sequence length T in steps [default: 100]."),
        *INIT_OPTIONS,
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     metavar="SEED", help="Seed of the weights, the readout and the symbols."),
        click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True,
                     metavar="N", help="Sequences in the batch the gradient is summed over."),
    ]
    after = [
        LAYER_OPTIONS[0], LAYER_OPTIONS[2],  # not --bidirectional: it has no steps back
        click.option("--weights", "weights_file", type=FilePath(dir_okay=False),
                     metavar="FILE.npz", help="Trained PyTorch weights: an nn.RNN, nn.LSTM or "
                     "nn.GRU state_dict (any number of layers, one direction) saved with "
                     "numpy.savez (see README)."),
        click.option("--loss", type=click.Choice(["last", "sum", "both"]), default="both",
                     show_default=True, help="The loss at the last step, the loss summed over "
                                             "every step, or both."),
        click.option("--truncation", "truncations", default=None, callback=_truncations,
                     metavar="K1,K2,...", help="Truncation lengths k in steps, each 1 <= k <= "
                     "T (k = T is full BPTT) [default: 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, ... "
                     "up to T, and T]."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(after):
        command = option(command)
    command = skip_options(command)
    for option in reversed(options):
        command = option(command)
    return command


def compute(opts):
    """Resolve the options into Networks and run `truncated_bptt` on each, under a progress
    bar; one-line errors for bad input."""
    config = {name: opts[name] for name in NETWORK_OPTION_NAMES}
    config.update(input_file=None, quiet=opts["quiet"], bidirectional=False)
    networks = resolve_networks(config, config["cells"] or DEFAULT_CELLS)
    check_memory(networks, "truncation")
    T = networks[0].length
    ks = opts["truncations"]
    if ks is not None and max(ks) > T:
        raise click.BadParameter(f"truncation length {max(ks)} is longer than the sequence "
                                 f"({T} steps)", param_hint="--truncation")
    losses = LOSSES if opts["loss"] == "both" else (opts["loss"],)
    return for_each_network(networks, len(losses) * T, "lags", opts["quiet"],
                            lambda net, tick: truncated_bptt(net, ks, losses, progress=tick))


def summary_table(results):
    """The table people read: per cell and k the cosine and lost share of each loss, then the
    smallest k from which each cell keeps the cosine at LEVEL."""
    first = results[0].metadata
    T = int(first["steps"])
    losses = list(dict.fromkeys(loss for r in results for loss in r.losses))
    width = max(8, 2 + max(len(r.cell) for r in results))
    titles = {"last": "loss at the last step", "sum": "loss summed over steps"}
    lines = [setup_line(first, T),
             f"truncated BPTT of a character-level language model: vocabulary "
             f"{first['vocabulary']}, one-hot symbols, fixed readout; gradient summed over "
             f"{first['samples']} sequence{'s' if first['samples'] > 1 else ''}", "",
             f"{'':{width}}{'':>5}" + "".join(f"  {titles[loss]:>22}" for loss in losses),
             f"{'cell':{width}}{'k':>5}" + "".join(f"  {'cosine':>10}{'lost share':>12}"
                                                    for _ in losses)]
    for r in results:
        for i, k in enumerate(r.truncations):
            row = f"{r.cell if i == 0 else '':{width}}{k:>5}"
            for loss in losses:
                if loss in r.losses:
                    j = list(r.losses).index(loss)
                    row += f"  {r.cosine[j][i]:>10.3f}{r.lost_share[j][i]:>12.3f}"
                else:
                    row += f"  {'':>22}"
            lines.append(row)
    lines.append("")
    lines.append(f"keeps {100 * LEVEL:g} % (the smallest k from which cos(g_k, g_T) stays >= "
                 f"{LEVEL:g}):")
    for r in results:
        found = [f"{loss} {keeps(r, loss, LEVEL) or 'none'}" for loss in r.losses]
        lines.append(f"  {r.cell:{width}}" + ", ".join(found))
    return "\n".join(lines)


def draw_truncation(results, path, *, dpi=300, width=FIGURE_SIZE[0], height=FIGURE_SIZE[1],
                    title=None):
    """The cosine and the lost share against k, side by side, saved to `path`."""
    fig, axes = new_figure(width, height, ncols=2)
    with plt.rc_context(RC):
        plot_truncation_panels(results, axes, level=LEVEL)
        if title:
            fig.suptitle(title)
    save_figure(fig, path, dpi)


@ablate.command("truncation")
@network_options
@format_option
@click.option("-o", "--output", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the results to FILE: .csv, .json or .npz by its suffix, columns "
                   f"{', '.join(TRUNCATION_COLUMNS)}; `gradflow plot truncation FILE` draws "
                   "them.")
@click.option("--figure", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also draw the cosine and the lost share against k to FILE (.png, .pdf, "
                   ".svg).")
def truncation(fmt, output, figure, **opts):
    """What truncated BPTT throws away, against the truncation length k.

    Seed 003's character-level language model: one-hot symbols of a vocabulary of V =
    --input-size drawn uniformly, a fixed random linear readout of the cell's output (the
    LSTM's h), softmax cross-entropy against the next symbol, at the last step or summed over
    every step. Truncation k: each loss term back-propagates through at most k steps (Williams
    & Peng). For each cell, loss and k: the cosine between the truncated and the full gradient
    with respect to the cell's parameters, and the lost share ||g_T - g_k|| / ||g_T||.
    """
    if output is not None:
        check_results_path(output)
    if figure is not None:
        check_figure_path(figure)
    results = compute(opts)
    table = truncation_to_table(results)
    emit(table, lambda: summary_table(results), fmt, output)
    if figure is not None:
        draw_truncation(results, figure)


@plot.command("truncation")
@click.argument("results", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@network_options
@figure_options(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1])
@click.option("--title", default=None, help="Title above the figure.")
@click.option("--save-results", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the numbers behind the figure to FILE (.csv, .json or .npz by "
                   "its suffix), as `gradflow ablate truncation -o` does.")
def plot_truncation_cmd(results, output, dpi, width, height, title, save_results, **opts):
    """The cosine between the truncated and the full gradient (left) and the share lost
    (right) against the truncation length k, one colour per cell, solid for the loss at the
    last step and dashed for the loss summed over the steps.

    Reads RESULTS files written by `gradflow ablate truncation -o` (CSV, JSON or NPZ), or,
    with none, computes them from the same options.
    """
    check_figure_path(output)
    if results:
        unused = given(*NETWORK_OPTION_NAMES, "loss", "truncations", "save_results")
        if unused:
            refuse(f"{', '.join(unused)}: not used when RESULTS files are given (they are "
                   f"drawn as they are); leave {'it' if len(unused) == 1 else 'them'} out")
        drawn = read_results(results, "truncation", truncation_from_table)
    else:
        if save_results is not None:
            check_results_path(save_results)
        drawn = compute(opts)
        if save_results is not None:
            write_results(save_results, truncation_to_table(drawn))
    draw_truncation(drawn, output, dpi=dpi, width=width, height=height, title=title)

