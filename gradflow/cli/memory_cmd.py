"""`gradflow plot memory`: the curse of memory (Zucchet & Orvieto 2024), drawn from a results
file it wrote or computed."""

import click
import matplotlib.pyplot as plt

from ..analysis.memory import (DEFAULT_LAMBDAS, DEFAULT_MEMORY_CELLS, MEMORY_CELLS,
                               MEMORY_COLUMNS, memory_curse, memory_from_table, memory_to_table)
from ..plotting.memory import plot_memory_panels
from ..plotting.style import RC, TWO_COLUMN
from .base import (check_results_path, given, one_line_errors, plot, progress_bar, refuse,
                   write_results)
from .figures import check_figure_path, figure_options, new_figure, save_figure
from .params import FilePath, cell_list
from .plot_cmds import read_results

FIGURE_SIZE = (TWO_COLUMN[0], 3.0)  # inches: two panels, the legend above them
OPTION_NAMES = ("cells", "lambdas", "timescales", "hidden", "input_size", "steps", "samples",
                "seed", "save_results")


def _numbers(check, what):
    """A callback parsing a comma list of numbers, each passing `check`, each once."""
    def parse(ctx, param, value):
        if value is None:
            return None
        out = []
        for part in (p.strip() for p in value.split(",")):
            try:
                number = float(part)
            except ValueError:
                raise click.BadParameter(f"{part!r} in {value!r} is not a number") from None
            if not check(number):
                raise click.BadParameter(f"{part} is not {what}")
            if number in out:
                raise click.BadParameter(f"{part} is given twice")
            out.append(number)
        return tuple(out)
    return parse


def _draw(results, path, dpi, width, height, title):
    fig, axes = new_figure(width, height, ncols=2)
    with plt.rc_context(RC):
        plot_memory_panels(results, axes)
        if title:
            fig.suptitle(title)
    save_figure(fig, path, dpi)


@plot.command("memory")
@click.argument("results", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--cell", "cells", multiple=True, callback=cell_list(MEMORY_CELLS), metavar="CELL[,CELL]",
              help=f"Cells, from {', '.join(MEMORY_CELLS)} (lru_nogamma: the LRU without its "
                   f"input normalisation gamma; indrnn_linear: IndRNN with the identity "
                   f"activation); repeat or give a comma list "
                   f"[default: {','.join(DEFAULT_MEMORY_CELLS)}].")
@click.option("--lambdas", callback=_numbers(lambda v: 0 < v < 1, "strictly between 0 and 1"),
              metavar="L1,L2,...", help="Target memory factors per step lambda, each in (0, 1) "
              f"[default: {','.join(f'{v:g}' for v in DEFAULT_LAMBDAS)}].")
@click.option("--timescales", callback=_numbers(lambda v: v > 1, "a timescale above 1 step"),
              metavar="N1,N2,...", help="Target memory timescales 1 / (1 - lambda) in steps, "
              "each above 1, instead of --lambdas.")
@click.option("--hidden", type=click.IntRange(min=1), default=16, show_default=True,
              metavar="H", help="Hidden units H.")
@click.option("--input-size", type=click.IntRange(min=1), default=4, show_default=True,
              metavar="D", help="Inputs per step D (i.i.d. N(0, 1)).")
@click.option("--steps", type=click.IntRange(min=2), default=1000, show_default=True,
              metavar="T", help="The longest sequence: each lambda runs 10 timescales, at most T "
                                "steps.")
@click.option("--samples", type=click.IntRange(min=2), default=20, show_default=True,
              metavar="N", help="Input sequences per point (the standard error needs 2).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="SEED", help="Seed of the weights and the inputs.")
@figure_options(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1])
@click.option("--title", default=None, help="Title above the figure.")
@click.option("--save-results", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the numbers behind the figure to FILE (.csv, .json or .npz by "
                   f"its suffix), columns {', '.join(MEMORY_COLUMNS)}; `gradflow plot memory "
                   "FILE` draws them.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def plot_memory_cmd(results, cells, lambdas, timescales, hidden, input_size, steps, samples,
                    seed, output, dpi, width, height, title, save_results, quiet):
    """The curse of memory (Zucchet & Orvieto 2024): for each cell set to a memory factor
    lambda per step, the memory timescale its state Jacobian achieves (left) and the
    sensitivity E||ds_T/dlambda||^2 / H of its state to lambda (right, log10), against the
    target timescale 1 / (1 - lambda); the closed form (1 + lambda^2) / (1 - lambda^2)^3 of
    h_t = lambda h_{t-1} + x_t dashed. How each cell is set: gradflow.analysis.memory.

    Reads RESULTS files written with --save-results (CSV, JSON or NPZ), or, with none,
    computes them from the options.
    """
    check_figure_path(output)
    if results:
        unused = given(*OPTION_NAMES)
        if unused:
            refuse(f"{', '.join(unused)}: not used when RESULTS files are given (they are "
                   f"drawn as they are); leave {'it' if len(unused) == 1 else 'them'} out")
        drawn = read_results(results, "memory", memory_from_table)
    else:
        if lambdas is not None and timescales is not None:
            refuse("--lambdas and --timescales: give one of them")
        if timescales is not None:
            lambdas = tuple(1 - 1 / n for n in timescales)
        if save_results is not None:
            check_results_path(save_results)
        cells = cells or DEFAULT_MEMORY_CELLS
        lambdas = lambdas or DEFAULT_LAMBDAS
        with one_line_errors(), progress_bar(len(cells) * len(lambdas), "points", quiet) as bar:
            drawn = memory_curse(cells, lambdas, hidden=hidden, input_size=input_size,
                                 steps=steps, samples=samples, seed=seed, progress=bar.update)
        if save_results is not None:
            write_results(save_results, memory_to_table(drawn))
    _draw(drawn, output, dpi, width, height, title)
