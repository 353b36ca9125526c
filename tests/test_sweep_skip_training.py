"""`gradflow sweep` of analysis skip_training: each point is one run of the skip-connection
comparison, the same to the last bit as that run of `skip_training` among others; the summary,
the figure drawn from it, the dry run's cost model, and a real subprocess."""

import csv
import json
import math
import os

import numpy as np

from gradflow.sweep.run import cost, estimate
from gradflow.sweep.spec import read_spec
from gradflow.sweep.points import point_name
from gradflow.training import train
from gradflow.training.skip_training import skip_training

from cli_run import ROOT, run, run_subprocess

SPEC = """
analysis = "skip_training"
output = "out"
[grid]
cell = ["rnn", "lstm"]
skip = ["none", "residual", "skip:2"]
task = ["recall", "copy"]
delay = [1, 3]
seed = [0, 2]
[fixed]
hidden = 3
forget_bias = 2.0
scale = 1.25
skip_scale = 0.5
[analysis_options]
batch = 2
updates = 3
lr = 0.02
optimizer = "momentum"
clip_threshold = "none"
eval_batch = 8
"""
SHARED = {"tasks": ("recall", "copy"), "delays": (1, 3), "seeds": (0, 2), "hidden": 3,
          "forget_bias": 2.0, "scale": 1.25, "skip_scale": 0.5, "batch": 2, "updates": 3,
          "lr": 0.02, "optimizer": "momentum", "clip_threshold": None, "eval_batch": 8}
METRICS = ("final_loss", "eval_loss", "accuracy", "chance", "baseline", "diverged", "updates")


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_every_point_is_its_run_of_skip_training_to_the_last_bit(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    code, out, err = run(["sweep", str(tmp_path / "spec.toml"), "--workers", "2", "-q"])
    assert code == 0, err
    assert out.startswith("48 points: 0 done before, 48 done now, 0 failed")
    # the comparison itself, grouped otherwise: the RNN's variants with the LSTM alongside,
    # then the LSTM's connections as the base cell (the LSTM alone from there as well)
    runs = {(r.model, r.task, r.delay, r.seed): r for r in
            skip_training("rnn", variants=("none", "residual", "skip:2"), extra_cells=("lstm",),
                          **SHARED).runs + skip_training("lstm", variants=("residual", "skip:2"),
                                                         extra_cells=(), **SHARED).runs}
    spec = read_spec(str(tmp_path / "spec.toml"))
    summary = rows(tmp_path / "out" / "summary.csv")
    assert len(summary) == len(spec.points) == 48
    for settings, row in zip(spec.points, summary):
        model = settings["cell"] + ("" if settings["skip"] == "none" else
                                    "+" + settings["skip"])
        expected = runs.pop((model, settings["task"], settings["delay"], settings["seed"]))
        with open(tmp_path / "out" / "points" /
                  (point_name("skip_training", settings, spec.options) + ".json")) as fh:
            record = json.load(fh)
        assert record["status"] == "done" and record["settings"] == settings
        assert record["result"] == {"model": model, **{m: getattr(expected, m)
                                                       for m in METRICS}}
        assert record["metadata"]["models"] == [model]
        assert row["model"] == model and row["status"] == "done" and row["error"] == ""
        for m in ("final_loss", "eval_loss", "accuracy", "chance", "baseline"):
            assert float(row[m]) == getattr(expected, m), (model, m)  # repr: every bit
        assert (row["diverged"], row["updates"]) == ("0", "3")
        # the memoryless baseline and chance of the task, from the task's definition
        baseline = math.log(8) if settings["task"] == "recall" else \
            10 * math.log(8) / (settings["delay"] + 20)
        assert abs(float(row["baseline"]) - baseline) < 1e-12 and float(row["chance"]) == 1 / 8
    assert not runs  # every run of the comparison is a point


def test_the_plain_cell_point_is_trained_as_train_trains_it(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    assert run(["sweep", str(tmp_path / "spec.toml"), "--workers", "1", "-q"])[0] == 0
    for row in rows(tmp_path / "out" / "summary.csv"):
        if row["skip"] != "none" or row["delay"] != "3":
            continue
        alone = train(row["cell"], row["task"], steps=3, hidden=3, batch=2, updates=3, lr=0.02,
                      optimizer="momentum", clip_mode="none", scale=1.25, forget_bias=2.0,
                      seed=int(row["seed"]))
        assert float(row["final_loss"]) == np.mean(alone.loss[-10:])


def test_the_summary_draws_the_comparisons_figure(tmp_path):
    (tmp_path / "spec.toml").write_text(
        'analysis = "skip_training"\noutput = "out"\n[grid]\nskip = ["none", "skip:2", '
        '"highway"]\ndelay = [1, 3]\nseed = [0, 1]\n[fixed]\nhidden = 3\n'
        '[analysis_options]\nbatch = 2\nupdates = 2\neval_batch = 8\n')
    assert run(["sweep", str(tmp_path / "spec.toml"), "--workers", "2", "-q"])[0] == 0
    code, _, err = run(["plot", "skip-training", str(tmp_path / "out" / "summary.csv"), "-o",
                        str(tmp_path / "sweep.png")])
    assert code == 0, err
    code, _, err = run(["ablate", "skip-training", "--variants", "none,skip:2,highway",
                        "--extra-cells", "none", "--tasks", "recall", "--delays", "1,3",
                        "--seeds", "0,1", "--hidden", "3", "--batch", "2", "--updates", "2",
                        "--eval-batch", "8", "--figure", str(tmp_path / "ablate.png"), "-q"])
    assert code == 0, err
    assert (tmp_path / "sweep.png").read_bytes() == (tmp_path / "ablate.png").read_bytes()


def test_dry_run_cost_model_and_estimate(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    spec = read_spec(str(tmp_path / "spec.toml"))
    by = {(p["cell"], p["skip"], p["task"], p["delay"], p["seed"]): p for p in spec.points}
    unit = cost("skip_training", by["rnn", "none", "recall", 1, 0], spec.options)
    # updates x batch x sequence length (recall T + 2, copy T + 20) x gates x hidden^2
    assert unit == 3 * 2 * 3 * 1 * 3 ** 2
    assert cost("skip_training", by["lstm", "skip:2", "copy", 3, 2], spec.options) == \
        unit * 4 * 23 / 3
    est = estimate(spec)
    assert (est.points, est.done, est.to_run) == (48, 0, 48) and est.seconds > 0
    assert (est.calibration["cell"], est.calibration["task"], est.calibration["delay"]) == \
        ("rnn", "recall", 1)
    code, out, err = run(["sweep", str(tmp_path / "spec.toml"), "--dry-run", "--workers", "2"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "skip_training: 48 points, 0 done, 0 failed; 48 to run"
    assert "updates x batch x sequence length x gates x hidden^2" in lines[1]
    assert os.listdir(tmp_path) == ["spec.toml"]


def test_skip_training_sweep_as_a_subprocess(tmp_path):
    (tmp_path / "spec.toml").write_text(
        'analysis = "skip_training"\noutput = "out"\n[grid]\nskip = ["none", "dense:2"]\n'
        'task = ["copy"]\ndelay = [2]\nseed = [0, 1]\n[fixed]\ncell = "gru"\nhidden = 2\n'
        '[analysis_options]\nbatch = 2\nupdates = 11\neval_batch = 4\n')
    code, out, err = run_subprocess(["sweep", "spec.toml", "--workers", "2"], tmp_path)
    assert code == 0, err
    assert out == f"4 points: 0 done before, 4 done now, 0 failed, 0 left; " \
                  f"{tmp_path / 'out' / 'summary.csv'}\n"
    summary = rows(tmp_path / "out" / "summary.csv")
    assert list(summary[0]) == [
        "cell", "hidden", "init", "scale", "forget_bias", "seed", "skip", "skip_scale",
        "highway_bias", "task", "delay", "status", "model", "final_loss", "eval_loss",
        "accuracy", "chance", "baseline", "diverged", "updates", "error"]
    assert [(r["model"], r["seed"], r["status"], r["updates"]) for r in summary] == [
        ("gru", "0", "done", "11"), ("gru", "1", "done", "11"),
        ("gru+dense:2", "0", "done", "11"), ("gru+dense:2", "1", "done", "11")]
    runs = skip_training("gru", variants=("none", "dense:2"), extra_cells=(), tasks=("copy",),
                         delays=(2,), seeds=(0, 1), hidden=2, batch=2, updates=11,
                         eval_batch=4).runs
    assert [float(r["accuracy"]) for r in summary] == [r.accuracy for r in runs]
    assert [float(r["final_loss"]) for r in summary] == [r.final_loss for r in runs]


def test_the_readmes_skip_training_spec_is_a_valid_spec(tmp_path):
    readme = (ROOT / "README.md").read_text()
    start = readme.index('\n    analysis = "skip_training"\n')
    block = []
    for line in readme[start + 1:].splitlines():
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    (tmp_path / "spec.toml").write_text("\n".join(block))
    spec = read_spec(str(tmp_path / "spec.toml"))
    assert len(spec.points) == 3 * 5 * 4 * 5  # cells x connections x delays x seeds
    assert {p["task"] for p in spec.points} == {"recall"}
    assert spec.output == str(tmp_path / "results" / "skip_recall")
