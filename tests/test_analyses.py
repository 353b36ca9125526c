"""The machinery of `make figures`: pinned floating-point kernels, the numbers files, the check
that every script wrote its numbers in this run, and `plot decay --save-results`."""

import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.cli import main
from gradflow.io.results import read_table

ROOT = pathlib.Path(__file__).resolve().parent.parent
ANALYSES = ROOT / "analyses"


def load(name):
    spec = importlib.util.spec_from_file_location(f"analyses_{name}", ANALYSES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ANALYSES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ANALYSES))
    return module


PROBE = """
import json, os, sys
sys.path.insert(0, {analyses!r})
import _run
decision = _run.pin_numerics()
import numpy
try:
    from numpy._core import _multiarray_umath as m
except ImportError:
    from numpy.core import _multiarray_umath as m
print(json.dumps({{"decision": decision, "coretype": os.environ.get("OPENBLAS_CORETYPE"),
                  "disabled": os.environ.get("NPY_DISABLE_CPU_FEATURES"),
                  "active": [k for k, v in m.__cpu_features__.items() if v],
                  "dispatch": list(m.__cpu_dispatch__)}}))
"""


def probe(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES", "GRADFLOW_NUMERICS")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(analyses=str(ANALYSES))],
                         env={**clean, **env}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def has_avx2():
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    from numpy._core import _multiarray_umath as m
    return bool(m.__cpu_features__.get("AVX2"))


def test_pinning_switches_off_avx512_and_fixes_the_blas_kernels():
    got = probe()
    if not has_avx2():  # another architecture: nothing is pinned, and the run says so
        assert got["decision"] == "not pinned" and got["coretype"] is None
        return
    assert got["coretype"] == "Haswell" and got["decision"].startswith("x86-64-v3")
    above = [f for f in got["dispatch"] if f.startswith("AVX512") or f == "X86_V4"]
    assert above and not set(above) & set(got["active"])  # no AVX-512 code path is taken
    assert "AVX2" in got["active"]  # x86-64-v3 itself stays
    # what the user set is left alone
    assert probe(OPENBLAS_CORETYPE="Sandybridge")["coretype"] == "Sandybridge"


def test_pinning_refuses_once_numpy_is_imported():
    code = (f"import sys; sys.path.insert(0, {str(ANALYSES)!r}); import numpy, _run\n"
            "try:\n    _run.pin_numerics()\nexcept RuntimeError as e:\n    print('refused', e)")
    env = {k: v for k, v in os.environ.items() if k != "GRADFLOW_NUMERICS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.startswith("refused"), out.stderr


def test_numbers_are_kept_to_four_significant_digits(tmp_path, monkeypatch):
    run = load("_run")
    assert run.significant(0.64130251) == 0.6413 and run.significant(229312.7) == 229300.0
    assert run.significant(7) == 7 and run.significant(None) is None
    assert np.isnan(run.significant(float("nan")))
    monkeypatch.setattr(run, "ROOT", str(tmp_path))
    run.write_numbers("n.json", {"cell": ["rnn"], "rate": [np.float64(0.123456)],
                                 "horizon": [None]},
                      {"kind": "x_summary", "nested": {"a": [1.23456789]}})
    doc = json.loads((tmp_path / "n.json").read_text())
    assert doc["format"] == "gradflow-results" and doc["kind"] == "x_summary"
    assert doc["columns"] == {"cell": ["rnn"], "rate": [0.1235], "horizon": [None]}
    assert doc["metadata"]["nested"] == {"a": [1.235]}


def test_make_all_reports_a_script_that_did_not_write_its_numbers(tmp_path):
    make_all = load("make_all")
    script = tmp_path / "lazy.py"
    script.write_text('NUMBERS = "figures/never-written-by-lazy.json"\n')
    assert make_all.run_scripts([script]) == ["lazy.py: figures/never-written-by-lazy.json"]
    assert not (ROOT / "figures" / "never-written-by-lazy.json").exists()


def test_zero_crossing_interpolates_between_grid_points():
    phase = load("phase")
    assert phase.zero_crossing([1, 2, 3], [-0.2, -0.1, 0.3]) == pytest.approx(2.25)
    assert phase.zero_crossing([1, 2], [-1.0, -0.5]) is None


def test_the_wall_width_of_a_step_function_and_of_a_ramp():
    cliff = load("pascanu_cliff")
    assert cliff._crossing(lambda b: 10.0 - b, 0.0, 10.0, 2.5) == pytest.approx(7.5)
    # The wall at T = 20 where the README's plain path meets it: its width in b is the loss
    # drop divided by its slope there, which is about the gradient norm on the wall.
    from gradflow.training.cliff import CliffSetup
    left, right, width = cliff.wall(5.863, -3.2, -3.1, CliffSetup(0.5, 20, 0.7))
    assert left > 12 and right < 2.5
    assert 0.8 * (left - right) / 9942 < width < 3 * (left - right) / 9942


def test_the_reach_of_a_sensitivity_curve_counts_unbroken_steps_either_side():
    sensitivity = load("sensitivity")
    #        t =  1     2     3     4 (tau)  5     6       7
    values = [-1.0, -4.0, -2.0, -0.5, -2.9, -np.inf, -1.0]
    assert sensitivity.reach(values, 4) == (1, 1)  # t = 3 back (t = 2 breaks), t = 5 ahead
    assert sensitivity.reach([0.0, 0.0, 0.0], 1) == (0, 2)
    assert sensitivity.reach([0.0, 0.0, 0.0], 3) == (2, 0)


def test_plot_decay_save_results_is_what_jacobians_writes(tmp_path):
    small = ["--hidden", "4", "--input-size", "3", "--steps", "6", "--samples", "2", "-q"]
    saved, direct = tmp_path / "a.json", tmp_path / "b.json"
    r = CliRunner().invoke(main, ["plot", "decay", *small, "-o", str(tmp_path / "d.png"),
                                  "--save-results", str(saved)])
    assert r.exit_code == 0, r.output
    assert CliRunner().invoke(main, ["jacobians", *small, "-o", str(direct)]).exit_code == 0
    a, b = read_table(saved), read_table(direct)
    assert a.kind == "decay" and list(a.columns) == list(b.columns)
    for name in a.columns:
        np.testing.assert_array_equal(a.columns[name], b.columns[name])
    bad = CliRunner().invoke(main, ["plot", "decay", *small, "-o", str(tmp_path / "e.png"),
                                    "--save-results", str(tmp_path / "e.txt")])
    assert bad.exit_code != 0 and bad.stderr.startswith("Error: ")
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "e.png").exists()


def test_plot_decay_save_results_as_a_real_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", "plot", "decay", "--hidden", "3",
                           "--steps", "4", "-q", "-o", "d.svg", "--save-results", "d.npz"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert read_table(tmp_path / "d.npz").kind == "decay"


def test_the_phase_sweep_is_the_grid_of_the_command_the_readme_quotes():
    """analyses/phase.py draws the figure through SPEC's sweep; the README quotes COMMAND, which
    computes it in one process: the two must be the same grid, settings and drawing."""
    import shlex

    from gradflow.sweep.spec import read_spec

    phase = load("phase")
    words = shlex.split(phase.COMMAND)
    option = {words[i][2:].replace("-", "_"): words[i + 1] for i in range(len(words) - 1)
              if words[i].startswith("--")}
    spec = read_spec(str(ROOT / phase.SPEC))
    assert spec.analysis == "decay" and spec.output == str(ROOT / phase.FOLDER)
    assert spec.grid == ("cell", "scale")
    start, stop, count = option.pop("scales").split(":")
    scales = np.linspace(float(start), float(stop), int(count))
    assert [(p["cell"], p["scale"]) for p in spec.points] == \
        [(c, float(g)) for c in ("rnn", "lstm", "gru") for g in scales]
    output = words[words.index("-o") + 1]
    assert phase.PLOT.endswith(f" --limit {option.pop('limit')} -o {output}")
    for key, value in option.items():  # hidden, input_size, steps, samples
        assert {str(p[key]) for p in spec.points} == {value}, key
    assert phase.PLOT.startswith(f"gradflow plot phase {phase.FOLDER} ")
    assert phase.SWEEP.startswith(f"gradflow sweep {phase.SPEC}")
