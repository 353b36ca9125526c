"""`gradflow jacobians` and `gradflow plot decay` through click's CliRunner and as a subprocess."""

import json
import os
import xml.etree.ElementTree as ET

import matplotlib.image
import numpy as np
import pytest

from gradflow import __version__
from gradflow.analysis.network import Network
from gradflow.io.results import read_table

from cell_oracles import explicit_products, oracle_trajectory
from cli_run import run, run_subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--hidden", "4", "--input-size", "3", "--steps", "6", "--quiet"]
VERDICTS = ("vanishing", "exploding", "neutral")


def assert_one_error_line(code, stderr):
    assert code != 0
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error:"), stderr


def summary_rows(stdout):
    """{cell: verdict} from the human table."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in VERDICTS:
            rows[parts[0]] = parts[1]
    return rows


# ------------------------------------------------------------------ gradflow jacobians

@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
def test_jacobians_table_names_each_cell_with_a_verdict(runner, tmp_path):
    args = ["jacobians", "--cell", "rnn", "--cell", "lstm", "--cell", "gru", *SMALL]
    code, out, err = run(args) if runner == "clirunner" else run_subprocess(args, tmp_path)
    assert code == 0, err
    assert err == ""  # no progress bar when stderr is not a terminal
    assert set(summary_rows(out)) == {"rnn", "lstm", "gru"}
    assert __version__ in out


def test_jacobians_numbers_of_a_linear_identity_rnn():
    # --init identity --scale 0.5 --activation linear: ds_T/ds_{T-d} = 0.5^d I exactly.
    code, out, err = run(["jacobians", "--cell", "rnn", "--activation", "linear", "--init",
                          "identity", "--scale", "0.5", "--hidden", "3", "--steps", "12",
                          "--format", "csv", "--quiet"])
    assert code == 0, err
    lines = out.splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    d = np.array([int(r["distance"]) for r in rows])
    np.testing.assert_array_equal(d, np.arange(1, 13))
    spec = np.array([float(r["log10_spectral_norm"]) for r in rows])
    frob = np.array([float(r["log10_frobenius_norm"]) for r in rows])
    np.testing.assert_allclose(spec, d * np.log10(0.5), atol=1e-9)
    np.testing.assert_allclose(frob, d * np.log10(0.5) + 0.5 * np.log10(3), atol=1e-9)
    code, out, _ = run(["jacobians", "--cell", "rnn", "--activation", "linear", "--init",
                        "identity", "--scale", "0.5", "--hidden", "3", "--steps", "12", "-q"])
    assert summary_rows(out) == {"rnn": "vanishing"}


def test_jacobians_csv_header_and_row_count():
    code, out, err = run(["jacobians", "--cell", "rnn", "--cell", "lstm", "--cell", "gru",
                          "--format", "csv", *SMALL])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("cell,distance,log10_spectral_norm,log10_frobenius_norm")
    assert len(lines) == 1 + 3 * 6
    assert [line.split(",")[0] for line in lines[1:]] == ["rnn"] * 6 + ["lstm"] * 6 + ["gru"] * 6


def test_jacobians_json_carries_metadata():
    code, out, err = run(["jacobians", "--cell", "rnn", "--cell", "gru", "--format", "json",
                          "--seed", "7", *SMALL])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "decay"
    assert len(doc["columns"]["cell"]) == 2 * 6
    for cell in ("rnn", "gru"):
        meta = doc["metadata"]["cells"][cell]
        assert meta["cell"] == cell and meta["hidden"] == 4 and meta["seed"] == 7
        assert meta["gradflow_version"] == __version__
        assert meta["verdict"] in VERDICTS


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_jacobians_output_file_reads_back(tmp_path, suffix):
    path = tmp_path / f"x.{suffix}"
    code, out, err = run(["jacobians", "--cell", "rnn", "--cell", "lstm", *SMALL, "-o", str(path)])
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == [path.name]
    table = read_table(path)
    assert len(table) == 2 * 6
    assert np.asarray(table.columns["cell"]).tolist() == ["rnn"] * 6 + ["lstm"] * 6
    # the file holds the same numbers as the CSV printed on stdout
    _, csv_out, _ = run(["jacobians", "--cell", "rnn", "--cell", "lstm", *SMALL, "--format", "csv"])
    printed = [float(line.split(",")[2]) for line in csv_out.splitlines()[1:]]
    np.testing.assert_array_equal(np.asarray(table.columns["log10_spectral_norm"], float), printed)


def test_jacobians_input_file_sets_the_steps(tmp_path):
    inputs = np.random.default_rng(0).standard_normal((9, 3))
    np.save(tmp_path / "in.npy", inputs)
    code, out, err = run(["jacobians", "--cell", "rnn", "--hidden", "4", "--format", "json",
                          "--input-file", str(tmp_path / "in.npy"), "-q"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["columns"]["distance"] == list(range(1, 10))
    meta = doc["metadata"]["cells"]["rnn"]
    assert meta["steps"] == 9 and meta["input_size"] == 3


# ------------------------------------------------------------------ gradflow plot decay

def assert_figure(path):
    data = path.read_bytes()
    assert len(data) > 1000
    if path.suffix == ".png":
        img = matplotlib.image.imread(path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert img.std() > 0  # not a blank image
    elif path.suffix == ".pdf":
        assert data.startswith(b"%PDF")
    else:
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")


@pytest.mark.parametrize("suffix", ["png", "pdf", "svg"])
def test_plot_decay_on_the_fly(tmp_path, suffix):
    path = tmp_path / f"f.{suffix}"
    code, _, err = run(["plot", "decay", "--cell", "rnn", "--cell", "lstm", *SMALL, "--dpi", "60",
                        "-o", str(path)])
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == [path.name]
    assert_figure(path)


@pytest.mark.parametrize("results", ["csv", "json", "npz"])
def test_plot_decay_from_a_results_file(tmp_path, results):
    res = tmp_path / f"r.{results}"
    assert run(["jacobians", "--cell", "rnn", "--cell", "gru", *SMALL, "-o", str(res)])[0] == 0
    for suffix in ("png", "svg"):
        fig = tmp_path / f"f.{suffix}"
        code, _, err = run(["plot", "decay", str(res), "--dpi", "60", "-o", str(fig)])
        assert code == 0, err
        assert_figure(fig)


def test_plot_decay_subprocess(tmp_path):
    code, _, err = run_subprocess(["plot", "decay", "--cell", "gru", *SMALL, "--dpi", "60",
                                   "-o", "f.png"], tmp_path)
    assert code == 0, err
    assert err == ""
    assert_figure(tmp_path / "f.png")


# ------------------------------------------------------------------ bad input

def _bad_cases(tmp_path):
    """(name, extra args, output name inside tmp_path) for each bad input."""
    np.save(tmp_path / "one_d.npy", np.zeros(5))
    np.save(tmp_path / "wide.npy", np.zeros((5, 4)))
    nan = np.zeros((5, 3))
    nan[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    inf = np.zeros((5, 3))
    inf[4, 0] = -np.inf
    np.save(tmp_path / "inf.npy", inf)
    (tmp_path / "isdir").mkdir()
    return {
        "unknown cell": ["--cell", "transformer"],
        "hidden 0": ["--hidden", "0"],
        "steps 0": ["--steps", "0"],
        "samples 0": ["--samples", "0"],
        "input 1-D": ["--input-file", str(tmp_path / "one_d.npy")],
        "input wrong D": ["--input-size", "3", "--input-file", str(tmp_path / "wide.npy")],
        "input nan": ["--input-file", str(tmp_path / "nan.npy")],
        "input inf": ["--input-file", str(tmp_path / "inf.npy")],
    }


BAD = ["unknown cell", "hidden 0", "steps 0", "samples 0", "input 1-D", "input wrong D",
       "input nan", "input inf"]


def _files(tmp_path):
    out = []
    for folder, _, names in os.walk(tmp_path):
        out += [os.path.relpath(os.path.join(folder, n), tmp_path) for n in names]
    return sorted(out)


@pytest.mark.parametrize("command,out_name", [("jacobians", "out.csv"), ("plot decay", "f.png")])
@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_error_line_and_no_file(tmp_path, command, out_name, case):
    extra = _bad_cases(tmp_path)[case]
    before = _files(tmp_path)
    args = [*command.split(), "--cell", "rnn", "--hidden", "3", "-q", *extra,
            "-o", str(tmp_path / out_name)]
    code, _, err = run(args)
    assert_one_error_line(code, err)
    assert _files(tmp_path) == before  # no output file, no temporary file


@pytest.mark.parametrize("command,suffix", [("jacobians", "csv"), ("plot decay", "png")])
@pytest.mark.parametrize("case", ["missing folder", "existing directory", "unknown suffix"])
def test_bad_output_path(tmp_path, command, suffix, case):
    (tmp_path / f"isdir.{suffix}").mkdir()
    output = {"missing folder": tmp_path / "nowhere" / f"x.{suffix}",
              "existing directory": tmp_path / f"isdir.{suffix}",
              "unknown suffix": tmp_path / "x.xlsx"}[case]
    before = _files(tmp_path)
    code, _, err = run([*command.split(), "--cell", "rnn", "--hidden", "3", "--steps", "4", "-q",
                        "-o", str(output)])
    assert_one_error_line(code, err)
    assert _files(tmp_path) == before
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
@pytest.mark.parametrize("command,suffix", [("jacobians", "csv"), ("plot decay", "png")])
def test_unwritable_folder(tmp_path, command, suffix):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = run([*command.split(), "--cell", "rnn", "--hidden", "3", "--steps", "4",
                            "-q", "-o", str(locked / f"x.{suffix}")])
        assert_one_error_line(code, err)
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("case", ["unknown cell", "input nan"])
def test_bad_input_subprocess(tmp_path, case):
    extra = _bad_cases(tmp_path)[case]
    before = _files(tmp_path)
    code, out, err = run_subprocess(["jacobians", "--hidden", "3", "-q", *extra, "-o", "out.json"],
                                    tmp_path)
    assert_one_error_line(code, err)
    assert "Traceback" not in err and out == ""
    assert _files(tmp_path) == before


# ------------------------------------------------------------------ --loss-vector

def test_loss_vector_is_pulled_back_through_the_explicit_products(tmp_path):
    g = np.random.default_rng(5).standard_normal(8)
    np.save(tmp_path / "g.npy", g)
    code, out, err = run(["jacobians", "--cell", "lstm", "--hidden", "4", "--input-size", "3",
                          "--steps", "9", "--seed", "2", "--loss-vector", str(tmp_path / "g.npy"),
                          "--format", "csv", "-q", "-o", str(tmp_path / "r.json")])
    assert code == 0, err
    s = Network("lstm", hidden=4, input_size=3, steps=9, seed=2).build()
    _, jacs = oracle_trajectory("lstm", s.params, s.sequences[0], np.zeros(8))
    expected = [np.log10(np.linalg.norm(g @ P)) for P in explicit_products(jacs)]
    column = [float(line.split(",")[4]) for line in out.splitlines()[1:]]
    np.testing.assert_allclose(column, expected, rtol=0, atol=1e-10)
    meta = json.loads((tmp_path / "r.json").read_text())["metadata"]["cells"]["lstm"]
    assert meta["loss_vector"] == "g.npy"


@pytest.mark.parametrize("vector,words", [
    (np.ones(5), "has 5 entries, but the lstm's state has 8"),
    (np.zeros(8), "is zero"),
    (np.r_[np.ones(7), np.nan], "non-finite"),
    (np.ones((2, 4)), "shape (n,)"),
])
def test_bad_loss_vectors_are_one_line(vector, words, tmp_path):
    np.save(tmp_path / "g.npy", vector)
    code, out, err = run(["jacobians", "--cell", "lstm", "--hidden", "4", "--steps", "5", "-q",
                          "--loss-vector", str(tmp_path / "g.npy"), "-o", str(tmp_path / "r.csv")])
    assert_one_error_line(code, err)
    assert words in err and out == ""
    assert not (tmp_path / "r.csv").exists()


def test_loss_vector_as_a_real_command_and_refused_beside_results(tmp_path):
    np.save(tmp_path / "g.npy", np.arange(1.0, 5.0))
    code, out, err = run_subprocess(["jacobians", "--cell", "rnn", "--hidden", "4", "--steps",
                                     "6", "--loss-vector", "g.npy", "-o", "r.csv"], tmp_path)
    assert code == 0, err
    assert read_table(tmp_path / "r.csv").columns["log10_loss_gradient_norm"].shape == (6,)
    code, _, err = run(["plot", "decay", str(tmp_path / "r.csv"), "--loss-vector",
                        str(tmp_path / "g.npy"), "-o", str(tmp_path / "f.png")])
    assert code == 2 and "--loss-vector" in err and not (tmp_path / "f.png").exists()


def test_the_table_keeps_numbers_of_five_digits_apart():
    """A linear RNN with W_hh = 1e200 G: log10 ||ds_T/ds_t||_2 = 200 d + log10 ||G^d||_2 passes
    10,000 by d = 60. Every printed number stands in its own column, and equals the power of
    G by numpy to the table's two decimals."""
    args = ["jacobians", "--cell", "rnn", "--activation", "linear", "--scale", "1e200",
            "--hidden", "4", "--input-size", "3", "--steps", "60", "--quiet"]
    code, out, err = run(args)
    assert code == 0 and err == "", err
    header = next(line for line in out.splitlines() if line.startswith("cell"))
    row = next(line for line in out.splitlines() if line.startswith("rnn "))
    distances = [int(v) for v in header.split()[4:]]
    printed = [float(v) for v in row.split()[4:]]
    assert len(printed) == len(distances) and distances[-1] == 60 and printed[-1] > 10000
    G = Network("rnn", activation="linear", scale=1e200, hidden=4, input_size=3,
                steps=60).build().params["weight_hh"] / 1e200
    for d, value in zip(distances, printed):
        expected = 200 * d + np.log10(np.linalg.norm(np.linalg.matrix_power(G, d), 2))
        assert value == pytest.approx(expected, abs=0.006)


def test_loss_vector_of_a_stack_of_skip_layers_has_the_layers_own_states(tmp_path):
    """2 layers of rnn+skip:3 (H = 3): the state holds 2 x 3 x 3 numbers, of which the layers'
    own states are entries 0-2 and 9-11; dL/ds_T has those 6, pulled back through autograd's
    jacobian of the unrolled stack."""
    from autograd import jacobian

    g = np.random.default_rng(7).standard_normal(6)
    np.save(tmp_path / "g.npy", g)
    args = ["plot", "decay", "--cell", "rnn", "--layers", "2", "--skip", "skip:3", "--hidden",
            "3", "--input-size", "2", "--steps", "7", "--seed", "1", "-q", "--loss-vector",
            str(tmp_path / "g.npy"), "-o", str(tmp_path / "f.png"), "--save-results",
            str(tmp_path / "r.csv")]
    code, out, err = run(args)
    assert code == 0, err
    got = read_table(tmp_path / "r.csv").columns["log10_loss_gradient_norm"]
    b = Network("rnn", skip="skip:3", layers=2, hidden=3, input_size=2, steps=7, seed=1).build()
    x, own = b.sequences[0], np.r_[0:3, 9:12]
    states = [b.state0]
    for t in range(7):
        states.append(b.cell(b.params, states[-1], x[t]))
    for d in range(1, 8):
        def unroll(a, t=7 - d):
            for u in range(t, 7):
                a = b.cell(b.params, a, x[u])
            return a
        J = jacobian(unroll)(states[7 - d])[np.ix_(own, own)]
        assert got[d - 1] == pytest.approx(np.log10(np.linalg.norm(g @ J)), abs=1e-10)
    np.save(tmp_path / "g.npy", np.ones(18))  # the whole state, past states included: refused
    code, out, err = run(args)
    assert code == 1 and "has 18 entries, but the 2xrnn+skip:3's state has 6" in err
