"""The memory estimate against measured peaks (tracemalloc in process, the resident size of a
real subprocess), the available memory against /proc/meminfo and a cgroup, and the CLI's
refusal of a run that cannot fit."""

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.analysis.decay import decay_profile
from gradflow.analysis.gates import gate_traces
from gradflow.analysis.pairwise import pairwise_norms
from gradflow.analysis.phase import phase_diagram
from gradflow.analysis.network import Network
from gradflow.analysis.spectra import spectrum
from gradflow.cli import main
from gradflow.engine import memory
from gradflow.engine.memory import available_bytes, format_bytes, needed_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _heatmap(cell, H, T, stride):
    s = Network(cell, hidden=H, steps=T).build()
    return pairwise_norms(s.cell, s.params, s.sequences[0], stride=stride)


# (analysis, cell, H, T, samples, run, blocks): square-heavy and length-heavy cases of each
CASES = [
    ("decay", "rnn", 96, 40, 2, lambda: decay_profile(Network("rnn", hidden=96, steps=40,
                                                              samples=2)), 0),
    ("decay", "lstm", 48, 40, 1, lambda: decay_profile(Network("lstm", hidden=48, steps=40)), 0),
    ("decay", "gru", 24, 500, 2, lambda: decay_profile(Network("gru", hidden=24, steps=500,
                                                               samples=2)),
     0),
    ("spectrum", "lstm", 48, 40, 1,
     lambda: spectrum(Network("lstm", hidden=48, steps=40), distances=(1, 20, 40)), 0),
    ("spectrum", "rnn", 24, 500, 1,
     lambda: spectrum(Network("rnn", hidden=24, steps=500), distances=(500,)), 0),
    ("heatmap", "gru", 64, 40, 1, lambda: _heatmap("gru", 64, 40, 2), 20),
    ("gates", "gru", 24, 500, 2, lambda: gate_traces(Network("gru", hidden=24, steps=500,
                                                             samples=2)), 0),
    ("gates", "lstm", 48, 40, 1, lambda: gate_traces(Network("lstm", hidden=48, steps=40)), 0),
    ("phase", "rnn", 96, 30, 1,
     lambda: phase_diagram(Network(hidden=96, steps=30), [0.5, 1.0], cells=("rnn",)), 0),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-H{c[2]}-T{c[3]}" for c in CASES])
def test_estimate_bounds_the_traced_peak_and_not_by_much(case):
    analysis, cell, H, T, samples, run, blocks = case
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = needed_bytes(cell, hidden=H, input_size=8, steps=T, samples=samples,
                            analysis=analysis, blocks=blocks)
    assert estimate >= peak
    # tracemalloc does not see LAPACK's workspace, which the estimate counts (6 n^2)
    assert estimate - memory._BASE <= 4 * peak


def test_estimate_bounds_the_resident_size_of_a_real_run():
    # The resident set grows by what numpy and LAPACK really allocate, traced or not.
    # VmHWM, the peak resident size of this process image (getrusage's ru_maxrss would
    # carry over the peak of the parent, pytest, across fork and exec).
    script = (
        "import numpy as np\n"
        "from gradflow.analysis.decay import decay_profile\n"
        "from gradflow.analysis.network import Network\n"
        "def status(key):\n"
        "    return int(open('/proc/self/status').read().split(key)[1].split()[0]) * 1024\n"
        "decay_profile(Network('lstm', hidden=4, steps=3))\n"
        "np.linalg.svd(np.ones((60, 60)))\n"
        "base = status('VmRSS:')\n"
        "decay_profile(Network('lstm', hidden=300, steps=6))\n"
        "print(status('VmHWM:') - base)\n")
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc to read the resident size")
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    grown = int(done.stdout)
    n = 600
    assert grown > 8 * n * n  # the run did allocate its n x n products
    assert needed_bytes("lstm", hidden=300, input_size=8, steps=6) >= grown


def test_estimate_grows_as_n_squared_and_with_the_length():
    # one step per chunk (chunk_bytes=0): with a fixed budget the chunk shrinks as n grows
    small = needed_bytes("rnn", hidden=1000, input_size=8, steps=10, chunk_bytes=0) - memory._BASE
    big = needed_bytes("rnn", hidden=2000, input_size=8, steps=10, chunk_bytes=0) - memory._BASE
    assert big / small == pytest.approx(4, rel=0.01)
    long = needed_bytes("rnn", hidden=10, input_size=8, steps=10 ** 8)
    assert long > 8 * 10 * 10 ** 8  # at least the trajectory (T + 1) n


def test_lstm_state_is_twice_the_hidden_size():
    lstm = needed_bytes("lstm", hidden=500, input_size=8, steps=1)
    rnn = needed_bytes("rnn", hidden=1000, input_size=8, steps=1)
    assert lstm >= rnn  # the same n = 1000, and wider gates


def test_unknown_analysis_is_refused():
    with pytest.raises(ValueError, match="unknown analysis"):
        needed_bytes("rnn", hidden=4, input_size=2, steps=3, analysis="fft")


def _meminfo_available():
    with open("/proc/meminfo") as fh:
        fields = dict(line.split(":", 1) for line in fh)
    return int(fields["MemAvailable"].split()[0]) * 1024


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="needs /proc/meminfo")
def test_available_is_at_most_what_meminfo_says():
    got = available_bytes()
    assert 0 < got <= _meminfo_available() * 1.1  # memory comes and goes between the reads


def test_a_cgroup_limit_bounds_the_available_memory(tmp_path):
    (tmp_path / "memory.max").write_text("3000000000\n")
    (tmp_path / "memory.current").write_text("1000000000\n")
    assert memory._cgroup_left(str(tmp_path)) == 2_000_000_000
    (tmp_path / "memory.max").write_text("max\n")
    assert memory._cgroup_left(str(tmp_path)) is None
    assert memory._cgroup_left(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("n,text", [(999, "999 bytes"), (1500, "1.5 kB"), (25_300_000_000,
                                                                          "25 GB"),
                                    (2.3e12, "2.3 TB")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


# ------------------------------------------------------------------ the CLI refuses up front

def test_cli_refuses_a_run_larger_than_the_available_memory(tmp_path, monkeypatch):
    # Pretend the machine has 1 MB free: a small run is then refused before any work, with
    # the estimate and the available memory in the line.
    from gradflow.cli import options

    monkeypatch.setattr(options, "available_bytes", lambda: 10 ** 6)
    need = needed_bytes("lstm", hidden=40, input_size=8, steps=10)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["jacobians", "--cell", "lstm", "--hidden", "40",
                                       "--steps", "10", "-q", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == (f"Error: --hidden 40, --steps 10: the run needs about "
                             f"{format_bytes(need)} of memory, more than the 1.0 MB "
                             f"available\n")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind,extra", [("decay", []), ("phase", ["--scales", "1,2"]),
                                        ("heatmap", []), ("spectrum", []), ("gates", [])])
def test_every_plot_kind_checks_memory(tmp_path, monkeypatch, kind, extra):
    from gradflow.cli import options

    monkeypatch.setattr(options, "available_bytes", lambda: 10 ** 6)
    cell = ["--cell", "lstm"]
    result = CliRunner().invoke(main, ["plot", kind, *cell, "--hidden", "40", "--steps", "10",
                                       "-q", *extra, "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 1 and "of memory, more than the 1.0 MB available" in result.output
    assert os.listdir(tmp_path) == []


def test_hidden_60000_is_refused_at_once_in_a_real_subprocess(tmp_path):
    # The LSTM of H = 60000 has n = 120000: one n x n matrix alone is 115 GB.
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-m", "gradflow", "jacobians", "--hidden", "60000",
                           "-q", "-o", "out.json"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Error: --hidden 60000, --steps 100: the run needs about ")
    assert len(done.stderr.splitlines()) == 1 and " TB of memory" in done.stderr
    assert os.listdir(tmp_path) == []
    assert np.isfinite(available_bytes())
