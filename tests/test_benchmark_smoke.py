"""The benchmark scripts run end to end in their --quick mode (no timing is asserted), and the
pieces of bench_jacobians.py that make its timings comparable do what they say."""

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
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


def table_rows(text, heading):
    """The rows (lists of cell strings) of the table under `heading` in `text`."""
    part = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.split("|")[1:-1]] for line in part.splitlines()
            if line.startswith("| ") and not line.startswith("| cell ")]


def test_quick_benchmark_runs_every_route_at_both_thread_counts(tmp_path):
    out = tmp_path / "results.md"
    proc = run_quick("bench_jacobians.py", out, timeout=300)
    bench = load_bench()
    assert bench.HEADER in proc.stdout
    columns = [c.strip() for c in bench.HEADER.split("|")[1:-1]]
    # A peer that is not installed shows "-"; one that is shows a time (and agreed with gradflow).
    peers = {"JAX": "jax", "torch.func": "torch"}
    for heading in ("## 1 BLAS thread\n", "## 2 BLAS threads\n"):
        rows = table_rows(proc.stdout, heading)
        assert [r[0] for r in rows] == ["rnn", "lstm", "gru", "user (MGU)"]
        assert [int(r[2]) for r in rows] == [8, 16, 8, 8]  # n: the LSTM's state is (h, c)
        for row in rows:
            cell = dict(zip(columns, row))
            for column in ("gradflow ms/step", "autograd", "matmul"):
                assert float(cell[column]) > 0
            assert float(cell["gradflow / matmul"]) == pytest.approx(
                float(cell["gradflow ms/step"]) / float(cell["matmul"]), rel=0.02)
            for column, module in peers.items():
                installed = importlib.util.find_spec(module) is not None
                assert (cell[column] != "-") == installed, (column, row)
            assert 0 <= float(cell["agree"]) <= 1e-10
    assert "## Targets (issue 12)" in proc.stdout
    assert "## Memory and length: LSTM, H = 8 (n = 16), T = 200" in proc.stdout
    assert "tracemalloc on" in proc.stdout
    assert "## Where gradflow's time goes" in proc.stdout
    assert out.read_text() == proc.stdout


def load_bench():
    """benchmarks/bench_jacobians.py as a module (its folder on sys.path for its helper)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module("bench_jacobians")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "user (MGU)"])
def test_the_peer_cells_are_gradflows_equations(name):
    """The cells written for JAX and torch (here run on numpy arrays) compute what gradflow's
    built-in cells and the autograd.numpy user cell compute, on the same weights."""
    bench = load_bench()
    routes = bench.routes
    p = bench.problem(name, 5, 3, seed=2)
    ops = SimpleNamespace(tanh=np.tanh, sigmoid=lambda a: 1 / (1 + np.exp(-a)),
                          cat=np.concatenate)
    step = routes.peer_step(name, p["params"], ops)
    for t in range(3):
        s = p["states"][t] + 0.3  # off the trajectory: nonzero c and h for every cell
        np.testing.assert_allclose(step(s, p["inputs"][t]),
                                   p["cell"](p["params"], s, p["inputs"][t]),
                                   rtol=1e-13, atol=1e-15)


def test_disagreement_finds_the_largest_difference_and_refuses_nan():
    bench = load_bench()
    ours = np.array([[0.0, -np.inf], [1.0, 2.0]])
    assert bench.disagreement(ours, ours.copy()) == (0.0, 0, 0)  # equal infinities agree
    theirs = ours.copy()
    theirs[1, 1] += 3e-10
    diff, d, k = bench.disagreement(ours, theirs)
    assert (d, k) == (1, 1) and diff == pytest.approx(3e-10, rel=1e-3)
    theirs[0, 0] = np.nan
    assert bench.disagreement(ours, theirs) == (np.inf, 0, 0)
    assert bench.disagreement(ours, ours[:1])[0] == np.inf  # a missing distance


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    bench = load_bench()
    results = tmp_path / "results.md"
    results.write_text("# Title\n\nMachine: x.\n\n## 1 BLAS thread\n\n| a |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{bench.BEGIN}\nold table\n{bench.END}\nafter\n")
    bench.update_readme(results, readme)
    assert readme.read_text() == (f"before\n{bench.BEGIN}\nMachine: x.\n\n**1 BLAS thread**"
                                  f"\n\n| a |\n{bench.END}\nafter\n")


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


def test_quick_flossing_benchmark_times_the_three_kinds_of_run(tmp_path):
    out = tmp_path / "flossing.md"
    proc = run_quick("bench_flossing.py", out, timeout=120)
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in proc.stdout.splitlines()
            if line.startswith("| 5 |")]
    assert len(rows) == 1 and rows[0][:2] == ["5", "2"]
    assert all(float(c) > 0 for c in rows[0][2:])
    assert out.read_text().strip() == proc.stdout.strip()


def test_quick_skip_benchmark_times_both_routes_of_every_connection(tmp_path):
    out = tmp_path / "skip.md"
    proc = run_quick("bench_skip.py", out, timeout=120)
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in proc.stdout.splitlines()
            if line.startswith(("| rnn |", "| lstm |"))]
    assert [r[:4] for r in rows[:5]] == [["rnn", "4", "none", "-"],
                                         ["rnn", "4", "skip:4", "assembled"],
                                         ["rnn", "4", "skip:4", "generic"],
                                         ["rnn", "4", "dense:4", "assembled"],
                                         ["rnn", "4", "dense:4", "generic"]]
    assert len(rows) == 10
    for i, r in enumerate(rows):
        if i % 5 == 0:  # the cell alone: the unit of the ratios, no augmented block
            assert r[7:9] == ["1.00", "1.00"] and r[6] == r[9] == "-"
        assert all(float(c) > 0 for c in (r[4:6] + r[7:9] if i % 5 == 0 else r[4:]))
    assert out.read_text().strip() == proc.stdout.strip()
