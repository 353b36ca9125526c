"""Spectra against the linear RNN, whose Lyapunov exponents and singular values are exact."""

import numpy as np
import pytest

from gradflow.analysis.spectra import spectrum, spectrum_from_table, spectrum_to_table
from gradflow.cells.initializers import init_params
from gradflow.io.results import read_table, write_table
from gradflow.analysis.network import Network


def test_scaled_orthogonal_linear_rnn_has_a_flat_spectrum():
    # W = g Q, Q orthogonal: every direction shrinks by g per step, so every Lyapunov exponent
    # is log10 g and every singular value of ds_T/ds_{T-d} is g^d.
    g = 0.8
    result = spectrum(Network("rnn", activation="linear", init="orthogonal", scale=g, hidden=6,
                              steps=30), distances=(1, 7, 30))
    np.testing.assert_allclose(result.lyapunov, np.log10(g), atol=1e-12)
    for d in (1, 7, 30):
        np.testing.assert_allclose(result.singular_values[d], d * np.log10(g), atol=1e-10)


def test_diagonal_linear_rnn_exponents_are_the_log_diagonal():
    params = init_params("rnn", 4, 2, seed=0)
    params["weight_hh"] = np.diag([1.5, 0.9, 0.5, 0.1])
    result = spectrum(Network("rnn", activation="linear", params=params, steps=25))
    np.testing.assert_allclose(result.lyapunov, np.log10([1.5, 0.9, 0.5, 0.1]), atol=1e-12)


def test_distances_beyond_the_length_are_refused():
    with pytest.raises(ValueError, match="distances"):
        spectrum(Network("rnn", hidden=4, steps=5), distances=(6,))


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_table_round_trip(tmp_path, suffix):
    spectra = [spectrum(Network(c, hidden=4, steps=10), distances=(3,)) for c in ("rnn", "lstm")]
    path = tmp_path / f"spectrum.{suffix}"
    write_table(path, spectrum_to_table(spectra))
    back = spectrum_from_table(read_table(path))
    assert [b.cell for b in back] == ["rnn", "lstm"]
    for a, b in zip(spectra, back):
        assert b.state_size == a.state_size
        np.testing.assert_array_equal(b.lyapunov, a.lyapunov)
        np.testing.assert_array_equal(b.singular_values[3], a.singular_values[3])


def test_top_exponents_with_burn_in_of_a_diagonal_linear_rnn():
    # W = diag(1.5, 0.9, 0.5, 0.1): the top k exponents are the top k log10 entries, whatever
    # the seeded starting frame and the burn-in.
    params = init_params("rnn", 4, 2, seed=0)
    params["weight_hh"] = np.diag([1.5, 0.9, 0.5, 0.1])
    result = spectrum(Network("rnn", activation="linear", params=params, steps=400, seed=3),
                      exponents=2, discard=50)
    np.testing.assert_allclose(result.lyapunov, np.log10([1.5, 0.9]), atol=2e-3)
    assert (result.state_size, result.metadata["exponents"], result.metadata["discard"]) == \
        (4, 2, 50)


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_table_round_trip_with_fewer_exponents_than_states(tmp_path, suffix):
    spectra = [spectrum(Network(c, hidden=4, steps=10), exponents=3) for c in ("rnn", "lstm")]
    path = tmp_path / f"spectrum.{suffix}"
    write_table(path, spectrum_to_table(spectra))
    back = spectrum_from_table(read_table(path))
    for a, b in zip(spectra, back):
        assert (len(b.lyapunov), b.state_size) == (3, a.state_size)
        np.testing.assert_array_equal(b.lyapunov, a.lyapunov)


def test_a_zero_recurrence_has_zero_singular_values_at_every_distance():
    # W_hh = 0 (scale 0): every step Jacobian diag(phi') W_hh is exactly zero, so is every
    # product; gradient_flow stops at the first zero product, and the spectrum says -inf.
    sp = spectrum(Network("rnn", hidden=4, steps=6, scale=0.0), distances=(1, 5))
    assert set(sp.singular_values) == {1, 5}
    for d in (1, 5):
        assert sp.singular_values[d].shape == (4,)
        assert np.all(sp.singular_values[d] == -np.inf)
