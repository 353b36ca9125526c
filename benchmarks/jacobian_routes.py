"""The routes `bench_jacobians.py` times: the same problem solved by gradflow and by its peers.

Every route computes, for distances d = 1..T, the log10 spectral and Frobenius norms of
P_d = ds_T/ds_{T-d}, the log10 norm of the pulled-back loss vector g P_d (g = (1, ..., 1) /
sqrt(n), gradflow's default) and, for the LSTM, the spectral and Frobenius norms of the 'h' and
'c' diagonal blocks: the columns of `COLUMNS`, an array (T, len(columns)) per route, compared
entry by entry with gradflow's before anything is timed.

- gradflow: `gradient_flow` (public API), forward unroll included.
- JAX (optional): forward by `lax.scan`, `jit(vmap(jacfwd(step)))` over all T states, the
  product chain rescaled to unit Frobenius norm at every step (log10 scale carried apart), and
  `jnp.linalg.norm(P, 2)` per distance; one jitted function, float64 (jax_enable_x64).
- torch.func (optional): forward loop, `vmap(jacfwd(step))` over all states, the same chain in
  eager mode with `torch.linalg.matrix_norm(P, 2)`, float64.
- autograd (the naive route): per distance, autograd's reverse-mode `jacobian` of the cell,
  the product and `np.linalg.norm(P, 2)`; only the first few distances (it is slow).

The peer cells are the same equations as `gradflow/cells/builtin.py` (and as the user cell
below), on the same weights, written column-wise (W @ s) as a JAX or torch user would.
"""

import math
from types import SimpleNamespace

import autograd.numpy as anp
import numpy as np
from autograd import jacobian

from gradflow.engine.jacobians import gradient_flow

USER = "user (MGU)"


def columns(blocks):
    """Names of the compared quantities, in the order of every route's (T, k) array."""
    names = ["spectral", "frobenius", "loss"]
    for block in blocks:
        names += [f"{block} spectral", f"{block} frobenius"]
    return names


# --- a cell written by a user -------------------------------------------------------------------

def mgu(params, h, x):
    """Minimal gated unit (Zhou, Wu, Zhang & Zhou 2016), as a user writes it in autograd.numpy:
    f = sig(W_f h + U_f x + b_f), h~ = tanh(W_h (f h) + U_h x + b_h), h' = (1 - f) h + f h~.
    Row convention (h (..., H) @ W.T), so gradflow's batched tangents pass through it."""
    f = 1.0 / (1.0 + anp.exp(-(anp.dot(h, params["W_f"].T) + anp.dot(x, params["U_f"].T)
                                + params["b_f"])))
    cand = anp.tanh(anp.dot(f * h, params["W_h"].T) + anp.dot(x, params["U_h"].T)
                    + params["b_h"])
    return (1.0 - f) * h + f * cand


def mgu_params(H, D, seed=0):
    """Weights of the user cell: W ~ N(0, 1/H), U ~ N(0, 1/D), b ~ N(0, 0.1^2); the initial
    state h_0 ~ N(0, 0.1^2), passed explicitly (a user cell says nothing of its state)."""
    rng = np.random.default_rng(seed)
    params = {"W_f": rng.standard_normal((H, H)) / math.sqrt(H),
              "W_h": rng.standard_normal((H, H)) / math.sqrt(H),
              "U_f": rng.standard_normal((H, D)) / math.sqrt(D),
              "U_h": rng.standard_normal((H, D)) / math.sqrt(D),
              "b_f": 0.1 * rng.standard_normal(H), "b_h": 0.1 * rng.standard_normal(H)}
    return params, 0.1 * rng.standard_normal(H)


# --- the same cells for JAX and torch ----------------------------------------------------------

def peer_step(name, p, ops):
    """`step(s (n,), x (D,)) -> (n,)`: gradflow's cell `name` ('rnn', 'lstm', 'gru' or USER) on
    the weights `p` (arrays of the peer library), with `ops` = (tanh, sigmoid, cat)."""
    tanh, sig, cat = ops.tanh, ops.sigmoid, ops.cat
    if name == USER:
        def user(h, x):
            f = sig(p["W_f"] @ h + p["U_f"] @ x + p["b_f"])
            return (1.0 - f) * h + f * tanh(p["W_h"] @ (f * h) + p["U_h"] @ x + p["b_h"])
        return user
    H = p["weight_hh"].shape[1]
    W_ih, W_hh, b_ih, b_hh = p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]

    def rnn(s, x):
        return tanh(W_ih @ x + b_ih + W_hh @ s + b_hh)

    def lstm(s, x):  # gates i, f, g, o; c' = f c + i g, h' = o tanh(c')
        h, c = s[:H], s[H:]
        a = W_ih @ x + b_ih + W_hh @ h + b_hh
        i, f, g, o = sig(a[:H]), sig(a[H:2 * H]), tanh(a[2 * H:3 * H]), sig(a[3 * H:])
        c_new = f * c + i * g
        return cat([o * tanh(c_new), c_new])

    def gru(s, x):  # Cho's GRU, reset before the recurrent matmul; h' = h + z (h~ - h)
        gi = W_ih @ x + b_ih
        r = sig(gi[:H] + W_hh[:H] @ s + b_hh[:H])
        z = sig(gi[H:2 * H] + W_hh[H:2 * H] @ s + b_hh[H:2 * H])
        n = tanh(gi[2 * H:] + W_hh[2 * H:] @ (r * s) + b_hh[2 * H:])
        return s + z * (n - s)

    return {"rnn": rnn, "lstm": lstm, "gru": gru}[name]


def jax_route(name, params, blocks, n):
    """`flow(inputs (T, D), state0 (n,)) -> (T, k) numpy` by JAX; see the module docstring."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    step = peer_step(name, {k: jnp.asarray(v) for k, v in params.items()},
                     SimpleNamespace(tanh=jnp.tanh, sigmoid=jax.nn.sigmoid, cat=jnp.concatenate))
    g = jnp.full(n, 1.0 / math.sqrt(n))
    jacobians = jax.vmap(jax.jacfwd(step))

    def forward(s, x):
        s = step(s, x)
        return s, s

    def backward(carry, J):
        P, scale = carry
        P = P @ J
        frob = jnp.linalg.norm(P)
        P, scale = P / frob, scale + jnp.log10(frob)
        row = [jnp.log10(jnp.linalg.norm(P, 2)) + scale, scale,
               jnp.log10(jnp.linalg.norm(g @ P)) + scale]
        for sl in blocks.values():
            B = P[sl, sl]
            row += [jnp.log10(jnp.linalg.norm(B, 2)) + scale, jnp.log10(jnp.linalg.norm(B)) + scale]
        return (P, scale), jnp.stack(row)

    @jax.jit
    def flow(inputs, state0):
        _, states = jax.lax.scan(forward, state0, inputs)
        states = jnp.concatenate([state0[None], states])
        Js = jacobians(states[:-1], inputs)  # (T, n, n): J_t = ds_{t+1}/ds_t
        _, out = jax.lax.scan(backward, (jnp.eye(n), jnp.zeros(())), Js[::-1])
        return out

    return lambda inputs, state0: np.asarray(flow(inputs, state0))


def torch_route(name, params, blocks, n):
    """`flow(inputs (T, D), state0 (n,)) -> (T, k) numpy` by torch.func; see the docstring."""
    import torch
    from torch.func import jacfwd, vmap

    step = peer_step(name, {k: torch.as_tensor(v, dtype=torch.float64)
                            for k, v in params.items()},
                     SimpleNamespace(tanh=torch.tanh, sigmoid=torch.sigmoid, cat=torch.cat))
    g = torch.full((n,), 1.0 / math.sqrt(n), dtype=torch.float64)
    jacobians = vmap(jacfwd(step))
    norm = torch.linalg.matrix_norm

    def flow(inputs, state0):
        xs = torch.as_tensor(inputs, dtype=torch.float64)
        with torch.no_grad():
            states = [torch.as_tensor(state0, dtype=torch.float64)]
            for x in xs:
                states.append(step(states[-1], x))
            states = torch.stack(states)
        Js = jacobians(states[:-1], xs)
        P, scale, rows = torch.eye(n, dtype=torch.float64), 0.0, []
        for J in Js.flip(0):
            P = P @ J
            frob = norm(P)
            P, scale = P / frob, scale + torch.log10(frob)
            row = [torch.log10(norm(P, 2)) + scale, scale,
                   torch.log10(torch.linalg.vector_norm(g @ P)) + scale]
            for sl in blocks.values():
                B = P[sl, sl]
                row += [torch.log10(norm(B, 2)) + scale, torch.log10(norm(B)) + scale]
            rows.append(torch.stack(row))
        return torch.stack(rows).numpy()

    return flow


def gradflow_route(cell, params, blocks, state0):
    """`flow(inputs, state0) -> (T, k)` by `gradient_flow`, with the arrays in column order."""
    def flow(inputs, state0=state0):
        out = gradient_flow(cell, params, inputs, state0)
        cols = [out.log10_spectral_norm, out.log10_frobenius_norm, out.log10_loss_gradient_norm]
        for block in blocks:
            cols += [out.blocks[block].log10_spectral_norm, out.blocks[block].log10_frobenius_norm]
        return np.stack(cols, axis=1)

    return flow


def autograd_route(cell, params, blocks, states, inputs, steps):
    """`flow() -> (steps, k)`: the first `steps` distances by autograd's reverse-mode
    `jacobian`, the product and `np.linalg.norm(P, 2)` (no rescaling: few distances)."""
    T, n = len(inputs), states.shape[-1]
    g = np.full(n, 1.0 / math.sqrt(n))

    def flow():
        rows, P = [], None
        for d in range(1, steps + 1):
            t = T - d
            J = jacobian(lambda s: cell(params, s, inputs[t]))(states[t])
            P = J if P is None else P @ J
            row = [np.linalg.norm(P, 2), np.linalg.norm(P), np.linalg.norm(g @ P)]
            for sl in blocks.values():
                row += [np.linalg.norm(P[sl, sl], 2), np.linalg.norm(P[sl, sl])]
            rows.append(np.log10(row))
        return np.array(rows)

    return flow


def gradflow_jacobians(cell, params, states, inputs):
    """`run()` computing all T step Jacobians the way `gradient_flow` does (chunks of K steps
    in one forward-mode call, `step_jacobians`), or None when this engine has no such piece."""
    try:
        from gradflow.engine.jacobians import chunk_steps, step_jacobians
        from gradflow.engine.linearization import Linearization
        from gradflow.engine.unroll import Trajectory
    except ImportError:
        return None
    trajectory = Trajectory(np.asarray(states))
    K = chunk_steps(trajectory[0].shape[-1])

    def run():
        linear = Linearization(cell, params)
        for _ in step_jacobians(linear, trajectory, inputs, K):
            pass

    return run
