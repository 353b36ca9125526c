"""--flow-every on the training commands and `gradflow plot training-flow`, through CliRunner and
as real subprocesses."""

import math
import re

import matplotlib.image
import numpy as np
import pytest

from cli_run import run, run_subprocess
from gradflow.io.results import read_table
from gradflow.training import ablation_from_table, clipping_ablation
from gradflow.training.flow import flow_runs_from_table
from gradflow.training.skip_training import skip_training, skip_training_from_table

CLIPPING = ["ablate", "clipping", "--cell", "gru", "--task", "recall", "--steps", "3",
            "--hidden", "3", "--batch", "2", "--updates", "4", "--modes", "none,norm",
            "--quiet"]
SKIP_TRAINING = ["ablate", "skip-training", "--variants", "none,highway", "--extra-cells",
                 "lstm", "--tasks", "recall", "--delays", "3", "--seeds", "0", "--hidden", "4",
                 "--batch", "2", "--updates", "3", "--eval-batch", "4", "--quiet"]
PLOT = ["plot", "training-flow", "--cell", "rnn,lstm", "--steps", "3", "--hidden", "3",
        "--batch", "2", "--updates", "4", "--flow-every", "2", "--flow-samples", "2",
        "--quiet"]


def one_error_line(code, out, err, expected=2):
    assert code == expected, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


def opens(path):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100
    return image


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_ablate_clipping_writes_the_checkpoints_of_the_library(tmp_path, suffix):
    out = tmp_path / f"c.{suffix}"
    code, stdout, err = run(CLIPPING + ["--flow-every", "2", "--flow-exponents", "2",
                                        "-o", str(out)])
    assert code == 0, err
    assert "gradient flow at the first and the last checkpoint" in stdout
    flow_part = stdout[stdout.index("gradient flow at the first"):]
    assert re.findall(r"^(none|norm 1) +(\d+) ", flow_part, flags=re.M) == \
        [("none", "0"), ("none", "4"), ("norm 1", "0"), ("norm 1", "4")]  # start and end
    lib = clipping_ablation("gru", "recall", modes=("none", "norm"), steps=3, hidden=3, batch=2,
                            updates=4, lr=0.1, scale=2.0, seed=0, flow_every=2,
                            flow_exponents=2)
    table = read_table(out)
    assert table.columns["update"].tolist() == list(range(5)) * 2
    for a, b in zip(lib, ablation_from_table(table)):
        np.testing.assert_array_equal(a.loss, b.loss)
        np.testing.assert_array_equal(a.flow.lyapunov, b.flow.lyapunov)
        np.testing.assert_array_equal(a.flow.gates["keep"], b.flow.gates["keep"])
        assert a.flow.update.tolist() == b.flow.update.tolist() == [0, 2, 4]


def test_ablate_skip_training_writes_one_row_per_run_and_update(tmp_path):
    out = tmp_path / "s.json"
    code, stdout, err = run(SKIP_TRAINING + ["--flow-every", "2", "-o", str(out)])
    assert code == 0, err
    table = read_table(out)
    assert len(table) == 3 * 4 and table.metadata["flow_every"] == 2
    result = skip_training_from_table(table)
    lib = skip_training(variants=("none", "highway"), extra_cells=("lstm",), tasks=("recall",),
                        delays=(3,), seeds=(0,), hidden=4, batch=2, updates=3, eval_batch=4,
                        flow_every=2)
    assert result.runs == lib.runs
    for a, b in zip(lib.flows, result.flows):
        np.testing.assert_array_equal(a.flow.log10_norms, b.flow.log10_norms)
    assert "rnn+highway" in stdout and "keep fraction (GRU) or highway carry" in stdout


def test_plot_training_flow_computes_saves_and_draws_again(tmp_path):
    fig, saved = tmp_path / "f.png", tmp_path / "f.json"
    code, _, err = run(PLOT + ["--skip", "none,highway", "-o", str(fig), "--save-results",
                               str(saved), "--dpi", "50"])
    assert code == 0, err
    opens(fig)
    runs = flow_runs_from_table(read_table(saved))
    assert [r.label for r in runs] == ["rnn", "rnn+highway", "lstm", "lstm+highway"]
    assert all(r.flow.update.tolist() == [0, 2, 4] and len(r.loss) == 4 for r in runs)
    assert runs[2].baseline == pytest.approx(math.log(8))
    assert list(runs[1].flow.gates) == ["carry"] and list(runs[3].flow.gates) == \
        ["forget", "carry"]
    again = tmp_path / "g.png"
    code, _, err = run(["plot", "training-flow", str(saved), "-o", str(again), "--dpi", "50"])
    assert code == 0, err
    np.testing.assert_array_equal(opens(again), opens(fig))  # the same numbers, the same figure


def test_plot_training_flow_draws_the_training_commands_files(tmp_path):
    clip, skip = tmp_path / "c.csv", tmp_path / "s.npz"
    assert run(CLIPPING + ["--flow-every", "2", "-o", str(clip)])[0] == 0
    assert run(SKIP_TRAINING + ["--flow-every", "2", "-o", str(skip)])[0] == 0
    fig = tmp_path / "f.png"
    code, _, err = run(["plot", "training-flow", str(clip), str(skip), "-o", str(fig),
                        "--dpi", "50"])
    assert code == 0, err
    opens(fig)


@pytest.mark.parametrize("args,named", [
    (CLIPPING + ["--flow-every", "0"], "--flow-every"),
    (SKIP_TRAINING + ["--flow-every", "-1"], "--flow-every"),
    (PLOT[:2] + ["--flow-every", "0"], "--flow-every"),
    (CLIPPING + ["--flow-every", "x"], "--flow-every"),
    (CLIPPING + ["--flow-every", "1", "--flow-samples", "0"], "--flow-samples"),
    (CLIPPING + ["--flow-every", "1", "--flow-exponents", "4"], "--flow-exponents"),
    (PLOT + ["--flow-exponents", "4"], "--flow-exponents"),
    (PLOT + ["--cell", "rnn,rnn"], "given twice"),
    (PLOT + ["--skip", "skip:0"], "--skip"),
    (PLOT + ["--clip-modes", "bogus"], "--clip-modes"),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path, args, named):
    out = tmp_path / "x.png"
    extra = ["-o", str(out)] if args[:2] == ["plot", "training-flow"] else []
    line = one_error_line(*run(args + extra))
    assert named in line
    assert list(tmp_path.iterdir()) == []


def test_results_files_with_computing_options_are_refused(tmp_path):
    saved = tmp_path / "f.json"
    assert run(PLOT + ["-o", str(tmp_path / "f.png"), "--save-results", str(saved)])[0] == 0
    line = one_error_line(*run(["plot", "training-flow", str(saved), "--cell", "gru",
                                "--updates", "3", "-o", str(tmp_path / "g.png")]))
    assert "--cell" in line and "--updates" in line and not (tmp_path / "g.png").exists()


def test_a_file_without_checkpoints_is_one_line_and_exit_1(tmp_path):
    plain = tmp_path / "c.json"
    assert run(CLIPPING + ["-o", str(plain)])[0] == 0
    line = one_error_line(*run(["plot", "training-flow", str(plain), "-o",
                                str(tmp_path / "f.png")]), expected=1)
    assert str(plain) in line and "--flow-every" in line
    decay = tmp_path / "d.csv"
    assert run(["jacobians", "--cell", "rnn", "--hidden", "3", "--steps", "4", "-o",
                str(decay), "--quiet"])[0] == 0
    line = one_error_line(*run(["plot", "training-flow", str(decay), "-o",
                                str(tmp_path / "f.png")]), expected=1)
    assert "training-flow" in line or "flow" in line
    assert not (tmp_path / "f.png").exists()


def test_as_real_subprocesses(tmp_path):
    code, stdout, err = run_subprocess(CLIPPING + ["--flow-every", "2", "-o", "c.csv"], tmp_path)
    assert code == 0, err
    assert "gradient flow at the first and the last checkpoint" in stdout
    code, _, err = run_subprocess(["plot", "training-flow", "c.csv", "-o", "f.png", "--dpi",
                                   "50"], tmp_path)
    assert code == 0, err
    opens(tmp_path / "f.png")
    code, out, err = run_subprocess(PLOT[:2] + ["--flow-every", "0", "-o", "g.png"], tmp_path)
    one_error_line(code, out, err)
    assert not (tmp_path / "g.png").exists()
