"""gradflow.weights against PyTorch: stored fixtures (tests/data/make_torch_fixtures.py) and,
when torch is importable, live modules of random sizes."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gradflow.cells import gru, rnn
from gradflow.unroll import unroll
from gradflow.weights import WeightsError, load_weights, params_from_state_dict, save_weights

DATA = Path(__file__).parent / "data"
FIXTURES = {  # file name -> (activation, kind, cell name)
    "rnn_tanh": ("tanh", "rnn", "rnn"),
    "rnn_relu": ("relu", "rnn", "rnn_relu"),
    "lstm": ("tanh", "lstm", "lstm"),
    "gru": ("tanh", "gru", "gru_torch"),
    "gru_nobias": ("tanh", "gru", "gru_torch"),
}
TOL = 1e-10


def states_from(loaded, run):
    """gradflow's states s_1..s_T from PyTorch's initial state, and PyTorch's own, both (T, n)."""
    if loaded.kind == "lstm":
        state0 = np.concatenate([run["h0"], run["c0"]])
        expected = np.concatenate([run["h"], run["c"]], axis=1)
    else:
        state0, expected = run["h0"], run["h"]
    return unroll(loaded.cell, loaded.params, run["inputs"], state0)[1:], expected


def fixture_state_dict(name):
    with np.load(DATA / f"torch_{name}.npz") as data:
        return {key: data[key] for key in data}


def write_npz(path, arrays):
    np.savez(path, **arrays)
    return str(path)


def error_of(path_or_mapping, **kws):
    with pytest.raises(WeightsError) as info:
        if isinstance(path_or_mapping, dict):
            params_from_state_dict(path_or_mapping, **kws)
        else:
            load_weights(path_or_mapping, **kws)
    message = str(info.value)
    assert "\n" not in message and message == message.strip()
    return message


# --- PyTorch's stored states ---------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_reproduces_pytorch_hidden_states(name):
    activation, kind, cell_name = FIXTURES[name]
    loaded = load_weights(DATA / f"torch_{name}.npz", activation=activation)
    assert (loaded.kind, loaded.cell.__name__, loaded.hidden, loaded.input_size) == (
        kind, cell_name, 5, 3)
    assert all(v.dtype == np.float64 for v in loaded.params.values())
    states, expected = states_from(loaded, np.load(DATA / f"torch_{name}_run.npz"))
    assert states.shape == expected.shape
    assert np.max(np.abs(states - expected)) <= TOL


def test_fixture_without_bias_loads_zero_biases():
    loaded = load_weights(DATA / "torch_gru_nobias.npz")
    assert np.array_equal(loaded.params["bias_ih"], np.zeros(15))
    assert np.array_equal(loaded.params["bias_hh"], np.zeros(15))


@pytest.mark.parametrize("name, wrong_cell", [("gru", gru), ("rnn_relu", rnn)])
def test_the_oracle_tells_formulations_apart(name, wrong_cell):
    """Cho's GRU and a tanh RNN miss PyTorch's states: the comparison above can fail."""
    activation = "relu" if "relu" in name else "tanh"
    loaded = load_weights(DATA / f"torch_{name}.npz", activation=activation)
    states, expected = states_from(
        dataclasses.replace(loaded, cell=wrong_cell),
        np.load(DATA / f"torch_{name}_run.npz"))
    assert np.max(np.abs(states - expected)) > 1e-2


# --- PyTorch live, random sizes ------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("module", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_live_pytorch_random_sizes(module, seed, tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    H, D, T = (int(v) for v in rng.integers([1, 1, 1], [12, 8, 20]))
    bias = bool(seed % 2 == 0)
    torch.manual_seed(seed)
    make = {"rnn_tanh": lambda: torch.nn.RNN(D, H, nonlinearity="tanh", bias=bias),
            "rnn_relu": lambda: torch.nn.RNN(D, H, nonlinearity="relu", bias=bias),
            "lstm": lambda: torch.nn.LSTM(D, H, bias=bias),
            "gru": lambda: torch.nn.GRU(D, H, bias=bias)}[module]
    net = make().to(torch.float64)
    with torch.no_grad():  # trained weights are larger than PyTorch's uniform(+-1/sqrt(H)) init
        for p in net.parameters():
            p.mul_(3.0)
    inputs = torch.randn(T, 1, D, dtype=torch.float64)
    h0 = torch.randn(1, 1, H, dtype=torch.float64)
    c0 = torch.randn(1, 1, H, dtype=torch.float64)
    is_lstm = module == "lstm"
    with torch.no_grad():
        state, expected = ((h0, c0) if is_lstm else h0), []
        for x in inputs:
            _, state = net(x[None], state)
            expected.append(torch.cat([state[0], state[1]], -1) if is_lstm else state)
    expected = torch.cat(expected)[:, 0].numpy()

    path = write_npz(tmp_path / "w.npz",
                     {k: v.detach().numpy() for k, v in net.state_dict().items()})
    activation = "relu" if module == "rnn_relu" else "tanh"
    for loaded in (load_weights(path, activation=activation),
                   params_from_state_dict(net.state_dict(), activation=activation)):
        assert (loaded.hidden, loaded.input_size) == (H, D)
        state0 = torch.cat([h0, c0], -1) if is_lstm else h0
        states = unroll(loaded.cell, loaded.params, inputs[:, 0].numpy(), state0[0, 0].numpy())
        # Relative to the states' size: a relu RNN with 3x weights may grow well past 1.
        assert np.max(np.abs(states[1:] - expected)) <= TOL * max(1.0, np.max(np.abs(expected)))


# --- Round trip ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lstm", "gru_nobias"])
@pytest.mark.parametrize("filename", ["out.npz", "out_without_suffix"])
def test_save_then_load_round_trip(name, filename, tmp_path):
    loaded = load_weights(DATA / f"torch_{name}.npz")
    target = tmp_path / filename
    save_weights(target, loaded)
    assert sorted(p.name for p in tmp_path.iterdir()) == [filename]
    with np.load(target) as data:
        assert sorted(data) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    again = load_weights(target)
    assert (again.kind, again.hidden, again.input_size) == (loaded.kind, 5, 3)
    for key, value in loaded.params.items():
        assert np.array_equal(again.params[key], value)


def test_save_writes_pytorch_naming(tmp_path):
    original = fixture_state_dict("gru")
    save_weights(tmp_path / "w.npz", {k[:-3]: v for k, v in original.items()})
    with np.load(tmp_path / "w.npz") as data:
        assert sorted(data) == sorted(original)
        assert all(np.array_equal(data[k], original[k]) for k in original)


def test_pytorch_reads_saved_weights_back(tmp_path):
    torch = pytest.importorskip("torch")
    save_weights(tmp_path / "w.npz", load_weights(DATA / "torch_gru.npz"))
    net = torch.nn.GRU(3, 5).to(torch.float64)
    with np.load(tmp_path / "w.npz") as data:
        net.load_state_dict({k: torch.from_numpy(data[k]) for k in data}, strict=True)
    run = np.load(DATA / "torch_gru_run.npz")
    with torch.no_grad():
        out, _ = net(torch.from_numpy(run["inputs"])[:, None],
                     torch.from_numpy(run["h0"])[None, None])
    assert np.max(np.abs(out[:, 0].numpy() - run["h"])) <= TOL


def test_save_rejects_bad_params(tmp_path):
    params = load_weights(DATA / "torch_lstm.npz").params
    with pytest.raises(WeightsError, match="unexpected key 'weight_hx'"):
        save_weights(tmp_path / "w.npz", {**params, "weight_hx": params["weight_hh"]})
    with pytest.raises(WeightsError, match=r"bias_hh_l0 has shape \(19,\), expected \(20,\)"):
        save_weights(tmp_path / "w.npz", {**params, "bias_hh": np.zeros(19)})
    assert list(tmp_path.iterdir()) == []


# --- Errors ----------------------------------------------------------------------------------

def test_weights_error_is_a_value_error():
    assert issubclass(WeightsError, ValueError)


@pytest.mark.parametrize("key", ["weight_ih_l0", "weight_hh_l0"])
def test_missing_weight(key, tmp_path):
    arrays = fixture_state_dict("lstm")
    del arrays[key]
    path = write_npz(tmp_path / "w.npz", arrays)
    assert error_of(path).startswith(f"{path}: {key} is missing")


def test_one_bias_missing(tmp_path):
    arrays = fixture_state_dict("lstm")
    del arrays["bias_hh_l0"]
    message = error_of(write_npz(tmp_path / "w.npz", arrays))
    assert "bias_hh_l0 is missing while bias_ih_l0 is present" in message


def test_wrong_recurrent_shape_for_named_cell(tmp_path):
    """The exact line the CLI prints; the expected shape is PyTorch's (4H, H) for an LSTM."""
    rng = np.random.default_rng(0)
    path = write_npz(tmp_path / "weights.npz", {"weight_ih_l0": rng.standard_normal((12, 2)),
                                                "weight_hh_l0": rng.standard_normal((4, 3))})
    assert error_of(path, cell="lstm") == (
        f"{path}: weight_hh_l0 has shape (4, 3), expected (12, 3) for an LSTM with hidden size 3")


def test_recurrent_shape_that_fits_no_module(tmp_path):
    arrays = fixture_state_dict("lstm")
    arrays["weight_hh_l0"] = arrays["weight_hh_l0"][:10]  # (10, 5): two blocks
    message = error_of(write_npz(tmp_path / "w.npz", arrays))
    assert "weight_hh_l0 has shape (10, 5), expected one of (5, 5), (20, 5), (15, 5)" in message


@pytest.mark.parametrize("key, cut, found, expected", [
    ("weight_ih_l0", np.s_[:19], "(19, 3)", "(20, 3)"),
    ("weight_ih_l0", np.s_[:, 0], "(20,)", "(20, D)"),
    ("bias_ih_l0", np.s_[:-1], "(19,)", "(20,)"),
    ("bias_hh_l0", np.s_[None], "(1, 20)", "(20,)"),
])
def test_wrong_shape_names_key_found_and_expected(key, cut, found, expected, tmp_path):
    arrays = fixture_state_dict("lstm")
    arrays[key] = arrays[key][cut]
    path = write_npz(tmp_path / "w.npz", arrays)
    assert error_of(path).startswith(
        f"{path}: {key} has shape {found}, expected {expected} for an LSTM with hidden size 5")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("key", ["weight_hh_l0", "bias_ih_l0"])
def test_non_finite_weights(bad, key, tmp_path):
    arrays = fixture_state_dict("gru")
    arrays[key] = arrays[key].copy()
    arrays[key].flat[7] = bad
    message = error_of(write_npz(tmp_path / "w.npz", arrays))
    assert f"{key} has 1 nan or inf value(s)" in message and "must be finite" in message


@pytest.mark.parametrize("name, cell, hint", [
    ("lstm", "gru", "expected (15, 5) for a GRU with hidden size 5 (the shape fits an LSTM)"),
    ("gru", "rnn", "expected (5, 5) for an RNN with hidden size 5 (the shape fits a GRU)"),
    ("rnn_tanh", "lstm", "expected (20, 5) for an LSTM with hidden size 5 (the shape fits an RNN)"),
])
def test_explicit_cell_mismatch(name, cell, hint):
    assert hint in error_of(str(DATA / f"torch_{name}.npz"), cell=cell)


@pytest.mark.parametrize("cell", ["gru", "gru_torch"])
def test_explicit_gru_runs_pytorch_formulation(cell):
    loaded = load_weights(DATA / "torch_gru.npz", cell=cell)
    assert loaded.cell.__name__ == "gru_torch"


def test_unknown_cell_and_activation():
    path = str(DATA / "torch_rnn_tanh.npz")
    assert "unknown cell 'transformer'" in error_of(path, cell="transformer")
    assert "unknown activation 'sigmoid'" in error_of(path, activation="sigmoid")
    assert "activation 'relu' applies to an nn.RNN" in error_of(
        str(DATA / "torch_lstm.npz"), activation="relu")


@pytest.mark.parametrize("extra, says", [
    ("weight_ih_l1", "layer 2 of a stacked RNN"),
    ("bias_hh_l3", "layer 4 of a stacked RNN"),
    ("weight_hh_l0_reverse", "the backward direction of a bidirectional RNN"),
])
def test_other_layers_are_not_supported_yet(extra, says, tmp_path):
    arrays = fixture_state_dict("rnn_tanh")
    arrays[extra] = arrays["weight_hh_l0"]
    message = error_of(write_npz(tmp_path / "w.npz", arrays))
    assert f"{extra} belongs to {says}" in message and "one-layer, one-direction" in message


@pytest.mark.parametrize("extra, says", [
    ("weight_hr_l0", "proj_size"),
    ("weight_hh", "PyTorch names it weight_hh_l0"),
    ("fc.weight", "unexpected key 'fc.weight'"),
])
def test_unexpected_keys(extra, says, tmp_path):
    arrays = fixture_state_dict("lstm")
    arrays[extra] = np.zeros((2, 2))
    assert says in error_of(write_npz(tmp_path / "w.npz", arrays))


def test_whole_model_state_dict_gets_a_hint():
    arrays = {f"rnn.{k}": v for k, v in fixture_state_dict("gru").items()}
    assert "model.rnn.state_dict()" in error_of(arrays)


def test_non_numeric_dtype():
    arrays = fixture_state_dict("gru")
    arrays["weight_hh_l0"] = arrays["weight_hh_l0"] > 0
    assert "weight_hh_l0 has dtype bool, expected real numbers" in error_of(arrays)


def test_float32_weights_are_widened():
    arrays = {k: v.astype(np.float32) for k, v in fixture_state_dict("lstm").items()}
    loaded = params_from_state_dict(arrays)
    assert loaded.source is None
    for key, value in loaded.params.items():
        assert value.dtype == np.float64
        assert np.array_equal(value, arrays[f"{key}_l0"])


def test_not_an_npz(tmp_path):
    text = tmp_path / "weights.npz"
    text.write_text("weight_hh_l0 = [[1.0]]\n")
    assert error_of(str(text)) == f"{text}: not an .npz file (expected numpy.savez output)"

    single = tmp_path / "single.npy"
    np.save(single, np.eye(3))
    assert "holds a single .npy array" in error_of(str(single))

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((DATA / "torch_lstm.npz").read_bytes()[:600])
    assert error_of(str(truncated)).startswith(f"{truncated}: not a readable .npz file")

    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    assert error_of(str(empty)).startswith(f"{empty}: not a readable .npz file")

    assert error_of(str(tmp_path / "absent.npz")) == f"{tmp_path / 'absent.npz'}: no such file"
    assert error_of(str(tmp_path)).startswith(f"{tmp_path}: cannot read")


def test_pickled_arrays_are_refused(tmp_path):
    arrays = fixture_state_dict("gru")
    arrays["weight_hh_l0"] = np.array([object()] * 3, dtype=object)
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    assert "weight_hh_l0 cannot be read" in error_of(str(path))
