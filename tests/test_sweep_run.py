"""`gradflow sweep`: running a spec, the point files, the summary, resuming, faults in
process (corrupt files, a point that raises, the lock)."""

import csv
import json
import os
import socket
import subprocess

from gradflow.sweep import points as points_module
from gradflow.sweep.spec import read_spec
from gradflow.sweep.points import point_name, read_point

from cli_run import run, run_subprocess

SPEC = """
analysis = "decay"
output = "out"
[grid]
cell = ["rnn", "lstm", "gru"]
scale = [0.5, 1.5]
[fixed]
hidden = 5
input_size = 3
steps = 12
samples = 2
"""


def write(folder, text=SPEC):
    (folder / "spec.toml").write_text(text)
    return str(folder / "spec.toml")


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_decay_sweep_matches_gradflow_jacobians_point_by_point(tmp_path):
    code, out, err = run(["sweep", write(tmp_path), "--workers", "2"])
    assert code == 0, err
    assert out == f"6 points: 0 done before, 6 done now, 0 failed, 0 left; " \
                  f"{tmp_path / 'out' / 'summary.csv'}\n"
    summary = rows(tmp_path / "out" / "summary.csv")
    assert [(r["cell"], r["scale"]) for r in summary] == [
        (c, s) for c in ("rnn", "lstm", "gru") for s in ("0.5", "1.5")]
    for r in summary:  # the same point through the command line, in this process
        code, text, err = run(["jacobians", "--cell", r["cell"], "--scale", r["scale"],
                               "--hidden", "5", "--input-size", "3", "--steps", "12",
                               "--samples", "2", "--format", "json", "--quiet"])
        meta = json.loads(text)["metadata"]["cells"][r["cell"]]
        assert r["status"] == "done" and r["error"] == ""
        assert r["verdict"] == meta["verdict"]
        assert float(r["rate_per_step"]) == meta["rate_per_step"]
        assert r["horizon"] == ("" if meta["horizon"] is None else str(meta["horizon"]))
    names = sorted(os.listdir(tmp_path / "out" / "points"))
    assert len(names) == 6 and all(len(n) == len("0123456789abcdef.json") for n in names)


def test_resumed_run_skips_every_point_and_writes_the_same_summary(tmp_path):
    path = write(tmp_path)
    assert run(["sweep", path, "--workers", "1"])[0] == 0
    first = (tmp_path / "out" / "summary.csv").read_bytes()
    mtimes = {n: os.stat(tmp_path / "out" / "points" / n).st_mtime_ns
              for n in os.listdir(tmp_path / "out" / "points")}
    code, out, err = run(["sweep", path])
    assert code == 0 and out.startswith("6 points: 6 done before, 0 done now"), err
    assert (tmp_path / "out" / "summary.csv").read_bytes() == first
    assert {n: os.stat(tmp_path / "out" / "points" / n).st_mtime_ns for n in mtimes} == mtimes
    # a point added to the grid is the only one computed
    (tmp_path / "spec.toml").write_text(SPEC.replace("[0.5, 1.5]", "[0.5, 1.5, 1.0]"))
    code, out, _ = run(["sweep", path, "--workers", "1"])
    assert out.startswith("9 points: 6 done before, 3 done now")


def test_lyapunov_and_clipping_points(tmp_path):
    path = write(tmp_path, 'analysis = "lyapunov"\noutput = "lyap"\n[grid]\ncell = ["rnn", '
                           '"lstm"]\n[fixed]\nhidden = 4\nsteps = 12\n[analysis_options]\n'
                           'exponents = 3\ndiscard = 2\n')
    assert run(["sweep", path, "--workers", "1"])[0] == 0
    for r in rows(tmp_path / "lyap" / "summary.csv"):
        code, text, _ = run(["lyapunov", "--cell", r["cell"], "--hidden", "4", "--steps", "12",
                             "--exponents", "3", "--discard", "2", "--format", "csv", "-q"])
        expected = [line.split(",")[3] for line in text.splitlines()[1:4]]
        assert [r[f"lyapunov_{i}"] for i in (1, 2, 3)] == expected
    path = write(tmp_path, 'analysis = "clipping"\noutput = "clip"\n[grid]\nseed = [0, 1]\n'
                           '[fixed]\nhidden = 4\nsteps = 6\n[analysis_options]\nupdates = 5\n'
                           'modes = ["none", "norm"]\nthresholds = [0.5]\n')
    assert run(["sweep", path, "--workers", "1"])[0] == 0
    for r in rows(tmp_path / "clip" / "summary.csv"):
        code, text, _ = run(["ablate", "clipping", "--hidden", "4", "--steps", "6", "--updates",
                             "5", "--modes", "none,norm", "--clip-threshold", "0.5", "--seed",
                             r["seed"], "--format", "json", "-q"])
        loss = json.loads(text)["columns"]["loss"]
        assert float(r["none_best_loss"]) == min(loss[:5])
        assert float(r["norm_0.5_best_loss"]) == min(loss[5:])
        assert r["none_updates"] == r["norm_0.5_updates"] == "5"


def test_corrupt_and_truncated_point_files_are_reported_and_recomputed(tmp_path):
    path = write(tmp_path)
    assert run(["sweep", path, "--workers", "1"])[0] == 0
    first = (tmp_path / "out" / "summary.csv").read_bytes()
    folder = tmp_path / "out" / "points"
    a, b, c = sorted(os.listdir(folder))[:3]
    text = (folder / a).read_text()
    (folder / a).write_text(text[: len(text) // 2])                        # truncated
    (folder / b).write_text((folder / b).read_text().replace('"done"', '"failed"', 1))  # edited
    (folder / c).write_bytes(b"\x00\xff" * 10)                            # garbage
    code, out, err = run(["sweep", path, "--workers", "1"])
    assert code == 0
    assert out.startswith("6 points: 3 done before, 3 done now")
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("warning: ") and "recomputing" in line
                                   for line in lines)
    said = {name: next(line for line in lines if name in line) for name in (a, b, c)}
    assert "not valid JSON (truncated" in said[a] and "checksum does not match" in said[b]
    assert "not valid JSON" in said[c]
    assert (tmp_path / "out" / "summary.csv").read_bytes() == first


def test_a_point_that_raises_is_recorded_the_sweep_goes_on_and_retry_reruns_it(tmp_path,
                                                                              monkeypatch):
    path = write(tmp_path)
    spec = read_spec(path)
    bad = point_name("decay", spec.points[3], spec.options)
    real = points_module._decay

    def flaky(settings, options):
        if point_name("decay", settings, options) == bad:
            raise FloatingPointError("overflow in the product\nsecond line")
        return real(settings, options)

    monkeypatch.setitem(points_module._ANALYSES, "decay", flaky)  # workers=1 forks this state
    code, out, err = run(["sweep", path, "--workers", "1"])
    assert code == 1
    assert out.startswith("6 points: 0 done before, 5 done now, 1 failed")
    assert err == "Error: 1 point failed (see the error column of the summary); rerun with " \
                  "--retry-failed\n"
    summary = rows(tmp_path / "out" / "summary.csv")
    assert [r["status"] for r in summary] == ["done"] * 3 + ["failed"] + ["done"] * 2
    assert summary[3]["error"] == "FloatingPointError: overflow in the product"
    assert summary[3]["verdict"] == ""
    code, out, _ = run(["sweep", path])  # not retried without --retry-failed
    assert code == 1 and "0 done now, 1 failed" in out
    monkeypatch.setitem(points_module._ANALYSES, "decay", real)
    code, out, err = run(["sweep", path, "--retry-failed"])
    assert code == 0, err
    assert out.startswith("6 points: 5 done before, 1 done now, 0 failed")
    record = read_point(spec.output, bad, "decay", spec.points[3], spec.options)
    assert record["status"] == "done" and record["error"] is None


def test_a_live_sweep_lock_refuses_a_second_sweep_and_a_stale_one_is_taken_over(tmp_path):
    path = write(tmp_path)
    os.makedirs(tmp_path / "out")
    lock = tmp_path / "out" / "sweep.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    code, out, err = run(["sweep", path])
    assert code == 1 and out == ""
    assert err == f"Error: {tmp_path / 'out'} is in use by another sweep (pid {os.getpid()} " \
                  f"on {socket.gethostname()}); if none is running, remove {lock}\n"
    assert not (tmp_path / "out" / "points").exists() or not os.listdir(tmp_path / "out" /
                                                                        "points")
    proc = subprocess.Popen(["true"])  # a pid that has ended
    proc.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": proc.pid}))
    code, out, err = run(["sweep", path, "--workers", "1"])
    assert code == 0
    assert err == f"note: {lock}: the sweep that held it (pid {proc.pid}) no longer runs; " \
                  "taking it over\n"
    assert not lock.exists()


def test_sweep_as_a_subprocess(tmp_path):
    write(tmp_path)
    code, out, err = run_subprocess(["sweep", "spec.toml", "--workers", "2"], tmp_path)
    assert code == 0 and err == "", err
    assert "6 done now" in out and len(rows(tmp_path / "out" / "summary.csv")) == 6


def test_plot_phase_from_a_sweep_folder_is_the_computed_figure(tmp_path):
    write(tmp_path, 'analysis = "decay"\noutput = "ph"\n[grid]\ncell = ["rnn", "lstm", "gru"]\n'
                    'scale = [0.25, 0.375, 0.5]\n[fixed]\nhidden = 8\ninput_size = 4\n'
                    'steps = 12\nsamples = 2\n')
    assert run(["sweep", str(tmp_path / "spec.toml"), "--workers", "2", "-q"])[0] == 0
    code, _, err = run(["plot", "phase", str(tmp_path / "ph"), "--limit", "12", "-o",
                        str(tmp_path / "sweep.png"), "--save-results", str(tmp_path / "x.json")])
    assert code == 2 and "--save-results" in err  # a folder is drawn as it is
    assert run(["plot", "phase", str(tmp_path / "ph"), "--limit", "12", "-o",
                str(tmp_path / "sweep.png")])[0] == 0
    assert run(["plot", "phase", "--hidden", "8", "--input-size", "4", "--steps", "12",
                "--samples", "2", "--scales", "0.25:0.5:3", "--limit", "12", "-o",
                str(tmp_path / "computed.png"), "-q"])[0] == 0
    assert (tmp_path / "sweep.png").read_bytes() == (tmp_path / "computed.png").read_bytes()
    code, _, err = run(["plot", "phase", str(tmp_path), "-o", str(tmp_path / "z.png")])
    assert code == 1 and err.startswith(f"Error: {tmp_path}: not a sweep folder")


def test_plot_decay_from_a_sweep_folder_is_the_computed_figure(tmp_path):
    write(tmp_path, 'analysis = "decay"\noutput = "dc"\n[grid]\ncell = ["rnn", "lstm", "gru"]\n'
                    '[fixed]\nhidden = 6\ninput_size = 3\nsteps = 15\nsamples = 3\n'
                    'forget_bias = 3.0\n')
    code, out, err = run_subprocess(["sweep", "spec.toml", "--workers", "2", "-q"], tmp_path)
    assert code == 0, err
    code, out, err = run_subprocess(["plot", "decay", "dc", "-o", "sweep.png"], tmp_path)
    assert code == 0 and err == "", err
    assert run(["plot", "decay", "--cell", "rnn", "--cell", "lstm", "--cell", "gru", "--hidden",
                "6", "--input-size", "3", "--steps", "15", "--samples", "3", "--forget-bias",
                "3", "-o", str(tmp_path / "computed.png"), "-q"])[0] == 0
    assert (tmp_path / "sweep.png").read_bytes() == (tmp_path / "computed.png").read_bytes()


def test_plot_decay_from_a_sweep_folder_names_what_differs_and_refuses_what_it_lacks(tmp_path):
    path = write(tmp_path)  # cells x scales
    assert run(["sweep", path, "--workers", "1", "-q"])[0] == 0
    from gradflow.plotting.decay import describe
    from gradflow.sweep.views import profiles_from_sweep
    profiles = profiles_from_sweep(str(tmp_path / "out"))
    labels, _ = describe(profiles)
    assert labels == [f"{cell}, {weights}" for cell in ("RNN (tanh)", "LSTM", "GRU")
                      for weights in ("weights N(0, 0.5\u00b2/H)", "weights N(0, 1.5\u00b2/H)")]
    assert run(["plot", "decay", str(tmp_path / "out"), "-o", str(tmp_path / "a.png")])[0] == 0
    code, _, err = run(["plot", "decay", str(tmp_path / "out"), "--quantity", "frobenius",
                        "-o", str(tmp_path / "b.png")])
    assert code == 2 and "--quantity frobenius: a sweep folder holds the spectral norm" in err
    code, _, err = run(["plot", "decay", str(tmp_path), "-o", str(tmp_path / "c.png")])
    assert code == 1 and err.startswith(f"Error: {tmp_path}: not a sweep folder")
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "c.png").exists()
