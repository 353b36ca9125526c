"""Figure options and saving, shared by every command that draws."""

import functools
import os

import click
import matplotlib

matplotlib.use("Agg")  # the CLI only writes files; no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402

from ..io.files import atomic_path  # noqa: E402
from ..plotting.style import ONE_COLUMN, RC, SAVE_METADATA  # noqa: E402
from .base import check_results_path, fail, refuse  # noqa: E402
from .options import refuse_with_results  # noqa: E402
from .params import FilePath, FiniteFloat  # noqa: E402

FIGURE_FORMATS = ("png", "pdf", "svg")
# A PNG is rendered into an RGBA buffer of 4 bytes per pixel before it is compressed: 100
# megapixels is 400 MB, far beyond any journal's 600 dpi at the full text width (about 20
# megapixels), and still within a laptop's memory; --dpi 2400 at 40 x 40 inches (9.2e9 pixels)
# would need 37 GB and dies of MemoryError.
MAX_PIXELS = 100_000_000


def check_pixels(dpi, width, height):
    """Refuse (exit 2, one line naming the options) a figure of more than MAX_PIXELS pixels."""
    pixels = round(dpi * width) * round(dpi * height)
    if pixels > MAX_PIXELS:
        raise click.UsageError(
            f"--dpi {dpi} at --width {width:g} x --height {height:g} inches is "
            f"{round(dpi * width)} x {round(dpi * height)} = {pixels / 1e6:.0f} megapixels, "
            f"more than the limit of {MAX_PIXELS / 1e6:.0f} megapixels; lower --dpi or the size")


def figure_options(command=None, *, width=ONE_COLUMN[0], height=ONE_COLUMN[1]):
    """Add -o, --dpi, --width, --height to a plot command, and the check of the pixel count.

    Use as `@figure_options`, or as `@figure_options(width=7.0)` for a kind whose default size
    differs (figures with two panels default to the full text width).
    """
    if command is None:
        return lambda cmd: figure_options(cmd, width=width, height=height)

    @functools.wraps(command)  # keeps the options declared so far (click's __click_params__)
    def checked(*args, **kwargs):
        check_pixels(kwargs["dpi"], kwargs["width"], kwargs["height"])
        return command(*args, **kwargs)

    where = "one column of a paper" if width <= ONE_COLUMN[0] else "the full text width"
    options = [
        click.option("-o", "--output", type=FilePath(dir_okay=False), required=True,
                     metavar="FILE", help="Figure file: .png, .pdf or .svg (by its suffix)."),
        click.option("--dpi", type=click.IntRange(min=10, max=2400), default=300,
                     show_default=True, help="Resolution of a PNG (and of the rasterised "
                     f"parts of a PDF or SVG), dots per inch; at most {MAX_PIXELS // 10**6} "
                     "megapixels in all."),
        click.option("--width", type=FiniteFloat(min=0.5, max=40), default=width,
                     show_default=True, metavar="INCHES", help=f"Figure width in inches "
                                                               f"({where})."),
        click.option("--height", type=FiniteFloat(min=0.5, max=40), default=height,
                     show_default=True, metavar="INCHES", help="Figure height in inches."),
    ]
    for option in reversed(options):
        checked = option(checked)
    return checked


def check_figure_path(path):
    """Fail early (before any computation) on a suffix we cannot write or a missing folder."""
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    if suffix not in FIGURE_FORMATS:
        refuse(f"{path}: figure format must be .png, .pdf or .svg, not {suffix or 'none'!r}")
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


def legend_beside(fig, ax, title=None):
    """The legend of `ax` (its lines, in order) to its right, off the data, and `title` above
    the figure when given; call inside the house style's rc_context."""
    ax.legend(*ax.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.02, 0.5),
              frameon=False)
    if title:
        fig.suptitle(title, fontsize=RC["font.size"])


def save_figure(fig, path, dpi):
    """Write `fig` to `path` atomically and close it.

    The file depends only on the figure: no date and no library version is written into it
    (`SAVE_METADATA`), and SVG element ids are derived from a fixed salt, so the same figure
    gives the same bytes on every run.
    """
    suffix = check_figure_path(path)
    try:
        with plt.rc_context({**RC, "svg.hashsalt": "gradflow"}), atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix, dpi=dpi, metadata=SAVE_METADATA[suffix])
    except OSError as err:
        fail(f"{path}: cannot write ({err.strerror})")
    finally:
        plt.close(fig)


def check_plot_run(output, save_results, results, *compute_options):
    """Before any work: check the figure and results paths, and refuse options that configure
    a computation (the flow options, the command's `compute_options` and --save-results,
    which saves computed numbers) next to RESULTS files."""
    check_figure_path(output)
    refuse_with_results(results, *compute_options, "save_results")
    if save_results is not None:
        check_results_path(save_results)
