"""Atomic writes leave nothing behind: not on error, not on SIGTERM (the temporary is removed and
the process still dies by the signal), and after SIGKILL the next write removes what the killed
run left. The slow write is a real subprocess blocked inside the write on a pipe we control."""

import os
import re
import signal
import subprocess
import sys

import pytest

from gradflow.io import files
from gradflow.io.files import atomic_path, remove_stale_temporaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT}

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")


def _dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_temporary_is_named_by_host_and_pid_and_renamed(tmp_path):
    target = tmp_path / "out.png"
    with atomic_path(target) as tmp:
        name = os.path.basename(tmp)
        assert re.fullmatch(rf"\.gradflow-[0-9a-f]{{8}}-{os.getpid()}-[a-z0-9_]+\.png", name)
        with open(tmp, "w") as fh:
            fh.write("whole")
    assert sorted(os.listdir(tmp_path)) == ["out.png"] and target.read_text() == "whole"


def test_an_empty_path_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="empty file name"):
        with atomic_path(""):
            pass
    assert os.listdir(tmp_path) == []


def test_stale_temporaries_of_dead_processes_go_and_nothing_else(tmp_path):
    host, dead, alive = files._HOST, _dead_pid(), os.getpid()
    other_host = f"{(int(host, 16) + 1) % 2 ** 32:08x}"
    names = {
        "dead": f".gradflow-{host}-{dead}-abc123.png",
        "dead, no suffix": f".gradflow-{host}-{dead}-x_9",
        "alive": f".gradflow-{host}-{alive}-abc123.csv",
        "other machine": f".gradflow-{other_host}-{dead}-abc123.png",
        "old naming": ".gradflow-k2j3h4.png",
        "a user's file": f"gradflow-{host}-{dead}-abc123.png",
    }
    for name in names.values():
        (tmp_path / name).write_text("x")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([names["dead"], names["dead, no suffix"]])
    assert sorted(os.listdir(tmp_path)) == sorted(
        v for k, v in names.items() if not k.startswith("dead"))


def test_sigterm_handler_is_restored_and_chains_to_a_python_handler(tmp_path):
    calls = []

    def previous(signum, frame):
        calls.append(signum)

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with pytest.raises(FileNotFoundError):
            with atomic_path(tmp_path / "out.csv") as tmp:
                with open(tmp, "w") as fh:
                    fh.write("half")
                os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
                assert not os.path.exists(tmp)        # the temporary went first
                assert calls == [signal.SIGTERM]      # then the handler that was there
        # the write went on without its temporary: the rename fails, nothing is left
        assert signal.getsignal(signal.SIGTERM) is previous
        assert os.listdir(tmp_path) == []
    finally:
        signal.signal(signal.SIGTERM, old)


# A child that writes through the real CLI (`gradflow plot decay`), with savefig replaced by one
# that writes part of the file, says so, and then waits on stdin: a write as slow as we like.
SLOW_SAVEFIG = r"""
import sys
import matplotlib.figure

def slow_savefig(self, fname, **kws):
    with open(fname, "wb") as fh:
        fh.write(b"\x89PNG half a figure")
    print(fname, flush=True)
    sys.stdin.read()

matplotlib.figure.Figure.savefig = slow_savefig
from gradflow.cli import main
main(["plot", "decay", "--cell", "rnn", "--hidden", "3", "--steps", "4", "-q", "-o", "f.png"])
"""


def _start_slow_write(folder):
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAVEFIG], cwd=folder, env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    tmp = proc.stdout.readline().strip()  # the write has begun: its temporary exists
    assert tmp, proc.communicate()[1]
    assert os.path.exists(os.path.join(folder, tmp))
    return proc, tmp


def test_sigterm_during_savefig_removes_the_temporary_and_dies_by_the_signal(tmp_path):
    proc, tmp = _start_slow_write(tmp_path)
    assert re.fullmatch(rf"\.gradflow-[0-9a-f]{{8}}-{proc.pid}-[a-z0-9_]+\.png",
                        os.path.basename(tmp))
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM  # a shell reports 143
    assert os.listdir(tmp_path) == []


def test_after_sigkill_the_next_write_removes_the_leftover(tmp_path):
    proc, tmp = _start_slow_write(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert os.listdir(tmp_path) == [os.path.basename(tmp)]  # SIGKILL cannot be caught
    done = subprocess.run([sys.executable, "-m", "gradflow", "jacobians", "--cell", "rnn",
                           "--hidden", "3", "--steps", "4", "-q", "-o", "out.csv"],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmp_path) == ["out.csv"]


def test_sigterm_during_a_results_write_through_atomic_path(tmp_path):
    # The same for any atomic write, without the CLI: the child blocks inside atomic_path.
    script = ("import sys\n"
              "from gradflow.io.files import atomic_path\n"
              "with atomic_path('table.json') as tmp:\n"
              "    open(tmp, 'w').write('{\"half')\n"
              "    print(tmp, flush=True)\n"
              "    sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    tmp = proc.stdout.readline().strip()
    assert os.path.exists(tmp_path / os.path.basename(tmp))
    proc.terminate()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert os.listdir(tmp_path) == []
