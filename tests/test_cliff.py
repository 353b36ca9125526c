import matplotlib
import numpy as np
import pytest
from scipy.special import expit

from gradflow.training.cliff import (CliffSetup, bifurcation_curve, cliff_loss, gd_trajectory,
                                     loss_surface)

matplotlib.use("Agg")


def test_final_state_and_loss_by_direct_iteration():
    setup = CliffSetup(0.5, 20, 0.7)
    w, b = np.array([3.0, 6.0, -1.0]), np.array([-1.0, -3.0, 0.5])
    x = np.full(3, 0.5)
    for _ in range(20):
        x = w * expit(x) + b
    np.testing.assert_allclose(cliff_loss(w, b, setup), (x - 0.7) ** 2, rtol=1e-12)
    s = loss_surface((2, 10), (-7, 0), 11, setup)
    assert s.loss.shape == (11, 11)
    assert s.loss[3, 5] == pytest.approx(float(cliff_loss(s.w[5], s.b[3], setup)), rel=1e-14)


def test_bifurcation_curve_is_a_tangent_fixed_point():
    x = np.linspace(-5, 5, 41)
    w, b = bifurcation_curve(x)
    np.testing.assert_allclose(w * expit(x) + b, x, atol=1e-12)  # fixed point
    np.testing.assert_allclose(w * expit(x) * (1 - expit(x)), 1.0, rtol=1e-12)  # slope 1
    assert bifurcation_curve(0.0) == pytest.approx((4.0, -2.0))  # the cusp
    # Across the curve the number of fixed points changes: at w = 8 the wedge is b in (-5.07, -2.93).
    def n_fixed(w, b):
        grid = np.linspace(-30, 30, 600001)
        f = w * expit(grid) + b - grid
        return int(np.sum(f[:-1] * f[1:] < 0))
    assert n_fixed(8.0, -3.5) == 3 and n_fixed(8.0, -1.0) == 1 and n_fixed(3.0, -1.0) == 1


def test_trajectory_steps_are_gradient_steps_with_and_without_clipping():
    setup = CliffSetup(0.5, 20, 0.7)
    start, lr, eps = np.array([6.0, -4.2]), 0.03, 1e-6

    def fd(p):
        return np.array([(cliff_loss(p[0] + eps, p[1], setup) - cliff_loss(p[0] - eps, p[1], setup)),
                         (cliff_loss(p[0], p[1] + eps, setup) - cliff_loss(p[0], p[1] - eps, setup))]
                        ) / (2 * eps)

    plain = gd_trajectory(start, lr=lr, updates=3, setup=setup)
    g = fd(start)
    np.testing.assert_allclose(plain.points[1], start - lr * g, rtol=1e-7)
    clipped = gd_trajectory(start, lr=lr, updates=60, threshold=3.0, setup=setup)
    steps = np.linalg.norm(np.diff(clipped.points, axis=0), axis=1)
    assert np.all(steps <= lr * 3.0 * (1 + 1e-12))
    np.testing.assert_allclose(steps, lr * np.minimum(clipped.grad_norm, 3.0), rtol=1e-10)


def test_the_cliff_throws_plain_descent_and_not_clipped_descent():
    setup = CliffSetup(0.5, 20, 0.7)
    plain = gd_trajectory((6.0, -4.2), lr=0.03, updates=60, setup=setup)
    clipped = gd_trajectory((6.0, -4.2), lr=0.03, updates=60, threshold=3.0, setup=setup)
    assert np.abs(np.diff(plain.points, axis=0)).max() > 100  # one step across the wall
    assert np.abs(np.diff(clipped.points, axis=0)).max() < 0.1
    assert clipped.loss[-1] < 0.1 and clipped.grad_norm.max() > 1000  # it met the wall too


def test_plot_cliff_renders(tmp_path):
    import matplotlib.pyplot as plt

    from gradflow.plotting.cliff import plot_cliff
    setup = CliffSetup(0.5, 20, 0.7)
    s = loss_surface((2, 10), (-7, 0), 41, setup)
    paths = [gd_trajectory((6.0, -4.2), lr=0.03, updates=10, setup=setup),
             gd_trajectory((6.0, -4.2), lr=0.03, updates=10, threshold=3.0, setup=setup)]
    fig, ax = plt.subplots()
    assert plot_cliff(s, paths, ax=ax) is ax
    fig.savefig(tmp_path / "c.png")
    plt.close(fig)
    assert (tmp_path / "c.png").stat().st_size > 10_000


# ------------------------------------------------------------------ the figure


def _drawn(tmp_path, updates=10):
    import matplotlib.pyplot as plt

    from gradflow.plotting.cliff import plot_cliff
    setup = CliffSetup(0.5, 20, 0.7)
    s = loss_surface((2, 10), (-7, 0), 41, setup)
    paths = [gd_trajectory((6.0, -4.2), lr=0.03, updates=updates, setup=setup),
             gd_trajectory((6.0, -4.2), lr=0.03, updates=updates, threshold=3.0, setup=setup)]
    fig, ax = plt.subplots()
    assert plot_cliff(s, paths, ax=ax) is ax
    return fig, ax, paths


def test_legend_names_both_paths_the_start_and_the_end(tmp_path):
    import matplotlib.pyplot as plt
    fig, ax, _ = _drawn(tmp_path)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [r"bifurcation $w = 1/\sigma'(x^*)$", "gradient descent",
                      "norm-clipped at 3", "start", "end after 10 steps"]
    markers = [h.get_marker() for h in ax.get_legend().legend_handles[3:]]
    assert markers == ["*", "o"]
    plt.close(fig)


def test_the_jump_is_an_arrow_to_the_edge_labelled_with_the_landing_point(tmp_path):
    import matplotlib.pyplot as plt
    fig, ax, (plain, _) = _drawn(tmp_path)
    # Where plain descent leaves the frame [2, 10] x [-7, 0], found here independently.
    p = plain.points
    k = next(i for i, (w, b) in enumerate(p) if not (2 <= w <= 10 and -7 <= b <= 0))
    texts = [t.get_text() for t in ax.texts]
    assert f"step {k} lands at\n$({p[k][0]:.0f}, {p[k][1]:.0f})$" in texts
    arrows = [t for t in ax.texts if t.arrow_patch is not None]
    assert len(arrows) == 1
    head, tail = arrows[0].xy, arrows[0].xyann
    np.testing.assert_allclose(tail, p[k - 1])
    assert head[1] == pytest.approx(0.0)  # it crosses the top edge (b = 0) ...
    # ... on the segment towards the landing point
    s = (0.0 - p[k - 1][1]) / (p[k][1] - p[k - 1][1])
    assert head[0] == pytest.approx(p[k - 1][0] + s * (p[k][0] - p[k - 1][0]))
    # the drawn path stops at the last point inside
    drawn = [l for l in ax.lines if l.get_label() == "gradient descent"][0]
    assert len(drawn.get_xdata()) == k
    fig.savefig(tmp_path / "c.png")
    plt.close(fig)
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_frame_exit_on_each_edge():
    from gradflow.plotting.cliff import frame_exit
    box = ((0.0, 1.0), (0.0, 2.0))
    assert frame_exit((0.5, 1.0), (3.0, 1.0), box) == pytest.approx((1.0, 1.0))
    assert frame_exit((0.5, 1.0), (0.5, -9.0), box) == pytest.approx((0.5, 0.0))
    assert frame_exit((0.5, 1.0), (-0.5, 3.0), box) == pytest.approx((0.0, 2.0))  # corner
    assert frame_exit((0.5, 1.0), (1.5, 4.0), box) == pytest.approx((5 / 6, 2.0))


def test_title_is_math_text():
    from gradflow.plotting.cliff import cliff_title
    title = cliff_title(CliffSetup(0.5, 20, 0.7), 0.03)
    assert title.startswith(r"$x_t = w\,\sigma(x_{t-1}) + b$") and "$(x_{20} - 0.7)^2$" in title
    import matplotlib.mathtext
    parser = matplotlib.mathtext.MathTextParser("path")
    for part in title.split("$")[1::2]:
        parser.parse(f"${part}$")  # every math segment is valid mathtext


# ------------------------------------------------------------------ the command


CLIFF = ["plot", "cliff", "--grid", "41", "--updates", "10", "-q"]


def _invoke(args):
    from click.testing import CliRunner

    from gradflow.cli import main
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_plot_cliff_command_and_its_numbers(tmp_path):
    from gradflow.io.results import read_table
    from gradflow.training.cliff import trajectories_from_table
    out, numbers = tmp_path / "c.svg", tmp_path / "c.json"
    r = _invoke(CLIFF[:-1] + ["-o", str(out), "--save-results", str(numbers)])
    assert r.exit_code == 0, r.output
    assert "plain" in r.output and out.read_text().startswith("<?xml")
    table = read_table(numbers)
    assert table.kind == "cliff" and table.metadata["steps"] == 20
    setup = CliffSetup(0.5, 20, 0.7)
    expected = [gd_trajectory((6.0, -4.2), lr=0.03, updates=10, setup=setup),
                gd_trajectory((6.0, -4.2), lr=0.03, updates=10, threshold=3.0, setup=setup)]
    for got, want in zip(trajectories_from_table(table), expected):
        np.testing.assert_array_equal(got.points, want.points)
        np.testing.assert_array_equal(got.loss, want.loss)
        np.testing.assert_array_equal(got.grad_norm, want.grad_norm)
        np.testing.assert_array_equal(got.clipped, want.clipped)
        assert got.threshold == want.threshold


@pytest.mark.parametrize("args,named", [
    (["--x0", "nan"], "--x0"), (["--x0", "inf"], "--x0"), (["--target", "-inf"], "--target"),
    (["--w-range", "nan,10"], "--w-range"), (["--b-range", "-7,inf"], "--b-range"),
    (["--w-range", "5,1"], "LO < HI"), (["--b-range", "1"], "--b-range"),
    (["--start", "6,nan"], "--start"), (["--start", "6,-4,2"], "--start"),
    (["--lr", "inf"], "--lr"), (["--lr", "nan"], "--lr"), (["--lr", "0"], "--lr"),
    (["--clip-threshold", "nan"], "--clip-threshold"),
    (["--clip-threshold", "inf"], "--clip-threshold"),
])
def test_plot_cliff_refuses_non_finite_numbers(tmp_path, args, named):
    r = _invoke(CLIFF + args + ["-o", str(tmp_path / "c.png")])
    assert r.exit_code == 2, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_plot_cliff_as_a_real_subprocess(tmp_path):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    bad = subprocess.run([sys.executable, "-m", "gradflow", *CLIFF, "--x0", "nan", "-o", "c.png"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: ") and "--x0" in bad.stderr
    assert bad.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []
    good = subprocess.run([sys.executable, "-m", "gradflow", *CLIFF, "-o", "c.png"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "c.png").stat().st_size > 10_000
