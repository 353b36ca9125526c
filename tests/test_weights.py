"""gradflow.io.weights against PyTorch: arrays PyTorch computed once, stored in tests/data by
make_torch_fixtures.py (run everywhere, no torch needed), and, when torch is importable, the
same comparisons with PyTorch running live (tests named test_live_*)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gradflow.cells import gru, rnn
from gradflow.engine.unroll import unroll
from gradflow.io.weights import WeightsError, load_weights, params_from_state_dict, save_weights
from cli_run import fixture_maker as _fixture_maker

DATA = Path(__file__).parent / "data"
RANDOM_SEEDS = range(3)  # the seeds stored in tests/data/torch_random_sizes.npz
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


def fixture_maker():
    """tests/data/make_torch_fixtures.py as a module, for the live tests; skips without torch."""
    pytest.importorskip("torch")
    return _fixture_maker()


def fixture_state_dict(name):
    with np.load(DATA / f"torch_{name}.npz") as data:
        return {key: data[key] for key in data}


def under(arrays, prefix):
    """The arrays whose key starts with `prefix`, under the rest of their key."""
    return {key.removeprefix(prefix): arrays[key] for key in arrays if key.startswith(prefix)}


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


# --- PyTorch, random sizes -----------------------------------------------------------------

@pytest.mark.parametrize("seed", RANDOM_SEEDS)
@pytest.mark.parametrize("module", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_pytorch_random_sizes(module, seed, tmp_path):
    """The stored case (H, D, T random, bias for even seeds only, weights x3, random h0, c0)."""
    with np.load(DATA / "torch_random_sizes.npz", allow_pickle=False) as data:
        case = under(data, f"{module}/seed{seed}/")
    assert_reproduces_pytorch(module, case, tmp_path)


@pytest.mark.parametrize("seed", range(3, 6))
@pytest.mark.parametrize("module", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_live_pytorch_random_sizes(module, seed, tmp_path):
    """The same comparison with PyTorch running now, at seeds that are not stored."""
    case = fixture_maker().random_case(module, seed)
    assert_reproduces_pytorch(module, case, tmp_path)


def assert_reproduces_pytorch(module, case, tmp_path):
    """gradflow's states from PyTorch's state_dict, by file and in memory, equal PyTorch's."""
    state_dict = {key: value for key, value in case.items() if key.startswith(("weight", "bias"))}
    path = write_npz(tmp_path / "w.npz", state_dict)
    activation = "relu" if module == "rnn_relu" else "tanh"
    H, D = len(case["h0"]), case["inputs"].shape[1]
    is_lstm = module == "lstm"
    state0 = np.concatenate([case["h0"], case["c0"]]) if is_lstm else case["h0"]
    expected = np.concatenate([case["h"], case["c"]], axis=1) if is_lstm else case["h"]
    for loaded in (load_weights(path, activation=activation),
                   params_from_state_dict(state_dict, activation=activation)):
        assert (loaded.hidden, loaded.input_size) == (H, D)
        states = unroll(loaded.cell, loaded.params, case["inputs"], state0)
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
    """The file save_weights writes is the state_dict nn.GRU loaded (strict) when the fixture
    was made, and reloaded by gradflow it computes the states PyTorch computed from it."""
    with np.load(DATA / "torch_saved_by_gradflow.npz", allow_pickle=False) as data:
        case = {key: data[key] for key in data}
    assert_saved_weights_read_back(case, tmp_path)


def test_live_pytorch_reads_saved_weights_back(tmp_path):
    """The same with PyTorch loading gradflow's file now, for parameters that are not stored."""
    assert_saved_weights_read_back(fixture_maker().saved_by_gradflow_case(seed=7), tmp_path)


def assert_saved_weights_read_back(case, tmp_path):
    params, torch_loaded = under(case, "params/"), under(case, "state_dict/")
    save_weights(tmp_path / "w.npz", params)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as data:
        assert sorted(data) == sorted(torch_loaded)
        for key, value in torch_loaded.items():
            assert data[key].dtype == value.dtype and np.array_equal(data[key], value)
    again = load_weights(tmp_path / "w.npz")
    states = unroll(again.cell, again.params, case["inputs"], case["h0"])
    assert np.max(np.abs(states[1:] - case["h"])) <= TOL * max(1.0, np.max(np.abs(case["h"])))


def test_live_fixtures_are_what_the_script_makes():
    """tests/data holds exactly what make_torch_fixtures.py writes, bit for bit: no file was
    edited by hand or left stale. Needs the torch version that made the files."""
    maker = fixture_maker()
    made = maker.fixtures()
    assert sorted(made) == sorted(p.name for p in DATA.glob("torch_*.npz"))
    with np.load(DATA / "torch_random_sizes.npz", allow_pickle=False) as data:
        version = str(data["torch_version"])
    if maker.torch.__version__ != version:
        pytest.skip(f"the fixtures were made with torch {version}, "
                    f"this is torch {maker.torch.__version__}")
    for name, arrays in made.items():
        with np.load(DATA / name, allow_pickle=False) as data:
            assert sorted(data) == sorted(arrays), name
            for key, value in arrays.items():
                assert data[key].dtype == value.dtype and np.array_equal(data[key], value), (
                    f"{name}: {key}")


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
