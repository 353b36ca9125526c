"""`gradflow jacobians` on networks whose step Jacobians are diagonal or block-sparse, against
dense products of the hand-derived step Jacobians (tests/cell_oracles.py) with numpy's SVD.

The identity-initialised RNN (IRNN) has J_t = diag(1 - h_t^2) exactly; the LSTM with W_hh = 0
has J_t with zero h-columns and diagonal blocks. Both once got spectral norms wrong by decades.
"""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow import gradient_flow, lstm
from gradflow.analysis.network import Network
from gradflow.cli import main

from cell_oracles import oracle_trajectory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-9


def csv_columns(text):
    data = np.genfromtxt(io.StringIO(text), delimiter=",", names=True, dtype=None,
                         encoding="utf-8")
    return {name: data[name] for name in data.dtype.names}


def dense_reference(jacobians, blocks=(slice(None),)):
    """log10 ||(J_T ... J_{T-d+1})[b, b]||_2 for d = 1..T and each slice b, explicitly."""
    P, scale, out = None, 0.0, [[] for _ in blocks]
    for J in reversed(jacobians):
        P = J if P is None else P @ J
        frob = np.linalg.norm(P)
        P, scale = P / frob, scale + np.log10(frob)
        for rows, sl in zip(out, blocks):
            with np.errstate(divide="ignore"):  # a block that is exactly zero: -inf
                rows.append(np.log10(np.linalg.svd(P[sl, sl], compute_uv=False)[0]) + scale)
    return [np.array(rows) for rows in out]


def cli_csv(args):
    result = CliRunner().invoke(main, ["jacobians", *args, "--format", "csv", "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return csv_columns(result.stdout)


@pytest.mark.parametrize("seed", range(8))
def test_identity_rnn_matches_the_dense_svd_at_every_distance(seed):
    columns = cli_csv(["--cell", "rnn", "--init", "identity", "--seed", str(seed)])
    s = Network("rnn", init="identity",
                seed=seed).build()  # the weights and inputs the command drew
    _, jacobians = oracle_trajectory("rnn", s.params, s.sequences[0], np.zeros(64))
    assert all(np.count_nonzero(J - np.diag(np.diag(J))) == 0 for J in jacobians)
    (expected,) = dense_reference(jacobians)
    np.testing.assert_allclose(columns["log10_spectral_norm"], expected, rtol=0, atol=TOL)
    # The summary's rate is the least-squares slope of that curve (10 ** slope per step).
    slope = np.polyfit(np.arange(1, 101), expected, 1)[0]
    table = CliRunner().invoke(main, ["jacobians", "--cell", "rnn", "--init", "identity",
                                      "--seed", str(seed), "-q"]).stdout
    row = next(line.split() for line in table.splitlines() if line.startswith("rnn "))
    assert float(row[2]) == pytest.approx(10 ** slope, abs=5e-4)
    horizon = int(np.flatnonzero(np.abs(expected) > 3)[0]) + 1
    assert int(row[3]) == horizon


def test_identity_rnn_seed_0_prints_the_dense_numbers_as_a_real_command(tmp_path):
    # The issue's own command: dense SVD gives -0.91 and -17.36 at distances 10 and 100,
    # a factor 0.638 per step and a horizon of 25.
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", "jacobians", "--cell", "rnn",
                           "--init", "identity", "--seed", "0", "-q"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    row = next(line.split() for line in proc.stdout.splitlines() if line.startswith("rnn "))
    assert row[1:4] == ["vanishing", "0.638", "25"]
    assert row[-3] == "-0.91" and row[-1] == "-17.36"


@pytest.fixture(scope="module")
def lstm_without_recurrence(tmp_path_factory):
    """An LSTM with W_hh = 0 (H = 64) as a PyTorch-named weights file, and inputs of scale 3."""
    folder = tmp_path_factory.mktemp("lstm0")
    rng = np.random.default_rng(1)  # at this seed the old iteration missed dc_T/dc_t by 25 decades
    H, D, T = 64, 8, 300
    # gradflow's default LSTM (gaussian input weights, forget-gate bias 1), recurrence removed.
    weights = {"weight_ih_l0": rng.standard_normal((4 * H, D)) / np.sqrt(D),
               "weight_hh_l0": np.zeros((4 * H, H)),
               "bias_ih_l0": np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)],
               "bias_hh_l0": np.zeros(4 * H)}
    inputs = 3 * rng.standard_normal((T, D))
    np.savez(folder / "w.npz", **weights)
    np.save(folder / "x.npy", inputs)
    params = {k[:-3]: v for k, v in weights.items()}
    _, jacobians = oracle_trajectory("lstm", params, inputs, np.zeros(2 * H))
    assert np.all(jacobians[5][:, :H] == 0)  # the h-columns vanish: a block-sparse Jacobian
    return folder, jacobians, H


def test_lstm_without_recurrent_weights_full_h_and_c_blocks(lstm_without_recurrence):
    folder, jacobians, H = lstm_without_recurrence
    columns = cli_csv(["--weights", str(folder / "w.npz"), "--input-file", str(folder / "x.npy")])
    full, h_block, c_block = dense_reference(jacobians, (slice(None), slice(0, H),
                                                         slice(H, 2 * H)))
    np.testing.assert_allclose(columns["log10_spectral_norm"], full, rtol=0, atol=TOL)
    np.testing.assert_allclose(columns["log10_c_spectral_norm"], c_block, rtol=0, atol=TOL)
    # dh_T/dh_t is exactly zero (h_{t-1} reaches nothing): -inf in the table.
    assert np.all(np.isneginf(h_block)) and np.all(np.isneginf(columns["log10_h_spectral_norm"]))


def test_lstm_c_block_checked_against_the_closed_form():
    # Independent of any product code: with W_hh = 0 the cell block is diag(prod of f).
    rng = np.random.default_rng(4)
    H, D, T = 80, 5, 60
    params = {"weight_ih": rng.standard_normal((4 * H, D)), "weight_hh": np.zeros((4 * H, H)),
              "bias_ih": rng.standard_normal(4 * H), "bias_hh": np.zeros(4 * H)}
    inputs = 3 * rng.standard_normal((T, D))
    flow = gradient_flow(lstm, params, inputs)
    f = 1 / (1 + np.exp(-(inputs @ params["weight_ih"][H:2 * H].T + params["bias_ih"][H:2 * H])))
    expected = np.log10(np.max(np.cumprod(f[::-1], axis=0), axis=1))
    np.testing.assert_allclose(flow.blocks["c"].log10_spectral_norm, expected, rtol=0, atol=1e-12)
