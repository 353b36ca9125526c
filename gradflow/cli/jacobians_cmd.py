"""`gradflow jacobians`: the numbers."""

import click
import numpy as np

from ..analysis.decay import profiles_to_table
from ..io.results import table_to_text
from .base import check_results_path, main, write_results
from .options import (compute_profiles, flow_options, loss_vector_option, pop_flow_options,
                      setup_line)
from .params import FilePath


@main.command()
@flow_options
@loss_vector_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="What to print on stdout: a table for people, or CSV / "
                                      "JSON for programs (columns in the README).")
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
        click.echo(format_summary(profiles))
    else:
        click.echo(table_to_text(table, fmt), nl=False)


def log_spaced(T, per_decade=2):
    """Distances 1, 3, 10, 30, ... up to T, and T itself: a handful a person can read."""
    marks = sorted({int(round(10 ** (k / per_decade))) for k in range(0, 64)
                    if 10 ** (k / per_decade) <= T} | {T})
    return [m for m in marks if m >= 1]


def format_summary(profiles):
    """The table people read: per cell, the verdict, rate, horizon and a few log10 norms."""
    first = profiles[0].metadata
    T = len(profiles[0].distance)
    marks = log_spaced(T)
    samples = first["samples"]
    lines = [setup_line(first, T), "",
             f"{'':16}{'':11}{'factor':>8}{'':9}log10 ||ds_T/ds_t||_2 at distance"
             + (" (mean over samples)" if samples > 1 else ""),
             f"{'cell':16}{'verdict':11}{'/step':>8}{'horizon':>9}"
             + "".join(f"{m:>8}" for m in marks)]
    for p in profiles:
        s = p.summary
        horizon = "-" if s.horizon is None else str(s.horizon)
        lines.append(f"{p.cell:16}{s.verdict:11}{_factor(s.rate):>8}{horizon:>9}"
                     + _row(p.mean["spectral"], marks))
        for block, label in (("h", "dh_T/dh_t"), ("c", "dc_T/dc_t")):
            if f"{block}_spectral" in p.mean:
                lines.append(f"  {label:14}{'':28}" + _row(p.mean[f'{block}_spectral'], marks))
    lines += ["", "verdict: the fitted line changes by more than a factor 10 over T steps; "
                  "horizon: first distance with norm < 1e-3 or > 1e3"]
    return "\n".join(lines)


def _factor(rate):
    """The factor per step in a column of 8: three decimals, or scientific when far from 1."""
    return f"{rate:.3f}" if 1e-3 <= rate < 1e3 else f"{rate:.1e}"


def _row(values, marks):
    return "".join(f"{values[m - 1]:>8.2f}" if np.isfinite(values[m - 1]) else f"{'-inf':>8}"
                   for m in marks)
