"""The one place the version is written: setup.cfg reads it, results and `--version` quote it."""

__version__ = "0.1.0"
