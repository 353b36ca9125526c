"""Network: one description of a network and its inputs, its seed scheme, its checks and the
metadata it gives every result."""

import numpy as np
import pytest

import gradflow as gf
from gradflow.analysis.network import Network
from gradflow.cells import init_params, skip


def test_seed_scheme_child_0_draws_the_weights_children_1_to_n_the_inputs():
    built = Network("gru", hidden=5, input_size=3, steps=7, samples=3, seed=11,
                    forget_bias=2.0).build()
    children = np.random.SeedSequence(11).spawn(4)
    expected = init_params("gru", 5, 3, forget_bias=2.0, seed=np.random.default_rng(children[0]))
    assert set(built.params) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(built.params[key], expected[key])
    for sequence, child in zip(built.sequences, children[1:]):
        np.testing.assert_array_equal(sequence,
                                      np.random.default_rng(child).standard_normal((7, 3)))
    # More samples keep the weights and the first sequences.
    more = Network("gru", hidden=5, input_size=3, steps=7, samples=4, seed=11,
                   forget_bias=2.0).build()
    np.testing.assert_array_equal(more.params["weight_hh"], built.params["weight_hh"])
    np.testing.assert_array_equal(more.sequences[2], built.sequences[2])


def test_a_skip_connection_is_applied_and_initialised():
    built = Network("lstm", hidden=3, input_size=2, skip="skip:4", skip_scale=0.5).build()
    assert built.name == "lstm+skip:4" and built.state0.shape == (24,)
    np.testing.assert_array_equal(built.params["skip_weight"], 0.5 * np.eye(6))
    flow = gf.gradient_flow(built.cell, built.params, built.sequences[0], built.state0)
    assert set(flow.blocks) == {"h", "c"} and flow.log10_spectral_norm.shape == (100,)


def test_replace_changes_one_thing_and_keeps_the_rest():
    net = Network("rnn", hidden=4, steps=9, seed=3)
    other = net.replace(cell="lstm", skip="residual")
    assert (other.hidden, other.steps, other.seed, other.name) == (4, 9, 3, "lstm+residual")
    assert net.name == "rnn"  # frozen: the original is unchanged
    with pytest.raises(AttributeError):
        net.hidden = 5


def test_trained_weights_set_the_sizes_and_a_skip_needs_its_own_weights():
    params = init_params("rnn", 6, 2, seed=0)
    net = Network("rnn", params=params, steps=5)
    assert net.sizes() == (6, 2)
    meta = net.metadata()
    assert (meta["hidden"], meta["input_size"], meta["init"], meta["scale"]) == (6, 2, None, None)
    with pytest.raises(ValueError, match="the weights have no skip_weight"):
        Network("rnn", params=params, skip="skip:2").build()
    with_skip = {**params, "skip_weight": 0.3 * np.eye(6)}
    assert Network("rnn", params=with_skip, skip="skip:2").build().name == "rnn+skip:2"


def test_fixed_inputs_are_one_sample_of_their_own_length():
    x = np.random.default_rng(0).standard_normal((12, 3))
    net = Network("gru", hidden=4, inputs=x)
    built = net.build()
    assert net.length == 12 and len(built.sequences) == 1 and built.params["weight_ih"].shape[1] == 3
    assert net.metadata()["inputs"] == "fixed"
    with pytest.raises(ValueError, match="one sample"):
        Network("gru", inputs=x, samples=2)
    with pytest.raises(ValueError, match="take 2 inputs"):
        Network("gru", params=init_params("gru", 4, 2, seed=0), inputs=x).build()


@pytest.mark.parametrize("changes,message", [
    ({"hidden": 0}, "hidden must be a positive integer"),
    ({"steps": 2.5}, "steps must be a positive integer"),
    ({"samples": True}, "samples must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"scale": float("nan")}, "scale must be a finite number"),
    ({"skip_scale": float("inf")}, "skip_scale must be a finite number"),
    ({"cell": "transformer"}, "unknown cell"),
    ({"activation": "gelu"}, "unknown activation"),
    ({"skip": "skip:0"}, "at least 1"),
    ({"skip": "wormhole"}, "unknown skip connection"),
    ({"init": "xavier"}, "unknown init"),
])
def test_bad_descriptions_are_refused_when_made(changes, message):
    with pytest.raises(ValueError, match=message):
        Network(**{"cell": "rnn", **changes})


def test_metadata_says_what_made_the_results():
    net = Network("rnn", hidden=8, steps=20, skip="dense:3", skip_scale=0.6, seed=4,
                  sources={"input_file": "x.npy"})
    meta = net.metadata()
    assert meta["cell"] == "rnn+dense:3" and meta["skip"] == "dense:3"
    assert meta["skip_scale"] == 0.6 and meta["highway_bias"] is None
    assert (meta["hidden"], meta["steps"], meta["seed"], meta["input_file"]) == (8, 20, 4, "x.npy")
    assert meta["gradflow_version"] == gf.__version__
    profile = gf.decay_profile(net)
    assert profile.metadata == meta and profile.cell == "rnn+dense:3"


def test_a_user_cell_with_a_skip_connection_needs_its_params_and_says_its_size():
    def my_cell(params, state, x):
        return gf.concat(state[..., 1:], state[..., :1]) * params["g"]

    params = {"g": 0.9, "skip_weight": 0.5 * np.eye(3)}
    net = Network(my_cell, params=params, skip="skip:2", steps=10, input_size=1)
    built = net.build()
    assert built.cell.state_size(params) == 6 and built.state0.shape == (6,)
    assert skip(my_cell, 2).name.endswith("+skip:2")
