"""`gradflow sweep`: the spec (its grid, defaults, every kind of bad spec) and --dry-run."""

import inspect
import os

import pytest

from gradflow.sweep.spec import NETWORK_KEYS, SpecError, read_spec
from gradflow.training.skip_training import skip_training

from cli_run import run, run_subprocess

GOOD = """
analysis = "decay"
output = "out"
[grid]
cell = ["rnn", "lstm"]
scale = [0.5, 1, 1.5]
[fixed]
hidden = 4
steps = 10
"""


def write(folder, text, name="spec.toml"):
    path = folder / name
    path.write_text(text)
    return str(path)


def test_grid_is_the_cartesian_product_in_order_with_defaults_filled(tmp_path):
    spec = read_spec(write(tmp_path, GOOD))
    assert spec.analysis == "decay" and spec.grid == ("cell", "scale")
    assert spec.output == str(tmp_path / "out")  # relative to the spec's folder
    assert [(p["cell"], p["scale"]) for p in spec.points] == [
        ("rnn", 0.5), ("rnn", 1.0), ("rnn", 1.5), ("lstm", 0.5), ("lstm", 1.0), ("lstm", 1.5)]
    for p in spec.points:
        assert set(p) == set(NETWORK_KEYS)
        assert (p["hidden"], p["steps"], p["seed"], p["samples"], p["skip"]) == (4, 10, 0, 1,
                                                                                 "none")
        assert isinstance(p["scale"], float)  # 1 and 1.0 are one point


BAD = [  # (spec body after analysis/output, the key the message names, a word it contains)
    ("", "grid", "missing"),
    ("[grid]", "grid", "empty"),
    ("[grid]\nscale = []", "grid.scale", "empty list"),
    ("[grid]\nscale = 1.0", "grid.scale", "not a list"),
    ("[grid]\nscale = [0.5, 'x']", "grid.scale", "'x' is not a number"),
    ("[grid]\nhidden = [4, 2.5]", "grid.hidden", "2.5 is not an integer"),
    ("[grid]\nhidden = [0]", "grid.hidden", "0: hidden must be a positive integer"),
    ("[grid]\nseed = [-1]", "grid.seed", "non-negative"),
    ("[grid]\ncell = ['rnn', 'transformer']", "grid.cell", "unknown cell 'transformer'"),
    ("[grid]\ninit = ['xavier']", "grid.init", "unknown init 'xavier'"),
    ("[grid]\nskip = ['skip:0']", "grid.skip", "'skip:0'"),
    ("[grid]\nscale = [inf]", "grid.scale", "finite"),
    ("[grid]\ncolour = [1]", "grid.colour", "unknown key"),
    ("[grid]\nseed = [1, 1]", "grid.seed", "given twice"),
    ("[grid]\nscale = [1.0]\n[fixed]\nscale = 2.0", "fixed.scale", "in [grid] as well"),
    ("[grid]\nseed = [0]\n[fixed]\nhidden = [4]", "fixed.hidden", "not an integer"),
    ("[grid]\nseed = [0]\n[fixed]\nbidirectional = 1", "fixed.bidirectional", "true or false"),
    ("[grid]\nskip = ['skip:40']\n[fixed]\nsteps = 10", "point skip='skip:40'", "longer than"),
    ("[grid]\nbidirectional = [true]", "point bidirectional=True", "forwards in time"),
    ("extra = 1\n[grid]\nseed = [0]", "extra", "unknown key"),
    ("[grid]\nseed = [0]\n[analysis_options]\nexponents = 2", "analysis_options.exponents",
     "unknown key"),
]


@pytest.mark.parametrize("body, key, words", BAD)
def test_bad_spec_is_one_line_naming_key_and_value_exit_2_nothing_created(tmp_path, body, key,
                                                                          words):
    path = write(tmp_path, f'analysis = "decay"\noutput = "out"\n{body}\n')
    code, out, err = run(["sweep", path])
    assert code == 2, err
    assert err.splitlines() == [err.strip()] and err.startswith(f"Error: {path}: {key}: "), err
    assert words in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("head, key, words", [
    ('analysis = "flossing"\noutput = "o"', "analysis", "'flossing' is not one of"),
    ('analysis = "decay"\noutput = 3', "output", "not a folder"),
    ('output = "o"', "analysis", "missing"),
    ('analysis = "lyapunov"\noutput = "o"\n[analysis_options]\nexponents = 9',
     "analysis_options.exponents", "more than the state size 4"),
    ('analysis = "lyapunov"\noutput = "o"\n[analysis_options]\ndiscard = 10',
     "analysis_options.discard", "leaves no steps"),
    ('analysis = "clipping"\noutput = "o"\n[analysis_options]\nmodes = ["norm", "norm"]',
     "analysis_options.modes", "distinct"),
    ('analysis = "clipping"\noutput = "o"\n[analysis_options]\nlr = -1',
     "analysis_options.lr", "positive"),
    ('analysis = "clipping"\noutput = "o"\n[fixed]\nsamples = 2', "fixed.samples",
     "does not apply"),
])
def test_bad_analysis_settings(tmp_path, head, key, words):
    grid = "" if "[grid]" in head else "\n[grid]\nseed = [0]\n[fixed]\nhidden = 4\nsteps = 10"
    if "[fixed]" in head:
        grid = "\n[grid]\nseed = [0]"
    if "[analysis_options]" in head:  # the grid must come before the options table
        top, options = head.split("\n[analysis_options]")
        text = f"{top}{grid}\n[analysis_options]{options}\n"
    else:
        text = f"{head}{grid}\n"
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        read_spec(path)
    assert str(info.value).startswith(f"{path}: {key}: ") and words in str(info.value)
    code, _, err = run(["sweep", path])
    assert code == 2 and err == f"Error: {info.value}\n"


def test_skip_training_points_take_the_comparisons_keys_and_defaults(tmp_path):
    path = write(tmp_path, 'analysis = "skip_training"\noutput = "out"\n[grid]\n'
                           'skip = ["none", "skip:4"]\ndelay = [5, 10]\n[fixed]\ntask = "copy"\n'
                           '[analysis_options]\nclip_threshold = "none"\nupdates = 50\n')
    spec = read_spec(path)
    assert spec.grid == ("skip", "delay")
    assert [(p["skip"], p["delay"]) for p in spec.points] == [
        ("none", 5), ("none", 10), ("skip:4", 5), ("skip:4", 10)]
    # the defaults of every other setting and option are `skip_training`'s own
    defaults = {k: p.default for k, p in inspect.signature(skip_training).parameters.items()}
    assert spec.points[0] == {
        "cell": defaults["cell"], "hidden": defaults["hidden"], "init": defaults["init"],
        "scale": defaults["scale"], "forget_bias": defaults["forget_bias"], "seed": 0,
        "skip": "none", "skip_scale": defaults["skip_scale"],
        "highway_bias": defaults["highway_bias"], "task": "copy", "delay": 5}
    assert spec.options == {
        "batch": defaults["batch"], "updates": 50, "lr": defaults["lr"],
        "optimizer": defaults["optimizer"], "clip_threshold": None,
        "eval_batch": defaults["eval_batch"], "max_loss": defaults["max_loss"]}
    assert read_spec(write(tmp_path, 'analysis = "skip_training"\noutput = "out"\n[grid]\n'
                                     'delay = [3]\n')).options["clip_threshold"] == \
        defaults["clip_threshold"]


BAD_SKIP_TRAINING = [  # (spec body after analysis/output, the key the message names, words)
    ("[grid]\nseed = [0]", "delay", "missing: analysis 'skip_training' needs it in [grid] or "
                                     "[fixed]"),
    ("[grid]\ndelay = [3, 0]", "grid.delay", "0: the delay must be at least 1"),
    ("[grid]\ndelay = [3, 2.5]", "grid.delay", "2.5 is not an integer"),
    ("[grid]\ndelay = [3, 3]", "grid.delay", "3 is given twice"),
    ("[grid]\ndelay = [3]\ntask = ['recall', 'adding']", "grid.task",
     "'adding' is not a task with an accuracy; choose from copy, recall"),
    ("[grid]\ndelay = [3]\n[fixed]\ntask = 1", "fixed.task", "1 is not a string"),
    ("[grid]\ndelay = [3]\nskip = ['none', 'sideways']", "grid.skip",
     "unknown skip connection 'sideways'"),
    ("[grid]\ndelay = [3]\ncell = ['gru', 'elman']", "grid.cell", "unknown cell 'elman'"),
    ("[grid]\ndelay = [3]\nseed = [-2]", "grid.seed", "non-negative"),
    ("[grid]\ndelay = [3, 30]\nskip = ['skip:9']", "point delay=3, skip='skip:9'",
     "the lag 9 is longer than the sequence (5 steps: recall at delay 3)"),
    ("[grid]\ndelay = [3]\nsteps = [10]", "grid.steps",
     "does not apply to analysis 'skip_training' (the task's length is its delay)"),
    ("[grid]\ndelay = [3]\n[fixed]\nactivation = 'relu'", "fixed.activation",
     "does not apply to analysis 'skip_training'"),
    ("[grid]\ndelay = [3]\nlayers = [2]", "grid.layers", "does not apply"),
    ("[grid]\ndelay = [3]\nupdates = [10, 20]", "grid.updates",
     "is an analysis option: give it in [analysis_options]"),
    ("[grid]\ndelay = [3]\ncolour = [1]", "grid.colour", "unknown key; choose from cell, "
                                                       "hidden, init"),
    ("[grid]\ndelay = [3]\n[analysis_options]\ntask = 'copy'", "analysis_options.task",
     "is a setting of the points: give it in [grid] or [fixed]"),
    ("[grid]\ndelay = [3]\n[analysis_options]\ntruncation = 5",
     "analysis_options.truncation", "unknown key for analysis 'skip_training'; choose from"),
    ("[grid]\ndelay = [3]\n[analysis_options]\nclip_threshold = 'off'",
     "analysis_options.clip_threshold", "'off' is not a number or 'none'"),
    ("[grid]\ndelay = [3]\n[analysis_options]\nclip_threshold = 0",
     "analysis_options.clip_threshold", "0.0: must be positive and finite, or 'none'"),
    ("[grid]\ndelay = [3]\n[analysis_options]\neval_batch = 0", "analysis_options.eval_batch",
     "0: must be at least 1"),
    ("[grid]\ndelay = [3]\n[analysis_options]\neval_batch = 8.0",
     "analysis_options.eval_batch", "8.0 is not an integer"),
    ("[grid]\ndelay = [3]\n[analysis_options]\nupdates = 0", "analysis_options.updates",
     "0: must be at least 1"),
    ("[grid]\ndelay = [3]\n[analysis_options]\nlr = nan", "analysis_options.lr",
     "nan: must be positive and finite"),
    ("[grid]\ndelay = [3]\n[analysis_options]\noptimizer = 'rmsprop'",
     "analysis_options.optimizer", "'rmsprop': choose from adam, momentum, sgd"),
    ("[grid]\ndelay = [3]\n[analysis_options]\nmax_loss = -1", "analysis_options.max_loss",
     "-1.0: must be positive"),
]


@pytest.mark.parametrize("body, key, words", BAD_SKIP_TRAINING)
def test_bad_skip_training_spec_is_one_line_exit_2_nothing_created(tmp_path, body, key, words):
    path = write(tmp_path, f'analysis = "skip_training"\noutput = "out"\n{body}\n')
    code, out, err = run(["sweep", path])
    assert code == 2 and out == "", err
    assert err.splitlines() == [err.strip()] and err.startswith(f"Error: {path}: {key}: "), err
    assert words in err
    assert os.listdir(tmp_path) == ["spec.toml"]


def test_not_toml_is_one_line(tmp_path):
    path = write(tmp_path, "analysis = decay\n")
    code, _, err = run(["sweep", path])
    assert code == 2 and len(err.splitlines()) == 1 and "not valid TOML" in err


def test_bad_spec_as_a_subprocess(tmp_path):
    write(tmp_path, 'analysis = "decay"\noutput = "out"\n[grid]\nscale = [0.5, -inf]\n')
    code, out, err = run_subprocess(["sweep", "spec.toml"], tmp_path)
    assert code == 2 and out == ""
    assert err == "Error: spec.toml: grid.scale: -inf: scale must be a finite number, got -inf\n"
    assert os.listdir(tmp_path) == ["spec.toml"]


def test_dry_run_counts_points_and_estimates_writing_nothing(tmp_path):
    path = write(tmp_path, GOOD)
    code, out, err = run(["sweep", path, "--dry-run", "--workers", "2"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "decay: 6 points, 0 done, 0 failed; 6 to run"
    assert lines[1].startswith("estimate: ") and " s in one process, about " in lines[1]
    assert "on 2 workers" in lines[1] and "samples x steps x layers x n^2" in lines[1]
    assert os.listdir(tmp_path) == ["spec.toml"]
    code, _, err = run(["sweep", path, "--quiet", "--workers", "1"])
    assert code == 0, err
    code, out, _ = run(["sweep", path, "--dry-run"])
    assert out == "decay: 6 points, 6 done, 0 failed; 0 to run\n"


def test_workers_and_scheduler_exclude_each_other(tmp_path):
    code, _, err = run(["sweep", write(tmp_path, GOOD), "--workers", "2", "--scheduler",
                        "tcp://127.0.0.1:1"])
    assert code == 2 and err.startswith("Error: --workers")
