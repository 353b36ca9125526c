"""`gradflow plot phase | heatmap | spectrum | cells | gates`: the figure gallery beyond `decay`.

Each kind reads a results file of its kind (CSV, JSON or NPZ, as written by --save-results) or,
with none, computes from the options of `gradflow jacobians`; `--save-results` writes the
numbers behind the figure so it can be re-plotted.
"""

import functools
import os

import click
import matplotlib.pyplot as plt
import numpy as np
from click.core import ParameterSource

from ..analysis.comparison import compare_cells, comparison_from_table, comparison_to_table
from ..analysis.gates import KEEP_GATE, gate_traces, gates_from_table, gates_to_table
from ..analysis.pairwise import pairwise_from_table, pairwise_norms, pairwise_to_table
from ..analysis.phase import phase_diagram, phase_from_table, phase_to_table
from ..analysis.spectra import spectrum, spectrum_from_table, spectrum_to_table
from ..plotting.comparison import plot_comparison
from ..plotting.gates import plot_gate_decay, plot_gates
from ..plotting.heatmap import plot_heatmap
from ..plotting.phase import plot_phase, plot_phase_rates
from ..plotting.spectrum import plot_spectra
from ..plotting.style import RC, TWO_COLUMN
from ..sweep.views import phase_from_sweep
from .base import fail, one_line_errors, plot, progress_bar, refuse, \
    write_results
from .figures import check_plot_run, figure_options, new_figure, save_figure
from ..cells.builtin import CELLS
from .options import DEFAULT_CELLS, check_memory, flow_options, \
    for_each_network, pop_flow_options, resolve_networks
from .params import FilePath
from .plot_cmds import read_results


def _common(command, dir_okay=False):
    """The RESULTS argument (a sweep folder too with `dir_okay`), --save-results and --title,
    shared by the gallery kinds."""
    command = click.option("--title", default=None, help="Title above the figure.")(command)
    command = click.option(
        "--save-results", type=FilePath(dir_okay=False), metavar="FILE",
        help="Also write the numbers behind the figure to FILE (.csv, .json or .npz by its "
             "suffix); `gradflow plot KIND FILE` draws it again.")(command)
    return click.argument("results", nargs=-1,
                          type=click.Path(exists=True, dir_okay=dir_okay))(command)


def _save(save_results, table):
    if save_results is not None:
        write_results(save_results, table)


def _read_one(results, what, kind, from_table):
    if len(results) > 1:
        refuse(f"{what} is drawn from one results file")
    return read_results(results, kind, from_table)[0]


def _ticker(bar):
    done = [0]

    def tick(n):
        bar.update(n - done[0])
        done[0] = n

    return tick


def _finish(fig, output, dpi, title):
    if title:
        fig.suptitle(title)
    save_figure(fig, output, dpi)


def parse_scales(text):
    """'START:STOP:COUNT' (COUNT values, evenly spaced, both ends included) or 'a,b,c'."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            scales = np.linspace(float(start), float(stop), int(count))
        else:
            scales = np.array([float(v) for v in text.split(",")])
    except ValueError:
        refuse(f"--scales {text!r}: expected START:STOP:COUNT such as 0.5:2.0:16, or a,b,c")
    if scales.size < 2 or np.any(np.diff(scales) <= 0) or scales[0] <= 0:
        refuse(f"--scales {text!r}: need at least two positive scales, increasing")
    return scales


def parse_distances(text):
    """'10,50' -> [10, 50]."""
    if not text:
        return []
    try:
        distances = sorted({int(v) for v in text.split(",")})
    except ValueError:
        refuse(f"--distances {text!r}: expected whole numbers of steps such as 10,50")
    if distances[0] < 1:
        refuse(f"--distances {text!r}: distances are at least 1 step")
    return distances


@plot.command()
@functools.partial(_common, dir_okay=True)
@flow_options
@figure_options(width=TWO_COLUMN[0], height=TWO_COLUMN[1])
@click.option("--scales", default="0.5:2.0:16", show_default=True, metavar="START:STOP:COUNT",
              help="Recurrent weight scales g to sweep (gains; gaussian weights are "
                   "N(0, g^2/H)), or a comma-separated list.")
@click.option("--heatmap-cell", default=None, metavar="CELL",
              help="Cell whose heatmap is drawn in the left panel [default: rnn if present].")
@click.option("--limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="DECADES", help="Colour range of the heatmap, +/- DECADES of log10 norm "
                                      "[default: the data's largest magnitude].")
def phase(results, output, dpi, width, height, save_results, title, scales, heatmap_cell,
          limit, **opts):
    """Phase diagram: the decay of ||ds_T/ds_t|| as the recurrent weights are scaled.

    Left: one cell's heatmap of log10 ||ds_T/ds_t||_2 over scale and distance, the black line
    where the norm is 1, the dashed line where the RNN's measured ||W_hh||_2 = 1/gamma
    (Pascanu et al. 2013). Right: each cell's fitted log10 factor per step against scale, with
    the tanh RNN's mean-field prediction (Poole et al. 2016; Chen et al. 2018). RESULTS is a
    results file, or the folder of a `gradflow sweep` of decay over cell and scale.
    """
    config = pop_flow_options(opts)
    check_plot_run(output, save_results, results, "scales")
    if results and os.path.isdir(results[0]):
        if len(results) > 1:
            refuse("a phase diagram is drawn from one sweep folder")
        try:
            diagram = phase_from_sweep(results[0])
        except ValueError as err:
            fail(str(err))
    elif results:
        diagram = _read_one(results, "a phase diagram", "phase", phase_from_table)
    else:
        if config["weights_file"] or config["input_file"]:
            refuse("the phase diagram sweeps the scale of random weights on random inputs: "
                   "--weights and --input-file do not apply")
        if click.get_current_context().get_parameter_source("scale") == \
                ParameterSource.COMMANDLINE:
            refuse("the phase diagram sweeps the scale: use --scales, not --scale")
        grid = parse_scales(scales)
        networks = resolve_networks(config, needs="layer")
        check_memory(networks, "phase")
        net = networks[0]
        with one_line_errors(), progress_bar(len(networks) * len(grid) * net.samples
                                             * net.steps, "phase diagram",
                                             config["quiet"]) as bar:
            diagram = phase_diagram(net, grid, cells=[n.cell for n in networks],
                                    progress=_ticker(bar))
        _save(save_results, phase_to_table(diagram))
    if heatmap_cell is not None and heatmap_cell not in diagram.cells:
        refuse(f"--heatmap-cell {heatmap_cell}: not among the cells {', '.join(diagram.cells)}")
    fig, (left, right) = new_figure(width, height, ncols=2)
    with plt.rc_context(RC):
        plot_phase(diagram, ax=left, cell=heatmap_cell, limit=limit)
        plot_phase_rates(diagram, ax=right)
        _finish(fig, output, dpi, title)


@plot.command()
@_common
@flow_options
@figure_options
@click.option("--stride", type=click.IntRange(min=1), default=None, metavar="K",
              help="Grid spacing in steps: norms between times 0, K, 2K, ... [default: "
                   "T // 100, at least 1]. Cost grows as (T/K)^2.")
@click.option("--limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="DECADES", help="Colour range +/- DECADES of log10 norm "
                                      "[default: the data's largest magnitude].")
def heatmap(results, output, dpi, width, height, save_results, title, stride, limit, **opts):
    """Pairwise picture: log10 ||ds_s/ds_t||_2 for all times t < s, for one cell and sequence.

    Row s (later time) against column t (earlier time), a lower triangle; blue vanishes, red
    explodes. Strided when T is large (--stride).
    """
    config = pop_flow_options(opts)
    check_plot_run(output, save_results, results, "stride")
    if results:
        result = _read_one(results, "a heatmap", "heatmap", pairwise_from_table)
    else:
        if len(config["cells"]) > 1:
            refuse("the heatmap shows one cell: give at most one --cell")
        if config["samples"] != 1:
            refuse("the heatmap shows one input sequence: --samples must be 1")
        (net,) = resolve_networks(config, config["cells"] or ("rnn",))
        stride = stride or max(1, net.length // 100)
        if stride > net.length:
            refuse(f"--stride {stride} is longer than the sequence ({net.length} steps)")
        m = net.length // stride
        check_memory([net], "heatmap", blocks=m)
        with one_line_errors():
            built = net.build()
        meta = {k: v for k, v in net.metadata().items() if k not in ("cell", "steps")}
        with one_line_errors(), progress_bar(m, "pairwise norms", config["quiet"]) as bar:
            result = pairwise_norms(built.cell, built.params, built.sequences[0], built.state0,
                                    stride=stride, metadata=meta, progress=_ticker(bar))
        _save(save_results, pairwise_to_table(result))
    fig, ax = new_figure(width, height)
    with plt.rc_context(RC):
        plot_heatmap(result, ax=ax, limit=limit)
        _finish(fig, output, dpi, title)


@plot.command("spectrum")
@_common
@flow_options
@figure_options
@click.option("--distances", default="", metavar="D1,D2,...",
              help="Also draw all singular values of ds_T/ds_{T-d} at these distances "
                   "(steps), one panel each, beside the Lyapunov spectra.")
def spectrum_cmd(results, output, dpi, width, height, save_results, title, distances, **opts):
    """Lyapunov spectra of the cells side by side (log10 per step against i/n).

    With --distances, one more panel per distance with the log10 singular values of
    ds_T/ds_{T-d}. Lyapunov exponents by Benettin's QR method.
    """
    config = pop_flow_options(opts)
    check_plot_run(output, save_results, results)
    wanted = parse_distances(distances)
    if results:
        spectra = read_results(results, "spectrum", spectrum_from_table)
        available = sorted({d for sp in spectra for d in sp.singular_values})
        missing = [d for d in wanted if d not in available]
        if missing:
            refuse(f"--distances {missing[0]}: not in the results (they hold "
                   f"{', '.join(map(str, available)) or 'none'})")
    else:
        networks = resolve_networks(config, config["cells"] or DEFAULT_CELLS)
        T = networks[0].length
        if wanted and wanted[-1] > T:
            refuse(f"--distances {wanted[-1]}: longer than the sequence ({T} steps)")
        per_cell = config["samples"] * T * (2 if wanted else 1)
        check_memory(networks, "spectrum")
        spectra = for_each_network(networks, per_cell, "spectra", config["quiet"],
                                   lambda net, tick: spectrum(net, distances=wanted,
                                                              progress=tick))
        _save(save_results, spectrum_to_table(spectra))
    fig, axes = new_figure(width, height, ncols=1 + len(wanted), squeeze=False)
    with plt.rc_context(RC):
        plot_spectra(spectra, axes[0], wanted)
        _finish(fig, output, dpi, title)


COMPARED_CELLS = tuple(c for c in CELLS if c != "gru_torch")  # Cho's GRU stands for both


@plot.command("cells")
@_common
@flow_options(default_cells=COMPARED_CELLS)
@figure_options(width=TWO_COLUMN[0], height=TWO_COLUMN[1])
def cells_cmd(results, output, dpi, width, height, save_results, title, **opts):
    """The cells side by side, each at its own initialisation: log10 ||ds_T/ds_t||_2 against
    distance (left, mean over --samples input sequences, the spread shaded) and the Lyapunov
    exponents, log10 per step against i/n (right; an exponent of -inf, a direction that a
    relu switches off, is a triangle on the bottom edge). The same input sequences for every
    cell.
    """
    config = pop_flow_options(opts)
    check_plot_run(output, save_results, results)
    if results:
        comparison = _read_one(results, "a cell comparison", "cells", comparison_from_table)
    else:
        networks = resolve_networks(config, config["cells"] or COMPARED_CELLS)
        check_memory(networks, "spectrum")
        steps = 2 * config["samples"] * networks[0].length * len(networks)
        with one_line_errors(), progress_bar(steps, "steps", config["quiet"]) as bar:
            comparison = compare_cells(networks, progress=_ticker(bar))
        _save(save_results, comparison_to_table(comparison))
    fig, axes = new_figure(width, height, ncols=2)
    with plt.rc_context(RC):
        plot_comparison(comparison, axes)
        _finish(fig, output, dpi, title)


@plot.command()
@functools.partial(_common, dir_okay=True)
@flow_options
@figure_options(width=TWO_COLUMN[0], height=TWO_COLUMN[1])
def gates(results, output, dpi, width, height, save_results, title, **opts):
    """Gates along the sequence beside the block norms they protect (LSTM and GRU).

    Left: the LSTM's forget gate f and the GRU's keep fraction 1 - z at each step (mean over
    units and samples, 10-90% band). Right: log10 ||dc_T/dc_t||_2 and ||dh_T/dh_t||_2 against
    distance for the same runs.
    """
    config = pop_flow_options(opts)
    check_plot_run(output, save_results, results)
    if results:
        traces = read_results(results, "gates", gates_from_table)
    else:
        cells = config["cells"] or tuple(c for c in DEFAULT_CELLS if c in KEEP_GATE)
        gateless = [c for c in cells if c not in KEEP_GATE]
        if gateless:
            refuse(f"--cell {gateless[0]}: has no gates; use {', '.join(KEEP_GATE)}")
        networks = resolve_networks(config, cells, needs="layer")
        per_cell = config["samples"] * networks[0].length
        check_memory(networks, "gates")
        traces = for_each_network(networks, per_cell, "gate traces", config["quiet"],
                                  lambda net, tick: gate_traces(net, progress=tick))
        _save(save_results, gates_to_table(traces))
    fig, (left, right) = new_figure(width, height, ncols=2)
    with plt.rc_context(RC):
        plot_gates(traces, ax=left)
        plot_gate_decay(traces, ax=right)
        _finish(fig, output, dpi, title)
