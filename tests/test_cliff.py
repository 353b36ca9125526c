import matplotlib
import numpy as np
import pytest
from scipy.special import expit

from gradflow.cliff import CliffSetup, bifurcation_curve, cliff_loss, gd_trajectory, loss_surface

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
