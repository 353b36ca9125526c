"""The phase diagram against the linear RNN (exact powers) and the measured weights."""

import numpy as np
import pytest

from gradflow.analysis.meanfield import tanh_rnn_meanfield
from gradflow.analysis.phase import phase_diagram, phase_from_table, phase_to_table
from gradflow.analysis.network import Network
from gradflow.engine.jacobians import gradient_flow
from gradflow.io.results import read_table, write_table

SCALES = np.array([0.5, 0.9, 1.2])


def test_identity_linear_rnn_decays_by_exactly_the_scale():
    # W = g I, no nonlinearity: ds_T/ds_{T-d} = g^d I, so log10 norm = d log10 g, rate = g.
    diagram = phase_diagram(Network(hidden=4, steps=15, init="identity", activation="linear"),
                            SCALES, cells=("rnn",))
    expected = np.outer(np.log10(SCALES), np.arange(1, 16))
    np.testing.assert_allclose(diagram.log10_norm["rnn"], expected, atol=1e-10)
    np.testing.assert_allclose(diagram.log10_rate["rnn"], np.log10(SCALES), atol=1e-10)
    np.testing.assert_allclose(diagram.weight_norm["rnn"], SCALES, rtol=1e-12)
    assert diagram.pascanu_scale is None and diagram.meanfield_log10_rate is None


def test_pascanu_threshold_is_where_the_drawn_weights_have_norm_one():
    diagram = phase_diagram(Network(hidden=8, steps=10, seed=3), SCALES, cells=("rnn", "lstm"))
    drawn = Network("rnn", hidden=8, scale=diagram.pascanu_scale, seed=3, steps=10).build().params
    assert np.linalg.norm(drawn["weight_hh"], 2) == pytest.approx(1.0, rel=1e-12)
    # gaussian weights: ||W_hh||_2 is near 2 g for large H, so the threshold sits below g = 1.
    assert 0.3 < diagram.pascanu_scale < 0.8


def test_rows_are_decay_profiles_of_the_scaled_weights():
    diagram = phase_diagram(Network(hidden=6, steps=12, seed=1, samples=2), SCALES, cells=("gru",))
    for i, g in enumerate(SCALES):
        s = Network("gru", hidden=6, steps=12, scale=g, seed=1, samples=2).build()
        norms = []
        for seq in s.sequences:
            norms.append(gradient_flow(s.cell, s.params, seq).log10_spectral_norm)
        np.testing.assert_allclose(diagram.log10_norm["gru"][i], np.mean(norms, axis=0),
                                   atol=1e-12)
        slope = np.polyfit(np.arange(1, 13), np.mean(norms, axis=0), 1)[0]
        assert diagram.log10_rate["gru"][i] == pytest.approx(slope, abs=1e-10)


def test_meanfield_column_is_the_theory_for_gaussian_tanh_rnn():
    diagram = phase_diagram(Network(hidden=4, steps=5), SCALES, cells=("rnn",))
    expected = [tanh_rnn_meanfield(g, sigma_in=1.0).log10_rate for g in SCALES]
    np.testing.assert_allclose(diagram.meanfield_log10_rate, expected, rtol=1e-12)
    assert phase_diagram(Network(hidden=4, steps=5, init="orthogonal"), SCALES,
                         cells=("rnn",)).meanfield_log10_rate is None


@pytest.mark.parametrize("scales", [[1.0], [1.0, 0.5], [0.0, 1.0]])
def test_bad_scales_are_refused(scales):
    with pytest.raises(ValueError, match="scales"):
        phase_diagram(Network(hidden=4, steps=5), scales, cells=("rnn",))


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_table_round_trip(tmp_path, suffix):
    diagram = phase_diagram(Network(hidden=4, steps=6), SCALES, cells=("rnn", "lstm"))
    path = tmp_path / f"phase.{suffix}"
    write_table(path, phase_to_table(diagram))
    back = phase_from_table(read_table(path))
    assert back.cells == ("rnn", "lstm")
    np.testing.assert_array_equal(back.scales, diagram.scales)
    np.testing.assert_array_equal(back.distance, diagram.distance)
    for cell in back.cells:
        np.testing.assert_array_equal(back.log10_norm[cell], diagram.log10_norm[cell])
        np.testing.assert_array_equal(back.log10_rate[cell], diagram.log10_rate[cell])
        np.testing.assert_array_equal(back.weight_norm[cell], diagram.weight_norm[cell])
    np.testing.assert_array_equal(back.meanfield_log10_rate, diagram.meanfield_log10_rate)
    assert back.pascanu_scale == pytest.approx(diagram.pascanu_scale, rel=1e-14)
