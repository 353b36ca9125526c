"""`gradflow jacobians`: the numbers."""

import click

from ..analysis.decay import profiles_to_table
from ..io.results import table_to_text
from .base import check_results_path, main, write_results
from .options import (compute_profiles, flow_options, format_option, loss_vector_option,
                      pop_flow_options)
from .tables import decay_table
from .params import FilePath


@main.command()
@flow_options
@loss_vector_option
@format_option
@click.option("-o", "--output", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the results to FILE: .csv, .json or .npz by its suffix.")
def jacobians(fmt, output, loss_vector, **opts):
    """Norms of the Jacobian products ds_T/ds_t at every distance T - t.

    For each cell: log10 of the spectral and Frobenius norms of ds_T/ds_t, of the loss gradient
    dL/ds_t, and for the LSTM of the blocks dh_T/dh_t and dc_T/dc_t; whether gradients vanish,
    explode or hold, the fitted factor per step, and the horizon (the distance where the norm
    leaves [1e-3, 1e3]).
    """
    config = pop_flow_options(opts)
    if output is not None:
        check_results_path(output)
    profiles = compute_profiles(loss_vector=loss_vector, **config)
    table = profiles_to_table(profiles)
    if output is not None:
        write_results(output, table)
    if fmt == "table":
        click.echo(decay_table(profiles))
    else:
        click.echo(table_to_text(table, fmt), nl=False)

