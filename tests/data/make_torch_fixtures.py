"""Make the PyTorch fixtures in this folder: the independent oracle for `gradflow.weights`.

Run once by hand, in an environment with torch (never by the test suite, which reads the files):

    python tests/data/make_torch_fixtures.py

For each module (input size 3, hidden size 5, float64, seeded) it writes
- torch_<name>.npz: the module's state_dict exactly as a user saves it,
  np.savez(path, **{k: v.numpy() for k, v in module.state_dict().items()});
- torch_<name>_run.npz: `inputs` (7, 3), the initial state `h0` (5,) (and `c0` for the LSTM), and
  the states PyTorch computes from them, `h` (7, 5) (and `c` (7, 5) for the LSTM).
The state_dict lives in a file of its own because `load_weights` rejects keys a state_dict does
not have. The LSTM is run one step at a time so that its cell state c_t is seen at every step;
the script checks that the stepwise run equals the module's run over the whole sequence.
"""

from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
INPUT_SIZE, HIDDEN, STEPS = 3, 5, 7
MODULES = {
    "rnn_tanh": lambda: torch.nn.RNN(INPUT_SIZE, HIDDEN, nonlinearity="tanh"),
    "rnn_relu": lambda: torch.nn.RNN(INPUT_SIZE, HIDDEN, nonlinearity="relu"),
    "lstm": lambda: torch.nn.LSTM(INPUT_SIZE, HIDDEN),
    "gru": lambda: torch.nn.GRU(INPUT_SIZE, HIDDEN),
    "gru_nobias": lambda: torch.nn.GRU(INPUT_SIZE, HIDDEN, bias=False),
}


def run(module, inputs, state0):
    """States after each step, (T, H) each, fed one step at a time; checked against one call."""
    is_lstm = isinstance(module, torch.nn.LSTM)
    state, hs, cs = state0, [], []
    for x in inputs:
        _, state = module(x[None, None, :], state)
        hs.append((state[0] if is_lstm else state)[0, 0])
        if is_lstm:
            cs.append(state[1][0, 0])
    whole, last = module(inputs[:, None, :], state0)
    gap = (whole[:, 0] - torch.stack(hs)).abs().max().item()
    assert gap < 1e-14, f"stepwise and whole-sequence runs differ by {gap}"
    if is_lstm:
        assert (last[1][0, 0] - cs[-1]).abs().max().item() < 1e-14
    return torch.stack(hs), (torch.stack(cs) if is_lstm else None)


def main():
    for seed, (name, make) in enumerate(MODULES.items()):
        torch.manual_seed(seed)
        module = make().to(torch.float64)
        inputs = torch.randn(STEPS, INPUT_SIZE, dtype=torch.float64)
        h0 = torch.randn(1, 1, HIDDEN, dtype=torch.float64)
        c0 = torch.randn(1, 1, HIDDEN, dtype=torch.float64)
        is_lstm = isinstance(module, torch.nn.LSTM)
        with torch.no_grad():
            h, c = run(module, inputs, (h0, c0) if is_lstm else h0)
        np.savez(HERE / f"torch_{name}.npz",
                 **{k: v.numpy() for k, v in module.state_dict().items()})
        arrays = {"inputs": inputs.numpy(), "h0": h0[0, 0].numpy(), "h": h.numpy()}
        if is_lstm:
            arrays.update(c0=c0[0, 0].numpy(), c=c.numpy())
        np.savez(HERE / f"torch_{name}_run.npz", **arrays)
        print(f"torch_{name}.npz: {sorted(module.state_dict())}; torch {torch.__version__}")


if __name__ == "__main__":
    main()
