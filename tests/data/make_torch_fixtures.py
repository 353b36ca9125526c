"""Make the PyTorch fixtures in this folder: the independent oracle for `gradflow.io.weights` and,
for stacked and bidirectional modules, for `gradflow.engine.layered` and `gradflow.engine.depth`.

The test suite never runs this script; it reads the files, so the comparisons with PyTorch run
everywhere, torch or not. Regenerate them by hand in a virtual environment of their own, outside
the repository, so that torch never becomes a dependency of gradflow (the files were made with
torch 2.13.0, CPU build, and numpy 2.4.6; each *_run.npz and the two files of random sizes
record the torch version under `torch_version`):

    python3 -m venv /work/torchenv
    /work/torchenv/bin/pip install torch==2.13.0 numpy pytest hypothesis
    /work/torchenv/bin/pip install -e .      # gradflow itself: save_weights writes one file
    /work/torchenv/bin/python tests/data/make_torch_fixtures.py

Everything is seeded: run again with the same versions, the script rewrites every file bit for
bit (`git status` stays clean). In that environment `pytest tests/test_weights.py
tests/test_weights_layers.py` also runs the live variants, which call the functions below at
fresh seeds and check that the stored files are what this script makes.

Files (all arrays float64 but the integer step indices; a state in PyTorch's layout, LSTM cell
state apart):
- torch_<name>.npz, for five modules of input size 3 and hidden size 5: the state_dict exactly as
  a user saves it, np.savez(path, **{k: v.numpy() for k, v in module.state_dict().items()}).
  It lives in a file of its own because `load_weights` rejects keys a state_dict does not have.
- torch_<name>_run.npz: `inputs` (7, 3), the initial state `h0` (5,) (and `c0` for the LSTM),
  and the states PyTorch computes from them, `h` (7, 5) (and `c` (7, 5) for the LSTM).
- torch_random_sizes.npz: the twelve cases of random sizes, module in RANDOM_MODULES, seed in
  RANDOM_SEEDS (see `random_case`), each under the prefix '<module>/seed<seed>/': the state_dict
  (PyTorch's keys), `inputs` (T, D), `h0` (H,), `h` (T, H) and, for the LSTM, `c0`, `c`.
- torch_saved_by_gradflow.npz: PyTorch reading a file that gradflow's `save_weights` wrote
  (see `saved_by_gradflow_case`): `params/<name>`, the parameters handed to save_weights;
  `state_dict/<key>`, what nn.GRU holds after load_state_dict(strict=True) of that file;
  `inputs`, `h0` and PyTorch's states `h` from those weights.

- torch_<name>.npz and torch_<name>_run.npz for the six stacked and bidirectional modules in
  LAYERED (see `layered_case`), input size 3, hidden size 4, 6 steps: 3-layer tanh RNN, LSTM and
  GRU, 2-layer bidirectional tanh RNN, LSTM and GRU (the GRU with bias=False). The first file is
  the state_dict (keys _l0.._l{L-1}, and _reverse); the run file holds `inputs` (6, 3), the
  initial states `h0` (L*dirs, 4) (and `c0`, LSTM), in PyTorch's order (layer 0, layer 0
  reverse, layer 1, ...), and what the module returns for them: `output` (6, dirs*4), the top
  layer's h at every step, both directions concatenated, and `h_n` (L*dirs, 4) (and `c_n`).
  Then Jacobians by torch.autograd, from zero initial states and the same inputs:
  `input_jacobians` (2, dirs*4, 6, 3), d output[tau] / d inputs for tau in `output_steps`
  (3, 6), 1-based; and, unidirectional stacks only, `depth_jacobians` (L, 3, n, n),
  d s^(L-1)_T / d s^(l)_t for t in `depth_steps` (6, 5, 1), s = h (n = 4) or, for the LSTM,
  (h, c) (n = 8): layer l's state at step t perturbed after it is computed, every path
  counted (see `depth_jacobians`).

One-layer modules are run one step at a time, so that the LSTM's cell state c_t is seen at every
step; the script checks that the stepwise run equals the module's run over the whole sequence.
Stacked and bidirectional modules run over the whole sequence at once (PyTorch's `output`,
`h_n`, `c_n`); the script checks that `output` ends in the top layer's h_n in each direction.
"""

import tempfile
from pathlib import Path

import numpy as np
import torch

from gradflow.io.weights import save_weights

HERE = Path(__file__).resolve().parent
INPUT_SIZE, HIDDEN, STEPS = 3, 5, 7
FIXED = {  # file name -> (module, bias); the seed is the position in this dict
    "rnn_tanh": ("rnn_tanh", True),
    "rnn_relu": ("rnn_relu", True),
    "lstm": ("lstm", True),
    "gru": ("gru", True),
    "gru_nobias": ("gru", False),
}
LAYERED = {  # file name -> (module, layers, bidirectional, bias); seed 100 + position
    "rnn_tanh_3layers": ("rnn_tanh", 3, False, True),
    "lstm_3layers": ("lstm", 3, False, True),
    "gru_3layers": ("gru", 3, False, True),
    "rnn_tanh_bi2": ("rnn_tanh", 2, True, True),
    "lstm_bi2": ("lstm", 2, True, True),
    "gru_bi2_nobias": ("gru", 2, True, False),
}
LAYERED_SIZES = (3, 4, 6)  # D, H, T
RANDOM_MODULES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
RANDOM_SEEDS = range(3)
SAVED_SEED = 0


def make_module(name, input_size, hidden, bias=True, layers=1, bidirectional=False):
    """A float64 module: 'rnn_tanh', 'rnn_relu', 'lstm' or 'gru', one layer by default."""
    shape = dict(bias=bias, num_layers=layers, bidirectional=bidirectional)
    if name.startswith("rnn_"):
        module = torch.nn.RNN(input_size, hidden, nonlinearity=name[4:], **shape)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name](input_size, hidden, **shape)
    return module.to(torch.float64)


def run(module, inputs, h0, c0=None):
    """PyTorch's states after each step from `inputs` (T, D) and h0 (H,) (c0 for an LSTM).

    Returns {'h': (T, H)} and, for an LSTM, 'c': (T, H), as numpy arrays.
    """
    is_lstm = isinstance(module, torch.nn.LSTM)
    state0 = (h0[None, None], c0[None, None]) if is_lstm else h0[None, None]
    state, hs, cs = state0, [], []
    with torch.no_grad():
        for x in inputs:
            _, state = module(x[None, None, :], state)
            hs.append((state[0] if is_lstm else state)[0, 0])
            if is_lstm:
                cs.append(state[1][0, 0])
        whole, last = module(inputs[:, None, :], state0)
    h = torch.stack(hs)
    # Relative: a relu RNN with enlarged weights grows far past 1.
    size = max(1.0, h.abs().max().item())
    gap = (whole[:, 0] - h).abs().max().item()
    assert gap <= 1e-14 * size, f"stepwise and whole-sequence runs differ by {gap}"
    if not is_lstm:
        return {"h": h.numpy()}
    c = torch.stack(cs)
    assert (last[1][0, 0] - c[-1]).abs().max().item() <= 1e-14 * max(1.0, c.abs().max().item())
    return {"h": h.numpy(), "c": c.numpy()}


def fixed_case(seed, module_name, bias):
    """(state_dict, run arrays) of one module of input size 3 and hidden size 5."""
    torch.manual_seed(seed)
    module = make_module(module_name, INPUT_SIZE, HIDDEN, bias)
    inputs = torch.randn(STEPS, INPUT_SIZE, dtype=torch.float64)
    h0 = torch.randn(HIDDEN, dtype=torch.float64)
    c0 = torch.randn(HIDDEN, dtype=torch.float64)
    is_lstm = module_name == "lstm"
    arrays = {"inputs": inputs.numpy(), "h0": h0.numpy()}
    if is_lstm:
        arrays["c0"] = c0.numpy()
    arrays.update(run(module, inputs, h0, c0 if is_lstm else None))
    return state_dict_arrays(module), arrays


def layered_case(seed, module_name, layers, bidirectional, bias, sizes=LAYERED_SIZES):
    """(state_dict, run arrays) of a stacked or bidirectional module of sizes (D, H, T).

    PyTorch's initial weights; inputs, h0 and c0 standard normal. The run arrays: 'inputs'
    (T, D), 'h0' (L*dirs, H), 'output' (T, dirs*H), 'h_n' (L*dirs, H) and, for 'lstm', 'c0',
    'c_n' (L*dirs, H).
    """
    input_size, hidden, steps = sizes
    dirs = 2 if bidirectional else 1
    torch.manual_seed(seed)
    module = make_module(module_name, input_size, hidden, bias, layers, bidirectional)
    inputs = torch.randn(steps, input_size, dtype=torch.float64)
    h0 = torch.randn(layers * dirs, hidden, dtype=torch.float64)
    c0 = torch.randn(layers * dirs, hidden, dtype=torch.float64)
    is_lstm = module_name == "lstm"
    with torch.no_grad():
        output, last = module(inputs, (h0, c0) if is_lstm else h0)
    h_n = last[0] if is_lstm else last
    # output is the top layer's h: its last row (forwards) and first row (backwards) are h_n's.
    assert torch.equal(output[-1, :hidden], h_n[-dirs])
    if bidirectional:
        assert torch.equal(output[0, hidden:], h_n[-1])
    arrays = {"inputs": inputs.numpy(), "h0": h0.numpy(), "output": output.numpy(),
              "h_n": h_n.numpy()}
    if is_lstm:
        arrays.update(c0=c0.numpy(), c_n=last[1].numpy())
    taus = (steps // 2, steps)
    arrays.update(output_steps=np.array(taus), input_jacobians=input_jacobians(
        module, inputs, taus).numpy())
    if not bidirectional:
        depth_steps = (steps, steps - 1, 1)
        arrays.update(depth_steps=np.array(depth_steps), depth_jacobians=depth_jacobians(
            module, module_name, bias, inputs, depth_steps).numpy())
    return state_dict_arrays(module), arrays


def input_jacobians(module, inputs, taus):
    """d output[tau] / d inputs (out, T, D) for each tau in `taus` (1-based), from zero initial
    states: (len(taus), out, T, D)."""
    jacobian = torch.autograd.functional.jacobian(lambda x: module(x)[0], inputs)  # (T, out, T, D)
    return jacobian[[tau - 1 for tau in taus]]


def depth_jacobians(module, module_name, bias, inputs, steps):
    """d s^(L-1)_T / d s^(l)_t (n, n) for every layer l and each t in `steps` (1-based), from
    zero initial states: (L, len(steps), n, n), s = h, or (h, c) for an LSTM.

    Layer l's state at step t is perturbed after it is computed, so the perturbation reaches
    the top state at T along every path: up through layers l+1.. at step t (they read layer
    l's h) and along every layer's recurrence. The layers run one step at a time as one-layer
    modules holding the stacked module's weights, with a perturbation eps[l, t] (zero) added to
    each state; the Jacobian is the top state's with respect to eps. The unperturbed run must
    end in the module's own h_n.
    """
    layers, hidden = module.num_layers, module.hidden_size
    is_lstm = module_name == "lstm"
    own = module.state_dict()
    singles = []
    for l in range(layers):
        single = make_module(module_name, module.input_size if l == 0 else hidden, hidden, bias)
        single.load_state_dict({key: own[key[:-1] + str(l)] for key in single.state_dict()})
        singles.append(single)
    n = 2 * hidden if is_lstm else hidden
    T = len(inputs)

    def top_state(eps):  # eps (L, T, n)
        states = [torch.zeros(n, dtype=torch.float64) for _ in range(layers)]
        for t in range(T):
            x = inputs[t]
            for l, single in enumerate(singles):
                s = states[l]
                state = (s[None, None, :hidden], s[None, None, hidden:]) if is_lstm \
                    else s[None, None]
                _, new = single(x[None, None], state)
                s = (torch.cat([new[0][0, 0], new[1][0, 0]]) if is_lstm else new[0, 0])
                states[l] = s + eps[l, t]
                x = states[l][:hidden]
        return states[-1]

    zero = torch.zeros(layers, T, n, dtype=torch.float64)
    with torch.no_grad():
        _, last = module(inputs)
        reached = top_state(zero)
    assert torch.allclose(reached[:hidden], (last[0] if is_lstm else last)[-1], rtol=0,
                          atol=1e-14)
    jacobian = torch.autograd.functional.jacobian(top_state, zero)  # (n, L, T, n)
    return jacobian.permute(1, 2, 0, 3)[:, [t - 1 for t in steps]]


def random_case(module_name, seed):
    """One module of random sizes: its state_dict, inputs, initial state and PyTorch's states.

    H in [1, 11], D in [1, 7], T in [1, 19] drawn by numpy's default_rng(seed); biases for even
    seeds only; PyTorch's initial weights multiplied by 3 (trained weights are larger than its
    uniform(+-1/sqrt(H)) init); inputs, h0 and c0 standard normal. Returns one dict of arrays:
    the state_dict's keys, 'inputs' (T, D), 'h0' (H,), 'h' (T, H) and, for 'lstm', 'c0', 'c'.
    """
    rng = np.random.default_rng(seed)
    hidden, input_size, steps = (int(v) for v in rng.integers([1, 1, 1], [12, 8, 20]))
    torch.manual_seed(seed)
    module = make_module(module_name, input_size, hidden, bias=seed % 2 == 0)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(3.0)
    inputs = torch.randn(steps, input_size, dtype=torch.float64)
    h0 = torch.randn(hidden, dtype=torch.float64)
    c0 = torch.randn(hidden, dtype=torch.float64)
    is_lstm = module_name == "lstm"
    arrays = {**state_dict_arrays(module), "inputs": inputs.numpy(), "h0": h0.numpy()}
    if is_lstm:
        arrays["c0"] = c0.numpy()
    arrays.update(run(module, inputs, h0, c0 if is_lstm else None))
    return arrays


def saved_by_gradflow_case(seed, input_size=4, hidden=6, steps=9):
    """A GRU whose parameters gradflow saves and PyTorch loads back (strict) and runs.

    The parameters are drawn by numpy (uniform(+-3/sqrt(H)), gradflow's unsuffixed names), not
    by PyTorch, so that the file PyTorch reads is gradflow's from the start. Returns one dict:
    'params/<name>', 'state_dict/<key>' (what the module holds after loading), 'inputs' (T, D),
    'h0' (H,) and PyTorch's states 'h' (T, H).
    """
    rng = np.random.default_rng(seed)
    bound = 3.0 / np.sqrt(hidden)
    shapes = {"weight_ih": (3 * hidden, input_size), "weight_hh": (3 * hidden, hidden),
              "bias_ih": (3 * hidden,), "bias_hh": (3 * hidden,)}
    params = {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}
    inputs = rng.standard_normal((steps, input_size))
    h0 = rng.standard_normal(hidden)
    module = make_module("gru", input_size, hidden)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.npz"
        save_weights(path, params)
        with np.load(path, allow_pickle=False) as data:
            module.load_state_dict({k: torch.from_numpy(data[k]) for k in data}, strict=True)
    loaded = state_dict_arrays(module)
    # What PyTorch loaded is what gradflow was given: a wrong save fails here, not in the data.
    assert sorted(loaded) == sorted(f"{name}_l0" for name in params)
    assert all(np.array_equal(loaded[f"{name}_l0"], value) for name, value in params.items())
    states = run(module, torch.from_numpy(inputs), torch.from_numpy(h0))
    return {**{f"params/{k}": v for k, v in params.items()},
            **{f"state_dict/{k}": v for k, v in loaded.items()},
            "inputs": inputs, "h0": h0, "h": states["h"]}


def state_dict_arrays(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def fixtures():
    """Every file this script writes: {file name: {key: array}}."""
    version = np.array(torch.__version__)
    files = {}
    for seed, (name, (module_name, bias)) in enumerate(FIXED.items()):
        state_dict, arrays = fixed_case(seed, module_name, bias)
        files[f"torch_{name}.npz"] = state_dict
        files[f"torch_{name}_run.npz"] = {**arrays, "torch_version": version}
    for position, (name, spec) in enumerate(LAYERED.items()):
        state_dict, arrays = layered_case(100 + position, *spec)
        files[f"torch_{name}.npz"] = state_dict
        files[f"torch_{name}_run.npz"] = {**arrays, "torch_version": version}
    files["torch_random_sizes.npz"] = {
        f"{module_name}/seed{seed}/{key}": value
        for module_name in RANDOM_MODULES for seed in RANDOM_SEEDS
        for key, value in random_case(module_name, seed).items()} | {"torch_version": version}
    files["torch_saved_by_gradflow.npz"] = {**saved_by_gradflow_case(SAVED_SEED),
                                            "torch_version": version}
    return files


def main():
    for name, arrays in fixtures().items():
        np.savez(HERE / name, **arrays)
        print(f"{name}: {len(arrays)} arrays; torch {torch.__version__}")


if __name__ == "__main__":
    main()
