"""The command groups and the helpers every subcommand shares."""

import os
import sys
from contextlib import contextmanager

import click
from click.core import ParameterSource

from .._version import __version__
from ..cells.errors import NotApplicable
from ..io.results import format_for, table_to_text, write_table


class Group(click.Group):
    """A click group whose usage errors are one line ("Error: ...", exit status 2), not a
    usage block: bad input gets one clear line on stderr."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            one_line = click.ClickException(err.format_message())
            one_line.exit_code = 2
            raise one_line from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"],
                                          "max_content_width": 100})
@click.version_option(__version__, prog_name="gradflow")
def main():
    """Measure and draw how gradients flow backwards through time in recurrent networks."""


@main.group(cls=Group)
def plot():
    """Draw a figure (PNG, PDF or SVG, by the suffix of -o)."""


@main.group(cls=Group)
def ablate():
    """Ablations: what a remedy (clipping, skip connections) changes about gradient flow."""


def fail(message):
    """Stop with one line on stderr ("Error: ...") and exit status 1: a file whose contents do
    not fit, a run the machine cannot hold, a run that failed."""
    raise click.ClickException(message)


def refuse(message):
    """Stop with one line on stderr and exit status 2, as click does for a bad option value:
    a value click's types cannot judge alone (one out of range for the sequence, a results or
    figure name of an unknown format, a weights file that is not there) and options that
    contradict each other."""
    raise click.UsageError(message)


@contextmanager
def one_line_errors():
    """Turn the library's refusals (ValueError for bad arguments, FloatingPointError for a run
    that overflowed, MemoryError) into one line and exit status 1; a setting that does not
    apply to the cell (`NotApplicable`) is an option that contradicts another: exit status 2."""
    try:
        yield
    except NotApplicable as err:
        refuse(str(err))
    except (ValueError, FloatingPointError, MemoryError) as err:
        fail(str(err) or type(err).__name__)


def given(*names):
    """The options among `names` (parameter names) given on the command line, as spelled there
    (their long form), in the order of `names`."""
    ctx = click.get_current_context()
    spelled = {p.name: max(p.opts, key=len) for p in ctx.command.params}
    return [spelled[n] for n in names
            if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE,
                                               ParameterSource.ENVIRONMENT)]


def check_results_path(path):
    """Refuse, before any work is done, a results path we could not write."""
    if not path.strip():
        fail("the results file name is empty")
    try:
        format_for(path)
    except ValueError as err:
        refuse(str(err))  # a bad option value
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        fail(f"{path}: folder {folder} does not exist")
    if os.path.isdir(path):
        fail(f"{path}: is a folder")


def write_results(path, table):
    """Write a results table (atomically); a one-line error if the file cannot be written."""
    try:
        write_table(path, table)
    except OSError as err:
        fail(f"{path}: cannot write ({err.strerror})")


def emit(table, text, fmt, output):
    """Write `table` to `output` (when given) and print it: `text` (the table people read, a
    string or a function making it) for --format table, else the table as CSV or JSON."""
    if output is not None:
        write_results(output, table)
    if fmt == "table":
        click.echo(text() if callable(text) else text)
    else:
        click.echo(table_to_text(table, fmt), nl=False)


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
