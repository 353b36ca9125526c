"""`gradflow lyapunov`: exponents of linear RNNs (exact), of a tanh RNN against a QR chain of the
hand-derived Jacobians, the burn-in, the files, bad input; CliRunner and a real subprocess."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.analysis.network import Network
from gradflow.cli import main
from gradflow.io.results import read_table

from cell_oracles import oracle_trajectory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args):
    result = CliRunner().invoke(main, ["lyapunov", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def exponents_from_csv(text):
    data = np.genfromtxt(io.StringIO(text), delimiter=",", names=True, dtype=None,
                         encoding="utf-8")
    values = np.atleast_1d(data["lyapunov_log10_per_step"]).astype(float)
    return values[~np.isnan(values)]


@pytest.mark.parametrize("init,g", [("identity", 0.5), ("orthogonal", 1.3)])
def test_linear_rnn_exponents_are_log10_of_the_gain(init, g):
    # W = g I or g Q: every direction changes by exactly g per step.
    code, out, err = run(["--cell", "rnn", "--activation", "linear", "--init", init,
                          "--scale", str(g), "--hidden", "6", "--steps", "40", "--format", "csv",
                          "-q"])
    assert code == 0, err
    np.testing.assert_allclose(exponents_from_csv(out), np.log10(g), atol=1e-12)


def test_tanh_rnn_top_exponents_with_burn_in_match_a_qr_chain_of_the_closed_form_jacobians():
    H, T, K, N, seed = 12, 60, 3, 20, 4
    code, out, err = run(["--cell", "rnn", "--hidden", str(H), "--steps", str(T), "--seed",
                          str(seed), "--exponents", str(K), "--discard", str(N), "--format",
                          "csv", "-q"])
    assert code == 0, err
    s = Network("rnn", hidden=H, steps=T, seed=seed).build()
    _, jacobians = oracle_trajectory("rnn", s.params, s.sequences[0], np.zeros(H))
    # The documented frame: Q of a seeded H x K standard normal matrix, signs so diag R > 0.
    Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((H, K)))
    Q = Q * np.sign(np.diag(R))
    total = np.zeros(K)
    for t, J in enumerate(jacobians):
        Q, R = np.linalg.qr(J @ Q)
        if t >= N:
            total += np.log(np.abs(np.diag(R)))
    expected = np.sort(total / (T - N))[::-1] / np.log(10)
    np.testing.assert_allclose(exponents_from_csv(out), expected, rtol=0, atol=1e-10)


def test_table_for_people_and_files_for_programs(tmp_path):
    code, out, err = run(["--cell", "rnn", "--cell", "lstm", "--hidden", "10", "--steps", "30",
                          "--discard", "5", "-o", str(tmp_path / "lyap.json"), "-q"])
    assert code == 0, err
    lines = out.splitlines()
    assert "T=30 (the first 5 discarded)" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines if line.startswith(("rnn", "lstm"))}
    assert rows["rnn"][1] == "10" and rows["lstm"][1] == "20"
    assert len(rows["lstm"]) == 2 + 8  # eight exponents shown; the file holds all 20
    table = read_table(tmp_path / "lyap.json")
    assert table.kind == "spectrum" and table.metadata["cells"]["lstm"]["discard"] == 5
    lstm = np.asarray(table.where("cell", "lstm").columns["lyapunov_log10_per_step"], float)
    assert len(lstm) == 20 and np.all(np.diff(lstm) <= 0)
    assert float(rows["lstm"][2]) == pytest.approx(lstm[0], abs=5e-4)
    drawn = CliRunner().invoke(main, ["plot", "spectrum", str(tmp_path / "lyap.json"),
                                      "-o", str(tmp_path / "lyap.png")])
    assert drawn.exit_code == 0, drawn.stderr
    assert (tmp_path / "lyap.png").stat().st_size > 1000


@pytest.mark.parametrize("args,option", [
    (["--discard", "30"], "--discard"),
    (["--exponents", "11"], "--exponents"),
    (["--exponents", "0"], "--exponents"),
    (["--discard", "-1"], "--discard"),
])
def test_bad_values_are_one_line_and_exit_2(args, option, tmp_path):
    out_file = tmp_path / "never.csv"
    code, out, err = run(["--cell", "rnn", "--hidden", "10", "--steps", "30", "-q",
                          "-o", str(out_file), *args])
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("Error:") and option in err
    assert not out_file.exists()


def test_as_a_real_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", "lyapunov", "--cell", "gru",
                           "--hidden", "8", "--steps", "20", "--exponents", "2"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    row = next(line.split() for line in proc.stdout.splitlines() if line.startswith("gru"))
    assert len(row) == 4 and float(row[2]) >= float(row[3])
