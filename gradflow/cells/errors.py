"""The errors a cell raises about its settings."""

__all__ = ["NotApplicable"]


class NotApplicable(ValueError):
    """A setting that does not apply to the cell it was given for (an `init` the LRU does not
    draw from): the command line reports it as a bad option value (exit 2)."""
