"""`gradflow plot cliff`."""

import click
import numpy as np

from .._version import __version__
from ..training.cliff import CliffSetup, gd_trajectory, loss_surface, trajectories_to_table
from .base import check_results_path, plot, write_results
from .figures import check_figure_path, figure_options, new_figure, save_figure
from .params import FINITE, FiniteFloat, finite_pair


def _range(ctx, param, value):
    lo, hi = finite_pair("LO,HI")(ctx, param, value)
    if not lo < hi:
        raise click.BadParameter(f"{value!r}: give LO,HI with LO < HI")
    return lo, hi


@plot.command("cliff")
@click.option("--x0", type=FINITE, default=0.5, show_default=True, metavar="X",
              help="Initial state x_0 of the unit.")
@click.option("--steps", type=click.IntRange(min=1, max=10_000), default=20, show_default=True,
              metavar="T", help="Time steps T; the loss is (x_T - target)^2.")
@click.option("--target", type=FINITE, default=0.7, show_default=True, metavar="Y",
              help="Target value for x_T.")
@click.option("--w-range", default="2,10", show_default=True, callback=_range, metavar="LO,HI",
              help="Range of the recurrent weight w.")
@click.option("--b-range", default="-7,0", show_default=True, callback=_range, metavar="LO,HI",
              help="Range of the bias b.")
@click.option("--grid", type=click.IntRange(min=2, max=2000), default=301, show_default=True,
              metavar="N", help="Grid points per axis.")
@click.option("--start", default="6,-4.2", show_default=True, callback=finite_pair("W,B"),
              metavar="W,B", help="Starting point (w, b) of gradient descent.")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=0.03,
              show_default=True, metavar="RATE", help="Gradient-descent step size.")
@click.option("--updates", type=click.IntRange(min=1, max=100_000), default=60,
              show_default=True, metavar="N", help="Gradient-descent steps per trajectory.")
@click.option("--clip-threshold", type=FiniteFloat(min=0, min_open=True), default=3.0,
              show_default=True, metavar="NORM",
              help="Norm-clipping threshold for the clipped trajectory.")
@click.option("--save-results", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write both paths, point by point, to FILE (.csv, .json or .npz by its "
                   "suffix): path, step, w, b, loss, grad_norm, clipped.")
@figure_options(width=4.6, height=3.4)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the trajectory summary.")
def cliff(x0, steps, target, w_range, b_range, grid, start, lr, updates, clip_threshold,
          save_results, output, dpi, width, height, quiet):
    """Pascanu's cliff: loss surface of x_t = w sigmoid(x_{t-1}) + b over (w, b), with
    gradient-descent paths with and without norm clipping and the bifurcation curve
    w = 1/sigmoid'(x*), b = x* - w sigmoid(x*) (Pascanu, Mikolov & Bengio 2013).

    Every number must be finite. A path thrown out of the plotted region is drawn up to its
    edge, with an arrow and the point where it lands.
    """
    check_figure_path(output)
    if save_results:
        check_results_path(save_results)
    setup = CliffSetup(x0, steps, target)
    surface = loss_surface(w_range, b_range, grid, setup)
    paths = [gd_trajectory(start, lr=lr, updates=updates, setup=setup),
             gd_trajectory(start, lr=lr, updates=updates, threshold=clip_threshold, setup=setup)]
    if save_results:
        write_results(save_results, trajectories_to_table(paths, setup, {
            "start": list(start), "updates": updates, "w_range": list(w_range),
            "b_range": list(b_range), "grid": grid, "gradflow_version": __version__}))
    if not quiet:
        for p in paths:
            name = "plain" if p.threshold is None else f"clipped at {p.threshold:g}"
            jump = np.linalg.norm(np.diff(p.points, axis=0), axis=1).max(initial=0.0)
            click.echo(f"{name:>15}: {len(p.points) - 1} steps, end (w, b) = "
                       f"({p.points[-1][0]:.4g}, {p.points[-1][1]:.4g}), final loss "
                       f"{p.loss[-1]:.4g}, best loss {p.loss.min():.4g}, largest ||g|| "
                       f"{p.grad_norm.max(initial=0.0):.4g}, largest step {jump:.4g}")
    from ..plotting.cliff import cliff_title, plot_cliff
    from ..plotting.style import RC

    fig, ax = new_figure(width, height)
    plot_cliff(surface, paths, ax=ax)
    ax.set_title(cliff_title(setup, lr), fontsize=RC["axes.titlesize"])
    save_figure(fig, output, dpi)
