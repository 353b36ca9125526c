"""Independent oracles for the built-in cells, written in plain numpy for the tests only.

Forward passes follow the seed notes' formulas literally: each gate is W_gate [h, x] + b_gate
with the recurrent and input weights stacked side by side and an explicit concatenation [h, x];
the logistic function is 1 / (1 + exp(-a)). Step Jacobians are the closed forms derived by hand
(DESIGN.md, "The mathematics"); none of this calls gradflow.
"""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _gate(params, k, H):
    """Stacked weight [W_hh_k, W_ih_k] (H, H + D) and summed bias of gate block k."""
    rows = slice(k * H, (k + 1) * H)
    W = np.hstack([params["weight_hh"][rows], params["weight_ih"][rows]])
    return W, params["bias_ih"][rows] + params["bias_hh"][rows]


def _hidden(params):
    return params["weight_hh"].shape[1]


PHI = {"tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2),
       "relu": (lambda a: np.maximum(a, 0), lambda a: (a > 0).astype(float)),
       "linear": (lambda a: a, lambda a: np.ones_like(a))}


def rnn_forward(params, h, x, activation="tanh"):
    W, b = _gate(params, 0, _hidden(params))
    return PHI[activation][0](W @ np.concatenate([h, x]) + b)


def rnn_jacobian(params, h, x, activation="tanh"):
    W, b = _gate(params, 0, _hidden(params))
    a = W @ np.concatenate([h, x]) + b
    return np.diag(PHI[activation][1](a)) @ params["weight_hh"]


def _lstm_parts(params, s, x):
    H = _hidden(params)
    h, c = s[:H], s[H:]
    hx = np.concatenate([h, x])
    pre = [_gate(params, k, H) for k in range(4)]
    i, f, g, o = (sigmoid(pre[0][0] @ hx + pre[0][1]), sigmoid(pre[1][0] @ hx + pre[1][1]),
                  np.tanh(pre[2][0] @ hx + pre[2][1]), sigmoid(pre[3][0] @ hx + pre[3][1]))
    c_new = f * c + i * g
    return H, h, c, i, f, g, o, c_new


def lstm_forward(params, s, x):
    _, _, _, _, _, _, o, c_new = _lstm_parts(params, s, x)
    return np.concatenate([o * np.tanh(c_new), c_new])


def lstm_jacobian(params, s, x):
    """The 2H x 2H Jacobian of (h_t, c_t) with respect to (h_{t-1}, c_{t-1})."""
    H, h, c, i, f, g, o, c_new = _lstm_parts(params, s, x)
    Wi, Wf, Wg, Wo = (params["weight_hh"][k * H:(k + 1) * H] for k in range(4))
    dc_dh = (np.diag(c * f * (1 - f)) @ Wf + np.diag(g * i * (1 - i)) @ Wi
             + np.diag(i * (1 - g ** 2)) @ Wg)
    dc_dc = np.diag(f)
    tc = np.tanh(c_new)
    dh_dh = np.diag(tc * o * (1 - o)) @ Wo + np.diag(o * (1 - tc ** 2)) @ dc_dh
    dh_dc = np.diag(o * (1 - tc ** 2) * f)
    return np.block([[dh_dh, dh_dc], [dc_dh, dc_dc]])


def _gru_rz(params, h, x):
    H = _hidden(params)
    hx = np.concatenate([h, x])
    (Wr, br), (Wz, bz) = _gate(params, 0, H), _gate(params, 1, H)
    return H, sigmoid(Wr @ hx + br), sigmoid(Wz @ hx + bz)


def gru_forward(params, h, x):
    """Cho et al. 2014: h~ = tanh(W [r * h, x] + b), h' = (1 - z) h + z h~."""
    H, r, z = _gru_rz(params, h, x)
    Wn, bn = _gate(params, 2, H)
    n = np.tanh(Wn @ np.concatenate([r * h, x]) + bn)
    return (1 - z) * h + z * n


def gru_jacobian(params, h, x):
    H, r, z = _gru_rz(params, h, x)
    Wn, bn = _gate(params, 2, H)
    n = np.tanh(Wn @ np.concatenate([r * h, x]) + bn)
    Whr, Whz, Whn = (params["weight_hh"][k * H:(k + 1) * H] for k in range(3))
    d_rh = np.diag(r) + np.diag(h * r * (1 - r)) @ Whr
    return (np.diag(1 - z) + np.diag((n - h) * z * (1 - z)) @ Whz
            + np.diag(z * (1 - n ** 2)) @ Whn @ d_rh)


def gru_torch_forward(params, h, x):
    """PyTorch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h."""
    H, r, z = _gru_rz(params, h, x)
    rec = params["weight_hh"][2 * H:] @ h + params["bias_hh"][2 * H:]
    n = np.tanh(params["weight_ih"][2 * H:] @ x + params["bias_ih"][2 * H:] + r * rec)
    return (1 - z) * n + z * h


def gru_torch_jacobian(params, h, x):
    H, r, z = _gru_rz(params, h, x)
    Whr, Whz, Whn = (params["weight_hh"][k * H:(k + 1) * H] for k in range(3))
    rec = Whn @ h + params["bias_hh"][2 * H:]
    n = np.tanh(params["weight_ih"][2 * H:] @ x + params["bias_ih"][2 * H:] + r * rec)
    dn = np.diag(1 - n ** 2) @ (np.diag(r) @ Whn + np.diag(rec * r * (1 - r)) @ Whr)
    return np.diag(z) + np.diag((h - n) * z * (1 - z)) @ Whz + np.diag(1 - z) @ dn


# name -> (gate blocks G, state blocks, forward, jacobian)
ORACLES = {
    "rnn": (1, 1, rnn_forward, rnn_jacobian),
    "rnn_relu": (1, 1, lambda p, h, x: rnn_forward(p, h, x, "relu"),
                 lambda p, h, x: rnn_jacobian(p, h, x, "relu")),
    "rnn_linear": (1, 1, lambda p, h, x: rnn_forward(p, h, x, "linear"),
                   lambda p, h, x: rnn_jacobian(p, h, x, "linear")),
    "lstm": (4, 2, lstm_forward, lstm_jacobian),
    "gru": (3, 1, gru_forward, gru_jacobian),
    "gru_torch": (3, 1, gru_torch_forward, gru_torch_jacobian),
}


def random_params(name, H, D, rng, scale=1.0, bias_scale=0.5):
    """Random parameters of every block (biases non-zero too), drawn in the test."""
    G = ORACLES[name][0]
    return {"weight_ih": rng.standard_normal((G * H, D)) / np.sqrt(D),
            "weight_hh": scale * rng.standard_normal((G * H, H)) / np.sqrt(H),
            "bias_ih": bias_scale * rng.standard_normal(G * H),
            "bias_hh": bias_scale * rng.standard_normal(G * H)}


def oracle_trajectory(name, params, inputs, s0):
    """States s_0..s_T and step Jacobians J_1..J_T from the oracle forward and closed forms."""
    _, _, forward, jacobian = ORACLES[name]
    states, jacs = [np.asarray(s0, float)], []
    for x in inputs:
        jacs.append(jacobian(params, states[-1], x))
        states.append(forward(params, states[-1], x))
    return np.array(states), jacs


def explicit_products(jacs):
    """P_d = J_T J_{T-1} ... J_{T-d+1} for d = 1..T, multiplied out explicitly."""
    out, P = [], None
    for J in reversed(jacs):
        P = J if P is None else P @ J
        out.append(P)
    return out
