"""The options of gradient flossing during training (`--floss`, `--floss-weight`,
`--floss-every`, `--prefloss`), for the commands that train, and the lines that report it."""

import math

import click

from .params import FiniteFloat

__all__ = ["floss_options", "floss_settings", "floss_lines"]

NEVER = "never"  # --floss-every never: flossing only before training (with --prefloss)


class _Every(click.ParamType):
    """A whole number of at least 1, or 'never' (None)."""

    name = "every"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, str) and value.strip().lower() == NEVER):
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        try:
            number = int(str(value).strip())
        except ValueError:
            number = 0
        if number < 1:
            self.fail(f"{value!r} is neither a whole number of at least 1 nor {NEVER!r}", param,
                      ctx)
        return number


def floss_options(command=None, *, floss=0, prefloss=0):
    """Add --floss, --floss-weight, --floss-every and --prefloss to a training command
    (parameters floss, floss_weight, floss_every, prefloss; as `train` takes them), with the
    defaults `floss` and `prefloss` (0: no flossing unless asked for)."""
    if command is None:
        return lambda cmd: floss_options(cmd, floss=floss, prefloss=prefloss)
    options = [
        click.option("--floss", type=click.IntRange(min=0 if floss == 0 else 1),
                     default=floss, show_default=True, metavar="K",
                     help="Gradient flossing (Engelken 2023): add to the loss the mean of the "
                          "squared leading K Lyapunov exponents of one sequence of the batch, "
                          "pushing them towards 0 (at most the state size"
                          + ("; 0: no flossing)." if floss == 0 else ").")),
        click.option("--floss-weight", type=FiniteFloat(min=0, min_open=True), default=1.0,
                     show_default=True, metavar="BETA",
                     help="Weight of the flossing loss (positive and finite)."),
        click.option("--floss-every", type=_Every(), default=1, show_default=True,
                     metavar="M|never",
                     help="Floss at updates 1, 1 + M, 1 + 2M, ...; 'never': only before "
                          "training (needs --prefloss)."),
        click.option("--prefloss", type=click.IntRange(min=0), default=prefloss,
                     show_default=True,
                     metavar="N",
                     help="Before training, N updates on the flossing loss alone, one fresh "
                          "sequence of the task each (needs --floss K)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def floss_settings(floss, floss_weight, floss_every, prefloss, state_size):
    """The keyword arguments of `train` for these options ({} without flossing); refuses (exit
    2, one line) settings that contradict each other or the state size."""
    if prefloss and not floss:
        raise click.BadParameter(f"--prefloss {prefloss} needs --floss K > 0, the number of "
                                 "exponents to floss", param_hint="--prefloss")
    if not floss:
        return {}
    if floss > state_size:
        raise click.BadParameter(f"{floss} exponents asked for, but the state has "
                                 f"{state_size} dimensions", param_hint="--floss")
    if floss_every is None and not prefloss:
        raise click.BadParameter("'never' flosses only before training: give --prefloss N",
                                 param_hint="--floss-every")
    return {"floss": floss, "floss_weight": floss_weight, "floss_every": floss_every,
            "prefloss": prefloss}


def _fmt(value):
    return "-" if value is None or math.isnan(value) else f"{value:.4g}"


def floss_lines(runs):
    """What flossing did, for (label, `TrainingResult`) pairs of runs that flossed: the
    preflossing losses (shared by the runs of one ablation) and each run's flossing loss at
    its first and last flossed update."""
    meta = runs[0][1].metadata
    every = meta["floss_every"]
    when = "only before training" if every is None else \
        "at every update" if every == 1 else f"at updates 1, {1 + every}, {1 + 2 * every}, ..."
    lines = ["", f"gradient flossing of the leading {meta['floss']} Lyapunov exponents, weight "
                 f"{meta['floss_weight']:g}, {when}:"]
    pre = runs[0][1].prefloss
    if pre is not None and len(pre.loss):
        lines.append(f"preflossing: {len(pre.loss)} updates, flossing loss {_fmt(pre.loss[0])} "
                     f"before the first, {_fmt(pre.loss[-1])} before the last")
    for label, result in runs:
        done = [i for i, v in enumerate(result.flossing_loss) if not math.isnan(v)]
        if done:
            lines.append(f"{label}: flossing loss {_fmt(result.flossing_loss[done[0]])} at "
                         f"update {done[0] + 1}, {_fmt(result.flossing_loss[done[-1]])} at "
                         f"update {done[-1] + 1}")
    lines.append("flossing loss: mean of the squared exponents (natural log per step) of the "
                 "batch's first sequence, before the update")
    return lines
