"""`gradflow plot decay`: the figure of the decay of ||ds_T/ds_t|| with distance."""

import os

import click
import matplotlib.pyplot as plt

from ..analysis.decay import profiles_from_table, profiles_to_table
from ..io.results import read_table
from ..plotting.decay import plot_decay
from ..plotting.style import RC
from ..sweep.views import profiles_from_sweep
from .base import check_results_path, fail, plot, refuse, write_results
from .figures import check_figure_path, figure_options, new_figure, save_figure
from .options import (compute_profiles, flow_options, loss_vector_option, pop_flow_options,
                      refuse_with_results, resolve_networks)
from .params import FilePath


# Columns that only a results file of each kind has: how a CSV (which carries no metadata)
# says its kind. The JSON and NPZ say it in their metadata. kind_of takes the first kind whose
# columns a file has, so a kind whose columns include another's comes first: a depth table
# also has decay's columns, a sensitivity table those of gates.
KIND_COLUMNS = {"memory": ("memory_factor", "factor_achieved"), "depth": ("layer", "distance"),
                "sensitivity": ("output_step", "step"),
                "cells": ("row", "lyapunov_log10_per_step"),
                "decay": ("cell", "log10_frobenius_norm"),
                "phase": ("scale", "log10_rate_per_step"), "heatmap": ("s", "t"),
                "spectrum": ("lyapunov_log10_per_step",), "gates": ("step",),
                "skip": ("variant", "log10_spectral_norm"),
                "skip_training": ("model", "eval_loss"),
                "clipping": ("mode", "grad_norm_before"), "cliff": ("path", "grad_norm"),
                "truncation": ("loss", "lost_share")}


def kind_of(table):
    """The kind of results `table` holds: its metadata's, else the one its columns name."""
    if table.kind is not None:
        return table.kind
    return next((kind for kind, names in KIND_COLUMNS.items()
                 if all(n in table.columns for n in names)), None)


def read_results(paths, kind, from_table):
    """Read results files of `kind` (a kind, or a tuple of the kinds `from_table` reads, the
    first named in messages) and convert each with `from_table` (a result or a list of them);
    one-line errors, naming the kind a file holds when it is another."""
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    kind = kinds[0]
    out = []
    for path in paths:
        try:
            table = read_table(path)
            found = kind_of(table)
            if found not in (None,) + kinds:
                raise ValueError(f"holds {found!r} results, not {kind!r}; draw it with "
                                 f"`gradflow plot {found}`" if found in KIND_COLUMNS
                                 else f"holds {found!r} results, not {kind!r}")
            result = from_table(table)
        except ValueError as err:
            fail(f"{path}: {err}" if not str(err).startswith(str(path)) else str(err))
        out.extend(result if isinstance(result, list) else [result])
    return out


@plot.command()
@click.argument("results", nargs=-1, type=click.Path(exists=True))
@flow_options
@loss_vector_option
@figure_options
@click.option("--quantity", type=click.Choice(["spectral", "frobenius", "loss_gradient",
                                               "h_spectral", "c_spectral"]),
              default="spectral", show_default=True,
              help="Which norm: of ds_T/ds_t (2-norm or Frobenius), of the loss gradient "
                   "dL/ds_t, or of the LSTM's blocks dh_T/dh_t and dc_T/dc_t.")
@click.option("--no-band", is_flag=True, help="Do not shade the spread over samples.")
@click.option("--title", default=None, help="Title above the plot.")
@click.option("--save-results", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the numbers behind the figure to FILE (.csv, .json or .npz by its "
                   "suffix), as `gradflow jacobians -o` does.")
def decay(results, output, dpi, width, height, quantity, no_band, title, save_results,
          loss_vector, **opts):
    """log10 ||ds_T/ds_t|| against distance T - t, cells overlaid.

    Reads RESULTS files written by `gradflow jacobians -o` (CSV, JSON or NPZ), or the folder
    of a `gradflow sweep` of decay (one curve per point, the spectral norm), or, with none,
    computes them from the same options as `gradflow jacobians`.
    """
    check_figure_path(output)
    if save_results is not None:
        check_results_path(save_results)
    config = pop_flow_options(opts)
    refuse_with_results(results, "loss_vector", "save_results")
    if any(os.path.isdir(path) for path in results):
        if len(results) > 1:
            refuse("decay profiles are drawn from one sweep folder, or from results files")
        if quantity != "spectral":
            refuse(f"--quantity {quantity}: a sweep folder holds the spectral norm only")
        try:
            profiles = profiles_from_sweep(results[0])
        except ValueError as err:
            fail(str(err))
    elif results:
        profiles = read_results(results, "decay", profiles_from_table)
    else:
        profiles = compute_profiles(resolve_networks(config), loss_vector, config["quiet"])
    if save_results is not None:
        write_results(save_results, profiles_to_table(profiles))
    fig, ax = new_figure(width, height)
    with plt.rc_context(RC):
        plot_decay(profiles, ax=ax, quantity=quantity, band=not no_band)
        if title:
            ax.set_title(title)
    save_figure(fig, output, dpi)
