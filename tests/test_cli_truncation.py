"""`gradflow ablate truncation` and `gradflow plot truncation`: the numbers against brute force,
the files, the figure, bad input; through click's CliRunner and as a real subprocess."""

import csv
import io
import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.analysis.network import Network
from gradflow.cli import main
from gradflow.io.results import read_table

from test_truncation import brute_force, pieces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--hidden", "3", "--input-size", "4", "--steps", "7", "--samples", "2", "--seed", "5",
         "-q"]
COLUMNS = "cell,loss,truncation,cosine,lost_share"


def run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rows(text):
    """(cell, loss, k, cosine, lost_share) per row of the CSV text."""
    body = list(csv.reader(io.StringIO(text)))[1:]
    return [(c, loss, int(k), float(cos), float(lost)) for c, loss, k, cos, lost in body]


def test_the_csv_is_brute_force_truncated_bptt_for_every_cell():
    code, out, err = run(["ablate", "truncation", *SMALL, "--cell", "rnn,gru", "--cell", "lstm",
                          "--truncation", "1,3,7", "--format", "csv"])
    assert code == 0, err
    assert out.splitlines()[0] == COLUMNS
    got = rows(out)
    assert [(c, loss, k) for c, loss, k, _, _ in got] == [
        (c, loss, k) for c in ("rnn", "gru", "lstm") for loss in ("last", "sum") for k in (1, 3, 7)]
    for cell, loss, k, cosine, lost_share in got:
        net = Network(cell, hidden=3, input_size=4, steps=7, samples=2, seed=5)
        built, out_block, lm = pieces(net)
        args = (built.cell, built.params, lm.symbols, lm.readout, built.state0)
        full = brute_force(*args, 7, loss, out_block)
        g = brute_force(*args, k, loss, out_block)
        assert cosine == pytest.approx(g @ full / np.linalg.norm(g) / np.linalg.norm(full),
                                       abs=1e-10)
        assert lost_share == pytest.approx(np.linalg.norm(full - g) / np.linalg.norm(full),
                                           abs=1e-10)
        if k == 7:  # full BPTT
            assert cosine == pytest.approx(1.0, abs=1e-12) and lost_share == 0.0


def test_skip_options_and_one_loss():
    code, out, err = run(["ablate", "truncation", *SMALL, "--cell", "rnn", "--skip", "skip:2",
                          "--skip-scale", "0.8", "--loss", "sum", "--truncation", "2",
                          "--format", "csv"])
    assert code == 0, err
    ((cell, loss, k, cosine, lost_share),) = rows(out)
    assert (cell, loss, k) == ("rnn+skip:2", "sum", 2)
    net = Network("rnn", hidden=3, input_size=4, steps=7, samples=2, seed=5, skip="skip:2",
                  skip_scale=0.8)
    built, out_block, lm = pieces(net)
    args = (built.cell, built.params, lm.symbols, lm.readout, built.state0)
    full, g = brute_force(*args, 7, "sum", out_block), brute_force(*args, 2, "sum", out_block)
    assert lost_share == pytest.approx(np.linalg.norm(full - g) / np.linalg.norm(full),
                                       abs=1e-10)


def test_the_table_the_default_grid_and_the_files(tmp_path):
    code, out, err = run(["ablate", "truncation", "--hidden", "4", "--steps", "12", "-q",
                          "-o", str(tmp_path / "t.json"), "--figure", str(tmp_path / "t.png")])
    assert code == 0, err
    table = read_table(tmp_path / "t.json")
    assert table.kind == "truncation" and list(table.columns) == COLUMNS.split(",")
    assert table.columns["cell"].tolist() == ["rnn"] * 18 + ["lstm"] * 18 + ["gru"] * 18
    assert table.columns["truncation"].tolist()[:9] == [1, 2, 3, 4, 5, 6, 8, 10, 12]
    meta = table.metadata["cells"]["lstm"]
    assert (meta["hidden"], meta["steps"], meta["vocabulary"], meta["seed"]) == (4, 12, 8, 0)
    assert "gradflow_version" in meta and meta["inputs"] == "iid uniform one-hot symbols"
    lines = out.splitlines()
    assert lines[0].startswith("gradflow ") and "T=12" in lines[0]
    # the printed rows are the file's numbers, to the 3 decimals printed
    first = lines[5].split()
    assert first[:2] == ["rnn", "1"]
    values = [table.columns[q][i] for i in (0, 9) for q in ("cosine", "lost_share")]
    assert [float(v) for v in first[2:]] == pytest.approx(values, abs=5e-4)
    keeps = {line.split()[0]: line.split(None, 1)[1] for line in lines[-3:]}
    assert set(keeps) == {"rnn", "lstm", "gru"}
    image = matplotlib.image.imread(tmp_path / "t.png")
    assert image.shape[:2] == (round(2.9 * 300), 7 * 300)


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_plot_truncation_draws_a_results_file_and_computes_one(suffix, tmp_path):
    results = tmp_path / f"t.{suffix}"
    code, _, err = run(["ablate", "truncation", "--hidden", "3", "--steps", "9", "--loss",
                        "last", "-q", "-o", str(results)])
    assert code == 0, err
    code, _, err = run(["plot", "truncation", str(results), "-o", str(tmp_path / "a.png"),
                        "--dpi", "100"])
    assert code == 0, err
    assert matplotlib.image.imread(tmp_path / "a.png").shape[:2] == (290, 700)
    code, _, err = run(["plot", "truncation", "--hidden", "3", "--steps", "9", "--loss", "last",
                        "-q", "-o", str(tmp_path / "b.svg"), "--save-results",
                        str(tmp_path / f"again.{suffix}")])
    assert code == 0, err
    assert (tmp_path / "b.svg").stat().st_size > 1000
    again = read_table(tmp_path / f"again.{suffix}")
    np.testing.assert_array_equal(again.columns["cosine"], read_table(results).columns["cosine"])


def test_trained_weights_are_analysed(tmp_path):
    rng = np.random.default_rng(0)
    H, D = 3, 5
    np.savez(tmp_path / "w.npz", weight_ih_l0=rng.standard_normal((3 * H, D)),
             weight_hh_l0=rng.standard_normal((3 * H, H)), bias_ih_l0=np.zeros(3 * H),
             bias_hh_l0=np.zeros(3 * H))
    code, out, err = run(["ablate", "truncation", "--weights", str(tmp_path / "w.npz"),
                          "--steps", "6", "--truncation", "6", "-q", "--format", "csv"])
    assert code == 0, err
    assert [r[:3] for r in rows(out)] == [("gru_torch", "last", 6), ("gru_torch", "sum", 6)]
    assert all(r[3] == pytest.approx(1.0, abs=1e-12) and r[4] == 0.0 for r in rows(out))


@pytest.mark.parametrize("args,words", [
    (["--truncation", "0"], "less than 1 step"),
    (["--truncation", "3,-1"], "less than 1 step"),
    (["--truncation", "8"], "longer than the sequence (7 steps)"),
    (["--truncation", ""], "empty truncation length"),
    (["--truncation", "2,,3"], "empty truncation length"),
    (["--truncation", "2,2"], "given twice"),
    (["--truncation", "two"], "not a whole number"),
    (["--loss", "mean"], "'mean' is not one of"),
    (["--cell", "rnn,tcn"], "unknown cell 'tcn'"),
    (["--cell", "rnn", "--cell", "rnn"], "given twice"),
    (["--skip", "skip:9"], "longer than the sequence"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["ablate", "truncation", "--hidden", "3", "--steps", "7", "-q", *args,
                          "-o", "t.csv", "--figure", "t.png"])
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("Error:") and words in err, err
    assert out == "" and os.listdir(tmp_path) == []


def test_plot_refuses_options_beside_results_and_a_file_of_another_kind(tmp_path):
    (tmp_path / "skip.csv").write_text("variant,distance,log10_spectral_norm\nnone,1,0.5\n")
    (tmp_path / "t.csv").write_text(f"{COLUMNS}\nrnn,last,1,0.5,0.9\n")
    code, _, err = run(["plot", "truncation", str(tmp_path / "t.csv"), "--steps", "5", "-o",
                        str(tmp_path / "f.png")])
    assert code == 2 and err.startswith("Error: --steps: not used") and len(err.splitlines()) == 1
    code, _, err = run(["plot", "truncation", str(tmp_path / "skip.csv"), "-o",
                        str(tmp_path / "f.png")])
    assert code == 1 and "holds 'skip' results, not 'truncation'" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "f.png").exists()


def test_as_a_real_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", "ablate", "truncation", "--cell",
                           "lstm", "--hidden", "4", "--steps", "10", "--truncation", "1,10",
                           "-o", "t.csv"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == COLUMNS
    table = read_table(tmp_path / "t.csv")
    assert table.columns["truncation"].tolist() == [1, 10, 1, 10]
    np.testing.assert_allclose(table.columns["cosine"][1::2], 1.0, atol=1e-12)
    assert "lstm" in proc.stdout and "keeps 90 %" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "gradflow", "ablate", "truncation",
                           "--truncation", "0"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("Error:")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_run_too_large_for_the_machine_is_refused_before_any_work(tmp_path):
    out = tmp_path / "t.csv"
    result = CliRunner().invoke(main, ["ablate", "truncation", "--cell", "rnn", "--hidden",
                                       "60000", "-q", "-o", str(out)])
    assert result.exit_code == 1
    assert "memory" in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()
