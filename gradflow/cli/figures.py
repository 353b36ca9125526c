"""Figure options and saving, shared by every `gradflow plot` kind."""

import os

import click
import matplotlib

matplotlib.use("Agg")  # the CLI only writes files; no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402

from ..files import atomic_path  # noqa: E402
from ..plotting.style import ONE_COLUMN, RC  # noqa: E402
from .base import fail  # noqa: E402

FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_options(command=None, *, width=ONE_COLUMN[0], height=ONE_COLUMN[1]):
    """Add -o, --dpi, --width, --height to a plot command.

    Use as `@figure_options`, or as `@figure_options(width=7.0)` for a kind whose default size
    differs (figures with two panels default to the full text width).
    """
    if command is None:
        return lambda cmd: figure_options(cmd, width=width, height=height)
    where = "one column of a paper" if width <= ONE_COLUMN[0] else "the full text width"
    options = [
        click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
                     metavar="FILE", help="Figure file: .png, .pdf or .svg (by its suffix)."),
        click.option("--dpi", type=click.IntRange(min=10, max=2400), default=300,
                     show_default=True, help="Resolution of a PNG, dots per inch."),
        click.option("--width", type=click.FloatRange(min=0.5, max=40), default=width,
                     show_default=True, metavar="INCHES", help=f"Figure width in inches "
                                                               f"({where})."),
        click.option("--height", type=click.FloatRange(min=0.5, max=40), default=height,
                     show_default=True, metavar="INCHES", help="Figure height in inches."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_figure_path(path):
    """Fail early (before any computation) on a suffix we cannot write or a missing folder."""
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    if suffix not in FIGURE_FORMATS:
        fail(f"{path}: figure format must be .png, .pdf or .svg, not {suffix or 'none'!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        fail(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        fail(f"{path}: folder {folder} is not writable")
    return suffix


def new_figure(width, height, ncols=1, nrows=1, **kws):
    """A figure and its Axes, in the house style."""
    with plt.rc_context(RC):
        return plt.subplots(nrows, ncols, figsize=(width, height), **kws)


def save_figure(fig, path, dpi):
    """Write `fig` to `path` atomically and close it."""
    suffix = check_figure_path(path)
    try:
        with plt.rc_context(RC), atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix, dpi=dpi)
    except OSError as err:
        fail(f"{path}: cannot write ({err.strerror})")
    finally:
        plt.close(fig)
