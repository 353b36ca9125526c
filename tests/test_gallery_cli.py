"""`gradflow plot phase | heatmap | spectrum | gates`: files of every format, of the asked size."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from gradflow.analysis.gates import gate_traces  # noqa: E402
from gradflow.analysis.pairwise import pairwise_norms  # noqa: E402
from gradflow.analysis.phase import phase_diagram  # noqa: E402
from gradflow.analysis.network import Network  # noqa: E402
from gradflow.analysis.spectra import spectrum  # noqa: E402
from gradflow.cli import main  # noqa: E402
from gradflow.plotting.gates import plot_gate_decay, plot_gates  # noqa: E402
from gradflow.plotting.heatmap import plot_heatmap  # noqa: E402
from gradflow.plotting.phase import plot_phase, plot_phase_rates  # noqa: E402
from gradflow.plotting.spectrum import plot_spectrum  # noqa: E402

TINY = ["--hidden", "4", "--steps", "12", "--quiet"]
KINDS = {"phase": ["--scales", "0.5:1.5:3"], "heatmap": ["--stride", "2"],
         "spectrum": ["--distances", "3"], "gates": [], "cells": ["--cell", "lru", "--cell", "gru"]}
DPI = 40


def _check_file(path, fmt, width, height):
    data = path.read_bytes()
    if fmt == "png":
        pixels = mpimg.imread(path)
        assert abs(pixels.shape[0] - height * DPI) <= 2 and abs(pixels.shape[1] - width * DPI) <= 2
    elif fmt == "pdf":
        assert data.startswith(b"%PDF")
        box = [float(v) for v in data.split(b"/MediaBox [")[1].split(b"]")[0].split()]
        assert box[2] - box[0] == pytest.approx(width * 72, abs=1)
        assert box[3] - box[1] == pytest.approx(height * 72, abs=1)
    else:
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        assert float(root.get("width").rstrip("pt")) == pytest.approx(width * 72, abs=1)
        assert float(root.get("height").rstrip("pt")) == pytest.approx(height * 72, abs=1)


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_every_format_at_the_asked_size(tmp_path, kind, fmt):
    out = tmp_path / f"{kind}.{fmt}"
    width, height = (5.0, 2.5) if fmt == "png" else (4.0, 3.0)
    result = CliRunner().invoke(main, ["plot", kind, *TINY, *KINDS[kind], "-o", str(out),
                                       "--dpi", str(DPI), "--width", str(width),
                                       "--height", str(height)])
    assert result.exit_code == 0, result.output
    _check_file(out, fmt, width, height)


@pytest.mark.parametrize("kind", list(KINDS))
def test_saved_results_draw_again(tmp_path, kind):
    runner = CliRunner()
    saved = tmp_path / f"{kind}.json"
    first = runner.invoke(main, ["plot", kind, *TINY, *KINDS[kind], "-o",
                                 str(tmp_path / "a.png"), "--dpi", str(DPI),
                                 "--save-results", str(saved)])
    assert first.exit_code == 0, first.output
    extra = ["--distances", "3"] if kind == "spectrum" else []
    again = runner.invoke(main, ["plot", kind, str(saved), *extra, "-o",
                                 str(tmp_path / "b.svg")])
    assert again.exit_code == 0, again.output
    ET.parse(tmp_path / "b.svg")


def test_default_sizes_are_one_column_or_full_width(tmp_path):
    sizes = {}
    for kind in ("heatmap", "gates"):
        out = tmp_path / f"{kind}.png"
        result = CliRunner().invoke(main, ["plot", kind, *TINY, "-o", str(out), "--dpi",
                                           str(DPI)])
        assert result.exit_code == 0, result.output
        sizes[kind] = mpimg.imread(out).shape[:2]
    assert sizes["heatmap"] == (round(2.6 * DPI), round(3.5 * DPI))
    assert sizes["gates"] == (round(2.6 * DPI), round(7.0 * DPI))


@pytest.mark.parametrize("args, message", [
    (["phase", "--scales", "2:1:3"], "--scales"),
    (["phase", "--scales", "a:b"], "--scales"),
    (["phase", "--scale", "2"], "--scales, not --scale"),
    (["gates", "--cell", "rnn"], "has no gates"),
    (["heatmap", "--cell", "rnn", "--cell", "lstm"], "one cell"),
    (["heatmap", "--stride", "99"], "--stride"),
    (["spectrum", "--distances", "50"], "longer than the sequence"),
    (["spectrum", "--distances", "x"], "--distances"),
    (["gates", "--save-results", "out.txt"], "unknown results format"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    result = CliRunner().invoke(main, ["plot", args[0], *TINY, *args[1:], "-o",
                                       str(tmp_path / "x.png")])
    assert result.exit_code == 2  # a bad option value, as click reports its own
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_results_file_of_another_kind_is_refused(tmp_path):
    saved = tmp_path / "gates.npz"
    runner = CliRunner()
    assert runner.invoke(main, ["plot", "gates", *TINY, "-o", str(tmp_path / "g.png"),
                                "--save-results", str(saved)]).exit_code == 0
    result = runner.invoke(main, ["plot", "phase", str(saved), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 1 and "'gates' results, not 'phase'" in result.output


def test_real_subprocess(tmp_path):
    out = tmp_path / "heatmap.png"
    done = subprocess.run([sys.executable, "-m", "gradflow", "plot", "heatmap", *TINY,
                           "-o", str(out), "--dpi", str(DPI)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert mpimg.imread(out).shape[:2] == (round(2.6 * DPI), round(3.5 * DPI))


def _results():
    s = Network("rnn", hidden=4, steps=8).build()
    return {
        "phase": phase_diagram(Network(hidden=4, steps=8), [0.5, 1.0], cells=("rnn", "gru")),
        "heatmap": pairwise_norms(s.cell, s.params, s.sequences[0]),
        "spectrum": [spectrum(Network(c, hidden=4, steps=8), distances=(2,)) for c in ("rnn",
                                                                                       "lstm")],
        "gates": [gate_traces(Network(c, hidden=4, steps=8)) for c in ("lstm", "gru")],
    }


def test_plot_functions_draw_on_the_given_axes_and_return_it():
    results = _results()
    calls = [(plot_phase, results["phase"], {}), (plot_phase_rates, results["phase"], {}),
             (plot_heatmap, results["heatmap"], {}), (plot_spectrum, results["spectrum"], {}),
             (plot_spectrum, results["spectrum"], {"distance": 2}),
             (plot_gates, results["gates"], {}), (plot_gate_decay, results["gates"], {})]
    for function, result, kws in calls:
        fig, (other, ax) = plt.subplots(1, 2)
        assert function(result, ax=ax, **kws) is ax
        assert ax.lines or ax.collections
        assert not other.lines and not other.collections
        plt.close(fig)
    fig = plt.figure()
    assert plot_gates(results["gates"]) is plt.gca()  # ax=None draws on the current Axes
    plt.close(fig)


@pytest.mark.parametrize("kind", ["decay", "phase", "heatmap", "spectrum", "gates"])
def test_every_kind_runs_with_the_default_sizes(kind, tmp_path):
    # Regression: --hidden and --input-size default to None on the command line (a weights
    # file may supply them); every kind must resolve them, not pass None on.
    out = tmp_path / f"{kind}.png"
    result = CliRunner().invoke(main, ["plot", kind, "--steps", "6", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert matplotlib.image.imread(out).shape[0] > 0
