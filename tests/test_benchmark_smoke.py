"""The benchmark script runs end to end in its --quick mode (it asserts no timings)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_quick(script, out, timeout):
    """`python benchmarks/SCRIPT --quick --output OUT` with gradflow importable; the process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick",
                           "--output", str(out)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_quick_benchmark_runs_and_prints_a_table(tmp_path):
    out = tmp_path / "results.md"
    proc = run_quick("bench_jacobians.py", out, timeout=120)
    header = "| cell | H | n | gradflow ms/step |"
    assert header in proc.stdout
    rows = [line for line in proc.stdout.splitlines()
            if line.startswith(("| rnn |", "| lstm |", "| gru |"))]
    assert [row.split("|")[1].strip() for row in rows] == ["rnn", "lstm", "gru"]
    assert "Memory: LSTM" in proc.stdout
    assert out.read_text().strip() == proc.stdout.strip()


def test_quick_depth_benchmark_runs_and_prints_a_table(tmp_path):
    out = tmp_path / "depth.md"
    proc = run_quick("bench_depth.py", out, timeout=300)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| rnn |")
            or line.startswith("| lstm |") or line.startswith("| gru |")]
    assert [r.split("|")[1].strip() for r in rows] == ["rnn", "lstm", "gru"]
    assert out.read_text().splitlines()[4] == rows[0]


def test_quick_sweep_benchmark_runs_both_pools_and_finds_identical_summaries(tmp_path):
    out = tmp_path / "sweep.md"
    proc = run_quick("bench_sweep.py", out, timeout=120)
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| workers")]
    assert [int(r[0]) for r in rows] == [1, os.cpu_count()]
    assert float(rows[0][3]) == 1.0
    for _, seconds, rate, speedup in rows:  # 3 significant digits each
        assert float(rate) * float(seconds) == pytest.approx(12, rel=0.01)  # the 12 points
        assert float(speedup) == pytest.approx(float(rows[0][1]) / float(seconds), rel=0.01)
    assert "Summaries of the two runs identical: yes." in proc.stdout
    assert out.read_text() == proc.stdout


def test_quick_lyapunov_benchmark_runs_both_routes_and_checks_the_henon_sum(tmp_path):
    out = tmp_path / "lyapunov.md"
    proc = run_quick("bench_lyapunov.py", out, timeout=120)
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines()
            if line.startswith(("| Henon", "| GRU"))]
    assert len(rows) == 2
    henon = rows[0]
    assert abs(float(henon[5]) - 0.419) < 0.02  # the top exponent, ln per step
    assert abs(float(henon[6])) < 1e-12         # sum - ln 0.3
    assert out.read_text() == proc.stdout


def test_quick_training_flow_benchmark_compares_runs_with_and_without_checkpoints(tmp_path):
    out = tmp_path / "flow.md"
    proc = run_quick("bench_training_flow.py", out, timeout=120)
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines()
            if line.startswith("| tiny |")]
    assert [r[1].strip() for r in rows] == ["rnn", "lstm"]
    assert all(int(r[5]) == 2 for r in rows)  # every 20 updates: at 0 and at the end, 12
    assert out.read_text().strip() == proc.stdout.strip()
