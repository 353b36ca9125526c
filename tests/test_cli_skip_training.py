"""`gradflow ablate skip-training` and `gradflow plot skip-training`: the tables, the files, the
figure, through CliRunner and a subprocess, and bad input (one line, exit 2, nothing written)."""

import io
import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.cli import main
from gradflow.io.results import read_table
from gradflow.training.skip_training import (SKIP_TRAINING_COLUMNS, accuracy_by_delay,
                                             skip_training)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--variants", "none,skip:2", "--extra-cells", "gru", "--delays", "1,2", "--seeds",
        "0,1", "--hidden", "3", "--batch", "2", "--updates", "2", "--eval-batch", "8", "-q"]


def library():
    return skip_training("rnn", variants=("none", "skip:2"), extra_cells=("gru",),
                         tasks=("recall", "copy"), delays=(1, 2), seeds=(0, 1), hidden=3,
                         batch=2, updates=2, lr=0.005, eval_batch=8)


def run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_subprocess(args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "gradflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def parse_tables(text):
    """{task: {model: [accuracy per delay..., solved]}} from the printed tables."""
    tables, task = {}, None
    for line in text.splitlines():
        if ": held-out accuracy" in line:
            task = line.split(":")[0]
            tables[task] = {}
        elif task and line and not line.startswith(("model", "solves up to")):
            parts = line.replace("*", " ").split()
            tables[task][parts[0]] = parts[1:]
        elif not line:
            task = None if task and tables[task] else task
    return tables


def test_table_is_the_librarys_accuracy_per_task_model_and_delay():
    code, out, err = run(["ablate", "skip-training", *TINY])
    assert code == 0, err
    assert out.splitlines()[0].startswith("gradflow ") and "adam at lr 0.005" in out
    tables = parse_tables(out)
    lib = library()
    assert list(tables) == ["recall", "copy"]
    for task, rows in tables.items():
        s = accuracy_by_delay(lib, task)
        assert list(rows) == ["rnn", "rnn+skip:2", "gru"]
        for i, model in enumerate(s.models):
            np.testing.assert_allclose([float(v) for v in rows[model][:2]], s.mean[i],
                                       atol=0.005)
            assert rows[model][2] == ("-" if s.solved[i] is None else str(s.solved[i]))
    assert "at least 0.9" in out


def test_an_lstm_that_learns_solves_the_short_delay():
    code, out, err = run(["ablate", "skip-training", "--variants", "none", "--extra-cells",
                          "lstm", "--tasks", "recall", "--delays", "2", "--seeds", "0",
                          "--hidden", "8", "--updates", "60", "--lr", "0.05", "--eval-batch",
                          "512", "-q"])
    assert code == 0, err
    rows = parse_tables(out)["recall"]
    assert rows["lstm"] == ["1.00", "2"]  # accuracy 1 at delay 2: solved up to 2


def test_each_task_its_own_delays():
    # TINY's --delays 1,2 is for every task without its own list: here, none
    code, out, err = run(["ablate", "skip-training", *TINY, "--delays", "copy:3",
                          "--delays", "recall:2,4"])
    assert code == 0, err
    tables = parse_tables(out)
    assert out.count("model   ") == 2
    header = [line.split() for line in out.splitlines() if line.startswith("model")]
    assert header == [["model", "2", "4", "solves", "up", "to"],
                      ["model", "3", "solves", "up", "to"]]
    assert list(tables["recall"]) == ["rnn", "rnn+skip:2", "gru"]
    # a list without a task is for every task without its own
    code, out, err = run(["ablate", "skip-training", *TINY[:4], *TINY[6:], "--delays", "1,3",
                          "--delays", "recall:2", "--format", "csv"])
    assert code == 0, err
    rows = [line.split(",")[1:3] for line in out.splitlines()[1:]]
    assert sorted(set(map(tuple, rows))) == [("copy", "1"), ("copy", "3"), ("recall", "2")]


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_results_file_by_suffix_holds_every_run(tmp_path, suffix):
    out = tmp_path / f"r.{suffix}"
    code, printed, err = run(["ablate", "skip-training", *TINY, "-o", str(out)])
    assert code == 0, err
    assert "held-out accuracy" in printed
    table = read_table(out)
    assert list(table.columns) == list(SKIP_TRAINING_COLUMNS) and len(table) == 24
    lib = library()
    np.testing.assert_array_equal(np.asarray(table.columns["accuracy"], dtype=float),
                                  [r.accuracy for r in lib.runs])
    np.testing.assert_array_equal(np.asarray(table.columns["final_loss"], dtype=float),
                                  [r.final_loss for r in lib.runs])
    if suffix != "csv":
        assert table.kind == "skip_training"
        assert table.metadata["models"] == ["rnn", "rnn+skip:2", "gru"]
        assert table.metadata["optimizer"] == "adam" and table.metadata["clip_threshold"] == 1


def test_csv_on_stdout_and_no_clipping():
    code, out, err = run(["ablate", "skip-training", *TINY, "--tasks", "recall",
                          "--clip-threshold", "none", "--format", "csv"])
    assert code == 0, err
    data = np.genfromtxt(io.StringIO(out), delimiter=",", names=True, dtype=None,
                         encoding="utf-8")
    assert ",".join(data.dtype.names) == ",".join(SKIP_TRAINING_COLUMNS) and len(data) == 12
    lib = skip_training("rnn", variants=("none", "skip:2"), extra_cells=("gru",),
                        tasks=("recall",), delays=(1, 2), seeds=(0, 1), hidden=3, batch=2,
                        updates=2, clip_threshold=None, eval_batch=8)
    np.testing.assert_array_equal(data["final_loss"], [r.final_loss for r in lib.runs])


def test_figure_and_its_redraw_from_the_file(tmp_path):
    fig, res = tmp_path / "f.png", tmp_path / "r.csv"
    code, _, err = run(["ablate", "skip-training", *TINY, "-o", str(res), "--figure", str(fig)])
    assert code == 0, err
    image = matplotlib.image.imread(fig)
    assert image.shape[:2] == (round(2.8 * 300), round(7.0 * 300))
    again = tmp_path / "g.png"
    code, _, err = run(["plot", "skip-training", str(res), "-o", str(again), "--dpi", "50",
                        "--title", "small"])
    assert code == 0, err
    assert matplotlib.image.imread(again).shape[:2] == (round(2.8 * 50), round(7.0 * 50))


def test_plot_refuses_a_file_of_another_kind(tmp_path):
    other = tmp_path / "skip.csv"
    code, _, err = run(["ablate", "skip", "--hidden", "3", "--steps", "5", "--variants",
                        "none,residual", "-q", "-o", str(other)])
    assert code == 0, err
    code, _, err = run(["plot", "skip-training", str(other), "-o", str(tmp_path / "x.png")])
    assert code == 1 and err.count("\n") == 1
    assert "holds 'skip' results, not 'skip_training'" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--variants", "none,skip:0"], "the lag K must be at least 1"),
    (["--variants", "none,skip:abc"], "skip needs a lag K >= 1"),
    (["--variants", "none,sideways"], "unknown skip connection 'sideways'"),
    (["--variants", "none,residual,none"], "variant 'none' is given twice"),
    (["--variants", "skip:9", "--delays", "5,20"], "the lag 9 is longer than the shortest "
                                                   "sequence (recall at delay 5: 7 steps)"),
    (["--extra-cells", "lstm,elman"], "unknown cell 'elman'"),
    (["--cell", "gru", "--extra-cells", "lstm,gru"], "gru is the base cell"),
    (["--tasks", "recall,adding"], "unknown task 'adding'"),
    (["--delays", "0,5"], "a delay must be at least 1, got 0"),
    (["--delays", "5,5"], "delay '5' is given twice"),
    (["--delays", "5,x"], "'x' is not a whole number"),
    (["--delays", "recall:5", "--delays", "recall:6"], "delays for recall are given twice"),
    (["--delays", "adding:5"], "unknown task 'adding'"),
    (["--tasks", "recall", "--delays", "copy:5"], "delays are given for copy, which --tasks "
                                                  "does not train"),
    (["--seeds", "0,-1"], "a seed must be at least 0"),
    (["--clip-threshold", "0"], "--clip-threshold"),
    (["--clip-threshold", "nan"], "is not a finite number"),
    (["--lr", "0"], "--lr"),
    (["--skip", "residual"], "leave out --skip"),
    (["--updates", "0"], "--updates"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    out, fig = tmp_path / "r.json", tmp_path / "f.png"
    code, stdout, err = run(["ablate", "skip-training", "-q", "-o", str(out), "--figure",
                             str(fig), *args])
    assert code == 2, err
    assert err.startswith("Error: ") and err.count("\n") == 1 and message in err
    assert stdout == "" and not out.exists() and not fig.exists()


@pytest.mark.parametrize("args, message", [
    (["-o", "r.txt"], "unknown results format 'txt'"),
    (["--figure", "f.gif"], "figure format must be .png, .pdf or .svg"),
])
def test_bad_paths_are_refused_before_any_training(tmp_path, args, message):
    code, stdout, err = run(["ablate", "skip-training", *args[:1],
                             str(tmp_path / args[1]), "--updates", "100000"])
    assert code == 2 and err.startswith("Error: ") and message in err  # a bad option value


def test_subprocess_run_and_redraw(tmp_path):
    args = ["ablate", "skip-training", *TINY[:-1], "--tasks", "copy", "--extra-cells", "none",
            "-o", "r.json", "--figure", "f.svg"]
    proc = run_subprocess(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    rows = parse_tables(proc.stdout)["copy"]
    assert list(rows) == ["rnn", "rnn+skip:2"]
    assert read_table(tmp_path / "r.json").metadata["extra_cells"] == []
    assert (tmp_path / "f.svg").read_bytes().startswith(b"<?xml")
    proc = run_subprocess(["plot", "skip-training", "r.json", "-o", "g.pdf"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    proc = run_subprocess(["ablate", "skip-training", "--delays", "3,3"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("Error: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_curves_draw_the_seed_mean_of_each_runs_running_loss_and_redraw_from_the_file(tmp_path):
    """--curves: per task and delay, each model's line is the mean over the seeds of the
    running mean (10 updates) of its per-update training loss; checked against numpy's own
    convolution of the losses the file holds, and the figure drawn again byte for byte."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gradflow.plotting.skip_training import plot_loss_curves
    from gradflow.training.skip_training import skip_training_from_table

    figure, again, saved = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "runs.json"
    args = ["ablate", "skip-training", *TINY, "--tasks", "copy", "--updates", "14",
            "--flow-every", "7", "--flow-samples", "1", "-o", str(saved), "--figure",
            str(figure), "--curves"]
    code, _, err = run(args)
    assert code == 0, err
    code, _, err = run(["plot", "skip-training", str(saved), "--curves", "-o", str(again)])
    assert code == 0, err
    assert figure.read_bytes() == again.read_bytes()
    result = skip_training_from_table(read_table(saved))
    fig, ax = plt.subplots()
    plot_loss_curves(result, "copy", 2, ax=ax, window=10)
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    plt.close(fig)
    for model, label in (("rnn", "RNN (tanh)"), ("gru", "GRU")):
        per_seed = []
        for r, f in zip(result.runs, result.flows):
            if r.model == model and r.delay == 2:
                loss = np.asarray(f.loss, float)
                # mean of the last 10 (fewer at the start), by cumulative sums
                c = np.concatenate([[0.0], np.cumsum(loss)])
                lo = np.maximum(np.arange(1, len(loss) + 1) - 10, 0)
                per_seed.append((c[1:] - c[lo]) / (np.arange(1, len(loss) + 1) - lo))
        assert len(per_seed) == 2
        assert np.allclose(lines[label], np.mean(per_seed, axis=0), rtol=1e-12)
    baseline = 10 * np.log(8) / (2 + 20)  # the memoryless copy loss, closed form
    assert np.allclose(lines["memoryless"], baseline, rtol=1e-12)


def test_curves_need_training_curves(tmp_path):
    code, _, err = run(["ablate", "skip-training", *TINY, "--curves", "--figure",
                        str(tmp_path / "f.png")])
    assert code == 2 and "--flow-every" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f.png").exists()
    saved = tmp_path / "runs.json"
    code, _, err = run(["ablate", "skip-training", *TINY, "-o", str(saved)])
    assert code == 0, err
    proc = run_subprocess(["plot", "skip-training", str(saved), "--curves", "-o",
                           str(tmp_path / "c.png")], tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith("Error: ")
    assert "no training curves" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c.png").exists()
