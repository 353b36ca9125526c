"""Option types that refuse what click's own accept silently: nan, inf and empty file names.

click's FloatRange compares with < and >, and every comparison with nan is false, so
`--scale nan` passes a FloatRange(min=0); `inf` passes any range without a maximum. A figure
drawn from nan is blank and a training run on nan weights reports nonsense, so every real-valued
option of the commands that use these types must be a finite number.
"""

import math

import click

__all__ = ["FiniteFloat", "FINITE", "finite_pair", "FilePath", "cell_list"]


class FiniteFloat(click.FloatRange):
    """A FloatRange whose values must also be finite (not nan, inf or -inf), unless
    `allow_inf` lets +inf through (e.g. "no limit")."""

    name = "finite float"

    def __init__(self, min=None, max=None, *, min_open=False, max_open=False, allow_inf=False):
        super().__init__(min, max, min_open=min_open, max_open=max_open)
        self.allow_inf = allow_inf

    def _describe_range(self):
        # click describes an unbounded range as "x<=None"; say that it must be finite instead
        if self.min is None and self.max is None:
            return "finite"
        return super()._describe_range()

    def convert(self, value, param, ctx):
        number = click.FloatRange.convert(self, value, param, ctx)
        if math.isnan(number) or (math.isinf(number) and not (self.allow_inf and number > 0)):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE = FiniteFloat()


def finite_pair(what):
    """A click callback parsing 'A,B' into two finite floats; `what` names them in the error
    ("LO,HI", "W,B")."""
    def parse(ctx, param, value):
        parts = value.split(",")
        try:
            numbers = tuple(float(v) for v in parts)
        except ValueError:
            numbers = ()
        if len(numbers) != 2:
            raise click.BadParameter(f"expected two numbers {what}, got {value!r}")
        if not all(math.isfinite(v) for v in numbers):
            raise click.BadParameter(f"{value!r}: both numbers must be finite")
        return numbers
    return parse


class FilePath(click.Path):
    """click.Path that refuses an empty name: `-o ""` must not quietly write nothing."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("the file name is empty", param, ctx)
        return super().convert(value, param, ctx)


def cell_list(choices):
    """The callback of a repeatable --cell that also takes comma lists: names among `choices`,
    each once, in the order given."""
    def parse(ctx, param, values):
        out = []
        for value in values:
            for name in (v.strip() for v in value.split(",")):
                if name not in choices:
                    raise click.BadParameter(f"unknown cell {name!r}; choose from "
                                             f"{', '.join(choices)}")
                if name in out:
                    raise click.BadParameter(f"cell {name!r} is given twice")
                out.append(name)
        return tuple(out)
    return parse
