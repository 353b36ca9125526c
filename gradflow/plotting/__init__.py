"""Figures: every function draws on a matplotlib Axes it is given (or the current one) and
returns it; none calls `show` or `savefig`."""
