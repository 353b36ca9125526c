"""`gradflow ablate skip`, and `gradflow plot skip`, which draws its figure again from the
results file it wrote."""

import matplotlib.pyplot as plt

import click

from ..analysis.skip_ablation import (VARIANTS, skip_ablation, skip_ablation_from_table,
                                      skip_ablation_to_table)
from ..cells.skips import parse_skip
from ..plotting.decay import plot_decay
from ..plotting.style import RC, TWO_COLUMN
from .base import ablate, check_results_path, one_line_errors, plot, progress_bar, \
    emit
from .figures import check_figure_path, figure_options, new_figure, save_figure
from .options import (check_lag, check_memory, flow_options, format_option, pop_flow_options,
                      resolve_networks)
from .params import FilePath
from .plot_cmds import read_results
from .tables import decay_table


def _variants(ctx, param, value):
    variants = [v.strip() for v in value.split(",")]
    for i, v in enumerate(variants):
        if v != "none":
            try:
                parse_skip(v)
            except ValueError as err:
                raise click.BadParameter(f"{err}") from None
        if v in variants[:i]:
            raise click.BadParameter(f"variant {v!r} is given twice in {value!r}")
    return tuple(variants)


@ablate.command("skip")
@flow_options
@click.option("--variants", default=",".join(VARIANTS), show_default=True, callback=_variants,
              metavar="V1,V2,...", help="The connections to compare, from none, residual, "
                                        "skip:K, dense:K, highway (K a lag in steps).")
@format_option
@click.option("-o", "--output", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the results to FILE: .csv, .json or .npz by its suffix; "
                   "`gradflow plot skip FILE` draws them again.")
@click.option("--figure", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also draw every variant's decay on one Axes to FILE (.png, .pdf, .svg).")
def skip(variants, fmt, output, figure, **opts):
    """The same cell, weights and inputs without a skip connection and with each of several.

    For each variant: whether gradients vanish, explode or hold, the fitted factor per step,
    the horizon (as in `gradflow jacobians`) and log10 ||ds_T/ds_t||_2 at a few distances, where
    ds_T/ds_t is the total derivative with s_t perturbed alone (for skip:K and dense:K the block
    of the augmented product). --skip-scale and --highway-bias initialise the connections.
    """
    config = pop_flow_options(opts)
    if config["skip"] is not None:
        raise click.UsageError("ablate skip compares the connections of --variants: leave out "
                               "--skip")
    if len(config["cells"]) > 1:
        raise click.UsageError("ablate skip takes one base cell: give at most one --cell")
    if output is not None:
        check_results_path(output)
    if figure is not None:
        check_figure_path(figure)
    (network,) = resolve_networks(config, config["cells"] or ("rnn",))
    for v in variants:
        check_lag(None if v == "none" else v, network.length)
    if network.params is not None:
        needing = [v for v in variants if v.startswith(("skip:", "dense:", "highway"))]
        if needing:
            raise click.BadParameter(f"{needing[0]}: the weights file holds a network without "
                                     "skip weights", param_hint="--variants")
    check_memory([network.replace(skip=v) for v in variants if v != "none"] or [network],
                 "decay")
    with one_line_errors(), progress_bar(len(variants) * network.samples * network.length,
                                         "variants", config["quiet"]) as bar:
        done = [0]

        def tick(k):
            bar.update(k - done[0])
            done[0] = k

        result = skip_ablation(network, variants, progress=tick)
    table = skip_ablation_to_table(result)
    emit(table, lambda: decay_table(result.profiles, labels=list(result.variants),
                                    metadata=result.metadata, heading="variant"), fmt, output)
    if figure is not None:
        draw_skip(result, figure)


def draw_skip(result, path, *, dpi=300, width=TWO_COLUMN[0], height=3.0, title=None):
    """Every variant's decay curve on one Axes, the legend beside it (off the data), saved to
    `path`."""
    fig, ax = new_figure(width, height)
    with plt.rc_context(RC):
        plot_decay(result.profiles, ax=ax, band=False)
        legend = ax.get_legend()
        ax.legend(*ax.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.01, 0.5),
                  frameon=False, title=legend.get_title().get_text() or None, alignment="left",
                  title_fontsize=RC["legend.fontsize"])
        if title:
            ax.set_title(title)
    save_figure(fig, path, dpi)


@plot.command("skip")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@figure_options(width=TWO_COLUMN[0], height=3.0)
@click.option("--title", default=None, help="Title above the plot.")
def plot_skip(results, output, dpi, width, height, title):
    """The decay of every variant of a skip ablation, from the RESULTS file that
    `gradflow ablate skip -o` wrote (CSV, JSON or NPZ): the figure of its --figure."""
    check_figure_path(output)
    (result,) = read_results([results], "skip", skip_ablation_from_table)
    draw_skip(result, output, dpi=dpi, width=width, height=height, title=title)
