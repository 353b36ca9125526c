"""What a reader sees in each figure, checked on the drawn objects (legend entries, colours,
limits), never on pixels."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from gradflow.analysis.decay import decay_profile  # noqa: E402
from gradflow.analysis.gates import gate_traces  # noqa: E402
from gradflow.analysis.pairwise import PairwiseNorms, pairwise_norms  # noqa: E402
from gradflow.analysis.network import Network  # noqa: E402
from gradflow.analysis.spectra import spectrum  # noqa: E402
from gradflow.plotting.decay import cell_name, describe, plot_decay  # noqa: E402
from gradflow.plotting.gates import plot_gates  # noqa: E402
from gradflow.plotting.heatmap import plot_heatmap  # noqa: E402
from gradflow.plotting.phase import DIVERGING_CMAP, fitted_diverging  # noqa: E402
from gradflow.plotting.spectrum import plot_spectra  # noqa: E402
from gradflow.plotting.style import MISSING_COLOR  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _mesh(ax):
    (mesh,) = [c for c in ax.collections if hasattr(c, "get_array") and c.get_array() is not None]
    return mesh


# ------------------------------------------------------------------ heatmap


def test_heatmap_undefined_triangle_is_grey_not_the_colour_of_zero():
    s = Network("rnn", hidden=6, steps=12, scale=1.5).build()
    result = pairwise_norms(s.cell, s.params, s.sequences[0])
    fig, ax = plt.subplots()
    plot_heatmap(result, ax=ax)
    mesh = _mesh(ax)
    cmap, norm = mesh.get_cmap(), mesh.norm
    assert cmap.get_bad() == pytest.approx(to_rgba(MISSING_COLOR))
    # Every colour of the map is far from that grey, and the colour of log10 norm = 0 too.
    colours = cmap(np.linspace(0, 1, 256))[:, :3]
    grey = np.array(to_rgba(MISSING_COLOR)[:3])
    assert np.min(np.abs(colours - grey).sum(axis=1)) > 0.1
    assert np.abs(np.array(matplotlib.colormaps[DIVERGING_CMAP](0.5)[:3]) - grey).sum() > 0.1
    # What is undefined (t >= s) is masked, and only that.
    drawn = np.ma.getmaskarray(mesh.get_array()).reshape(result.log10_norm.shape)
    np.testing.assert_array_equal(drawn, ~np.isfinite(result.log10_norm))
    i, j = np.indices(drawn.shape)
    assert drawn[i <= j].all() and not drawn[i > j].any()
    # The colour range is the data's range, no wider.
    finite = result.log10_norm[np.isfinite(result.log10_norm)]
    assert (norm.vmin, norm.vmax) == pytest.approx((finite.min(), finite.max()))
    assert any("not defined" in t.get_text() for t in ax.texts)


def test_fitted_colours_are_those_of_the_symmetric_map():
    values = np.array([-8.0, -3.0, 0.0, 1.5, np.nan])
    cmap, norm = fitted_diverging(values)
    assert (norm.vmin, norm.vmax) == (-8.0, 1.5)
    base = matplotlib.colormaps[DIVERGING_CMAP]
    # Both maps are tables of colours: they agree to one step between neighbouring entries.
    step = np.abs(np.diff(base(np.linspace(0, 1, base.N)), axis=0)).max()
    for v in (-8.0, -3.0, 0.0, 1.5):
        # The full map over [-8, 8] gives v the colour at (v + 8) / 16.
        np.testing.assert_allclose(cmap(norm(v)), base((v + 8) / 16), atol=1.01 * step)
    cmap, norm = fitted_diverging(values, limit=2.0)  # clipped to +/- 2 decades
    assert (norm.vmin, norm.vmax) == (-2.0, 1.5)
    cmap, norm = fitted_diverging(np.array([-1.0, -1.0]))  # a constant still gets a range
    assert norm.vmin < -1.0 < norm.vmax <= 1.0


def test_heatmap_of_an_all_undefined_result_still_draws():
    """Every cell undefined: the whole matrix is drawn in the missing colour (grey, which the
    colour map never takes), under a finite colour range, and the picture says so."""
    result = PairwiseNorms(cell="rnn", times=np.arange(3), log10_norm=np.full((3, 3), np.nan))
    fig, ax = plt.subplots()
    plot_heatmap(result, ax=ax, colorbar=False)
    fig.canvas.draw()
    (mesh,) = ax.collections
    assert np.ma.getmaskarray(mesh.get_array()).all()
    assert mesh.cmap.get_bad() == pytest.approx(to_rgba("0.82"))
    assert np.isfinite([mesh.norm.vmin, mesh.norm.vmax]).all() and mesh.norm.vmin < mesh.norm.vmax
    pixels = np.asarray(fig.canvas.buffer_rgba())
    x0, y0, x1, y1 = ax.bbox.extents  # display pixels, origin at the bottom
    row, col = int(pixels.shape[0] - (y0 + y1) / 2), int((x0 + x1) / 2)
    assert pixels[row, col, :3] / 255 == pytest.approx(to_rgba("0.82")[:3], abs=0.01)
    assert any("not defined" in t.get_text() for t in ax.texts)


# ------------------------------------------------------------------ spectrum


def test_spectrum_legend_once_above_the_panels():
    spectra = [spectrum(Network(c, hidden=4, steps=8), distances=(2,)) for c in ("rnn", "lstm",
                                                                                 "gru")]
    fig, axes = plt.subplots(1, 2, layout="constrained")
    plot_spectra(spectra, axes, [2])
    assert all(ax.get_legend() is None for ax in axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["RNN (tanh)", "LSTM", "GRU"]
    assert legend.get_title().get_text() == "H = 4, T = 8, 1 input sequence, weights N(0, 1/H), " \
                                            "forget bias 1"
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    for ax in axes:  # off the data: above every panel
        assert box.y0 >= ax.get_window_extent(renderer).y1 - 1
    with pytest.raises(ValueError, match="need 2 Axes"):
        plot_spectra(spectra, axes[:1], [2])


def test_top_k_exponents_sit_at_their_fraction_of_the_state():
    # 3 of the LSTM's n = 8 exponents: x = 1/8, 2/8, 3/8, not spread over the whole axis.
    sp = spectrum(Network("lstm", hidden=4, steps=8), exponents=3)
    fig, ax = plt.subplots()
    plot_spectra([sp], [ax])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1 / 8, 2 / 8, 3 / 8])


# ------------------------------------------------------------------ gates


def test_gates_panel_fits_the_gates_and_tells_the_bands_apart():
    traces = [gate_traces(Network(c, hidden=6, steps=20, samples=2, forget_bias=3.0))
              for c in ("lstm", "gru")]
    fig, ax = plt.subplots()
    plot_gates(traces, ax=ax)
    lo, hi = ax.get_ylim()
    data = np.concatenate([np.ravel(tr.gate_quantiles[k]) for tr, k in
                           zip(traces, ("forget", "keep"))])
    assert 0 <= lo <= data.min() and data.max() <= hi <= 1
    span = data.max() - data.min()  # scaled to where the gates are, not to [0, 1]:
    assert lo >= data.min() - 0.5 * span and hi <= data.max() + 0.1 * span
    bands = [c for c in ax.collections]
    assert len(bands) == 2
    hatches = [b.get_hatch() for b in bands]
    assert hatches[0] is None and hatches[1] == "////"  # filled, then hatched
    face = bands[1].get_facecolor()
    assert face.size == 0 or face[0][3] == 0  # the hatched band is not filled
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["LSTM forget gate $f$", "GRU keep $1 - z$"]
    fig.canvas.draw()  # legend entries of line and band together render


# ------------------------------------------------------------------ decay


def test_decay_legend_is_spelt_out_and_the_settings_are_on_the_figure():
    profiles = [decay_profile(Network(c, hidden=5, input_size=2, steps=9, samples=3,
                                      forget_bias=3.0))
                for c in ("rnn", "lstm", "gru")]
    fig, ax = plt.subplots()
    plot_decay(profiles, ax=ax)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["RNN (tanh)", "LSTM", "GRU"]
    assert legend.get_title().get_text() == ("H = 5, T = 9\nmean of 3 input sequences\n"
                                             "weights N(0, 1/H), forget bias 3")


def test_labels_name_what_differs():
    a = decay_profile(Network("rnn", hidden=3, input_size=2, steps=4, scale=0.5))
    b = decay_profile(Network("rnn", hidden=3, input_size=2, steps=4, scale=2.0,
                              activation="relu"))
    c = decay_profile(Network("lstm", hidden=3, input_size=2, steps=6))
    labels, shared = describe([a, b, c])
    assert labels == ["RNN (tanh), T = 4, weights N(0, 0.5\u00b2/H)",
                      "RNN (relu), T = 4, weights N(0, 2\u00b2/H)",
                      "LSTM, T = 6, weights N(0, 1/H)"]
    assert shared == "H = 3\n1 input sequence\nforget bias 1"
    assert cell_name("gru_torch") == "GRU (torch)"
