"""`gradflow plot cliff`."""

import os

import click

from ..cliff import CliffSetup, gd_trajectory, loss_surface
from ..files import atomic_path
from .base import fail, plot

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _pair(ctx, param, value):
    try:
        a, b = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected two numbers A,B, got {value!r}") from None
    return a, b


@plot.command("cliff")
@click.option("--x0", type=float, default=0.5, show_default=True, metavar="X",
              help="Initial state x_0 of the unit.")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True, metavar="T",
              help="Time steps T; the loss is (x_T - target)^2.")
@click.option("--target", type=float, default=0.7, show_default=True, metavar="Y",
              help="Target value for x_T.")
@click.option("--w-range", default="2,10", show_default=True, callback=_pair, metavar="LO,HI",
              help="Range of the recurrent weight w.")
@click.option("--b-range", default="-7,0", show_default=True, callback=_pair, metavar="LO,HI",
              help="Range of the bias b.")
@click.option("--grid", type=click.IntRange(min=2, max=2000), default=301, show_default=True,
              metavar="N", help="Grid points per axis.")
@click.option("--start", default="6,-4.2", show_default=True, callback=_pair, metavar="W,B",
              help="Starting point (w, b) of gradient descent.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.03,
              show_default=True, metavar="RATE", help="Gradient-descent step size.")
@click.option("--updates", type=click.IntRange(min=1), default=60, show_default=True,
              metavar="N", help="Gradient-descent steps per trajectory.")
@click.option("--clip-threshold", type=click.FloatRange(min=0, min_open=True), default=3.0,
              show_default=True, metavar="NORM",
              help="Norm-clipping threshold for the clipped trajectory.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, metavar="FILE",
              help="Figure file (.png, .pdf or .svg).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the trajectory summary.")
def cliff(x0, steps, target, w_range, b_range, grid, start, lr, updates, clip_threshold,
          output, quiet):
    """Pascanu's cliff: loss surface of x_t = w sigmoid(x_{t-1}) + b over (w, b), with
    gradient-descent paths with and without norm clipping and the bifurcation curve
    w = 1/sigmoid'(x*), b = x* - w sigmoid(x*) (Pascanu, Mikolov & Bengio 2013)."""
    if os.path.splitext(output)[1].lower() not in FIGURE_SUFFIXES:
        fail(f"figure file {output} must end in .png, .pdf or .svg")
    if not os.access(os.path.dirname(os.path.abspath(output)), os.W_OK):
        fail(f"cannot write {output}: folder missing or not writable")
    if not (w_range[0] < w_range[1] and b_range[0] < b_range[1]):
        fail("ranges must be given as LO,HI with LO < HI")
    setup = CliffSetup(x0, steps, target)
    surface = loss_surface(w_range, b_range, grid, setup)
    paths = [gd_trajectory(start, lr=lr, updates=updates, setup=setup),
             gd_trajectory(start, lr=lr, updates=updates, threshold=clip_threshold, setup=setup)]
    if not quiet:
        for p in paths:
            name = "plain" if p.threshold is None else f"clipped at {p.threshold:g}"
            jump = max((float(abs(d).max()) for d in (p.points[1:] - p.points[:-1])), default=0.0)
            click.echo(f"{name:>15}: {len(p.points) - 1} steps, end (w, b) = "
                       f"({p.points[-1][0]:.4g}, {p.points[-1][1]:.4g}), final loss "
                       f"{p.loss[-1]:.4g}, best loss {p.loss.min():.4g}, largest ||g|| "
                       f"{p.grad_norm.max():.4g}, largest step {jump:.4g}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting.cliff import plot_cliff
    from ..plotting.style import RC

    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(4.6, 3.4), layout="constrained")
    plot_cliff(surface, paths, ax=ax)
    ax.set_title(f"x_t = w sig(x_(t-1)) + b, x_0 = {x0:g}, loss (x_{steps} - {target:g})^2, "
                 f"lr {lr:g}", fontsize=8)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=200, format=os.path.splitext(output)[1][1:].lower())
    plt.close(fig)
