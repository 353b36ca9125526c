"""Bad input found by trying every command as a new user would (issue 8): each is one line on
stderr starting "Error: " that names the option or file, exit status 2 for a bad option value
or a contradiction between options and 1 for a bad file, and nothing written. Every case runs
through click's CliRunner and as a real subprocess."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.analysis.decay import decay_profile, profiles_to_table
from gradflow.analysis.phase import phase_diagram, phase_to_table
from gradflow.cli import main
from gradflow.io.results import read_table, write_table
from gradflow.analysis.network import Network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(ROOT, "tests", "data", "torch_rnn_tanh.npz")
SMALL = ["--cell", "rnn", "--hidden", "3", "--steps", "4", "-q"]

# name: (arguments, exit status, a piece of the message). Files are made by `_make_files`;
# `-o` goes to out.json (jacobians) or f.png (plot), so a file written would be seen.
CASES = {
    # values that are not numbers the mathematics can use: option-level, exit 2
    "scale nan": (["jacobians", *SMALL, "--scale", "nan"], 2, "'--scale': 'nan' is not a finite"),
    "scale inf": (["jacobians", *SMALL, "--scale", "inf"], 2, "'--scale': 'inf' is not a finite"),
    "forget-bias nan": (["plot", "decay", *SMALL, "--forget-bias", "nan"], 2,
                        "'--forget-bias': 'nan' is not a finite"),
    "seed -1": (["jacobians", *SMALL, "--seed", "-1"], 2, "'--seed': -1 is not in the range"),
    "empty -o": (["jacobians", *SMALL, "-o", ""], 2, "'-o' / '--output': the file name is empty"),
    "empty figure -o": (["plot", "decay", *SMALL, "-o", ""], 2,
                        "'-o' / '--output': the file name is empty"),
    "empty --save-results": (["plot", "gates", "--cell", "lstm", "--hidden", "3", "--steps", "4",
                              "-q", "--save-results", ""], 2,
                             "'--save-results': the file name is empty"),
    "empty --weights": (["jacobians", "-q", "--weights", ""], 2,
                        "'--weights': the file name is empty"),
    "empty --input-file": (["jacobians", "-q", "--input-file", " "], 2,
                           "'--input-file': the file name is empty"),
    # more memory than the machine has: refused before any work, with the amount
    "hidden 60000": (["jacobians", "--hidden", "60000", "-q"], 1,
                     "--hidden 60000, --steps 100: the run needs about"),
    # input files
    "input (0, 8)": (["jacobians", *SMALL, "--input-file", "empty_T.npy"], 1,
                     "empty_T.npy: input sequence has shape (0, 8), expected (T, D) with T >= 1"),
    "input .npz": (["jacobians", "-q", "--input-file", "inputs.npz"], 1,
                   "inputs.npz: an .npz archive (arrays: x)"),
    "input empty file": (["jacobians", "-q", "--input-file", "empty.npy"], 1,
                         "empty.npy: cannot read as a .npy array (the file is empty"),
    # results files
    "corrupt npz": (["plot", "decay", "corrupt.npz"], 1, "corrupt.npz: cannot read results"),
    "empty npz": (["plot", "decay", "empty.npz"], 1,
                  "empty.npz: cannot read results (the file is empty or cut short)"),
    "ragged json": (["plot", "decay", "ragged.json"], 1, "ragged.json: columns of unequal "
                                                         "lengths"),
    "phase.json as decay": (["plot", "decay", "phase.json"], 1,
                            "phase.json: holds 'phase' results, not 'decay'"),
    "phase.csv as decay": (["plot", "decay", "phase.csv"], 1,
                           "phase.csv: holds 'phase' results, not 'decay'"),
    "decay.csv as gates": (["plot", "gates", "decay.csv"], 1,
                           "decay.csv: holds 'decay' results, not 'gates'"),
    "phase.json as spectrum": (["plot", "spectrum", "phase.json"], 1,
                               "phase.json: holds 'phase' results, not 'spectrum'"),
    "format_version 99": (["plot", "decay", "v99.json"], 1,
                          "v99.json: format_version 99 is newer than this gradflow reads (1)"),
    # options that contradict each other: exit 2, naming them
    "weights with init, scale, forget-bias": (
        ["jacobians", "-q", "--weights", WEIGHTS, "--init", "orthogonal", "--scale", "2",
         "--forget-bias", "3"], 2, "--weights sets every weight: --init, --scale, --forget-bias "
                                   "do not apply"),
    "weights with scale": (["plot", "decay", "-q", "--weights", WEIGHTS, "--scale", "1"], 2,
                           "--weights sets every weight: --scale does not apply"),
    "decay results with compute options": (
        ["plot", "decay", "decay.json", "--cell", "lstm", "--steps", "5", "--hidden", "9"], 2,
        "--cell, --hidden, --steps: not used when RESULTS files are given"),
    "decay results with weights": (["plot", "decay", "decay.json", "--weights", WEIGHTS], 2,
                                   "--weights: not used when RESULTS files are given"),
    "phase results with --scales": (["plot", "phase", "phase.json", "--scales", "1,2"], 2,
                                    "--scales: not used when RESULTS files are given"),
    "heatmap results with --stride": (["plot", "heatmap", "decay.json", "--stride", "2"], 2,
                                      "--stride: not used when RESULTS files are given"),
    "spectrum results with --seed": (["plot", "spectrum", "decay.json", "--seed", "3"], 2,
                                     "--seed: not used when RESULTS files are given"),
    "gates results with --save-results": (
        ["plot", "gates", "decay.json", "--save-results", "again.json"], 2,
        "--save-results: not used when RESULTS files are given"),
}


def _make_files(folder):
    np.save(folder / "empty_T.npy", np.zeros((0, 8)))
    np.savez(folder / "inputs.npz", x=np.zeros((5, 8)))
    (folder / "empty.npy").write_bytes(b"")
    (folder / "corrupt.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    (folder / "empty.npz").write_bytes(b"")
    decay = profiles_to_table([decay_profile(Network("rnn", hidden=3, steps=4))])
    phase = phase_to_table(phase_diagram(Network(hidden=3, steps=4), [0.5, 1.0], cells=("rnn",)))
    for name, table in (("decay.json", decay), ("decay.csv", decay), ("phase.json", phase),
                        ("phase.csv", phase)):
        write_table(folder / name, table)
    doc = json.loads((folder / "decay.json").read_text())
    doc["columns"]["distance"] = doc["columns"]["distance"][:2]
    (folder / "ragged.json").write_text(json.dumps(doc))
    doc = json.loads((folder / "decay.json").read_text())
    doc["format_version"] = 99
    (folder / "v99.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    _make_files(folder)
    return folder


def _arguments(case):
    args, _, _ = CASES[case]
    if "-o" not in args:
        args = [*args, "-o", "out.json" if args[0] == "jacobians" else "f.png"]
    return args


def _workdir(tmp_path, made):
    for name in os.listdir(made):
        os.symlink(made / name, tmp_path / name)
    return sorted(os.listdir(tmp_path))


def _check(case, code, stdout, stderr, before, after):
    _, want_code, message = CASES[case]
    lines = stderr.splitlines()
    assert code == want_code, (case, code, stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: "), (case, stderr)
    assert message in lines[0], (case, lines[0])
    assert stdout == "", (case, stdout)
    assert after == before, (case, "wrote", sorted(set(after) - set(before)))


@pytest.mark.parametrize("case", list(CASES))
def test_clirunner(case, tmp_path, made, monkeypatch):
    before = _workdir(tmp_path, made)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, _arguments(case))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exc_info
    _check(case, result.exit_code, result.stdout, result.stderr, before,
           sorted(os.listdir(tmp_path)))


@pytest.mark.slow
def test_every_case_as_a_real_subprocess(tmp_path, made):
    # Two at a time: the whole list in about 15 s on two idle cores (each start imports
    # numpy, scipy, autograd and matplotlib).
    env = {**os.environ, "PYTHONPATH": ROOT}

    def run(case):
        folder = tmp_path / case.replace(" ", "_").replace("/", "_")
        folder.mkdir()
        before = _workdir(folder, made)
        proc = subprocess.run([sys.executable, "-m", "gradflow", *_arguments(case)], cwd=folder,
                              env=env, capture_output=True, text=True, timeout=120)
        return case, proc, before, sorted(os.listdir(folder))

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, CASES))
    failures = []
    for case, proc, before, after in results:
        try:
            assert "Traceback" not in proc.stderr
            _check(case, proc.returncode, proc.stdout, proc.stderr, before, after)
        except AssertionError as err:
            failures.append(f"{case}: {err}")
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------ the right thing instead

@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
def test_spectrum_of_a_zero_recurrence_at_a_distance(tmp_path, runner):
    # --scale 0: W_hh = 0, every product ds_T/ds_{T-d} of the RNN is exactly zero, so its
    # singular values at distance 5 are all zero (log10 -inf); no KeyError.
    args = ["plot", "spectrum", "--cell", "rnn", "--cell", "lstm", "--hidden", "3", "--steps",
            "6", "--scale", "0", "--distances", "5", "-q", "-o", str(tmp_path / "s.png"),
            "--save-results", str(tmp_path / "s.json")]
    if runner == "clirunner":
        result = CliRunner().invoke(main, args)
        code, err = result.exit_code, result.stderr
    else:
        proc = subprocess.run([sys.executable, "-m", "gradflow", *args], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
        code, err = proc.returncode, proc.stderr
    assert code == 0 and err == "", err
    assert (tmp_path / "s.png").stat().st_size > 0
    table = read_table(tmp_path / "s.json")
    rnn = table.where("cell", "rnn").columns["log10_singular_value_d5"]
    lstm = table.where("cell", "lstm").columns["log10_singular_value_d5"]
    assert len(rnn) == 3 and np.all(rnn == -np.inf)
    # The LSTM's step Jacobian is [[0, dh/dc], [0, diag f]] with W_hh = 0: the product has rank
    # H = 3, the c-path through the forget gates, and 3 singular values exactly zero.
    assert len(lstm) == 6 and np.all(np.isfinite(lstm[:3])) and np.all(lstm[3:] == -np.inf)


@pytest.mark.parametrize("args", [["jacobians", *SMALL], ["plot", "decay", *SMALL,
                                                          "-o", "f.png"]])
def test_weights_alone_and_results_alone_still_work(tmp_path, made, monkeypatch, args):
    # The refusals above name only what was given: defaults of the same options are fine.
    _workdir(tmp_path, made)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["jacobians", "-q", "--weights", WEIGHTS, "--steps", "4",
                                "--seed", "1"]).exit_code == 0
    assert runner.invoke(main, ["plot", "decay", "decay.json", "-q", "-o", "g.png"]).exit_code == 0
    assert runner.invoke(main, ["plot", "phase", "phase.json", "--heatmap-cell", "rnn",
                                "-o", "p.png"]).exit_code == 0
    assert runner.invoke(main, args).exit_code == 0


def test_unbounded_real_options_say_finite_in_help():
    from click.testing import CliRunner
    from gradflow.cli import main
    text = CliRunner().invoke(main, ["jacobians", "--help"]).output
    assert "None" not in text
    assert "[default: 1.0; finite]" in " ".join(text.split())
