"""`gradflow ablate clipping` and `gradflow plot clipping`, through CliRunner and a subprocess."""

import json
import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.cli import main
from gradflow.io.results import read_table
from gradflow.training import ABLATION_COLUMNS, clipping_ablation, summarize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["ablate", "clipping", "--task", "hello", "--steps", "4", "--hidden", "4", "--batch", "2",
         "--updates", "3", "--clip-threshold", "0.5,2", "--quiet"]


def library_runs():
    return clipping_ablation("rnn", "hello", thresholds=(0.5, 2.0), steps=4, hidden=4, batch=2,
                             updates=3, lr=0.1, scale=2.0, seed=0)


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def run_subprocess(args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "gradflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_table_default():
    r = invoke(SMALL)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:2] == ["mode", "threshold"]
    assert [l.split()[0] for l in lines[1:6]] == ["none", "norm", "norm", "value", "value"]


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_output_is_written_by_its_suffix_and_matches_the_library(tmp_path, suffix):
    out = tmp_path / f"r.{suffix}"
    r = invoke(SMALL + ["-o", str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].split()[:2] == ["mode", "threshold"]  # the summary on stdout
    head = out.read_bytes()[:20]
    assert head.startswith({"csv": b"mode,threshold,", "json": b"{", "npz": b"PK"}[suffix])
    table = read_table(out)
    assert list(table.columns) == list(ABLATION_COLUMNS) and len(table) == 5 * 3
    lib = library_runs()
    np.testing.assert_array_equal(table.columns["loss"], np.concatenate([x.loss for x in lib]))
    np.testing.assert_array_equal(table.columns["grad_norm_before"],
                                  np.concatenate([x.grad_norm_before for x in lib]))
    if suffix != "csv":
        assert table.kind == "clipping"
        m = table.metadata
        assert m["task"] == "hello" and m["seed"] == 0 and "gradflow_version" in m
        assert m["summary"] == [summarize(x, 10)._asdict() for x in lib]
        assert m["baseline"] == pytest.approx(lib[0].baseline)


def test_json_on_stdout_is_a_results_file():
    r = invoke(SMALL + ["--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["format"] == "gradflow-results" and doc["format_version"] == 1
    assert doc["kind"] == "clipping" and len(doc["metadata"]["summary"]) == 5
    assert list(doc["columns"]) == list(ABLATION_COLUMNS)
    csv_out = invoke(SMALL + ["--format", "csv"]).output.splitlines()
    assert csv_out[0] == ",".join(ABLATION_COLUMNS) and len(csv_out) == 16


@pytest.mark.parametrize("suffix", ["json", "npz"])
def test_plot_clipping_draws_the_same_figure_from_the_file(tmp_path, suffix):
    out, direct, again = tmp_path / f"r.{suffix}", tmp_path / "a.png", tmp_path / "b.png"
    assert invoke(SMALL + ["-o", str(out), "--figure", str(direct)]).exit_code == 0
    r = invoke(["plot", "clipping", str(out), "-o", str(again)])
    assert r.exit_code == 0, r.output
    assert again.read_bytes() == direct.read_bytes()  # same records, same picture, same bytes
    assert matplotlib.image.imread(again).shape[:2] == (840, 2100)  # 7 x 2.8 inches at 300 dpi


def test_plot_clipping_from_a_csv_has_no_baseline(tmp_path):
    import matplotlib.pyplot as plt

    from gradflow.plotting.training import plot_training
    from gradflow.training import ablation_from_table
    out = tmp_path / "r.csv"
    assert invoke(SMALL + ["-o", str(out)]).exit_code == 0
    r = invoke(["plot", "clipping", str(out), "-o", str(tmp_path / "c.pdf"), "--title", "x"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    ax = plot_training(ablation_from_table(read_table(out)), quantity="loss")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["no clipping", "norm clip at 0.5", "norm clip at 2", "value clip at 0.5",
                      "value clip at 2"]
    plt.close(ax.figure)


def test_legend_and_limits_of_the_training_panels():
    import matplotlib.pyplot as plt

    from gradflow.plotting.training import plot_training_panels
    runs = clipping_ablation("rnn", "adding", thresholds=(1.0,), steps=20, hidden=8, batch=4,
                             updates=12, lr=0.5, scale=3.0, seed=1, max_loss=1e2)
    assert runs[0].diverged
    ax_loss, ax_norm = plot_training_panels(runs)
    loss_labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert loss_labels == ["no clipping", "norm clip at 1", "value clip at 1",
                           "memoryless baseline", "diverged, stopped"]
    norm_labels = [t.get_text() for t in ax_norm.get_legend().get_texts()]
    assert norm_labels[3:] == ["threshold 1", r"$\|g\| > 10 \times$ threshold",
                               "diverged, stopped"]
    losses = np.concatenate([r.loss for r in runs])
    lo, hi = ax_loss.get_ylim()
    assert lo <= losses.min() and hi >= losses.max()
    plt.close(ax_loss.figure)


@pytest.mark.parametrize("args,named", [
    (["--scale", "nan"], "--scale"), (["--scale", "-1"], "--scale"),
    (["--scale", "inf"], "--scale"), (["--lr", "inf"], "--lr"), (["--lr", "nan"], "--lr"),
    (["--lr", "0"], "--lr"), (["--max-loss", "nan"], "--max-loss"),
    (["--max-loss", "-inf"], "--max-loss"), (["--max-loss", "0"], "--max-loss"),
    (["--modes", "none,none"], "given twice"), (["--modes", "none,soft"], "unknown"),
    (["--modes", ","], "--modes"), (["--modes", ""], "--modes"),
    (["--clip-threshold", "-1"], "--clip-threshold"),
    (["--clip-threshold", "nan"], "--clip-threshold"),
    (["--clip-threshold", "1,inf"], "--clip-threshold"),
    (["--clip-threshold", "1,1"], "given twice"), (["--clip-threshold", "x"], "--clip-threshold"),
    (["--truncation", "0"], "--truncation"), (["--seed", "-1"], "--seed"),
    (["--updates", "0"], "--updates"), (["--hidden", "0"], "--hidden"),
    (["--batch", "0"], "--batch"), (["--steps", "0"], "--steps"),
    (["--task", "sort"], "--task"), (["--cell", "tcn"], "--cell"),
    (["--optimizer", "lbfgs"], "--optimizer"), (["--format", "xml"], "--format"),
    (["-o", ""], "--output"), (["-o", "r.txt"], "--output"), (["-o", "r"], "--output"),
    (["--figure", "x.gif"], "--figure"), (["--figure", ""], "--figure"),
    (["--format", "csv", "-o", "r.json"], "disagree"),
    (["--format", "json", "-o", "r.npz"], "disagree"),
])
def test_bad_option_values_are_one_line_exit_2_and_write_nothing(tmp_path, monkeypatch, args,
                                                                 named):
    monkeypatch.chdir(tmp_path)
    r = invoke(SMALL + ["--figure", "f.png"] + args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], r.stderr
    assert r.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--format", "csv", "-o", "r.csv"],
                                  ["--format", "table", "-o", "r.json"]])
def test_format_that_agrees_with_the_output_is_accepted(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    assert invoke(SMALL + args).exit_code == 0
    assert read_table(tmp_path / args[-1]).columns["mode"][0] == "none"


def test_unwritable_output_folder_is_one_line(tmp_path):
    r = invoke(SMALL + ["-o", str(tmp_path / "missing" / "r.csv")])
    assert r.exit_code == 1 and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1


@pytest.mark.parametrize("content,message", [
    (b"garbage", "cannot read"), (None, "'cliff'"), (b"a,b\n1,2\n", "no column 'mode'"),
])
def test_plot_clipping_refuses_what_it_cannot_draw(tmp_path, content, message):
    if content is None:
        path = tmp_path / "c.json"
        assert invoke(["plot", "cliff", "--grid", "5", "--updates", "2", "-q", "-o",
                       str(tmp_path / "c.png"), "--save-results", str(path)]).exit_code == 0
    else:
        path = tmp_path / ("bad.npz" if content == b"garbage" else "bad.csv")
        path.write_bytes(content)
    out = tmp_path / "x.png"
    r = invoke(["plot", "clipping", str(path), "-o", str(out)])
    assert r.exit_code == 1, r.output
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: ") and message in r.stderr
    assert not out.exists()


def test_diverging_run_is_reported_by_the_cli():
    r = invoke(["ablate", "clipping", "--steps", "20", "--hidden", "16", "--batch", "16",
                "--updates", "40", "--lr", "0.1", "--modes", "none,norm", "--quiet"])
    assert r.exit_code == 0, r.output
    none, norm = r.output.splitlines()[1:3]
    assert "yes, at update" in none and norm.endswith("no")


def test_real_subprocess(tmp_path):
    proc = run_subprocess(SMALL + ["-o", "r.npz", "--figure", "f.svg"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_table(tmp_path / "r.npz").kind == "clipping"
    proc = run_subprocess(["plot", "clipping", "r.npz", "-o", "g.svg"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.svg").read_bytes() == (tmp_path / "f.svg").read_bytes()
    for bad in (["--scale", "nan"], ["--modes", "none,none"], ["--lr", "inf"],
                ["--max-loss", "nan"], ["--scale", "-1"], ["--format", "csv", "-o", "x.json"],
                ["-o", ""]):
        proc = run_subprocess(SMALL + bad, tmp_path)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: "), proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.svg", "g.svg", "r.npz"]


@pytest.mark.parametrize("args", [["--hidden", "1000000"], ["--steps", "1000000000000"],
                                  ["--batch", "10000000000"]])
def test_runs_too_large_for_memory_are_one_line(tmp_path, args):
    proc = run_subprocess(["ablate", "clipping", "-q", "--updates", "1", "-o", "r.json", *args],
                          tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("Error: training needs about") and "GiB" in proc.stderr
    assert proc.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []
