"""`gradflow plot training-flow`: the training loss, the decay horizon, the leading Lyapunov
exponent and the memory gate against the update, several runs overlaid, from the files the
training commands write with --flow-every or computed."""

import os

import click
import matplotlib.pyplot as plt

from ..cells.builtin import CELLS, get_cell
from ..cells.skips import parse_skip, transform
from ..io.results import read_table
from ..plotting.style import RC, TWO_COLUMN
from ..plotting.training_flow import plot_training_flow
from ..training.clipping import CLIP_MODES
from ..training.flow import FlowRun, flow_runs_from_table, flow_runs_to_table
from ..training.loop import train
from ..training.skip_training import skip_training_from_table
from ..training.tasks import TASKS, task_shape
from .base import check_results_path, fail, given, one_line_errors, plot, progress_bar, \
    refuse, write_results
from .checkpoints import check_flow_exponents, checkpoint_options
from .figures import check_figure_path, figure_options, new_figure, save_figure
from .params import FINITE, FilePath, FiniteFloat
from .skip_training_cmd import budget_options, flow_runs as skip_training_flow_runs

FIGURE_SIZE = (TWO_COLUMN[0], 2.6)  # inches: three or four panels at the full text width
COMPUTE_OPTIONS = ("cells", "variants", "clip_modes", "clip_threshold", "task", "steps",
                   "hidden", "batch", "updates", "lr", "optimizer", "scale", "forget_bias",
                   "skip_scale", "highway_bias", "seed", "max_loss", "flow_every",
                   "flow_samples", "flow_exponents", "save_results")


def _list(what, check):
    """A click callback for a comma list: each item passes `check` (ValueError), none twice."""
    def parse(ctx, param, value):
        out = []
        for item in (v.strip() for v in value.split(",")):
            try:
                check(item)
            except ValueError as err:
                raise click.BadParameter(str(err)) from None
            if item in out:
                raise click.BadParameter(f"{what} {item!r} is given twice in {value!r}")
            out.append(item)
        return tuple(out)
    return parse


def _one_of(choices, what):
    def check(item):
        if item not in choices:
            raise ValueError(f"unknown {what} {item!r}; choose from {', '.join(choices)}")
    return check


def _variant(item):
    if item != "none":
        parse_skip(item)


def _clipping_label(row):
    return "no clipping" if row["mode"] == "none" else f"{row['mode']} clip {row['threshold']:g}"


def _from_table(table):
    """The FlowRuns of a results file: a training-flow table, the records of `gradflow
    ablate clipping` or `ablate skip-training` written with --flow-every, or of `ablate
    flossing`."""
    kind = table.kind
    if kind is None:  # a CSV: its columns say what wrote it
        kind = ("training_flow" if "run" in table.columns else
                "skip_training" if "model" in table.columns else
                "clipping" if "mode" in table.columns else None)
    if kind == "clipping":
        runs = flow_runs_from_table(table, ("mode", "threshold"), label=_clipping_label)
    elif kind in ("skip_training", "flossing"):
        result = skip_training_from_table(table)
        if result.flows is None:
            raise ValueError("holds no flow checkpoints: run `gradflow ablate skip-training` "
                             "with --flow-every")
        runs = skip_training_flow_runs(result)
    elif kind == "training_flow":
        runs = flow_runs_from_table(table)
    else:
        raise ValueError(f"holds {kind!r} results: draw a training-flow table, the records "
                         "of `gradflow ablate clipping` or `ablate skip-training` written with "
                         "--flow-every, or of `ablate flossing`")
    if not runs:
        raise ValueError("holds no flow checkpoints: train with --flow-every")
    return runs


def _read(paths):
    """The FlowRuns of every file, in order; where two files have runs of one label, each
    label names its file too."""
    per_file = []
    for path in paths:
        try:
            per_file.append((path, _from_table(read_table(path))))
        except ValueError as err:
            fail(str(err) if str(err).startswith(str(path)) else f"{path}: {err}")
    labels = [r.label for _, runs in per_file for r in runs]
    twice = len(set(labels)) < len(labels)
    return [r._replace(label=f"{r.label} ({os.path.basename(path)})") if twice else r
            for path, runs in per_file for r in runs]


def _compute(cells, variants, clip_modes, clip_threshold, budget, connection, flow, quiet):
    """[(label, TrainingResult)] for every cell, variant and clipping mode, from one seed."""
    jobs = [(c, v, m) for c in cells for v in variants for m in clip_modes]
    results = []
    with one_line_errors(), progress_bar(len(jobs) * budget["updates"], "training",
                                         quiet) as bar:
        for cell, variant, mode in jobs:
            model = transform(get_cell(cell), None if variant == "none" else variant,
                              **connection)
            result = train(model, clip_mode=mode, threshold=clip_threshold,
                           progress=lambda: bar.update(1), **budget, **flow)
            label = model.name
            if len(clip_modes) > 1:
                label += f", {_clipping_label({'mode': mode, 'threshold': clip_threshold})}"
            results.append((label, result))
    return results


@plot.command("training-flow")
@click.argument("results", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@figure_options(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1])
@click.option("--cell", "cells", default="rnn,lstm,gru", show_default=True,
              callback=_list("cell", _one_of(tuple(CELLS), "cell")), metavar="C1,C2,...",
              help="Cells to train, each once (the RNN is tanh).")
@click.option("--skip", "variants", default="none", show_default=True,
              callback=_list("variant", _variant), metavar="V1,V2,...",
              help="Skip connections around every cell, each once: none, residual, skip:K, "
                   "dense:K, highway.")
@click.option("--clip-modes", default="norm", show_default=True,
              callback=_list("clipping mode", _one_of(CLIP_MODES, "clipping mode")),
              metavar="M1,M2", help="Clipping modes, each once: none, norm, value.")
@click.option("--clip-threshold", type=FiniteFloat(min=0, min_open=True), default=1.0,
              show_default=True, metavar="T", help="Clipping threshold (global norm for "
                                                   "norm, largest element for value).")
@click.option("--task", type=click.Choice(sorted(TASKS)), default="recall", show_default=True,
              help="Task: delayed recall, copy memory, the adding problem or 'hello'.")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True,
              metavar="T", help="Task length T in time steps (recall: T distractors).")
@budget_options
@click.option("--scale", type=FINITE, default=1.0, show_default=True, metavar="G",
              help="Scale of the recurrent weights (gaussian N(0, G^2/H)).")
@click.option("--forget-bias", type=FINITE, default=1.0, show_default=True, metavar="B",
              help="Initial bias of the gate that keeps memory (LSTM forget gate, GRU update "
                   "gate).")
@click.option("--skip-scale", type=FINITE, default=1.0, show_default=True, metavar="B",
              help="Initial skip weights: B = B I for skip:K, each B_j = (B / K) I for "
                   "dense:K.")
@click.option("--highway-bias", type=FINITE, default=-1.0, show_default=True, metavar="B",
              help="Initial bias of the highway's transform gate.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="INT", help="Seed of the weights, the batches and the held-out "
                                  "sequences (the same for every run).")
@click.option("--max-loss", type=FiniteFloat(min=0, min_open=True, allow_inf=True),
              default=1e6, show_default=True, metavar="LOSS",
              help="A loss above this stops a run as diverged (inf: no limit).")
@checkpoint_options(every_default=20)
@click.option("--window", type=click.IntRange(min=1), default=10, show_default=True,
              metavar="N", help="Updates averaged into the drawn loss (one batch is noisy).")
@click.option("--save-results", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the runs' records and checkpoints to FILE (.csv, .json or .npz "
                   "by its suffix); `gradflow plot training-flow FILE` draws it again.")
@click.option("--title", default=None, help="Title above the figure.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def training_flow(results, output, dpi, width, height, cells, variants, clip_modes,
                  clip_threshold, task, steps, hidden, batch, updates, lr, optimizer, scale,
                  forget_bias, skip_scale, highway_bias, seed, max_loss, flow_every,
                  flow_samples, flow_exponents, window, save_results, title, quiet):
    """Gradient flow while networks learn: the training loss, the horizon (first distance at
    which ||ds_T/ds_t||_2 leaves [1e-3, 1e3], on held-out sequences), the leading Lyapunov
    exponent and the mean memory gate (forget gate, keep fraction, highway carry) against the
    update, one panel each, every run overlaid.

    RESULTS are files written with --flow-every by `gradflow ablate clipping -o`, `gradflow
    ablate skip-training -o` or by this command's --save-results. Without them, every cell of
    --cell under every --skip variant and --clip-modes mode is trained from one --seed and
    drawn.
    """
    check_figure_path(output)
    if results:
        unused = given(*COMPUTE_OPTIONS)
        if unused:
            refuse(f"{', '.join(unused)}: not used when RESULTS files are given (they are "
                   f"drawn as they are); leave {'it' if len(unused) == 1 else 'them'} out")
        runs = _read(results)
    else:
        if save_results is not None:
            check_results_path(save_results)
        check_flow_exponents(flow_exponents, hidden)  # the smallest state of any model: H
        for v in variants:
            lag = (parse_skip(v) or (None, None))[1] if v != "none" else None
            length = task_shape(task, steps)[0]
            if lag is not None and lag > length:
                raise click.BadParameter(f"{v}: the lag {lag} is longer than the sequence "
                                         f"({length} steps)", param_hint="--skip")
        budget = {"task": task, "steps": steps, "hidden": hidden, "batch": batch,
                  "updates": updates, "lr": lr, "optimizer": optimizer, "scale": scale,
                  "forget_bias": forget_bias, "seed": seed, "max_loss": max_loss}
        flow = {"flow_every": flow_every, "flow_samples": flow_samples,
                "flow_exponents": flow_exponents}
        computed = _compute(cells, variants, clip_modes, clip_threshold, budget,
                            {"scale": skip_scale, "highway_bias": highway_bias}, flow, quiet)
        runs = [FlowRun(label, r.loss, r.flow, r.baseline) for label, r in computed]
        if save_results is not None:
            write_results(save_results, flow_runs_to_table(
                runs, {"runs": {label: r.metadata for label, r in computed}}))
    fig, axes = new_figure(width, height, ncols=4 if any(r.flow.gates for r in runs) else 3)
    with plt.rc_context(RC):
        plot_training_flow(runs, axes, window=window)
        if title:
            fig.suptitle(title)
    save_figure(fig, output, dpi)
