"""`gradflow plot decay`: the figure of the decay of ||ds_T/ds_t|| with distance."""

import click
import matplotlib.pyplot as plt

from ..decay import profiles_from_table, profiles_to_table
from ..plotting.decay import plot_decay
from ..plotting.style import RC
from ..results_io import read_table
from .base import check_results_path, fail, plot, write_results
from .figures import check_figure_path, figure_options, new_figure, save_figure
from .options import compute_profiles, flow_options, pop_flow_options


def read_results(paths, reader):
    """Read result files and convert them with `reader`; one-line errors."""
    out = []
    for path in paths:
        try:
            out.extend(reader(read_table(path)))
        except ValueError as err:
            fail(f"{path}: {err}" if not str(err).startswith(str(path)) else str(err))
    return out


@plot.command()
@click.argument("results", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@flow_options
@figure_options
@click.option("--quantity", type=click.Choice(["spectral", "frobenius", "loss_gradient",
                                               "h_spectral", "c_spectral"]),
              default="spectral", show_default=True,
              help="Which norm: of ds_T/ds_t (2-norm or Frobenius), of the loss gradient "
                   "dL/ds_t, or of the LSTM's blocks dh_T/dh_t and dc_T/dc_t.")
@click.option("--no-band", is_flag=True, help="Do not shade the spread over samples.")
@click.option("--title", default=None, help="Title above the plot.")
@click.option("--save-results", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the numbers behind the figure to FILE (.csv, .json or .npz by its "
                   "suffix), as `gradflow jacobians -o` does.")
def decay(results, output, dpi, width, height, quantity, no_band, title, save_results, **opts):
    """log10 ||ds_T/ds_t|| against distance T - t, cells overlaid.

    Reads RESULTS files written by `gradflow jacobians -o` (CSV, JSON or NPZ), or, with none,
    computes them from the same options as `gradflow jacobians`.
    """
    check_figure_path(output)
    if save_results:
        check_results_path(save_results)
    config = pop_flow_options(opts)
    if results:
        profiles = read_results(results, profiles_from_table)
    else:
        profiles = compute_profiles(**config)
    if save_results:
        write_results(save_results, profiles_to_table(profiles))
    fig, ax = new_figure(width, height)
    with plt.rc_context(RC):
        plot_decay(profiles, ax=ax, quantity=quantity, band=not no_band)
        if title:
            ax.set_title(title)
    save_figure(fig, output, dpi)
