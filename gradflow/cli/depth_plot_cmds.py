"""`gradflow plot depth | sensitivity`: the depth x time map of a stack (with, optionally, the
deep feed-forward panel) and the input sensitivity of any network.

Each reads results files of its kind (CSV, JSON or NPZ, as written by `gradflow jacobians -o`
or --save-results) or, with none, computes from the options of `gradflow jacobians`.
"""

import click
import matplotlib.pyplot as plt

from ..analysis.depth import (DEPTH_QUANTITIES, depth_from_table, depth_to_table,
                              feedforward_flow, sensitivity_from_table, sensitivity_to_table)
from ..plotting.depth import plot_depth_maps, plot_feedforward
from ..plotting.sensitivity import plot_sensitivity
from ..plotting.style import RC, TWO_COLUMN
from .base import given, one_line_errors, plot, refuse, write_results
from .figures import check_plot_run, figure_options, new_figure, save_figure
from .options import (compute_depth_maps, compute_sensitivities,
                      flow_options, pop_flow_options, resolve_networks)
from .params import FilePath, FiniteFloat
from .plot_cmds import read_results

# The deep feed-forward panel: the connections drawn beside the plain network.
FEEDFORWARD_SKIPS = (None, "residual", "dense:4", "highway")


def _common(command):
    """The RESULTS argument, --save-results and --title of both kinds."""
    command = click.option("--title", default=None, help="Title above the figure.")(command)
    command = click.option(
        "--save-results", type=FilePath(dir_okay=False), metavar="FILE",
        help="Also write the numbers behind the figure to FILE (.csv, .json or .npz by its "
             "suffix), as `gradflow jacobians -o` does; `gradflow plot KIND FILE` draws it "
             "again.")(command)
    return click.argument("results", nargs=-1,
                          type=click.Path(exists=True, dir_okay=False))(command)


def _check_quantity(quantity, names):
    """Refuse (exit 2) an LSTM block for networks without it; `names` {network: quantities}."""
    for name, have in names.items():
        if quantity not in have:
            raise click.BadParameter(f"{quantity}: the {name} network has no such block "
                                     f"({', '.join(have)})", param_hint="--quantity")


@plot.command()
@_common
@flow_options
@figure_options(width=TWO_COLUMN[0], height=TWO_COLUMN[1])
@click.option("--compare-residual", is_flag=True,
              help="Draw each network twice, without and with identity connections between "
                   "its layers (--layer-residual), panel beside panel; needs --layers L > 1.")
@click.option("--quantity", type=click.Choice(DEPTH_QUANTITIES), default="spectral",
              show_default=True,
              help="Which norm of ds^(L-1)_T/ds^(l)_(T-d): 2-norm or Frobenius, or of the "
                   "LSTM's blocks (h_..., c_...).")
@click.option("--limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="DECADES", help="Colour range +/- DECADES of log10 norm, the same for "
                                      "every panel [default: the data's largest magnitude].")
@click.option("--feedforward", type=FiniteFloat(min=0, min_open=True), default=None,
              metavar="G",
              help="Add a panel: log10 ||dy_L/dy_l|| against the layer l of deep tanh MLPs "
                   "(64 units, weights N(0, G^2/64), seed 0), plain, residual (ResNet), "
                   "dense:4 (DenseNet) and highway (gate bias -1).")
@click.option("--feedforward-depth", type=click.IntRange(min=1), default=50, show_default=True,
              metavar="L", help="Layers of the MLPs of --feedforward.")
def depth(results, output, dpi, width, height, save_results, title, compare_residual,
          quantity, limit, feedforward, feedforward_depth, **opts):
    """Depth x time map: log10 ||ds^(L-1)_T/ds^(l)_(T-d)|| for every layer l and distance d.

    A heatmap per network, side by side on one colour range: distance d on x, layer l on y
    (0, the first, at the bottom); black where the derivative is exactly 0; contours at norm 1
    (solid) and 1e-3 (dashed). Reads RESULTS files written by `gradflow jacobians --layers L -o`
    (CSV, JSON or NPZ), or, with none, computes the maps from the same options. With
    --feedforward G, a last panel shows the same question for deep feed-forward networks
    (seed 004: vanishing gradients are not only an RNN problem).
    """
    config = pop_flow_options(opts)
    check_plot_run(output, save_results, results, "compare_residual")
    if feedforward is None and given("feedforward_depth"):
        refuse("--feedforward-depth applies to the panel of --feedforward")
    if results:
        maps = read_results(results, "depth", depth_from_table)
    else:
        if compare_residual:
            if config["layer_residual"]:
                refuse("--compare-residual draws the network without and with --layer-residual:"
                       " leave --layer-residual out")
            if config["weights_file"] is not None:
                refuse("--compare-residual: a PyTorch module has no residual connections "
                       "between layers")
            if (config["layers"] or 1) < 2:
                raise click.BadParameter("needs --layers L > 1 (a single layer has no "
                                         "connections between layers)",
                                         param_hint="--compare-residual")
        networks = resolve_networks(config)
        if quantity.startswith(("h_", "c_")):  # before the work, where the cells are known
            _check_quantity(quantity, {net.name: ("spectral", "frobenius") for net in networks
                                       if isinstance(net.cell, str) and net.cell != "lstm"})
        if compare_residual:
            networks = [n for net in networks for n in (net, net.replace(layer_residual=True))]
        maps = compute_depth_maps(networks, config["quiet"])
    _check_quantity(quantity, {m.cell: tuple(m.mean) for m in maps})
    if save_results is not None:
        write_results(save_results, depth_to_table(maps))
    flows = []
    if feedforward is not None:
        with one_line_errors():
            flows = [feedforward_flow(skip, depth=feedforward_depth, scale=feedforward)
                     for skip in FEEDFORWARD_SKIPS]
    panels = len(maps) + bool(flows)
    fig, axes = new_figure(width, height, ncols=panels, squeeze=False,
                           gridspec_kw={"width_ratios": [1] * len(maps) + [1.1] * bool(flows)})
    with plt.rc_context(RC):
        plot_depth_maps(maps, axes[0, :len(maps)], quantity=quantity, limit=limit)
        if flows:
            plot_feedforward(flows, ax=axes[0, -1])
            fig.get_layout_engine().set(wspace=0.06)  # the colour bar's label from the panel
        if title:
            fig.suptitle(title)
    save_figure(fig, output, dpi)


@plot.command()
@_common
@flow_options
@figure_options(width=TWO_COLUMN[0], height=TWO_COLUMN[1])
@click.option("--output-step", type=click.IntRange(min=1), default=None, metavar="TAU",
              help="The output step tau whose sensitivity is drawn, 1..T [default: T].")
@click.option("--quantity", type=click.Choice(["spectral", "frobenius"]), default="spectral",
              show_default=True, help="Which norm of dy_tau/dx_t: 2-norm or Frobenius.")
@click.option("--no-band", is_flag=True, help="Do not shade the spread over samples.")
@click.option("--no-halves", is_flag=True,
              help="Leave out the forward and reverse halves of bidirectional networks.")
def sensitivity(results, output, dpi, width, height, save_results, title, output_step,
                quantity, no_band, no_halves, **opts):
    """Input sensitivity: log10 ||dy_tau/dx_t|| against the input step t, networks overlaid.

    How far back (and, for a bidirectional network, ahead) the output at step tau sees: a
    dashed vertical line marks tau; a network that runs forwards in time has nothing right of
    it (the derivative is exactly 0). A bidirectional network's top-layer halves are dashed
    (forward) and dotted (reverse). Reads RESULTS files written by `gradflow jacobians --wrt
    input -o` (several networks: one file each), or, with none, computes from the same
    options.
    """
    config = pop_flow_options(opts)
    check_plot_run(output, save_results, results, "output_step")
    if results:
        profiles = read_results(results, "sensitivity", sensitivity_from_table)
    else:
        profiles = compute_sensitivities(resolve_networks(config, needs="any"), output_step,
                                         config["quiet"])
    if save_results is not None:
        write_results(save_results, sensitivity_to_table(profiles))
    fig, ax = new_figure(width, height)
    with plt.rc_context(RC):
        plot_sensitivity(profiles, ax=ax, quantity=quantity, band=not no_band,
                         halves=not no_halves)
        if title:
            ax.set_title(title)
    save_figure(fig, output, dpi)
