"""`gradflow plot depth` and `gradflow plot sensitivity` through click's CliRunner and as a
subprocess: computed and from saved results, the kinds of their CSV files, bad input."""

import os

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.analysis.depth import depth_from_table, sensitivity_from_table
from gradflow.cli import main
from gradflow.cli.plot_cmds import kind_of
from gradflow.io.results import Table, read_table
from cli_run import run, run_subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--hidden", "4", "--input-size", "3", "--steps", "8", "--quiet"]
DPI = 40


def assert_one_error_line(stderr):
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr


def png_size(path):
    return matplotlib.image.imread(path).shape[:2]


# ------------------------------------------------------------------ plot depth


def test_depth_computed_then_drawn_again_from_the_saved_csv(tmp_path):
    saved, first, again = tmp_path / "maps.csv", tmp_path / "a.png", tmp_path / "b.png"
    code, _, err = run(["plot", "depth", "--cell", "rnn", "--layers", "3", *TINY,
                        "--compare-residual", "--save-results", str(saved), "-o", str(first),
                        "--dpi", str(DPI)])
    assert code == 0, err
    assert png_size(first) == (round(2.6 * DPI), round(7.0 * DPI))  # full text width
    table = read_table(saved)
    assert kind_of(table) == "depth"
    plain, residual = depth_from_table(table)
    assert (plain.cell, residual.cell) == ("3xrnn", "3xrnn+res")
    for m in (plain, residual):
        assert m.mean["spectral"].shape == (3, 8)
        # d = 0 at the top layer is d s_T / d s_T = I: norm 1, Frobenius sqrt(H)
        assert m.mean["spectral"][2, 0] == pytest.approx(0.0, abs=1e-12)
        assert m.mean["frobenius"][2, 0] == pytest.approx(np.log10(2.0), abs=1e-12)
    # the identity connections change what reaches the lower layers, not the top layer's own
    # recurrence at d = 0
    assert not np.allclose(plain.mean["spectral"][0], residual.mean["spectral"][0])
    code, _, err = run(["plot", "depth", str(saved), "--limit", "2", "--feedforward", "0.5",
                        "--feedforward-depth", "4", "-o", str(again), "--dpi", str(DPI),
                        "--width", "4", "--height", "2"])
    assert code == 0, err
    assert png_size(again) == (2 * DPI, 4 * DPI)


def test_depth_with_the_feedforward_panel_as_a_subprocess(tmp_path):
    code, out, err = run_subprocess(["plot", "depth", "--cell", "lstm", "--layers", "2", *TINY,
                                     "--quantity", "c_spectral", "--feedforward", "0.7",
                                     "--feedforward-depth", "6", "--save-results", "maps.json",
                                     "-o", "depth.png", "--dpi", str(DPI)], tmp_path)
    assert code == 0 and out == "" and err == "", err
    assert png_size(tmp_path / "depth.png") == (round(2.6 * DPI), round(7.0 * DPI))
    (m,) = depth_from_table(read_table(tmp_path / "maps.json"))
    assert m.cell == "2xlstm" and "c_spectral" in m.mean
    # drawn again from the file, as a subprocess too
    code, _, err = run_subprocess(["plot", "depth", "maps.json", "-o", "again.svg"], tmp_path)
    assert code == 0, err
    assert (tmp_path / "again.svg").read_bytes().startswith(b"<?xml")


def test_a_stack_without_recurrence_is_exactly_zero_beyond_d_0(tmp_path):
    """W_hh = 0 cuts every path through time: d s^(L-1)_T / d s^(l)_(T-d) = 0 for d >= 1, drawn
    black (no warning on the way: warnings are errors here)."""
    saved = tmp_path / "zero.json"
    code, _, err = run(["plot", "depth", "--cell", "rnn", "--layers", "3", "--init", "identity",
                        "--scale", "0", *TINY, "--save-results", str(saved), "-o",
                        str(tmp_path / "zero.png"), "--dpi", str(DPI)])
    assert code == 0, err
    (m,) = depth_from_table(read_table(saved))
    assert np.isneginf(m.mean["spectral"][:, 1:]).all()
    assert np.isfinite(m.mean["spectral"][:, 0]).all()


def test_several_results_files_are_panels_side_by_side(tmp_path):
    for name, extra in (("a.npz", []), ("b.csv", ["--layer-residual"])):
        code, _, err = run(["jacobians", "--cell", "rnn", "--layers", "2", *TINY, *extra, "-o",
                            str(tmp_path / name)])
        assert code == 0, err
    code, _, err = run(["plot", "depth", str(tmp_path / "a.npz"), str(tmp_path / "b.csv"),
                        "-o", str(tmp_path / "ab.pdf")])
    assert code == 0, err
    assert (tmp_path / "ab.pdf").read_bytes().startswith(b"%PDF")


# ------------------------------------------------------------------ plot sensitivity


def test_sensitivity_computed_then_drawn_again(tmp_path):
    saved = tmp_path / "s.csv"
    code, _, err = run(["plot", "sensitivity", "--cell", "lstm", "--layers", "2",
                        "--bidirectional", *TINY, "--output-step", "4", "--save-results",
                        str(saved), "-o", str(tmp_path / "s.png"), "--dpi", str(DPI)])
    assert code == 0, err
    table = read_table(saved)
    assert kind_of(table) == "sensitivity"
    (p,) = sensitivity_from_table(table)
    assert p.cell == "2xlstm+bi" and p.output_step == 4
    assert list(p.mean) == ["both", "forward", "reverse"]
    assert np.isfinite(p.mean["both"]["spectral"]).all()  # it sees both ways
    code, _, err = run(["plot", "sensitivity", str(saved), "--no-halves", "--no-band",
                        "--quantity", "frobenius", "-o", str(tmp_path / "t.png")])
    assert code == 0, err
    # a spread over samples where the norm is -inf (after tau) draws without a warning
    code, _, err = run(["plot", "sensitivity", "--cell", "rnn", "--cell", "gru", "--samples",
                        "2", *TINY, "--output-step", "4", "-o", str(tmp_path / "u.png")])
    assert code == 0, err


def test_sensitivity_as_a_subprocess_overlays_saved_networks(tmp_path):
    for name, extra in (("rnn.json", ["--cell", "rnn"]),
                        ("skip.json", ["--cell", "rnn", "--skip", "skip:2"])):
        code, _, err = run_subprocess(["jacobians", "--wrt", "input", "--output-step", "5",
                                       *extra, *TINY, "-o", name], tmp_path)
        assert code == 0, err
    code, out, err = run_subprocess(["plot", "sensitivity", "rnn.json", "skip.json", "-o",
                                     "s.png", "--dpi", str(DPI)], tmp_path)
    assert code == 0 and out == "" and err == "", err
    assert png_size(tmp_path / "s.png") == (round(2.6 * DPI), round(7.0 * DPI))
    (p,) = sensitivity_from_table(read_table(tmp_path / "rnn.json"))
    # a network that runs forwards cannot see the inputs after tau: exactly 0 there
    assert np.isneginf(p.mean["both"]["spectral"][5:]).all()
    assert np.isfinite(p.mean["both"]["spectral"][:5]).all()


def test_sensitivity_computed_as_a_subprocess(tmp_path):
    code, _, err = run_subprocess(["plot", "sensitivity", "--cell", "gru", *TINY, "-o",
                                   "g.svg"], tmp_path)
    assert code == 0, err
    assert (tmp_path / "g.svg").exists()


# ------------------------------------------------------------------ kinds of CSV files


def test_csv_kinds_are_recognised_by_their_columns(tmp_path):
    depth_csv, sens_csv = tmp_path / "d.csv", tmp_path / "s.csv"
    assert run(["jacobians", "--cell", "rnn", "--layers", "2", *TINY, "-o",
                str(depth_csv)])[0] == 0
    assert run(["jacobians", "--wrt", "input", "--cell", "rnn", *TINY, "-o",
                str(sens_csv)])[0] == 0
    depth_table, sens_table = read_table(depth_csv), read_table(sens_csv)
    assert depth_table.kind is None and sens_table.kind is None  # a CSV has no metadata
    # a depth table also has decay's columns, a sensitivity table those of gates
    assert {"cell", "log10_frobenius_norm"} <= set(depth_table.columns)
    assert "step" in sens_table.columns
    assert kind_of(depth_table) == "depth" and kind_of(sens_table) == "sensitivity"
    # and the kinds they overlap with are still theirs
    decay = Table({"cell": np.array(["rnn"]), "distance": np.array([1]),
                   "log10_spectral_norm": np.array([0.0]),
                   "log10_frobenius_norm": np.array([0.0])})
    gates = Table({"cell": np.array(["lstm"]), "step": np.array([1]),
                   "distance": np.array([1])})
    assert kind_of(decay) == "decay" and kind_of(gates) == "gates"


# ------------------------------------------------------------------ bad input


@pytest.fixture
def files(tmp_path):
    """A depth CSV of an RNN stack and a sensitivity JSON."""
    depth_csv, sens_json = tmp_path / "depth.csv", tmp_path / "sens.json"
    assert run(["jacobians", "--cell", "rnn", "--layers", "2", *TINY, "-o",
                str(depth_csv)])[0] == 0
    assert run(["jacobians", "--wrt", "input", "--cell", "rnn", *TINY, "-o",
                str(sens_json)])[0] == 0
    return {"depth": str(depth_csv), "sens": str(sens_json)}


BAD = [
    # (arguments, exit code, words of the message); {depth} and {sens} are the files above
    (["plot", "depth", "{sens}"], 1, "holds 'sensitivity' results, not 'depth'"),
    (["plot", "sensitivity", "{depth}"], 1, "holds 'depth' results, not 'sensitivity'"),
    (["plot", "depth", "--cell", "rnn", "--layers", "2", "--compare-residual",
      "--layer-residual"], 2, "leave --layer-residual out"),
    (["plot", "depth", "--cell", "rnn", "--compare-residual"], 2, "--layers L > 1"),
    (["plot", "depth", "{depth}", "--compare-residual"], 2, "--compare-residual"),
    (["plot", "depth", "--cell", "lstm", "--layers", "2", "--bidirectional"], 2,
     "--bidirectional"),
    (["plot", "depth", "--cell", "rnn", "--layers", "2", "--quantity", "h_spectral"], 2,
     "--quantity"),
    (["plot", "depth", "{depth}", "--quantity", "c_spectral"], 2, "no such block"),
    (["plot", "depth", "--cell", "rnn", "--feedforward-depth", "5"], 2, "--feedforward"),
    (["plot", "depth", "--cell", "rnn", "--feedforward", "0"], 2, "--feedforward"),
    (["plot", "depth", "--cell", "rnn", "--feedforward", "nan"], 2, "--feedforward"),
    (["plot", "depth", "--cell", "rnn", "--limit", "0"], 2, "--limit"),
    (["plot", "depth", "--cell", "rnn", "--layers", "0"], 2, "--layers"),
    (["plot", "sensitivity", "--cell", "rnn", "--output-step", "9"], 2, "--output-step"),
    (["plot", "sensitivity", "{sens}", "--output-step", "2"], 2, "--output-step"),
    (["plot", "sensitivity", "{sens}", "--steps", "5"], 2, "--steps"),
    (["plot", "sensitivity", "--cell", "rnn", "--quantity", "c_spectral"], 2, "--quantity"),
]


@pytest.mark.parametrize("args, exit_code, message", BAD,
                         ids=[" ".join(a[1:4]) + f" [{i}]" for i, (a, _, _) in enumerate(BAD)])
def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, args, exit_code, message):
    args = [a.format(**files) for a in args]
    computed = not any(a in files.values() for a in args)
    out, saved = tmp_path / "out.png", tmp_path / "saved.json"
    extra = [*TINY] if computed else []
    extra += ["--save-results", str(saved)] if computed else []
    before = set(os.listdir(tmp_path))
    result = CliRunner().invoke(main, [*args, *extra, "-o", str(out)])
    assert result.exit_code == exit_code, result.output
    assert_one_error_line(result.stderr)
    assert message in result.stderr
    assert set(os.listdir(tmp_path)) == before  # no figure, no results file


def test_bad_input_as_a_subprocess(files, tmp_path):
    code, out, err = run_subprocess(["plot", "depth", files["sens"], "-o", "x.png"], tmp_path)
    assert code == 1 and out == ""
    assert_one_error_line(err)
    assert "gradflow plot sensitivity" in err and not (tmp_path / "x.png").exists()
