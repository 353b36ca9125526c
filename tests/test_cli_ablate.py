import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from gradflow.cli import main
from gradflow.training import clipping_ablation

SMALL = ["ablate", "clipping", "--task", "hello", "--steps", "4", "--hidden", "4", "--batch", "2",
         "--updates", "3", "--clip-threshold", "0.5,2", "--quiet"]


def test_table_default():
    r = CliRunner().invoke(main, SMALL)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:2] == ["mode", "threshold"]
    assert [l.split()[0] for l in lines[1:6]] == ["none", "norm", "norm", "value", "value"]


def test_csv_records_match_the_library(tmp_path):
    out = tmp_path / "r.csv"
    r = CliRunner().invoke(main, SMALL + ["--format", "csv", "-o", str(out)])
    assert r.exit_code == 0, r.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["mode", "threshold", "update", "loss", "grad_norm_before",
                             "grad_norm_after", "clipped", "nonfinite"]
    assert len(rows) == 5 * 3
    lib = clipping_ablation("rnn", "hello", thresholds=(0.5, 2.0), steps=4, hidden=4, batch=2,
                            updates=3, lr=0.1, scale=2.0, seed=0)
    np.testing.assert_allclose([float(x["loss"]) for x in rows],
                               np.concatenate([x.loss for x in lib]), rtol=1e-15)


def test_json_and_figure(tmp_path):
    out, fig = tmp_path / "r.json", tmp_path / "f.png"
    r = CliRunner().invoke(main, SMALL + ["--format", "json", "-o", str(out), "--figure", str(fig)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["metadata"]["task"] == "hello" and data["metadata"]["seed"] == 0
    assert "gradflow_version" in data["metadata"] and len(data["records"]) == 15
    assert fig.stat().st_size > 10_000


@pytest.mark.parametrize("args,message", [
    (["--clip-threshold", "-1"], "positive"),
    (["--modes", "none,soft"], "unknown clipping mode"),
    (["--figure", "x.gif"], ".png"),
    (["-o", "/nonexistent/dir/r.csv"], "cannot write"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, SMALL + ["-o", "r.csv", "--format", "csv"] + args)
    assert r.exit_code != 0 and message in r.output
    lines = r.output.strip().splitlines()
    assert "Traceback" not in r.output and lines[-1].startswith("Error:")
    assert sum("Error" in line for line in lines) == 1
    assert list(tmp_path.iterdir()) == []


def test_diverging_run_is_reported_by_the_cli():
    r = CliRunner().invoke(main, ["ablate", "clipping", "--steps", "20", "--hidden", "16",
                                  "--batch", "16", "--updates", "40", "--lr", "0.1",
                                  "--modes", "none,norm", "--quiet"])
    assert r.exit_code == 0, r.output
    none, norm = r.output.splitlines()[1:3]
    assert "yes, at update" in none and norm.endswith("no")


def test_real_subprocess(tmp_path):
    out = tmp_path / "r.csv"
    proc = subprocess.run([sys.executable, "-m", "gradflow"] + SMALL + ["--format", "csv", "-o",
                                                                      str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("mode,threshold,update,loss")
