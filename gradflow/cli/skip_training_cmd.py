"""`gradflow ablate skip-training`, and `gradflow plot skip-training`, which draws its figure
again from the results file it wrote."""

import click
import matplotlib.pyplot as plt

from .._version import __version__
from ..cells.builtin import CELLS
from ..cells.skips import parse_skip
from ..plotting.skip_training import plot_loss_curves, plot_skip_training
from ..plotting.style import RC, TWO_COLUMN
from ..training.optimizers import OPTIMIZERS
from ..training.tasks import task_shape
from ..training.skip_training import (DELAYS, EXTRA_CELLS, SKIP_TRAINING_TASKS, SOLVED,
                                      VARIANTS,
                                      accuracy_by_delay, skip_training,
                                      skip_training_from_table, skip_training_to_table)
from .base import ablate, check_results_path, one_line_errors, plot, progress_bar, \
    emit
from .figures import check_figure_path, figure_options, legend_beside, new_figure, save_figure
from .checkpoints import check_flow_exponents, checkpoint_options, flow_lines
from .options import INIT_OPTIONS
from .params import FINITE, FilePath, FiniteFloat
from .plot_cmds import read_results

FIGURE_SIZE = (TWO_COLUMN[0], 2.8)  # inches: one panel per task and the legend beside them


BUDGET_OPTIONS = [
    click.option("--hidden", type=click.IntRange(min=1), default=32, show_default=True,
                 metavar="H", help="Hidden units of every model."),
    click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
                 metavar="B", help="Sequences per mini-batch."),
    click.option("--updates", type=click.IntRange(min=1), default=300, show_default=True,
                 metavar="N", help="Parameter updates per run (the same budget for all)."),
    click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=0.005,
                 show_default=True, metavar="RATE",
                 help="Learning rate (step size, unitless; positive and finite)."),
    click.option("--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default="adam",
                 show_default=True, help="Optimizer of every run."),
]


def budget_options(command):
    """Add the training budget of the commands that train several models on one task:
    --hidden, --batch, --updates, --lr, --optimizer."""
    for option in reversed(BUDGET_OPTIONS):
        command = option(command)
    return command


def items(kind, check):
    """A click callback for a comma list: each item passes `check` (which raises ValueError),
    none twice; 'none' alone is the empty list where `kind` allows it."""
    def parse(ctx, param, value):
        items = [v.strip() for v in value.split(",")]
        if kind == "cell" and items == ["none"]:
            return ()
        out = []
        for item in items:
            try:
                out.append(check(item))
            except ValueError as err:
                raise click.BadParameter(str(err)) from None
            if out[-1] in out[:-1]:
                raise click.BadParameter(f"{kind} {item!r} is given twice in {value!r}")
        return tuple(out)
    return parse


def _variant(text):
    if text != "none":
        parse_skip(text)
    return text


def _cell(text):
    if text not in CELLS:
        raise ValueError(f"unknown cell {text!r}; choose from {', '.join(CELLS)} (or none alone)")
    return text


def _task(text):
    if text not in SKIP_TRAINING_TASKS:
        raise ValueError(f"unknown task {text!r}; choose from {', '.join(SKIP_TRAINING_TASKS)}")
    return text


def _whole(low, what):
    def check(text):
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if number < low:
            raise ValueError(f"{what} must be at least {low}, got {number}")
        return number
    return check


def _delay_lists(ctx, param, values):
    """--delays, repeated: [(task or None, delays)]; 'recall:5,10' is for recall only, '5,10'
    for every task without a list of its own."""
    out = []
    for value in values:
        task, _, listed = value.rpartition(":")
        if task and task not in SKIP_TRAINING_TASKS:
            raise click.BadParameter(f"{value!r}: unknown task {task!r}; choose from "
                                     f"{', '.join(SKIP_TRAINING_TASKS)}")
        if any(t == (task or None) for t, _ in out):
            raise click.BadParameter(f"{value!r}: delays for "
                                     f"{task or 'every task'} are given twice")
        out.append((task or None, items("delay", _whole(1, "a delay"))(ctx, param, listed)))
    return out


def resolve_delays(tasks, lists, defaults=DELAYS):
    """{task: delays} from the parsed --delays (exit 2 for a list of a task not trained);
    `defaults` ({task: delays}) for the tasks without a list."""
    own = {t: d for t, d in lists if t is not None}
    every = next((d for t, d in lists if t is None), None)
    for task in own:
        if task not in tasks:
            raise click.BadParameter(f"delays are given for {task}, which --tasks does not "
                                     "train", param_hint="--delays")
    return {t: own.get(t, every if every is not None else defaults[t]) for t in tasks}


def _threshold(ctx, param, value):
    if value.strip().lower() == "none":
        return None
    return FiniteFloat(min=0, min_open=True).convert(value, param, ctx)


def comparison_options(*, tasks, delays, seeds, plot_command, figure_text):
    """The options of the commands that train several models on tasks that need memory at
    several delays with one budget (ablate skip-training, ablate flossing): --extra-cells,
    --tasks, --delays, the budget, --clip-threshold, --forget-bias, --skip-scale,
    --highway-bias, --seeds, --eval-batch, --workers, --format, -o, --figure; with the default
    `tasks`, `delays` ({task: delays}) and `seeds`."""
    options = [
        click.option("--extra-cells", default=",".join(EXTRA_CELLS), show_default=True,
                     callback=items("cell", _cell), metavar="C1,C2,...|none",
                     help="Other cells trained alongside, without a connection."),
        click.option("--tasks", default=",".join(tasks), show_default=True,
                     callback=items("task", _task), metavar="T1,T2",
                     help="Tasks that need memory: recall (the first of T + 1 tokens, asked "
                          "for after T distractors), copy (10 tokens, copied after T blanks)."),
        click.option("--delays", "delay_lists", multiple=True,
                     callback=_delay_lists, metavar="[TASK:]T1,T2,...",
                     help="Delays T in time steps, each at least 1: recall's distractors, "
                          "copy's blanks; TASK: gives a task its own list. Repeat for each "
                          "task. [default: " + "; ".join(f"{t}:{','.join(map(str, d))}"
                                                         for t, d in delays.items()) + "]"),
        *BUDGET_OPTIONS,
        click.option("--clip-threshold", default="1", show_default=True, callback=_threshold,
                     metavar="NORM|none", help="Global gradient-norm clipping at NORM for every "
                                               "run (positive, finite), or none."),
        INIT_OPTIONS[2],  # --forget-bias
        click.option("--skip-scale", type=FINITE, default=1.0, show_default=True, metavar="B",
                     help="Initial skip weights: B = B I for skip:K, each B_j = (B / K) I for "
                          "dense:K."),
        click.option("--highway-bias", type=FINITE, default=-1.0, show_default=True,
                     metavar="B", help="Initial bias of the highway's transform gate; negative "
                                       "keeps more of s_{t-1}."),
        click.option("--seeds", default=",".join(map(str, seeds)), show_default=True,
                     callback=items("seed", _whole(0, "a seed")), metavar="S1,S2,...",
                     help="One run per seed and model: the seed fixes the initial weights, the "
                          "training batches and the held-out batch (the same for every "
                          "model)."),
        click.option("--eval-batch", type=click.IntRange(min=1), default=256, show_default=True,
                     metavar="N", help="Held-out sequences on which each trained model is "
                                       "judged."),
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                     metavar="N", help="Processes training runs side by side (at most one per "
                                       "core helps); the results do not depend on N."),
        click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]),
                     default="table", show_default=True,
                     help="What to print on stdout: the tables for people, or the rows of -o "
                          "as CSV / JSON (columns in the README)."),
        click.option("-o", "--output", type=FilePath(dir_okay=False), metavar="FILE",
                     help="Also write one row per run (and update, with flow checkpoints) to "
                          "FILE: .csv, .json or .npz by its suffix; `gradflow plot "
                          f"{plot_command} FILE` draws the figure again."),
        click.option("--figure", type=FilePath(dir_okay=False), metavar="FILE",
                     help=f"Also draw {figure_text} to FILE (.png, .pdf, .svg)."),
    ]

    def add(command):
        for option in reversed(options):
            command = option(command)
        return command
    return add


def check_lags(variants, tasks, delays, hint):
    """Refuse (exit 2, one line, naming the option `hint`) a connection whose lag is longer
    than the shortest sequence of the tasks at their delays ({task: delays})."""
    length, task, delay = min((task_shape(t, d)[0], t, d) for t in tasks for d in delays[t])
    for v in variants:
        lag = (parse_skip(v) or (None, None))[1]
        if lag is not None and lag > length:
            raise click.BadParameter(f"{v}: the lag {lag} is longer than the shortest sequence "
                                     f"({task} at delay {delay}: {length} steps)",
                                     param_hint=hint)


def _refuse_skip(ctx, param, value):
    if value is not None:
        raise click.UsageError("ablate skip-training compares the connections of --variants: "
                               "leave out --skip")


def _settings_line(metadata):
    m = metadata
    clip = ("no clipping" if m["clip_threshold"] is None
            else f"norm clipping at {m['clip_threshold']:g}")
    seeds = ",".join(str(s) for s in m["seeds"])
    return (f"gradflow {__version__}: base cell {m['cell']}, H={m['hidden']}, batch "
            f"{m['batch']}, {m['updates']} updates "
            f"of {m['optimizer']} at lr {m['lr']:g}, {clip}, forget bias "
            f"{m['forget_bias']:g}, skip scale {m['skip_scale']:g}, highway bias "
            f"{m['highway_bias']:g}, seeds {seeds}; accuracy on {m['eval_batch']} held-out "
            "sequences")


def flow_runs(result):
    """The runs' FlowRuns labelled by what tells them apart: model, and task, delay and seed
    where the runs have several."""
    varying = [k for k in ("task", "delay", "seed")
               if len({getattr(r, k) for r in result.runs}) > 1]
    words = {"task": lambda r: r.task, "delay": lambda r: f"T={r.delay}",
             "seed": lambda r: f"seed {r.seed}"}
    return [f._replace(label=" ".join([r.model] + [words[k](r) for k in varying]))
            for r, f in zip(result.runs, result.flows)]


def accuracy_tables(result):
    """Per task: the held-out accuracy (mean over seeds) per model and delay, and the largest
    delay each model solves; the text people read."""
    lines = [_settings_line(result.metadata)] if result.metadata else []
    for task in dict.fromkeys(r.task for r in result.runs):
        s = accuracy_by_delay(result, task)
        seeds = len({r.seed for r in result.runs})
        diverged = {(r.model, r.delay) for r in result.runs if r.task == task and r.diverged}
        width = max(14, 2 + max(len(m) for m in s.models))
        lines += ["", f"{task}: held-out accuracy at delay T, mean over {seeds} "
                      f"seed{'s' if seeds > 1 else ''} (chance {s.chance:g})",
                  f"{'model':{width}}" + "".join(f"{d:>8}" for d in s.delays)
                  + f"{'solves up to':>15}"]
        for i, model in enumerate(s.models):
            cells = "".join(f"{s.mean[i, j]:>7.2f}" + ("*" if (model, d) in diverged else " ")
                            for j, d in enumerate(s.delays))
            solved = "-" if s.solved[i] is None else str(s.solved[i])
            lines.append(f"{model:{width}}{cells}{solved:>14}")
    lines += ["", f"solves up to: the largest delay whose mean accuracy is at least {SOLVED:g}; "
                  "* a run diverged. Delay T: recall, distractors between the token and the "
                  "query; copy, blank steps between the data and the delimiter."]
    return "\n".join(lines)


def draw_skip_training(result, path, *, dpi=300, width=FIGURE_SIZE[0], height=FIGURE_SIZE[1],
                       title=None, curves=False):
    """One panel per task (accuracy against delay, one line per model), or with `curves` one
    per task and delay (the training loss against the update, the memoryless loss dashed);
    the legend beside the last panel (off the data), saved to `path`."""
    tasks = list(dict.fromkeys(r.task for r in result.runs))
    panels = [(t, d) for t in tasks for d in dict.fromkeys(r.delay for r in result.runs
                                                           if r.task == t)] if curves else tasks
    fig, axes = new_figure(width, height, ncols=len(panels), squeeze=False)
    with plt.rc_context(RC):
        for ax, panel in zip(axes[0], panels):
            if curves:
                plot_loss_curves(result, *panel, ax=ax, legend=False)
            else:
                plot_skip_training(result, panel, ax=ax, legend=False)
        for ax in axes[0][1:]:
            ax.set_ylabel("")
        legend_beside(fig, axes[0][-1], title)
    save_figure(fig, path, dpi)


def check_curves(curves, flow_every, option="--flow-every"):
    """Refuse --curves for runs without training curves (exit 2, one line)."""
    if curves and flow_every is None:
        raise click.UsageError(f"--curves draws the training loss of every update, which the "
                               f"runs keep only with flow checkpoints: add {option} N")


curves_option = click.option(
    "--curves", is_flag=True,
    help="Draw the training loss against the update instead, one panel per task and delay "
         "(mean over the seeds), the memoryless loss dashed (runs with --flow-every).")


@ablate.command("skip-training")
@click.option("--cell", type=click.Choice(sorted(CELLS)), default="rnn", show_default=True,
              help="Base cell whose skip variants are trained (the RNN is tanh).")
@click.option("--variants", default=",".join(VARIANTS), show_default=True,
              callback=items("variant", _variant), metavar="V1,V2,...",
              help="Connections around the base cell, each once, from none (the cell alone), "
                   "residual, skip:K, dense:K, highway (K a lag in steps).")
@comparison_options(tasks=("recall", "copy"), delays=DELAYS, seeds=(0, 1, 2),
                    plot_command="skip-training", figure_text="accuracy against delay (one "
                    "panel per task)")
@curves_option
@click.option("--skip", hidden=True, expose_value=False, callback=_refuse_skip)
@checkpoint_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def skip_training_command(cell, variants, extra_cells, tasks, delay_lists, hidden, batch,
                          updates, lr, optimizer, clip_threshold, forget_bias, skip_scale,
                          highway_bias, seeds, eval_batch, workers, fmt, output, figure, curves,
                          flow_every, flow_samples, flow_exponents, quiet):
    """Train the base cell under each skip connection, and the other cells, on tasks that need
    memory at several delays: the same budget, optimizer, clipping and seeds for all.

    Each run is judged on held-out sequences (from its seed, never trained on): accuracy at the
    outputs that need memory (recall: the answer at the query; copy: the 10 copied tokens, not
    the blanks). Prints, per task, the accuracy (mean over the seeds) per model and delay, and
    the largest delay each model solves: where its mean accuracy is at least 0.9. A run whose
    loss stops being finite is stopped and reported (diverged), not raised. With --flow-every
    every run's flow checkpoints are recorded: -o then writes one row per run and update
    (README, output formats).
    """
    if output is not None:
        check_results_path(output)
    if figure is not None:
        check_figure_path(figure)
    check_curves(curves, flow_every)
    delays = resolve_delays(tasks, delay_lists)
    if "none" in variants and cell in extra_cells:
        raise click.BadParameter(f"{cell} is the base cell, trained already as variant none",
                                 param_hint="--extra-cells")
    check_lags(variants, tasks, delays, "--variants")
    flow = {}
    if flow_every is not None:
        check_flow_exponents(flow_exponents, hidden)  # the smallest state of any model: H
        flow = {"flow_every": flow_every, "flow_samples": flow_samples,
                "flow_exponents": flow_exponents}
    runs = sum(map(len, delays.values())) * len(seeds) * (len(variants) + len(extra_cells))
    with one_line_errors(), progress_bar(runs, "training runs", quiet) as bar:
        result = skip_training(cell, variants=variants, extra_cells=extra_cells, tasks=tasks,
                               delays=delays, seeds=seeds, hidden=hidden, batch=batch,
                               updates=updates, lr=lr, optimizer=optimizer,
                               clip_threshold=clip_threshold, skip_scale=skip_scale,
                               highway_bias=highway_bias, forget_bias=forget_bias,
                               eval_batch=eval_batch, workers=workers,
                               progress=lambda: bar.update(1), **flow)
    table = skip_training_to_table(result)
    text = (lambda: accuracy_tables(result)) if not flow else \
        (lambda: "\n".join([accuracy_tables(result)] + flow_lines(flow_runs(result))))
    emit(table, text, fmt, output)
    if figure is not None:
        draw_skip_training(result, figure, curves=curves)


@plot.command("skip-training")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@figure_options(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1])
@click.option("--title", default=None, help="Title above the figure.")
@curves_option
def plot_skip_training_command(results, output, dpi, width, height, title, curves):
    """Held-out accuracy against delay of every model, one panel per task, from the RESULTS
    file that `gradflow ablate skip-training -o` wrote (CSV, JSON or NPZ): the figure of its
    --figure."""
    check_figure_path(output)
    (result,) = read_results([results], ("skip_training", "flossing"), skip_training_from_table)
    if not result.runs:
        raise click.ClickException(f"{results}: holds no runs")
    if curves and result.flows is None:
        raise click.ClickException(f"--curves: {results} holds no training curves (its runs were "
                               f"trained without --flow-every)")
    draw_skip_training(result, output, dpi=dpi, width=width, height=height, title=title,
                       curves=curves)
