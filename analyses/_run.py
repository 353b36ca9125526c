"""Shared by the figure scripts: run the `gradflow` command line a script quotes, from the
repository root, so that its paths (figures/...) are the README's."""

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_command(command):
    """Run `command` ("gradflow plot ...") through the CLI in this process."""
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    os.makedirs("figures", exist_ok=True)
    from gradflow.cli import main

    main(shlex.split(command)[1:], standalone_mode=False)
