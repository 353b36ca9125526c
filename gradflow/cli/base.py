"""The command groups and the helpers every subcommand shares."""

import sys

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gradflow")
def main():
    """Measure and draw how gradients flow backwards through time in recurrent networks."""


@main.group()
def plot():
    """Draw a figure (PNG, PDF or SVG, by the suffix of -o)."""


@main.group()
def ablate():
    """Ablations: what a remedy (clipping, skip connections) changes about gradient flow."""


def fail(message):
    """Stop with one line on stderr ("Error: ...") and exit status 1: how commands report bad input."""
    raise click.ClickException(message)


def progress_bar(length, label, quiet):
    """A click progress bar on stderr; silent with --quiet or when stderr is not a terminal."""
    show = not quiet and sys.stderr.isatty()
    return click.progressbar(length=length, label=label, file=sys.stderr if show else _Null())


class _Null:
    def write(self, _):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False
