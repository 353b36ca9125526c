"""`gradflow jacobians --layers / --bidirectional / --wrt input`: the CSV's columns and numbers
(against autograd over the unrolled network built from the same seed), the tables, bad input."""

import subprocess
import sys

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from click.testing import CliRunner

import gradflow as gf
from gradflow.cells.layers import layer_params
from gradflow.cli import main
from gradflow.io.results import read_table


def _run(args):
    return CliRunner().invoke(main, args)


def _floats(col):
    return np.array([np.nan if v is None else v for v in col], dtype=float)


def test_depth_csv_columns_and_numbers(tmp_path):
    out = tmp_path / "depth.csv"
    result = _run(["jacobians", "--cell", "gru", "--layers", "3", "--hidden", "3",
                   "--input-size", "2", "--steps", "5", "--seed", "4", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    header = out.read_text().splitlines()[0].split(",")
    assert header[:5] == ["cell", "layer", "distance", "log10_spectral_norm",
                          "log10_frobenius_norm"]
    table = read_table(str(out))
    built = gf.Network("gru", layers=3, hidden=3, input_size=2, steps=5, seed=4).build()
    x, params = built.sequences[0], built.params

    def top(eps, layer, step):  # s^(2)_T with eps added to layer `layer` after step `step`
        states = [np.zeros(3)] * 3
        for t in range(1, 6):
            u, new = x[t - 1], []
            for l in range(3):
                s = gf.gru(layer_params(params, f"_l{l}"), states[l], u)
                s = s + eps if (l, t) == (layer, step) else s
                new.append(s)
                u = s
            states = new
        return states[-1]

    layer = np.asarray(table.columns["layer"], dtype=int)
    distance = np.asarray(table.columns["distance"], dtype=int)
    spec = _floats(table.columns["log10_spectral_norm"])
    assert sorted(set(layer)) == [0, 1, 2] and sorted(set(distance)) == [0, 1, 2, 3, 4]
    for i in range(len(layer)):
        J = jacobian(lambda e: top(e, layer[i], 5 - distance[i]))(np.zeros(3))
        assert spec[i] == pytest.approx(np.log10(np.linalg.norm(J, 2)), abs=1e-10)


def test_depth_table_has_a_row_per_layer():
    result = _run(["jacobians", "--cell", "rnn", "--layers", "4", "--hidden", "4", "--steps",
                   "12", "-q"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    layer_rows = [r for r in rows if r and r[0] in ("4xrnn", "1", "2", "3")]
    assert [r[1] if r[0] == "4xrnn" else r[0] for r in layer_rows] == ["0", "1", "2", "3"]
    assert "ds^(L-1)_T/ds^(l)_(T-d)" in result.output


def test_sensitivity_csv_bidirectional_against_autograd(tmp_path):
    out = tmp_path / "sens.json"
    result = _run(["jacobians", "--cell", "lstm", "--layers", "1", "--bidirectional",
                   "--hidden", "3", "--input-size", "2", "--steps", "6", "--wrt", "input",
                   "--output-step", "3", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = read_table(str(out))
    assert list(table.columns)[:6] == ["cell", "output_step", "step", "direction",
                                       "log10_spectral_norm", "log10_frobenius_norm"]
    built = gf.Network("lstm", bidirectional=True, hidden=3, input_size=2, steps=6).build()
    p_f, p_r = layer_params(built.params, "_l0"), layer_params(built.params, "_l0_reverse")

    def y3(xx):
        s = np.zeros(6)
        for t in range(3):
            s = gf.lstm(p_f, s, xx[t])
        r = np.zeros(6)
        for t in range(5, 1, -1):
            r = gf.lstm(p_r, r, xx[t])
        return anp.concatenate([s[:3], r[:3]])

    J = jacobian(y3)(built.sequences[0])
    direction = np.asarray(table.columns["direction"]).tolist()
    step = np.asarray(table.columns["step"], dtype=int)
    spec = _floats(table.columns["log10_spectral_norm"])
    rows = {"both": slice(None), "forward": slice(0, 3), "reverse": slice(3, 6)}
    assert set(direction) == set(rows)
    for i in range(len(step)):
        M = J[rows[direction[i]], step[i] - 1]
        want = np.log10(np.linalg.norm(M, 2)) if np.any(M) else -np.inf
        assert spec[i] == pytest.approx(want, abs=1e-10)


def test_sensitivity_of_one_cell_has_no_direction_column(tmp_path):
    out = tmp_path / "s.csv"
    result = _run(["jacobians", "--cell", "rnn", "--hidden", "3", "--steps", "4", "--wrt",
                   "input", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[0].split(",")[:5] == [
        "cell", "output_step", "step", "log10_spectral_norm", "log10_frobenius_norm"]


@pytest.mark.parametrize("args,words", [
    (["--layers", "0"], "--layers"),
    (["--wrt", "weights"], "--wrt"),  # not a choice (state, input, params)
    (["--wrt", "input", "--output-step", "9"], "--output-step"),
    (["--wrt", "input", "--output-step", "0"], "--output-step"),
    (["--output-step", "3"], "--output-step"),
    (["--layers", "2", "--bidirectional"], "--wrt input"),
])
def test_bad_layer_options_exit_2_and_write_nothing(tmp_path, args, words):
    out = tmp_path / "x.csv"
    result = _run(["jacobians", "--cell", "rnn", "--hidden", "3", "--steps", "8", "-q",
                   "-o", str(out), *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_layers_as_a_real_command(tmp_path):
    out = tmp_path / "d.npz"
    proc = subprocess.run([sys.executable, "-m", "gradflow", "jacobians", "--cell", "lstm",
                           "--layers", "2", "--layer-residual", "--hidden", "4", "--steps", "6",
                           "-q", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    table = read_table(str(out))
    assert table.metadata["kind"] == "depth"
    meta = table.metadata["cells"]["2xlstm+res"]
    assert meta["layers"] == 2 and meta["layer_residual"] is True
    proc = subprocess.run([sys.executable, "-m", "gradflow", "jacobians", "--layers", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


@pytest.mark.parametrize("command,args,hint", [
    (["lyapunov"], ["--bidirectional"], "--bidirectional"),
    (["plot", "decay"], ["--bidirectional", "--layers", "2"], "--bidirectional"),
    (["plot", "gates"], ["--cell", "lstm", "--layers", "2"], "--layers"),
    (["plot", "phase"], ["--layer-residual"], "--layers"),
])
def test_commands_refuse_networks_they_cannot_analyse(tmp_path, command, args, hint):
    out = tmp_path / "f.png"
    result = _run([*command, *args, "--hidden", "4", "--steps", "6", "-q",
                   *(["-o", str(out)] if command[0] == "plot" else [])])
    assert result.exit_code == 2, result.output
    assert hint in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_lyapunov_and_clipping_take_a_stack():
    result = _run(["lyapunov", "--cell", "gru", "--layers", "2", "--hidden", "3", "--steps",
                   "20", "-q", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "2xgru" in result.output
    result = _run(["ablate", "clipping", "--cell", "rnn", "--layers", "2", "--layer-residual",
                   "--hidden", "4", "--steps", "5", "--updates", "2", "-q"])
    assert result.exit_code == 0, result.output
