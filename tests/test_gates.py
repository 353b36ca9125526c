"""Gate traces against hand-written gates, and the forget-gate product that bounds dc_T/dc_t."""

import numpy as np
import pytest

from gradflow.analysis.gates import gate_traces, gates_from_table, gates_to_table
from gradflow.analysis.network import Network
from gradflow.engine.unroll import unroll
from gradflow.io.results import read_table, write_table


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _preactivations(s):
    inputs = s.sequences[0]
    n = s.cell.state_size(s.params)
    H = s.params["weight_hh"].shape[1]
    states = unroll(s.cell, s.params, inputs, np.zeros(n))
    h = states[:-1, :H]
    p = s.params
    return (inputs @ p["weight_ih"].T + p["bias_ih"], h @ p["weight_hh"].T + p["bias_hh"], H)


def test_lstm_forget_gate_is_the_sigmoid_of_its_preactivation():
    s = Network("lstm", hidden=6, steps=20, seed=5, forget_bias=2.0).build()
    gi, gh, H = _preactivations(s)
    f = _sigmoid(gi + gh)[:, H:2 * H]  # (T, H), gates in the order i, f, g, o
    i_gate = _sigmoid(gi + gh)[:, :H]
    tr = gate_traces(Network("lstm", hidden=6, steps=20, seed=5, forget_bias=2.0),
                     quantiles=(0.1, 0.9))
    np.testing.assert_allclose(tr.gate_mean["forget"], f.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(tr.gate_mean["input"], i_gate.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(tr.gate_quantiles["forget"], np.quantile(f, [0.1, 0.9], axis=1),
                               rtol=1e-12)


@pytest.mark.parametrize("cell, keep_is_z", [("gru", False), ("gru_torch", True)])
def test_gru_keep_fraction_is_the_update_gate_in_each_convention(cell, keep_is_z):
    s = Network(cell, hidden=5, steps=15, seed=2).build()
    gi, gh, H = _preactivations(s)
    # Both conventions: r = sig(W_ir x + W_hr h + b), z = sig(W_iz x + W_hz h + b) (blocks r,
    # z, n).
    z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    tr = gate_traces(Network(cell, hidden=5, steps=15, seed=2))
    np.testing.assert_allclose(tr.gate_mean["update"], z.mean(axis=1), rtol=1e-12)
    keep = z if keep_is_z else 1 - z
    np.testing.assert_allclose(tr.gate_mean["keep"], keep.mean(axis=1), rtol=1e-12)


def test_without_recurrence_the_cell_highway_is_the_forget_gate_product():
    # With W_hh = 0 the gates do not see h, so dc_t/dc_{t-1} = diag(f_t) exactly and
    # ||dc_T/dc_{T-d}||_2 = max_i prod_{k > T-d} f_{k,i}.
    s = Network("lstm", hidden=4, steps=30, seed=0, forget_bias=1.5).build()
    params = {**s.params, "weight_hh": np.zeros_like(s.params["weight_hh"])}
    inputs = s.sequences[0]
    f = _sigmoid(inputs @ params["weight_ih"].T + params["bias_ih"])[:, 4:8]
    tr = gate_traces(Network("lstm", params=params, inputs=inputs))
    expected = [np.log10(np.prod(f[30 - d:], axis=0).max()) for d in range(1, 31)]
    np.testing.assert_allclose(tr.decay["c_spectral"], expected, atol=1e-10)


def test_rnn_has_no_gates():
    with pytest.raises(ValueError, match="no gates"):
        gate_traces(Network("rnn", hidden=4, steps=5))


@pytest.mark.parametrize("suffix", ["csv", "json", "npz"])
def test_table_round_trip(tmp_path, suffix):
    traces = [gate_traces(Network(c, hidden=4, steps=8, samples=2)) for c in ("lstm", "gru")]
    path = tmp_path / f"gates.{suffix}"
    write_table(path, gates_to_table(traces))
    back = gates_from_table(read_table(path))
    assert [b.cell for b in back] == ["lstm", "gru"]
    for a, b in zip(traces, back):
        assert set(b.gate_mean) == set(a.gate_mean) and set(b.decay) == set(a.decay)
        np.testing.assert_array_equal(b.quantile_levels, a.quantile_levels)
        for g in a.gate_mean:
            np.testing.assert_array_equal(b.gate_mean[g], a.gate_mean[g])
            np.testing.assert_array_equal(b.gate_quantiles[g], a.gate_quantiles[g])
        for q in a.decay:
            np.testing.assert_array_equal(b.decay[q], a.decay[q])
