"""`gradflow sweep` under faults, as real processes: SIGKILL of the sweep at several moments
then resume, a worker killed in the middle of its point, Ctrl-C to the process group."""

import os
import signal
import subprocess
import sys
import time

import pytest

from gradflow.sweep.points import TEST_HOLD_VARIABLE, TEST_KILL_VARIABLE, point_name
from gradflow.sweep.spec import read_spec

from cli_run import ROOT, run_subprocess

SPEC = """
analysis = "decay"
output = "{output}"
[grid]
cell = ["rnn", "lstm"]
scale = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]
[fixed]
hidden = 8
input_size = 3
steps = 120
"""
POINTS = 16


def spec_in(folder, output):
    (folder / f"{output}.toml").write_text(SPEC.format(output=output))
    return f"{output}.toml"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The summary of an uninterrupted run."""
    folder = tmp_path_factory.mktemp("reference")
    code, _, err = run_subprocess(["sweep", spec_in(folder, "out"), "--workers", "2"], folder)
    assert code == 0, err
    return (folder / "out" / "summary.csv").read_bytes()


def start(folder, spec, *extra, env=None):
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # Files, not pipes: a killed sweep's workers may hold them open for a moment.
    out, err = open(folder / "stdout", "w+"), open(folder / "stderr", "w+")
    # As a command started from a terminal: its own process group (Ctrl-C is killpg) and SIGINT
    # at its default. A job started in the background by a shell without job control (make,
    # CI, `cmd &`) inherits SIGINT ignored, and Python then keeps ignoring it.
    proc = subprocess.Popen([sys.executable, "-m", "gradflow", "sweep", spec, *extra],
                            cwd=folder, env=env, stdout=out, stderr=err, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.output = lambda: (_read(out), _read(err))
    return proc


def _read(fh):
    fh.seek(0)
    text = fh.read()
    fh.close()
    return text


def finished(folder):
    points = folder / "out" / "points"
    return [n for n in os.listdir(points) if n.endswith(".json") and not n.startswith(".")] \
        if points.exists() else []


def wait_for(proc, condition):
    """Poll (no fixed sleep) until `condition()` or the process ends; True if it held."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("the sweep neither reached the moment nor ended")


def held(folder, spec, *indices):
    """The environment that holds the points of these indices until Ctrl-C (a test hook of
    gradflow.sweep.points), and the condition that both workers have taken them."""
    names = [point_name("decay", s, {}) for s in read_spec(str(folder / spec)).points]
    chosen = [names[i] for i in indices]
    return ({TEST_HOLD_VARIABLE: ",".join(chosen)},
            lambda: all((folder / f"{n}.held").exists() for n in chosen))


@pytest.mark.parametrize("moment", [0, 4, 13])
def test_sigkill_then_resume_gives_the_uninterrupted_summary(tmp_path, reference, moment):
    """Killed while points `moment` and `moment + 1` run (held: however fast the others are,
    the sweep cannot have ended)."""
    spec = spec_in(tmp_path, "out")
    env, holding = held(tmp_path, spec, moment, moment + 1)
    proc = start(tmp_path, spec, "--workers", "2", env=env)
    lock = tmp_path / "out" / "sweep.lock"
    reached = wait_for(proc, lambda: lock.exists() and holding())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.output()
    assert reached, "the sweep ended before the moment to kill it"
    assert len(finished(tmp_path)) < POINTS
    killed_with = len(finished(tmp_path))
    code, out, err = run_subprocess(["sweep", spec, "--workers", "2"], tmp_path)
    assert code == 0, err
    assert out.startswith(f"{POINTS} points: {killed_with} done before, "
                          f"{POINTS - killed_with} done now, 0 failed, 0 left")
    assert (tmp_path / "out" / "summary.csv").read_bytes() == reference
    names = {point_name("decay", s, {}) + ".json"
             for s in read_spec(str(tmp_path / spec)).points}
    assert sorted(os.listdir(tmp_path / "out" / "points")) == sorted(names)  # no temporaries
    assert not lock.exists()


def test_a_worker_killed_mid_point_fails_only_its_point(tmp_path, reference):
    spec = spec_in(tmp_path, "out")
    victim = read_spec(str(tmp_path / spec)).points[5]
    name = point_name("decay", victim, {})
    proc = start(tmp_path, spec, "--workers", "2", env={TEST_KILL_VARIABLE: name})
    proc.wait(timeout=120)
    out, err = proc.output()
    assert proc.returncode == 1, err
    assert out.startswith(f"{POINTS} points: 0 done before, {POINTS - 1} done now, 1 failed")
    assert err.splitlines() == ["Error: 1 point failed (see the error column of the summary); "
                                "rerun with --retry-failed"]
    text = (tmp_path / "out" / "summary.csv").read_text()
    failed = [line for line in text.splitlines() if ",failed," in line]
    assert len(failed) == 1 and failed[0].startswith("rnn,") and ",1.75," in failed[0]
    assert failed[0].endswith(",the worker process died (killed or out of memory)")
    code, out, err = run_subprocess(["sweep", spec, "--retry-failed", "--workers", "2"],
                                    tmp_path)
    assert code == 0 and "1 done now, 0 failed" in out, err
    assert (tmp_path / "out" / "summary.csv").read_bytes() == reference


def test_ctrl_c_stops_cleanly_keeps_finished_points_and_resumes(tmp_path, reference):
    """Points 3 and 4 wait for the Ctrl-C (a test hook), and it comes when both workers have
    taken them, so the sweep cannot have ended: exactly points 0-4 are kept (the two running
    ones finished), the eleven queued ones are left pending."""
    spec = spec_in(tmp_path, "out")
    env, holding = held(tmp_path, spec, 3, 4)
    proc = start(tmp_path, spec, "--workers", "2", env=env)
    reached = wait_for(proc, holding)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    out, err = proc.output()
    assert reached
    assert proc.returncode == 130, err
    assert err.splitlines() == [f"Error: interrupted; the finished points are kept in "
                                f"{tmp_path / 'out'}: run the same command again to go on"]
    names = [point_name("decay", s, {}) for s in read_spec(str(tmp_path / spec)).points]
    assert sorted(finished(tmp_path)) == sorted(n + ".json" for n in names[:5])
    kept = 5
    summary = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert sum(",done," in line for line in summary) == kept
    assert sum(",pending," in line for line in summary) == POINTS - kept
    assert not (tmp_path / "out" / "sweep.lock").exists()
    code, out, err = run_subprocess(["sweep", spec, "--workers", "2"], tmp_path)
    assert code == 0 and err == "", err
    assert (tmp_path / "out" / "summary.csv").read_bytes() == reference


def test_a_local_worker_runs_openblas_on_one_thread():
    """N workers x N OpenBLAS threads on N cores spin against each other: each worker is told
    to use one thread (asked of the library itself)."""
    probe = ("import ctypes, numpy\n"
             "from gradflow.sweep.executors import one_blas_thread\n"
             "told = one_blas_thread()\n"
             "path = [l.split()[-1] for l in open('/proc/self/maps') if 'numpy.libs' in l\n"
             "        and 'openblas' in l][0]\n"
             "print(told, ctypes.CDLL(path).scipy_openblas_get_num_threads64_())\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "2"}, timeout=60)
    assert out.returncode == 0, out.stderr
    told, threads = out.stdout.split()
    assert int(told) >= 1 and threads == "1"
