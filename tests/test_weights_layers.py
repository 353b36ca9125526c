"""Stacked and bidirectional PyTorch files in gradflow.io.weights, against PyTorch: the arrays
nn.RNN / nn.LSTM / nn.GRU (num_layers > 1, bidirectional=True) returned when
tests/data/make_torch_fixtures.py made the files (no torch needed), and PyTorch running live
when torch is importable (tests named test_live_*). Then every inconsistent file, the round trip
through save_weights, and `gradflow jacobians --weights` on such files."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from gradflow.cells import gru, gru_torch, rnn, rnn_relu
from gradflow.cells.layers import Layered, bidirectional, stack
from gradflow.engine.depth import depth_flow, input_sensitivity
from gradflow.engine.layered import forward, reverse_sweep
from gradflow.engine.unroll import unroll
from gradflow.io.weights import WeightsError, load_weights, params_from_state_dict, save_weights
from cli_run import fixture_maker as _fixture_maker, run as run_cli, run_subprocess

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
LAYERED = {  # file name -> (kind, layers, directions, bias), as in make_torch_fixtures.LAYERED
    "rnn_tanh_3layers": ("rnn", 3, 1, True),
    "lstm_3layers": ("lstm", 3, 1, True),
    "gru_3layers": ("gru", 3, 1, True),
    "rnn_tanh_bi2": ("rnn", 2, 2, True),
    "lstm_bi2": ("lstm", 2, 2, True),
    "gru_bi2_nobias": ("gru", 2, 2, False),
}
D, H = 3, 4  # the fixtures' sizes (and T = 6 steps)
TOL = 1e-12


# --- helpers ---------------------------------------------------------------------------------

def fixture_maker():
    """tests/data/make_torch_fixtures.py as a module, for the live tests; skips without torch."""
    pytest.importorskip("torch")
    return _fixture_maker()


def stored(name):
    """The state_dict and the run arrays of fixture `name`."""
    with np.load(DATA / f"torch_{name}.npz") as data:
        state_dict = {key: data[key] for key in data}
    with np.load(DATA / f"torch_{name}_run.npz") as data:
        case = {key: data[key] for key in data}
    return state_dict, case


def initial_states(loaded, case):
    """PyTorch's h0 (and c0), (L * dirs, H) in the order layer 0, layer 0 reverse, layer 1, ...,
    as gradflow's initial states: a list per layer of a list per chain, (h, c) for the LSTM."""
    rows = [np.concatenate([h, c]) for h, c in zip(case["h0"], case["c0"])] \
        if loaded.kind == "lstm" else list(case["h0"])
    dirs = loaded.directions
    return [rows[l * dirs:(l + 1) * dirs] for l in range(loaded.layers)]


def gaps_from_pytorch(loaded, case):
    """Max |gradflow - PyTorch| of `output`, `h_n` (and `c_n`), from engine.layered.forward and,
    for a unidirectional stack, from unrolling the stack as one cell."""
    h, steps = loaded.hidden, len(case["inputs"])
    state0 = initial_states(loaded, case)
    run = forward(loaded.cell, loaded.params, case["inputs"], state0)
    # The final state of a forward chain is s_T, of a backward chain s_1.
    last = np.array([chain[steps if c == 0 else 1] for layer in run.states
                     for c, chain in enumerate(layer)])
    gaps = {"output": np.max(np.abs(run.outputs - case["output"])),
            "h_n": np.max(np.abs(last[:, :h] - case["h_n"]))}
    if loaded.kind == "lstm":
        gaps["c_n"] = np.max(np.abs(last[:, h:] - case["c_n"]))
    if loaded.directions == 1:
        traj = unroll(loaded.cell, loaded.params, case["inputs"], np.concatenate(
            [s for layer in state0 for s in layer]))
        blocks = loaded.cell.blocks(loaded.params)
        top = loaded.cell.output(loaded.params, traj[1:])
        final = np.array([traj[-1][blocks[f"layer{l}"]] for l in range(loaded.layers)])
        gaps["unroll output"] = np.max(np.abs(top - case["output"]))
        gaps["unroll h_n"] = np.max(np.abs(final[:, :h] - case["h_n"]))
        if loaded.kind == "lstm":
            gaps["unroll c_n"] = np.max(np.abs(final[:, h:] - case["c_n"]))
    return gaps


def log10_norms(matrices, order):
    """log10 of the norm `order` (2 or 'fro') of each matrix of (..., a, b): -inf for zero."""
    norms = np.linalg.norm(matrices, ord=order, axis=(-2, -1))
    with np.errstate(divide="ignore"):
        return np.log10(norms)


def assert_jacobians_match(loaded, case):
    """gradflow's Jacobians from zero initial states against PyTorch's (`input_jacobians`,
    `depth_jacobians`): the matrices from `engine.layered.sweep` to TOL, and the log10 norms
    from `engine.depth.input_sensitivity` and `depth_flow` to 1e-10."""
    inputs, steps = case["inputs"], len(case["inputs"])
    run = forward(loaded.cell, loaded.params, inputs)
    out = run.outputs.shape[1]
    for tau, expected in zip(case["output_steps"], case["input_jacobians"]):  # (out, T, D)
        tau = int(tau)
        rows = reverse_sweep(loaded.cell, loaded.params, run, seed_output=(tau, np.eye(out)))
        found = np.stack([g.mantissa * 10.0 ** g.scale for g in rows], axis=1)
        assert np.max(np.abs(found - expected)) <= TOL
        if loaded.directions == 1:  # y_tau does not see the inputs after tau
            assert not np.any(expected[:, tau:]) and not np.any(found[:, tau:])
        per_step = expected.transpose(1, 0, 2)  # (T, out, D)
        sens = input_sensitivity(loaded.cell, loaded.params, inputs, output_step=tau)
        assert sens.output_step == tau and list(sens.step) == list(range(1, steps + 1))
        parts = {"whole": (sens.log10_spectral_norm, sens.log10_frobenius_norm), **{
            name: sens.directions[name] for name in sens.directions}}
        assert sorted(sens.directions) == (["forward", "reverse"] if loaded.directions == 2
                                           else [])
        rows_of = {"whole": slice(None), "forward": slice(0, loaded.hidden),
                   "reverse": slice(loaded.hidden, None)}
        for name, (spectral, frobenius) in parts.items():
            block = per_step[:, rows_of[name]]
            for got, want in ((spectral, log10_norms(block, 2)),
                              (frobenius, log10_norms(block, "fro"))):
                assert np.array_equal(got == -np.inf, want == -np.inf)
                finite = want > -np.inf
                assert np.all(np.abs(got[finite] - want[finite]) <= 1e-10)
    if loaded.directions == 2:
        assert "depth_jacobians" not in case
        return
    layers, n = loaded.layers, run.states[-1][0].shape[1]
    lam = {}
    reverse_sweep(loaded.cell, loaded.params, run, seed_state=(layers - 1, 0, steps, np.eye(n)),
          visit=lambda l, c, t, adjoint: lam.__setitem__((l, t), adjoint))
    expected = case["depth_jacobians"]  # (L, len(depth_steps), n, n)
    found = np.array([[lam[l, int(t)].mantissa * 10.0 ** lam[l, int(t)].scale
                       for t in case["depth_steps"]] for l in range(layers)])
    assert np.max(np.abs(found - expected)) <= TOL
    flow = depth_flow(loaded.cell, loaded.params, inputs)
    distances = steps - case["depth_steps"]
    assert np.max(np.abs(flow.log10_spectral_norm[:, distances]
                         - log10_norms(expected, 2))) <= 1e-10
    assert np.max(np.abs(flow.log10_frobenius_norm[:, distances]
                         - log10_norms(expected, "fro"))) <= 1e-10


def write_npz(path, arrays):
    np.savez(path, **arrays)
    return str(path)


def error_of(arrays, tmp_path, **kws):
    """The one-line WeightsError of `arrays` saved as a file (and the same from memory)."""
    path = write_npz(tmp_path / "w.npz", arrays)
    with pytest.raises(WeightsError) as info:
        load_weights(path, **kws)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    with pytest.raises(WeightsError) as again:
        params_from_state_dict(arrays, **kws)
    assert str(again.value) == message.replace(path, "state_dict", 1)
    return message.removeprefix(f"{path}: ")


def without(arrays, end):
    """`arrays` without the keys ending in `end` (e.g. '_l1')."""
    return {key: value for key, value in arrays.items() if not key.endswith(end)}


# --- PyTorch's stored outputs ----------------------------------------------------------------

@pytest.mark.parametrize("name", LAYERED)
def test_fixture_reproduces_pytorch_output_and_final_states(name):
    kind, layers, dirs, bias = LAYERED[name]
    state_dict, case = stored(name)
    loaded = load_weights(DATA / f"torch_{name}.npz")
    assert (loaded.kind, loaded.layers, loaded.directions, loaded.hidden, loaded.input_size) == (
        kind, layers, dirs, H, D)
    assert isinstance(loaded.cell, Layered) == (dirs == 2)
    gaps = gaps_from_pytorch(loaded, case)
    assert len(gaps) == (2 + (kind == "lstm")) * (2 if dirs == 1 else 1)
    assert max(gaps.values()) <= TOL, gaps


@pytest.mark.parametrize("name", LAYERED)
def test_fixture_reproduces_pytorch_jacobians(name):
    """d output[tau] / d inputs (every network) and d s^(L-1)_T / d s^(l)_t (stacks), which
    PyTorch's autograd computed through the module, from the loaded file."""
    assert_jacobians_match(load_weights(DATA / f"torch_{name}.npz"), stored(name)[1])


@pytest.mark.parametrize("name", LAYERED)
def test_params_are_the_files_arrays_under_pytorchs_names(name):
    state_dict, _ = stored(name)
    loaded = load_weights(DATA / f"torch_{name}.npz")
    layers, dirs, bias = LAYERED[name][1:]
    ends = [f"_l{l}{r}" for l in range(layers) for r in ("", "_reverse")[:dirs]]
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    assert sorted(loaded.params) == sorted(name + end for end in ends for name in names)
    assert all(value.dtype == np.float64 for value in loaded.params.values())
    for key, value in loaded.params.items():
        assert np.array_equal(value, state_dict.get(key, np.zeros(value.shape)))
    if not bias:
        assert not any(key.startswith("bias") for key in state_dict)
        assert not any(np.any(v) for k, v in loaded.params.items() if k.startswith("bias"))


def test_layer_one_reads_both_directions_of_layer_zero():
    loaded = load_weights(DATA / "torch_lstm_bi2.npz")
    assert loaded.params["weight_ih_l0"].shape == loaded.params["weight_ih_l0_reverse"].shape == (
        4 * H, D)
    assert loaded.params["weight_ih_l1"].shape == loaded.params["weight_ih_l1_reverse"].shape == (
        4 * H, 2 * H)


@pytest.mark.parametrize("name, wrong", [
    ("gru_3layers", stack([gru] * 3)),
    ("gru_bi2_nobias", bidirectional([gru] * 2)),
    ("rnn_tanh_bi2", bidirectional([rnn_relu] * 2)),
])
def test_the_oracle_tells_cells_apart(name, wrong):
    """Cho's GRU or a relu RNN in place of PyTorch's cell misses its output: the comparison
    above can fail."""
    loaded = load_weights(DATA / f"torch_{name}.npz")
    gaps = gaps_from_pytorch(dataclasses.replace(loaded, cell=wrong), stored(name)[1])
    assert gaps["output"] > 1e-3


def test_the_oracle_tells_the_direction_order_apart():
    """Layer 1 reading [backward, forward] instead of [forward, backward] misses PyTorch."""
    loaded = load_weights(DATA / "torch_rnn_tanh_bi2.npz")
    swapped = dict(loaded.params)
    for end in ("_l1", "_l1_reverse"):
        w = loaded.params["weight_ih" + end]
        swapped["weight_ih" + end] = np.concatenate([w[:, H:], w[:, :H]], axis=1)
    gaps = gaps_from_pytorch(dataclasses.replace(loaded, params=swapped), stored("rnn_tanh_bi2")[1])
    assert gaps["output"] > 1e-3


def test_one_layer_files_load_as_before():
    """A one-layer, one-direction file: the cell itself and the unsuffixed names."""
    loaded = load_weights(DATA / "torch_gru.npz")
    assert loaded.cell is gru_torch and (loaded.layers, loaded.directions) == (1, 1)
    assert sorted(loaded.params) == ["bias_hh", "bias_ih", "weight_hh", "weight_ih"]
    relu = load_weights(DATA / "torch_rnn_relu.npz", activation="relu")
    assert relu.cell is rnn_relu and (relu.layers, relu.directions) == (1, 1)


def test_stacked_relu_rnn_runs_relu_in_every_layer():
    loaded = load_weights(DATA / "torch_rnn_tanh_3layers.npz", activation="relu")
    assert [chain.cell for (chain,) in loaded.cell.layered.layers] == [rnn_relu] * 3
    assert [chain.cell for (chain,) in load_weights(
        DATA / "torch_rnn_tanh_3layers.npz").cell.layered.layers] == [rnn] * 3


# --- PyTorch live ----------------------------------------------------------------------------

LIVE = [  # module, layers, bidirectional, bias, (D, H, T), seed
    ("rnn_relu", 2, False, True, (2, 5, 7), 200),
    ("rnn_relu", 2, True, False, (4, 3, 5), 201),
    ("rnn_tanh", 4, False, True, (1, 2, 9), 202),
    ("lstm", 1, True, True, (3, 4, 6), 203),
    ("lstm", 3, True, False, (5, 3, 4), 204),
    ("gru", 4, False, False, (2, 6, 5), 205),
    ("gru", 3, True, True, (3, 2, 8), 206),
]


@pytest.mark.parametrize("module, layers, bi, bias, sizes, seed", LIVE)
def test_live_pytorch_layers(module, layers, bi, bias, sizes, seed, tmp_path):
    """The same comparison with PyTorch running now: other seeds, sizes, depths, relu, one
    bidirectional layer; the state_dict by file and in memory."""
    state_dict, case = fixture_maker().layered_case(seed, module, layers, bi, bias, sizes)
    activation = "relu" if module == "rnn_relu" else "tanh"
    path = write_npz(tmp_path / "w.npz", state_dict)
    for loaded in (load_weights(path, activation=activation),
                   params_from_state_dict(state_dict, activation=activation)):
        assert (loaded.layers, loaded.directions, loaded.hidden, loaded.input_size) == (
            layers, 2 if bi else 1, sizes[1], sizes[0])
        gaps = gaps_from_pytorch(loaded, case)
        scale = max(1.0, np.max(np.abs(case["output"])))  # relu may grow past 1
        assert max(gaps.values()) <= TOL * scale, gaps
    assert_jacobians_match(loaded, case)


def test_live_pytorch_reads_saved_layers_back(tmp_path):
    """A bidirectional 2-layer LSTM loaded, saved by gradflow and loaded (strict) into a fresh
    nn.LSTM computes PyTorch's output from the original weights."""
    maker = fixture_maker()
    torch = maker.torch
    state_dict, case = maker.layered_case(207, "lstm", 2, True, True, (3, 4, 6))
    save_weights(tmp_path / "w.npz", params_from_state_dict(state_dict))
    module = maker.make_module("lstm", 3, 4, True, 2, True)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as data:
        assert sorted(data) == sorted(state_dict)
        module.load_state_dict({k: torch.from_numpy(data[k]) for k in data}, strict=True)
    with torch.no_grad():
        output, _ = module(torch.from_numpy(case["inputs"]),
                           (torch.from_numpy(case["h0"]), torch.from_numpy(case["c0"])))
    assert np.array_equal(output.numpy(), case["output"])


def test_live_proj_size_is_refused(tmp_path):
    torch = fixture_maker().torch
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2).to(torch.float64)
    arrays = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    message = error_of(arrays, tmp_path)
    assert message.startswith("weight_hr_l0 is an LSTM projection (proj_size > 0)")


# --- Inconsistent files ----------------------------------------------------------------------

def test_missing_middle_layer(tmp_path):
    message = error_of(without(stored("rnn_tanh_3layers")[0], "_l1"), tmp_path)
    assert message.startswith("weight_ih_l1 is missing, and every other key of layer 1: the "
                              "file has layers 0, 2, and a module of 3 layers has every suffix "
                              "_l0 to _l2")


def test_missing_first_layer(tmp_path):
    message = error_of(without(stored("gru_3layers")[0], "_l0"), tmp_path)
    assert message.startswith("weight_ih_l0 is missing, and every other key of layer 0")


def test_reverse_key_without_its_forward_twin(tmp_path):
    arrays = without(stored("rnn_tanh_bi2")[0], "_l1")  # keeps *_l1_reverse
    assert error_of(arrays, tmp_path).startswith(
        "weight_ih_l1_reverse has no forward twin: weight_ih_l1 is missing")


def test_one_reverse_key_added_to_a_one_layer_file(tmp_path):
    with np.load(DATA / "torch_rnn_tanh.npz") as data:
        arrays = {key: data[key] for key in data}
    arrays["weight_hh_l0_reverse"] = arrays["weight_hh_l0"]
    assert error_of(arrays, tmp_path).startswith("weight_ih_l0_reverse is missing; every layer "
                                                 "and direction")


def test_forward_layer_without_its_reverse(tmp_path):
    arrays = without(stored("lstm_bi2")[0], "_l1_reverse")
    assert error_of(arrays, tmp_path).startswith(
        "weight_ih_l1_reverse is missing while weight_ih_l1 is present; a bidirectional module "
        "has both directions in every layer")


def test_reverse_only_in_a_later_layer(tmp_path):
    """A 3-layer stack with one _reverse layer added: layer 0 lacks its backward direction."""
    arrays = dict(stored("rnn_tanh_3layers")[0])
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        arrays[f"{name}_l2_reverse"] = arrays[f"{name}_l2"]
    assert error_of(arrays, tmp_path).startswith(
        "weight_ih_l0_reverse is missing while weight_ih_l0 is present")


def test_weight_missing_inside_a_layer(tmp_path):
    arrays = dict(stored("gru_3layers")[0])
    del arrays["weight_hh_l2"]
    assert error_of(arrays, tmp_path).startswith("weight_hh_l2 is missing; every layer and "
                                                 "direction of an nn.RNN, nn.LSTM or nn.GRU")


def test_one_bias_missing_inside_a_layer(tmp_path):
    arrays = dict(stored("lstm_bi2")[0])
    del arrays["bias_hh_l1_reverse"]
    assert error_of(arrays, tmp_path).startswith(
        "bias_hh_l1_reverse is missing while bias_ih_l1_reverse is present")


def test_one_layer_without_biases_among_layers_with_them(tmp_path):
    arrays = dict(stored("gru_3layers")[0])
    del arrays["bias_ih_l1"], arrays["bias_hh_l1"]
    assert error_of(arrays, tmp_path).startswith(
        "bias_ih_l1 is missing while bias_ih_l0 is present; PyTorch saves every layer's biases "
        "or, with bias=False, none")


def test_hidden_sizes_differ_between_layers(tmp_path):
    arrays = dict(stored("lstm_3layers")[0])
    arrays["weight_hh_l1"] = np.zeros((12, 3))
    assert error_of(arrays, tmp_path).startswith(
        "weight_hh_l1 has shape (12, 3), expected (16, 4) for an LSTM with hidden size 4 as "
        "weight_hh_l0 (16, 4) says; it fits an LSTM with hidden size 3, and every layer of a "
        "PyTorch module is of one kind with one hidden size")


def test_kinds_differ_between_layers(tmp_path):
    """A GRU's layer 2 (3H rows) among tanh RNN layers."""
    arrays = dict(stored("rnn_tanh_3layers")[0])
    gru_layer = stored("gru_3layers")[0]
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        arrays[f"{name}_l2"] = gru_layer[f"{name}_l2"]
    assert error_of(arrays, tmp_path).startswith(
        "weight_hh_l2 has shape (12, 4), expected (4, 4) for an RNN with hidden size 4 as "
        "weight_hh_l0 (4, 4) says; it fits a GRU with hidden size 4")


def test_named_cell_must_fit_layer_zero(tmp_path):
    assert error_of(stored("lstm_bi2")[0], tmp_path, cell="gru").startswith(
        "weight_hh_l0 has shape (16, 4), expected (12, 4) for a GRU with hidden size 4 (the "
        "shape fits an LSTM)")


@pytest.mark.parametrize("name, key, cut, found, expected, why", [
    ("rnn_tanh_bi2", "weight_ih_l1", np.s_[:, :4], "(4, 4)", "(4, 8)",
     "layer 1 reads layer 0's output, 2 x 4 values (both directions)"),
    ("gru_3layers", "weight_ih_l2", np.s_[:, :3], "(12, 3)", "(12, 4)",
     "layer 2 reads layer 1's output, 4 values"),
    ("lstm_bi2", "weight_ih_l0_reverse", np.s_[:, :2], "(16, 2)", "(16, 3)",
     "both directions of layer 0 read the 3 inputs of weight_ih_l0"),
])
def test_input_width_of_a_layer(name, key, cut, found, expected, why, tmp_path):
    arrays = dict(stored(name)[0])
    arrays[key] = arrays[key][cut]
    message = error_of(arrays, tmp_path)
    assert message.startswith(f"{key} has shape {found}, expected {expected} for ")
    assert message.endswith(why)


def test_bias_shape_in_a_later_layer(tmp_path):
    arrays = dict(stored("gru_3layers")[0])
    arrays["bias_hh_l2"] = arrays["bias_hh_l2"][:-1]
    assert error_of(arrays, tmp_path) == (
        "bias_hh_l2 has shape (11,), expected (12,) for a GRU with hidden size 4")


def test_non_finite_in_a_later_layer(tmp_path):
    arrays = dict(stored("lstm_bi2")[0])
    arrays["weight_hh_l1_reverse"] = arrays["weight_hh_l1_reverse"].copy()
    arrays["weight_hh_l1_reverse"][3, 2] = np.nan
    assert error_of(arrays, tmp_path).startswith(
        "weight_hh_l1_reverse has 1 nan or inf value(s), the first at index (3, 2)")


@pytest.mark.parametrize("key", ["weight_hr_l0", "weight_hr_l1_reverse"])
def test_proj_size_is_refused(key, tmp_path):
    arrays = {**stored("lstm_bi2")[0], key: np.zeros((4, 2))}
    assert error_of(arrays, tmp_path) == (
        f"{key} is an LSTM projection (proj_size > 0), which gradflow does not support; save an "
        "nn.LSTM with proj_size=0")


def test_relu_applies_to_rnn_layers_only(tmp_path):
    assert "activation 'relu' applies to an nn.RNN" in error_of(
        stored("gru_3layers")[0], tmp_path, activation="relu")


# --- Round trip ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", LAYERED)
def test_save_then_load_round_trip(name, tmp_path):
    loaded = load_weights(DATA / f"torch_{name}.npz")
    save_weights(tmp_path / "out.npz", loaded)
    with np.load(tmp_path / "out.npz") as data:
        assert sorted(data) == sorted(loaded.params)
    again = load_weights(tmp_path / "out.npz")
    assert (again.kind, again.layers, again.directions, again.hidden, again.input_size) == (
        loaded.kind, loaded.layers, loaded.directions, H, D)
    assert sorted(again.params) == sorted(loaded.params)
    for key, value in loaded.params.items():
        assert np.array_equal(again.params[key], value)
    assert max(gaps_from_pytorch(again, stored(name)[1]).values()) <= TOL


def test_save_writes_the_state_dict_back_as_it_was(tmp_path):
    original = stored("lstm_bi2")[0]
    save_weights(tmp_path / "w.npz", original)
    with np.load(tmp_path / "w.npz") as data:
        assert sorted(data) == sorted(original)
        assert all(np.array_equal(data[k], original[k]) for k in original)


@pytest.mark.parametrize("params, says", [
    (without(stored("rnn_tanh_3layers")[0], "_l1"), "weight_ih_l1 is missing"),
    ({**stored("gru_3layers")[0], "weight_hh": np.zeros((12, 4))},
     "'weight_hh' and 'weight_ih_l0': give one layer's unsuffixed names or PyTorch's suffixed "
     "names, not both"),
    ({**stored("gru_3layers")[0], "weight_hh_l1x": np.zeros((12, 4))},
     "unexpected key 'weight_hh_l1x'"),
])
def test_save_refuses_inconsistent_layers(params, says, tmp_path):
    with pytest.raises(WeightsError, match=says):
        save_weights(tmp_path / "w.npz", params)
    assert list(tmp_path.iterdir()) == []


# --- gradflow jacobians --weights ------------------------------------------------------------

def assert_one_error_line(code, stderr, *parts):
    assert code == 1, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert all(part in lines[0] for part in parts), stderr


@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
@pytest.mark.parametrize("name, drop, says", [
    ("rnn_tanh_3layers", "_l1", "weight_ih_l1 is missing, and every other key of layer 1"),
    ("gru_bi2_nobias", "_l0", "weight_ih_l0_reverse has no forward twin"),
])
def test_cli_refuses_inconsistent_files(runner, name, drop, says, tmp_path):
    path = write_npz(tmp_path / "w.npz", without(stored(name)[0], drop))
    args = ["jacobians", "--weights", path, "--steps", "4", "--quiet",
            "-o", str(tmp_path / "flow.csv")]
    code, _, err = run_cli(args) if runner == "clirunner" else run_subprocess(args, tmp_path)
    assert_one_error_line(code, err, f"{path}: {says}")
    assert os.listdir(tmp_path) == ["w.npz"]


def _csv_rows(path):
    import csv
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
def test_cli_depth_map_of_a_pytorch_stack_against_torch_autograd(runner, tmp_path):
    """`gradflow jacobians --weights` on a 3-layer nn.LSTM file, on the fixture's inputs: the
    depth x time CSV at the fixture's distances against the norms of PyTorch's own
    d s^(L-1)_T / d s^(l)_t (torch.autograd, every path counted)."""
    with np.load(DATA / "torch_lstm_3layers_run.npz") as stored_case:
        case = dict(stored_case)
    inputs = tmp_path / "x.npy"
    np.save(inputs, case["inputs"])
    out = tmp_path / "depth.csv"
    args = ["jacobians", "--weights", str(DATA / "torch_lstm_3layers.npz"), "--input-file",
            str(inputs), "--quiet", "-o", str(out)]
    code, _, err = run_cli(args) if runner == "clirunner" else run_subprocess(args, tmp_path)
    assert code == 0, err
    rows = {(int(r["layer"]), int(r["distance"])): float(r["log10_spectral_norm"])
            for r in _csv_rows(out)}
    T = len(case["inputs"])
    for l in range(3):
        for i, t in enumerate(case["depth_steps"]):
            J = case["depth_jacobians"][l, i]
            assert rows[l, T - int(t)] == pytest.approx(np.log10(np.linalg.norm(J, 2)), abs=1e-10)


@pytest.mark.parametrize("runner", ["clirunner", "subprocess"])
def test_cli_input_sensitivity_of_a_bidirectional_file_against_torch(runner, tmp_path):
    with np.load(DATA / "torch_gru_bi2_nobias_run.npz") as stored_case:
        case = dict(stored_case)
    inputs = tmp_path / "x.npy"
    np.save(inputs, case["inputs"])
    for k, tau in enumerate(case["output_steps"]):
        out = tmp_path / f"s{tau}.csv"
        args = ["jacobians", "--weights", str(DATA / "torch_gru_bi2_nobias.npz"),
                "--input-file", str(inputs), "--wrt", "input", "--output-step", str(int(tau)),
                "--quiet", "-o", str(out)]
        code, _, err = run_cli(args) if runner == "clirunner" else run_subprocess(args, tmp_path)
        assert code == 0, err
        J = case["input_jacobians"][k]  # (2H, T, D): d output[tau] / d inputs
        H = J.shape[0] // 2
        halves = {"both": J, "forward": J[:H], "reverse": J[H:]}
        for r in _csv_rows(out):
            M = halves[r["direction"]][:, int(r["step"]) - 1]
            want = np.log10(np.linalg.norm(M, 2)) if np.any(M) else -np.inf
            assert float(r["log10_spectral_norm"]) == pytest.approx(want, abs=1e-10)
