"""--skip on every command that takes --cell: exact cases through the CLI, files written, bad
values refused in one line (exit 2, nothing written); CliRunner and real subprocesses."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.cli import main
from gradflow.io.results import read_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A linear RNN whose recurrent weights are zero: the base update f depends on x alone.
NO_RECURRENCE = ["--cell", "rnn", "--activation", "linear", "--init", "identity", "--scale", "0",
                 "--hidden", "3", "-q"]


def run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def csv_column(text, name):
    data = np.genfromtxt(io.StringIO(text), delimiter=",", names=True, dtype=None,
                         encoding="utf-8")
    return np.asarray(data[name], dtype=float)


@pytest.mark.parametrize("k,b", [(3, 0.9), (5, 1.2)])
def test_skip_alone_through_the_cli_is_b_to_the_m_over_k(k, b):
    T = 60
    code, out, err = run(["jacobians", *NO_RECURRENCE, "--steps", str(T), "--skip", f"skip:{k}",
                          "--skip-scale", str(b), "--format", "csv"])
    assert code == 0, err
    m = np.arange(1, T + 1)
    expected = np.where(m % k == 0, (m / k) * np.log10(b), -np.inf)
    got = csv_column(out, "log10_spectral_norm")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    np.testing.assert_allclose(got[m % k == 0], expected[m % k == 0], rtol=1e-12)


def test_residual_around_no_recurrence_is_the_identity_and_dense_sums_its_weights():
    code, out, err = run(["jacobians", *NO_RECURRENCE, "--steps", "20", "--skip", "residual",
                          "--format", "csv"])
    assert code == 0, err
    np.testing.assert_allclose(csv_column(out, "log10_spectral_norm"), 0.0, atol=1e-14)
    # dense:2 with B_1 = B_2 = 0.5 I: s_t = 0.5 (s_{t-1} + s_{t-2}), so ds_T/ds_{T-m} = c_m I
    # with c_1 = 0.5, c_2 = 0.25 + 0.5 and c_m = 0.5 (c_{m-1} + c_{m-2}).
    code, out, err = run(["jacobians", *NO_RECURRENCE, "--steps", "20", "--skip", "dense:2",
                          "--format", "csv"])
    assert code == 0, err
    c = [0.5, 0.75]
    while len(c) < 20:
        c.append(0.5 * (c[-1] + c[-2]))
    np.testing.assert_allclose(csv_column(out, "log10_spectral_norm"), np.log10(c), atol=1e-12)


def test_the_table_names_the_connection_and_the_metadata_records_it(tmp_path):
    code, out, err = run(["jacobians", "--cell", "lstm", "--hidden", "4", "--steps", "12", "-q",
                          "--skip", "highway", "--highway-bias", "-2", "-o",
                          str(tmp_path / "r.json")])
    assert code == 0, err
    assert any(line.startswith("lstm+highway") for line in out.splitlines())
    meta = json.loads((tmp_path / "r.json").read_text())["metadata"]["cells"]["lstm+highway"]
    assert (meta["skip"], meta["highway_bias"], meta["skip_scale"]) == ("highway", -2.0, None)


@pytest.mark.parametrize("kind,extra", [("heatmap", ["--cell", "rnn"]),
                                        ("spectrum", ["--distances", "4"]),
                                        ("decay", []), ("gates", ["--cell", "gru"])])
def test_every_plot_kind_draws_a_skip_network(kind, extra, tmp_path):
    code, out, err = run(["plot", kind, "--hidden", "4", "--steps", "12", "-q", "--skip",
                          "skip:3", *extra, "-o", str(tmp_path / "f.png"), "--save-results",
                          str(tmp_path / "r.json")])
    assert code == 0, err
    assert (tmp_path / "f.png").stat().st_size > 1000
    table = read_table(tmp_path / "r.json")
    assert any("skip:3" in str(v) for v in np.asarray(table.columns["cell"]))


def test_heatmap_of_skip_alone_is_exact(tmp_path):
    # ds_s/ds_t = 0.8^((s-t)/2) I for even gaps, 0 for odd ones, wherever in the sequence.
    code, _, err = run(["plot", "heatmap", *NO_RECURRENCE, "--steps", "12", "--skip", "skip:2",
                        "--skip-scale", "0.8", "-o", str(tmp_path / "h.png"),
                        "--save-results", str(tmp_path / "h.csv")])
    assert code == 0, err
    table = read_table(tmp_path / "h.csv")
    gap = np.asarray(table.columns["distance"])
    got = np.asarray(table.columns["log10_spectral_norm"], float)
    even = gap % 2 == 0
    np.testing.assert_allclose(got[even], gap[even] / 2 * np.log10(0.8), atol=1e-12)
    assert np.all(np.isneginf(got[~even]))


def test_clipping_ablation_trains_a_skip_network(tmp_path):
    code, out, err = run(["ablate", "clipping", "--cell", "rnn", "--task", "recall", "--steps",
                          "5", "--hidden", "4", "--batch", "2", "--updates", "3", "--skip",
                          "skip:2", "-q", "-o", str(tmp_path / "c.json")])
    assert code == 0, err
    meta = read_table(tmp_path / "c.json").metadata
    assert meta["cell"] == "rnn+skip:2" and meta["skip"] == "skip:2"


BAD = {
    "skip:0": (["--skip", "skip:0"], "at least 1"),
    "skip:-1": (["--skip", "skip:-1"], "at least 1"),
    "skip:abc": (["--skip", "skip:abc"], "needs a lag K"),
    "unknown": (["--skip", "wormhole"], "unknown skip connection"),
    "dense longer than T": (["--skip", "dense:30"], "longer than the sequence (20 steps)"),
    "skip with weights": (["--skip", "residual", "--weights", "w.npz"], "without skip weights"),
}


def _weights(folder):
    rng = np.random.default_rng(0)
    np.savez(folder / "w.npz", weight_ih_l0=rng.standard_normal((3, 2)),
             weight_hh_l0=rng.standard_normal((3, 3)), bias_ih_l0=np.zeros(3),
             bias_hh_l0=np.zeros(3))


COMMANDS = (["jacobians"], ["plot", "decay"], ["lyapunov"], ["ablate", "clipping"])


@pytest.mark.parametrize("command,case", [
    (command, case) for command in COMMANDS for case in BAD
    if not (command[0] == "ablate" and case == "skip with weights")],  # ablate takes no weights
    ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_skip_values_are_one_line_exit_2_and_nothing_written(command, case, tmp_path,
                                                                 monkeypatch):
    args, words = BAD[case]
    monkeypatch.chdir(tmp_path)
    _weights(tmp_path)
    out_file = "out.png" if command[0] == "plot" else "out.json"
    steps = ["--steps", "20"]
    if "--weights" in args:
        size = []
    elif command[0] == "ablate":
        size = ["--hidden", "3"]
    else:
        size = ["--hidden", "3", "--input-size", "2"]
    before = sorted(os.listdir(tmp_path))
    code, out, err = run([*command, *steps, *size, "-q", *args, "-o", out_file])
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("Error:") and "--skip" in err
    assert words in err and out == ""
    assert sorted(os.listdir(tmp_path)) == before


def test_bad_skip_as_a_real_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", "jacobians", "--skip", "skip:abc",
                           "-o", "r.csv"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--skip" in proc.stderr
    assert os.listdir(tmp_path) == []
