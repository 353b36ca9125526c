"""`gradflow ablate skip` and `gradflow plot skip`: exact variants of a network without
recurrence, the same weights and inputs for every variant, the files, the figure, bad input."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.cli import main
from gradflow.io.results import read_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_RECURRENCE = ["--cell", "rnn", "--activation", "linear", "--init", "identity", "--scale", "0",
                 "--hidden", "3", "--steps", "24", "-q"]


def run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def by_variant(text):
    data = np.genfromtxt(io.StringIO(text), delimiter=",", names=True, dtype=None,
                         encoding="utf-8")
    return {v: np.asarray(data["log10_spectral_norm"][data["variant"] == v], dtype=float)
            for v in dict.fromkeys(data["variant"])}


def test_variants_of_a_network_without_recurrence_are_exact():
    code, out, err = run(["ablate", "skip", *NO_RECURRENCE, "--variants",
                          "none,residual,skip:3,dense:2", "--skip-scale", "0.8", "--format",
                          "csv"])
    assert code == 0, err
    assert out.splitlines()[0] == "variant,distance,log10_spectral_norm,log10_frobenius_norm"
    curves = by_variant(out)
    m = np.arange(1, 25)
    assert list(curves) == ["none", "residual", "skip:3", "dense:2"]
    assert np.all(np.isneginf(curves["none"]))              # f ignores the state
    np.testing.assert_allclose(curves["residual"], 0.0, atol=1e-14)  # s_t = s_{t-1} + f(x)
    skip = curves["skip:3"]                                  # 0.8^(m/3), 0 between the hops
    np.testing.assert_allclose(skip[m % 3 == 0], (m[m % 3 == 0] / 3) * np.log10(0.8), atol=1e-12)
    assert np.all(np.isneginf(skip[m % 3 != 0]))
    c = [0.4, 0.16 + 0.4]                                    # B_1 = B_2 = 0.4 I
    while len(c) < 24:
        c.append(0.4 * (c[-1] + c[-2]))
    np.testing.assert_allclose(curves["dense:2"], np.log10(c), atol=1e-12)


def test_the_plain_variant_is_what_gradflow_jacobians_reports():
    # The same weights and inputs for every variant: 'none' must be the plain network.
    args = ["--cell", "gru", "--hidden", "5", "--steps", "30", "--seed", "3", "-q"]
    code, out, err = run(["ablate", "skip", *args, "--variants", "skip:4,none,highway",
                          "--format", "csv"])
    assert code == 0, err
    code, plain, err = run(["jacobians", *args, "--format", "csv"])
    assert code == 0, err
    np.testing.assert_array_equal(by_variant(out)["none"],
                                  np.genfromtxt(io.StringIO(plain), delimiter=",", names=True,
                                                dtype=None, encoding="utf-8")["log10_spectral_norm"])


def test_table_files_and_figure(tmp_path):
    code, out, err = run(["ablate", "skip", "--hidden", "8", "--steps", "40", "-q",
                          "-o", str(tmp_path / "s.json"), "--figure", str(tmp_path / "s.png")])
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[4:11]]
    assert [r[0] for r in rows] == ["none", "residual", "skip:2", "skip:4", "skip:8", "dense:4",
                                    "highway"]
    assert all(r[1] in ("vanishing", "exploding", "neutral") for r in rows)
    table = read_table(tmp_path / "s.json")
    assert table.kind == "skip" and table.metadata["cell"] == "rnn"
    summary = table.metadata["variants"]["skip:4"]
    assert summary["cell"] == "rnn+skip:4" and summary["skip_scale"] == 1.0
    row = next(r for r in rows if r[0] == "skip:4")
    assert float(row[2]) == pytest.approx(summary["rate_per_step"], abs=5e-4)
    assert (tmp_path / "s.png").stat().st_size > 1000
    for suffix in ("csv", "npz"):
        code, _, err = run(["ablate", "skip", "--hidden", "8", "--steps", "40", "-q",
                            "-o", str(tmp_path / f"s.{suffix}")])
        assert code == 0, err
        code, _, err = run(["plot", "skip", str(tmp_path / f"s.{suffix}"), "-o",
                            str(tmp_path / f"again_{suffix}.png")])
        assert code == 0, err
        assert (tmp_path / f"again_{suffix}.png").stat().st_size > 1000
    back = read_table(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.columns["log10_spectral_norm"],
                                  table.columns["log10_spectral_norm"])


@pytest.mark.parametrize("args,words", [
    (["--variants", "none,skip:0"], "at least 1"),
    (["--variants", "none,none"], "given twice"),
    (["--variants", "none,wormhole"], "unknown skip connection"),
    (["--variants", "dense:30"], "longer than the sequence (20 steps)"),
    (["--skip", "residual"], "--variants"),
    (["--cell", "rnn", "--cell", "gru"], "one base cell"),
    (["--weights", "w.npz", "--variants", "none,skip:2"], "without skip weights"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez("w.npz", weight_ih_l0=rng.standard_normal((3, 2)),
             weight_hh_l0=rng.standard_normal((3, 3)), bias_ih_l0=np.zeros(3),
             bias_hh_l0=np.zeros(3))
    size = [] if "--weights" in args else ["--hidden", "3"]
    code, out, err = run(["ablate", "skip", "--steps", "20", *size, "-q", *args,
                          "-o", "s.json", "--figure", "s.png"])
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("Error:") and words in err
    assert out == "" and sorted(os.listdir(tmp_path)) == ["w.npz"]


def test_as_a_real_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", "ablate", "skip", "--hidden", "6",
                           "--steps", "20", "--variants", "none,residual", "-o", "s.csv"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert [line.split()[0] for line in proc.stdout.splitlines()[4:6]] == ["none", "residual"]
    assert read_table(tmp_path / "s.csv").columns["variant"].tolist() == ["none"] * 20 + \
        ["residual"] * 20
