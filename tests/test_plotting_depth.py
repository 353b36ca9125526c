"""The depth and sensitivity figures, checked on the drawn objects: the mesh holds the map that
was passed (layer 0 at the bottom), exactly-zero cells get their own colour and say so, maps
side by side share one colour range, and every curve is the data it was given."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from gradflow.analysis.depth import DepthMap, FeedForwardFlow, SensitivityProfile  # noqa: E402
from gradflow.plotting.depth import (ZERO_COLOR, network_name, plot_depth,  # noqa: E402
                                     plot_depth_maps, plot_feedforward)
from gradflow.plotting.sensitivity import plot_sensitivity  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def depth_map(values, cell="3xrnn", **meta):
    values = np.asarray(values, dtype=float)
    L, T = values.shape
    return DepthMap(cell, np.arange(L), np.arange(T), {"spectral": values},
                    {"spectral": np.zeros((L, T))}, {"layers": L, **meta})


def meshes(ax):
    return [c for c in ax.collections if type(c).__name__ == "QuadMesh"]


def lines(ax, skip_constant=True):
    """The data lines: not the horizontal line at 0 nor the vertical line at tau."""
    out = []
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), dtype=float)
        y = np.asarray(line.get_ydata(), dtype=float)
        if skip_constant and (np.ptp(x) == 0 or (len(y) == 2 and np.ptp(y) == 0)):
            continue
        out.append(line)
    return out


# ------------------------------------------------------------------ the depth x time map


def test_the_mesh_is_the_map_with_layer_0_at_the_bottom():
    values = np.array([[-0.5, -1.0, -2.0, -4.0],    # layer 0
                       [-0.2, -0.8, -1.5, -3.5],    # layer 1
                       [0.0, -0.4, -1.2, -3.2]])    # layer 2 (the top; d = 0 is itself)
    fig, ax = plt.subplots()
    assert plot_depth(depth_map(values), ax=ax) is ax
    (mesh,) = meshes(ax)
    np.testing.assert_array_equal(mesh.get_array().reshape(3, 4), values)
    corners = mesh.get_coordinates()  # (L + 1, T + 1, 2): x = distance, y = layer
    np.testing.assert_array_equal(corners[0, :, 0], np.arange(5) - 0.5)
    np.testing.assert_array_equal(corners[:, 0, 1], np.arange(4) - 0.5)
    bottom, top = ax.get_ylim()
    assert bottom < top and bottom == -0.5  # row 0, layer 0, is drawn at the bottom
    assert ax.get_xlim() == (-0.5, 3.5)
    assert list(ax.get_yticks()) == [0, 1, 2]
    assert ax.get_title(loc="left") == "3-layer RNN (tanh)"
    # the colour range is the data's, and the contours at 1 and 1e-3 are drawn where crossed
    assert (mesh.norm.vmin, mesh.norm.vmax) == (-4.0, 0.0)
    (contours,) = [c for c in ax.collections if hasattr(c, "levels")]
    assert list(contours.levels) == [-3.0]  # the data never exceeds 0: no norm-1 contour
    bar = fig.axes[-1]
    assert "exactly 0" not in bar.get_ylabel()


def test_exactly_zero_cells_have_their_own_colour_and_say_so():
    values = np.array([[-np.inf, -np.inf, -2.0],
                       [0.5, -1.0, -np.inf],
                       [0.0, 1.0, -3.5]])
    fig, ax = plt.subplots()
    plot_depth(depth_map(values), ax=ax)
    main, zero = meshes(ax)
    zero_cells = np.isneginf(values)
    # the main mesh leaves them out (masked), the second one draws exactly them, in ZERO_COLOR
    np.testing.assert_array_equal(np.ma.getmaskarray(main.get_array()).reshape(3, 3),
                                  zero_cells)
    np.testing.assert_array_equal(~np.ma.getmaskarray(zero.get_array()).reshape(3, 3),
                                  zero_cells)
    assert zero.get_cmap()(0.5) == pytest.approx(to_rgba(ZERO_COLOR))
    # no colour of the diverging map is that black
    colours = main.get_cmap()(np.linspace(0, 1, 256))[:, :3]
    assert np.min(np.abs(colours - np.array(to_rgba(ZERO_COLOR)[:3])).sum(axis=1)) > 0.1
    assert "black: exactly 0" in fig.axes[-1].get_ylabel()
    (contours,) = [c for c in ax.collections if hasattr(c, "levels")]
    assert list(contours.levels) == [-3.0, 0.0]


def test_a_map_without_a_finite_value_or_of_one_cell_still_draws():
    for values in ([[-np.inf, -np.inf], [-np.inf, -np.inf]], [[0.0]]):
        fig, ax = plt.subplots()
        plot_depth(depth_map(values), ax=ax)
        assert not [c for c in ax.collections if hasattr(c, "levels")]  # nothing to contour
    fig, axes = plt.subplots(1, 2)
    plot_depth_maps([depth_map([[-np.inf]]), depth_map([[-np.inf, 0.5]])], axes)


def test_maps_side_by_side_share_one_colour_range_and_one_colour_bar():
    a = depth_map([[-1.0, -0.5], [0.0, -0.2]], cell="2xrnn")
    b = depth_map([[-5.0, 2.0], [0.0, -3.0]], cell="2xrnn+res", layer_residual=True)
    fig, axes = plt.subplots(1, 2)
    bar = plot_depth_maps([a, b], axes)
    norms = [(m.norm.vmin, m.norm.vmax) for ax in axes for m in meshes(ax)]
    assert norms == [(-5.0, 2.0), (-5.0, 2.0)]
    assert len(fig.axes) == 3 and bar.ax is fig.axes[-1]  # the two panels and one colour bar
    assert axes[0].get_ylabel() == "layer l" and axes[1].get_ylabel() == ""
    assert axes[1].get_title(loc="left") == "2-layer RNN (tanh), residual layers"
    # --limit: the range is cut, the values clipped into it, the bar says which end overruns
    fig, axes = plt.subplots(1, 2)
    bar = plot_depth_maps([a, b], axes, limit=3)
    mesh = meshes(axes[1])[0]
    assert (mesh.norm.vmin, mesh.norm.vmax) == (-3.0, 2.0)
    np.testing.assert_array_equal(mesh.get_array().reshape(2, 2), [[-3.0, 2.0], [0.0, -3.0]])
    assert bar.extend == "min"
    with pytest.raises(ValueError, match="2 maps need 2 axes"):
        plot_depth_maps([a, b], axes[:1])


def test_a_missing_quantity_is_refused_by_name():
    with pytest.raises(ValueError, match="no quantity 'h_spectral'"):
        plot_depth(depth_map([[0.0]]), quantity="h_spectral")


@pytest.mark.parametrize("cell, meta, name", [
    ("8xrnn", {"layers": 8, "activation": "tanh"}, "8-layer RNN (tanh)"),
    ("8xrnn+res", {}, "8-layer RNN (tanh), residual layers"),
    ("2xlstm+bi", {"layers": 2, "bidirectional": True}, "2-layer bidirectional LSTM"),
    ("lstm+bi", {}, "bidirectional LSTM"),
    ("rnn+skip:4", {"layers": 1}, "RNN (tanh) + skip:4"),
    ("3xrnn", {"activation": "relu"}, "3-layer RNN (relu)"),
    ("rnn/gru", {"layers": 2}, "2-layer RNN (tanh) / GRU"),
])
def test_network_names(cell, meta, name):
    assert network_name(cell, meta) == name


# ------------------------------------------------------------------ the deep feed-forward panel


def flow(values, skip, scale=0.7):
    values = np.asarray(values, dtype=float)
    return FeedForwardFlow(np.arange(len(values)), values, values + 0.5,
                           {"skip": skip, "depth": len(values), "width": 8, "scale": scale})


def test_feedforward_curves_are_the_flows():
    flows = [flow([-3.0, -2.0, -1.0, 0.0], None), flow([1.0, 0.6, 0.3, 0.1], "residual"),
             flow([0.5, 0.4, 0.2, 0.1], "dense:4"), flow([-2.0, -np.inf, -0.5, 0.0], "highway")]
    fig, ax = plt.subplots()
    assert plot_feedforward(flows, ax=ax) is ax
    drawn = lines(ax)
    assert len(drawn) == 4
    for line, f in zip(drawn, flows):
        np.testing.assert_array_equal(line.get_xdata(), f.layer)
        y = np.where(np.isfinite(f.log10_spectral_norm), f.log10_spectral_norm, np.nan)
        np.testing.assert_array_equal(line.get_ydata(), y)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["plain", "residual (ResNet)", "dense:4 (DenseNet)", "highway"]
    assert ax.get_title(loc="left") == "deep tanh MLP, L = 4, n = 8"
    assert "0.7" in ax.get_legend().get_title().get_text()
    assert len({tuple(line.get_color()) if not isinstance(line.get_color(), str)
                else line.get_color() for line in drawn}) == 4
    # the Frobenius norms on request, and labels of one's own
    fig, ax = plt.subplots()
    plot_feedforward(flows[:2], ax=ax, quantity="frobenius", labels=["a", "b"])
    np.testing.assert_array_equal(lines(ax)[1].get_ydata(), flows[1].log10_frobenius_norm)
    with pytest.raises(ValueError, match="2 flows need 2 labels"):
        plot_feedforward(flows[:2], ax=ax, labels=["a"])


# ------------------------------------------------------------------ input sensitivity


def profile(cell, curves, tau, meta=None):
    T = len(next(iter(curves.values())))
    mean = {d: {"spectral": np.asarray(v, float), "frobenius": np.asarray(v, float) + 0.1}
            for d, v in curves.items()}
    std = {d: {"spectral": np.full(T, 0.2), "frobenius": np.zeros(T)} for d in curves}
    return SensitivityProfile(cell, tau, np.arange(1, T + 1), mean, std,
                              {"hidden": 4, "steps": T, "samples": 2, **(meta or {})})


def test_sensitivity_curves_the_output_step_and_the_halves():
    inf = np.inf
    uni = profile("lstm", {"both": [-3.0, -2.0, -1.0, -inf, -inf]}, 3)
    bi = profile("2xlstm+bi", {"both": [-1.0, -0.5, 0.0, -0.5, -1.0],
                               "forward": [-1.0, -0.6, -0.1, -2.0, -3.0],
                               "reverse": [-3.0, -2.0, -0.1, -0.5, -1.0]}, 3,
                 {"layers": 2, "bidirectional": True})
    fig, ax = plt.subplots()
    assert plot_sensitivity([uni, bi], ax=ax) is ax
    drawn = lines(ax)
    assert len(drawn) == 4
    expected = [uni.mean["both"], bi.mean["both"], bi.mean["forward"], bi.mean["reverse"]]
    for line, values in zip(drawn, expected):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4, 5])
        s = values["spectral"]
        np.testing.assert_array_equal(line.get_ydata(), np.where(np.isfinite(s), s, np.nan))
    assert [line.get_linestyle() for line in drawn] == ["-", "-", "--", ":"]
    assert drawn[1].get_color() == drawn[2].get_color() == drawn[3].get_color() \
        != drawn[0].get_color()
    (tau,) = [line for line in ax.get_lines() if np.ptp(line.get_xdata()) == 0]
    assert list(tau.get_xdata()) == [3, 3]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["LSTM", "2-layer bidirectional LSTM", "forward half", "reverse half",
                      r"output step $\tau$ = 3"]
    assert "H = 4, T = 5" in ax.get_legend().get_title().get_text()
    # the spread over samples is shaded for the whole outputs only
    assert len(ax.collections) == 2
    fig, ax = plt.subplots()
    plot_sensitivity([uni, bi], ax=ax, quantity="frobenius", halves=False, band=False)
    assert len(lines(ax)) == 2 and not ax.collections
    np.testing.assert_array_equal(lines(ax)[1].get_ydata(), bi.mean["both"]["frobenius"])


def test_each_output_step_is_marked():
    a = profile("rnn", {"both": [-2.0, -1.0, 0.0, -np.inf]}, 3)
    b = profile("gru", {"both": [-2.0, -1.0, -np.inf, -np.inf]}, 2)
    fig, ax = plt.subplots()
    plot_sensitivity([a, b], ax=ax)
    marks = sorted(line.get_xdata()[0] for line in ax.get_lines()
                   if np.ptp(line.get_xdata()) == 0)
    assert marks == [2, 3]
