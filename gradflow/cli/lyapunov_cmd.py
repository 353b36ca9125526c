"""`gradflow lyapunov`: Lyapunov exponents as numbers."""

import click
import numpy as np

from ..analysis.spectra import spectrum, spectrum_to_table
from .base import check_results_path, emit, main
from .options import (check_memory, flow_options, for_each_network, format_option,
                      pop_flow_options, resolve_networks)
from .tables import setup_line
from .params import FilePath

SHOWN = 8  # exponents shown per row of the table people read; files hold all of them


@main.command()
@flow_options
@click.option("--exponents", type=click.IntRange(min=1), default=None, metavar="K",
              help="How many exponents, from the largest [default: all n, the state size]. "
                   "For K < n the starting frame is drawn from --seed.")
@click.option("--discard", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="N", help="Burn-in: the first N of the T steps align the frame with the "
                                "dynamics and are not averaged.")
@format_option
@click.option("-o", "--output", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the exponents to FILE: .csv, .json or .npz by its suffix; "
                   "`gradflow plot spectrum FILE` draws them.")
def lyapunov(exponents, discard, fmt, output, **opts):
    """Lyapunov exponents of each cell's trajectory, log10 per step, largest first.

    Benettin's QR method: an orthonormal frame is carried through every step Jacobian and
    re-orthonormalised; the exponents are the mean logs of the growth along each direction.
    A direction with exponent L grows (L > 0) or shrinks (L < 0) by a factor 10^L per step;
    the largest sets how fast the longest-lived gradient direction vanishes or explodes.
    """
    config = pop_flow_options(opts)
    if output is not None:
        check_results_path(output)
    networks = resolve_networks(config)
    T = networks[0].length
    if discard >= T:
        raise click.BadParameter(f"{discard} leaves no steps to average: it must be below "
                                 f"T = {T}", param_hint="--discard")
    for net in networks:
        n = net.cell_function().state_blocks * net.sizes()[0]
        if exponents is not None and exponents > n:
            raise click.BadParameter(f"{exponents} is more than the {net.name}'s state size {n}",
                                     param_hint="--exponents")
    check_memory(networks, "spectrum")
    spectra = for_each_network(networks, networks[0].samples * T, "Lyapunov exponents",
                               config["quiet"], lambda net, tick: spectrum(
                                   net, exponents=exponents, discard=discard, progress=tick))
    table = spectrum_to_table(spectra)
    emit(table, lambda: format_exponents(spectra, T, discard), fmt, output)


def format_exponents(spectra, T, discard):
    """The table people read: per cell its state size and its largest exponents."""
    first = spectra[0].metadata
    k = max(len(sp.lyapunov) for sp in spectra)
    shown = min(k, SHOWN)
    lines = [setup_line(first, T, discard=discard), "",
             f"{'':22}Lyapunov exponents, log10 per step"
             + (" (mean over samples)" if first["samples"] > 1 else ""),
             f"{'cell':16}{'n':>6}" + "".join(f"{i:>8}" for i in range(1, shown + 1))
             + ("     ..." if k > shown else "")]
    for sp in spectra:
        values = "".join(f"{v:>8.3f}" if np.isfinite(v) else f"{v:>8}"
                         for v in sp.lyapunov[:shown])
        lines.append(f"{sp.cell:16}{sp.state_size:>6}{values}")
    lines += ["", "a direction with exponent L changes by a factor 10^L per step; "
                  f"all {k} exponents: --format csv or -o FILE"]
    return "\n".join(lines)
