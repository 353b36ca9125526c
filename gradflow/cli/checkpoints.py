"""The options of gradient-flow checkpoints during training (`--flow-every`, `--flow-samples`,
`--flow-exponents`), shared by every command that trains, and the lines that report them."""

import math

import click

from ..training.flow import FLOW_EXPONENTS, FLOW_SAMPLES

__all__ = ["checkpoint_options", "check_flow_exponents", "flow_lines"]


def checkpoint_options(command=None, *, every_default=None):
    """Add --flow-every, --flow-samples and --flow-exponents to a training command (parameters
    flow_every, flow_samples, flow_exponents). `every_default` is --flow-every's default (None:
    no checkpoints unless asked for)."""
    if command is None:
        return lambda cmd: checkpoint_options(cmd, every_default=every_default)
    options = [
        click.option("--flow-every", type=click.IntRange(min=1), default=every_default,
                     show_default=every_default is not None, metavar="N",
                     help="Gradient-flow checkpoints: before the first update, after every "
                          "N-th and after the last, measure the current weights on held-out "
                          "sequences of the task (decay verdict, factor per step, horizon, "
                          "log10 norms at distances 1, 10 and the task's delay, leading "
                          "Lyapunov exponents, mean memory gate), kept with the training "
                          "records." + ("" if every_default is not None else
                                        " [default: none]")),
        click.option("--flow-samples", type=click.IntRange(min=1), default=FLOW_SAMPLES,
                     show_default=True, metavar="S",
                     help="Held-out sequences per checkpoint (drawn from the seed, never "
                          "trained on)."),
        click.option("--flow-exponents", type=click.IntRange(min=1), default=FLOW_EXPONENTS,
                     show_default=True, metavar="K",
                     help="Leading Lyapunov exponents per checkpoint (at most the state "
                          "size)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_flow_exponents(flow_exponents, state_size):
    """Refuse (exit 2, one line) more exponents than the state has."""
    if flow_exponents > state_size:
        raise click.BadParameter(f"{flow_exponents} exponents asked for, but the state has "
                                 f"{state_size} dimensions", param_hint="--flow-exponents")


def _fmt(value, spec):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, spec)


def flow_lines(runs):
    """The first and last checkpoint of each `flow.FlowRun`, one line each: what people read
    on stdout (the file of -o holds every checkpoint)."""
    width = max(12, 2 + max(len(r.label) for r in runs))
    lines = ["", "gradient flow at the first and the last checkpoint (held-out sequences):",
             f"{'run':{width}}{'update':>7} {'verdict':<10}{'factor':>7}{'horizon':>8}"
             f"{'log10 at delay':>15}{'lyapunov_1':>11}{'gate':>7}"]
    for r in runs:
        f = r.flow
        for i in (0, len(f) - 1) if len(f) > 1 else (0,):
            gate = next((float(v[i]) for v in f.gates.values()), None)
            horizon = None if math.isnan(f.horizon[i]) else int(f.horizon[i])
            lines.append(f"{r.label:{width}}{int(f.update[i]):>7} {str(f.verdict[i]):<10}"
                         f"{_fmt(float(f.rate[i]), '.3f'):>7}{_fmt(horizon, 'd'):>8}"
                         f"{_fmt(float(f.log10_norms[i, -1]), '.2f'):>15}"
                         f"{_fmt(float(f.lyapunov[i, 0]), '.3f'):>11}{_fmt(gate, '.3f'):>7}")
    delays = sorted({r.flow.delay for r in runs})
    delay = (f"the task's delay is distance {delays[0]}" if len(delays) == 1 else
             "the task's delay: distance T + 1 (recall), T + 10 (copy)")
    lines.append("factor: per step; horizon: first distance with norm < 1e-3 or > 1e3 (-: "
                 f"none within the sequence); {delay}; lyapunov_1 in log10 per step; gate: "
                 "mean forget gate (LSTM), keep fraction (GRU) or highway carry")
    return lines
