"""`gradflow ablate clipping --floss K --floss-weight B --floss-every M --prefloss N`: the runs
are the library's, the settings are in the metadata, bad values are one line and exit 2;
through CliRunner and as a real subprocess."""

import numpy as np
import pytest

from cli_run import run, run_subprocess
from gradflow.io.results import read_table
from gradflow.training import ABLATION_COLUMNS, clipping_ablation

SMALL = ["ablate", "clipping", "--task", "hello", "--steps", "4", "--hidden", "4", "--batch", "2",
         "--updates", "3", "--modes", "none,norm", "--quiet"]
FLOSS = ["--floss", "2", "--floss-weight", "0.5", "--floss-every", "2", "--prefloss", "2"]


def library_runs():
    return clipping_ablation("rnn", "hello", modes=("none", "norm"), steps=4, hidden=4, batch=2,
                             updates=3, lr=0.1, scale=2.0, seed=0, floss=2, floss_weight=0.5,
                             floss_every=2, prefloss=2)


@pytest.mark.parametrize("suffix", ["json", "csv"])
def test_the_runs_are_the_librarys_and_the_settings_are_recorded(tmp_path, suffix):
    out = tmp_path / f"r.{suffix}"
    code, stdout, stderr = run(SMALL + FLOSS + ["-o", str(out)])
    assert code == 0, stderr
    table = read_table(out)
    assert list(table.columns) == list(ABLATION_COLUMNS) + ["flossing_loss"]
    lib = library_runs()
    np.testing.assert_array_equal(table.columns["loss"], np.concatenate([r.loss for r in lib]))
    np.testing.assert_array_equal(table.columns["flossing_loss"],
                                  np.concatenate([r.flossing_loss for r in lib]))
    assert np.isnan(table.columns["flossing_loss"]).tolist() == [False, True, False] * 2
    if suffix == "json":
        meta = table.metadata
        assert (meta["floss"], meta["floss_weight"], meta["floss_every"], meta["prefloss"]) == \
            (2, 0.5, 2, 2)
        np.testing.assert_array_equal(meta["prefloss_loss"], lib[0].prefloss.loss)
    assert "gradient flossing of the leading 2 Lyapunov exponents, weight 0.5, at updates 1, 3" \
        in stdout
    first = lib[0].flossing_loss[0]
    assert f"none: flossing loss {first:.4g} at update 1" in stdout
    assert f"preflossing: 2 updates, flossing loss {lib[0].prefloss.loss[0]:.4g}" in stdout


def test_never_flosses_only_before_training(tmp_path):
    out = tmp_path / "r.json"
    code, stdout, stderr = run(SMALL + ["--floss", "1", "--floss-every", "never", "--prefloss",
                                        "3", "-o", str(out)])
    assert code == 0, stderr
    table = read_table(out)
    assert np.isnan(table.columns["flossing_loss"]).all()
    assert table.metadata["floss_every"] is None and len(table.metadata["prefloss_loss"]) == 3
    assert "only before training" in stdout


def test_without_flossing_the_file_is_as_before(tmp_path):
    out = tmp_path / "r.json"
    assert run(SMALL + ["--floss-weight", "3", "-o", str(out)])[0] == 0
    table = read_table(out)
    assert list(table.columns) == list(ABLATION_COLUMNS)
    assert not {"floss", "floss_weight", "floss_every", "prefloss"} & set(table.metadata)


BAD = [
    (["--floss", "-1"], "--floss"), (["--floss", "x"], "--floss"),
    (["--floss", "5"], "--floss"),  # the RNN's state has 4 dimensions here
    (["--floss", "2", "--floss-every", "0"], "--floss-every"),
    (["--floss", "2", "--floss-every", "sometimes"], "--floss-every"),
    (["--floss", "2", "--floss-every", "never"], "--floss-every"),  # and no --prefloss
    (["--prefloss", "-1"], "--prefloss"), (["--prefloss", "2"], "--prefloss"),  # no --floss
    (["--floss-weight", "0"], "--floss-weight"), (["--floss-weight", "-1"], "--floss-weight"),
    (["--floss-weight", "nan"], "--floss-weight"), (["--floss-weight", "inf"], "--floss-weight"),
]


@pytest.mark.parametrize("args,named", BAD)
def test_bad_values_are_one_line_exit_2_and_write_nothing(tmp_path, monkeypatch, args, named):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run(SMALL + ["-o", "r.json"] + args)
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], stderr
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_real_subprocess(tmp_path):
    code, stdout, stderr = run_subprocess(SMALL + FLOSS + ["-o", "r.npz"], tmp_path)
    assert code == 0, stderr
    table = read_table(tmp_path / "r.npz")
    np.testing.assert_array_equal(table.columns["flossing_loss"],
                                  np.concatenate([r.flossing_loss for r in library_runs()]))
    assert table.metadata["floss"] == 2 and "gradient flossing" in stdout
    for bad in (["--floss", "5"], ["--prefloss", "2"]):
        code, stdout, stderr = run_subprocess(SMALL + bad + ["-o", "x.json"], tmp_path)
        assert code == 2, (bad, stderr)
        assert stderr.count("\n") == 1 and stderr.startswith("Error: "), stderr
        assert "Traceback" not in stderr and stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]
