"""Figures: every function draws on a matplotlib Axes it is given (or the current one) and
returns it; none calls `show` or `savefig`. Draws what analysis and training return; may import
cells, engine, analysis, io and training, never the CLI.
"""
