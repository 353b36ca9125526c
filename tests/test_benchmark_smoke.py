"""The benchmark script runs end to end in its --quick mode (it asserts no timings)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_prints_a_table(tmp_path):
    out = tmp_path / "results.md"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_jacobians.py"), "--quick",
         "--output", str(out)],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    header = "| cell | H | n | gradflow ms/step |"
    assert header in proc.stdout
    rows = [line for line in proc.stdout.splitlines()
            if line.startswith(("| rnn |", "| lstm |", "| gru |"))]
    assert [row.split("|")[1].strip() for row in rows] == ["rnn", "lstm", "gru"]
    assert "Memory: LSTM" in proc.stdout
    assert out.read_text().strip() == proc.stdout.strip()


def test_quick_depth_benchmark_runs_and_prints_a_table(tmp_path):
    out = tmp_path / "depth.md"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_depth.py"), "--quick",
         "--output", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| rnn |")
            or line.startswith("| lstm |") or line.startswith("| gru |")]
    assert [r.split("|")[1].strip() for r in rows] == ["rnn", "lstm", "gru"]
    assert out.read_text().splitlines()[4] == rows[0]
