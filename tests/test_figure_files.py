"""Figure files: the same figure gives the same bytes (no dates, no library versions), and a
figure too large to render is refused up front with one line."""

import os
import subprocess
import sys

import matplotlib.image
import pytest
from click.testing import CliRunner

from gradflow.cli import main
from gradflow.cli.figures import MAX_PIXELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECAY = ["plot", "decay", "--hidden", "4", "--input-size", "3", "--steps", "6", "--quiet"]


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def one_error_line(result, code=2):
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("suffix", ["png", "pdf", "svg"])
def test_same_figure_same_bytes_without_date_or_version(tmp_path, suffix, monkeypatch):
    import matplotlib

    first, second = tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}"
    assert invoke(DECAY + ["-o", str(first)]).exit_code == 0
    # A different clock: a date written into the file would differ between the two.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    assert invoke(DECAY + ["-o", str(second)]).exit_code == 0
    data = first.read_bytes()
    assert data == second.read_bytes()
    assert b"Matplotlib" not in data and matplotlib.__version__.encode() not in data
    assert b"gradflow" in data  # what drew it is recorded
    if suffix != "png":
        assert b"CreationDate" not in data and b"<dc:date>" not in data


@pytest.mark.parametrize("args,named", [
    (["--dpi", "2400", "--width", "40", "--height", "40"], "--dpi 2400"),
    (["--dpi", "1000", "--width", "12", "--height", "10"], "120 megapixels"),
])
def test_too_many_pixels_is_one_line_before_any_work(tmp_path, args, named):
    out = tmp_path / "d.png"
    line = one_error_line(invoke(DECAY + args + ["-o", str(out)]))
    assert named in line and "--width" in line and "--height" in line
    assert f"{MAX_PIXELS // 10**6} megapixels" in line
    assert list(tmp_path.iterdir()) == []


def test_the_limit_is_on_the_pixel_count():
    import click

    from gradflow.cli.figures import check_pixels
    check_pixels(1000, 10, 10)  # 10,000 x 10,000 = exactly the limit: allowed
    check_pixels(2400, 4, 1)  # the largest --dpi is fine on a small figure
    with pytest.raises(click.UsageError, match="100 megapixels"):
        check_pixels(1000, 10, 10.01)


def test_a_figure_has_the_pixels_asked_for(tmp_path):
    out = tmp_path / "d.png"
    r = invoke(DECAY + ["--dpi", "100", "--width", "4", "--height", "3", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert matplotlib.image.imread(out).shape[:2] == (300, 400)


@pytest.mark.parametrize("option", ["--width", "--height"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_figure_size_must_be_finite(tmp_path, option, value):
    line = one_error_line(invoke(DECAY + [option, value, "-o", str(tmp_path / "d.png")]))
    assert option in line and ("not a finite number" in line or "range" in line)
    assert list(tmp_path.iterdir()) == []


def test_too_many_pixels_as_a_real_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradflow", *DECAY, "--dpi", "2400", "--width",
                           "40", "--height", "40", "-o", "d.png"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: --dpi 2400")
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []
