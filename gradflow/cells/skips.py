"""Skip connections in time as cell transformers: each takes a cell and returns a cell.

A transformed cell is a cell like any other, `cell(params, state, x) -> state` over arrays of
shape (..., n), so every part of gradflow takes it unchanged: parameter initialisation,
`gradient_flow`, Lyapunov spectra, the pairwise picture, training and the command line. Let f be
the base cell, s its state (n entries: h for the RNN and GRU, (h, c) for the LSTM, whatever a
user's cell keeps) and x the input. The connections act on the whole state s:

- `residual(f)`:          s_t = s_{t-1} + f(s_{t-1}, x_t)
- `skip(f, k, b)`:        s_t = f(s_{t-1}, x_t) + B s_{t-k},               B = b I at init
- `dense(f, k, b)`:       s_t = f(s_{t-1}, x_t) + sum_{j=1..k} B_j s_{t-j}, B_j = (b / k) I
- `highway(f, bias)`:     s_t = g * f(s_{t-1}, x_t) + (1 - g) * s_{t-1},
                          g = sigmoid(W_g s_{t-1} + U_g x_t + b_g),         b_g = bias at init

Connections nest, each acting on the whole state of the cell it wraps: in skip(skip(f, 2), 3)
the outer B (2n x 2n) acts on the inner state (s_t, s_{t-1}); for several lags on s itself use
dense:K. A connection around one of its own kind names its parameters with a suffix
('skip_weight_2', 'highway_bias_2', ...), and ds_T/ds_t is still that of s, the base cell's
state.

`skip` and `dense` reach back k steps, so they are made Markov by augmenting the state with the
last k states: the transformed cell's state is a_t = (s_t, s_{t-1}, ..., s_{t-k+1}), k n
entries, and its Jacobian is block-sparse (the step's own block, the B blocks, and a shift of
identities). Such a cell says so, so that the engine differentiates only f (n tangents, not
k n: `gradflow.engine.linearization`): `lag` = k, `base` = f, `base_size(params)` = n, and
`link(params, a)` (..., n), the connection's own term, linear in the augmented state and free
of x, with

    step(params, a, x) = (f(params, a[..., :n], x) + link(params, a), a[..., :(k - 1) n]),

so that its Jacobian has the top block row [J_f, 0, ..., 0] + d link / d a over the shift.
The product of augmented Jacobians has, as its top-left n x n block, the exact total
derivative ds_T/ds_t: s_t perturbed alone, every path to s_T counted. Each transformed cell
says where that block is (`primary`), and gradflow reports it as "ds_T/ds_t", carrying only
the product's n rows of s_T; the whole augmented product (k times the cost) is reported when
asked for as the block 'augmented' (`gradient_flow(..., blocks={"augmented": slice(None)})`).

f is always the base cell's whole update, for every cell alike: the residual LSTM adds
o * tanh(c_t) to h and f * c + i * g to c; the residual GRU adds (1 - z) h + z h~ to h. A gated
cell's update already carries its state (the LSTM's c, the GRU's h), so around it the residual
connection doubles the carry and the state grows (|c_t| by about 1 + f per step): the residual
connection is the remedy for cells without a carry, the plain RNN above all, as in residual
RNNs. The connections of the literature differ in where they add (to h only, before or after
the gates); these are the simplest that work for every cell, and the equations above say
exactly which.

References:
  Srivastava, Greff & Schmidhuber (2015), Highway networks; Zilly et al. (2017), Recurrent
  highway networks. Lin, Horne, Tino & Giles (1996), Learning long-term dependencies in NARX
  recurrent neural networks. Huang et al. (2017), Densely connected convolutional networks.
"""

import autograd.numpy as anp
import numpy as np

from .ops import concat, dot, sigmoid

__all__ = ["residual", "skip", "dense", "highway", "transform", "SKIPS", "parse_skip"]

SKIPS = ("residual", "skip:K", "dense:K", "highway")


def _names(cell, *roles):
    """The connection's parameter names, one per role ('skip_weight', ...), made unique
    around a cell that already has them: a connection around another of its kind (skip:4
    around skip:2) names its own 'skip_weight_2', the next 'skip_weight_3', and so on."""
    taken, inner = set(), cell
    while inner is not None:
        taken |= set(getattr(inner, "param_names", {}).values())
        inner = getattr(inner, "base", None)
    level = 1
    while any(_level(role, level) in taken for role in roles):
        level += 1
    return {role: _level(role, level) for role in roles}


def _level(role, level):
    return role if level == 1 else f"{role}_{level}"


def _wrap(step, base, name, *, k=1, names=None, init_extra=None, settings=None, link=None):
    """Give `step` what gradflow asks of a cell: name, state size, blocks, initialisation,
    `settings`, the connection's options for the metadata of results, `param_names` (role ->
    the name of its parameter, see `_names`), and for an augmented state (k > 1) the
    connection's own term `link` (see the module's docstring)."""
    names = dict(names or {})
    extra = tuple(names.values())[:1]
    step.name = f"{getattr(base, 'name', getattr(base, '__name__', 'cell'))}+{name}"
    step.__name__ = step.name.replace("+", "_").replace(":", "")
    step.base, step.connection, step.lag = base, name, k
    step.gate_blocks = getattr(base, "gate_blocks", 1)
    step.state_blocks = getattr(base, "state_blocks", 1) * k
    step.activation = getattr(base, "activation", None)
    step.extra_params = extra  # the parameter that must be there (it gives the size)
    step.param_names = names
    step.settings = {"skip": name, **(settings or {})}

    def base_size(params):
        if hasattr(base, "state_size"):
            return base.state_size(params)
        if not extra:
            raise ValueError(f"cell {step.name} does not say its state size: give state0")
        return np.shape(params[extra[0]])[0]

    step.base_size = base_size
    step.state_size = lambda params: k * base_size(params)
    if k == 1:
        step.primary = base.primary if hasattr(base, "primary") else (lambda params: slice(None))
    else:
        def primary(params):  # s_t: the base cell's state leads the augmented one
            inner = base.primary(params) if hasattr(base, "primary") else slice(None)
            return slice(0, base_size(params)) if inner == slice(None) else inner

        step.primary = primary

    step.blocks = lambda params: dict(base.blocks(params)) if hasattr(base, "blocks") else {}
    step.init_extra = init_extra or (lambda params, hidden, input_size, rng: {})
    if k > 1 and link is not None:
        step.link = link
    return step


def residual(cell):
    """s_t = s_{t-1} + f(s_{t-1}, x_t): the identity path of a residual network, in time.

    No parameters of its own; the state is the base cell's.
    """
    def step(params, state, x):
        return state + cell(params, state, x)

    return _wrap(step, cell, "residual")


def skip(cell, k, scale=1.0):
    """s_t = f(s_{t-1}, x_t) + B s_{t-k} (a NARX / dilated connection of length k).

    B is the parameter 'skip_weight' (n, n), b I at initialisation (b = `scale`). The state is
    a_t = (s_t, ..., s_{t-k+1}), k n entries; k = 1 adds B s_{t-1} and needs no augmentation.
    """
    k = _lag(k)
    weight = _names(cell, "skip_weight")["skip_weight"]

    def link(params, state):
        n = np.shape(params[weight])[0]
        return dot(state[..., (k - 1) * n:k * n], params[weight].T)

    def step(params, state, x):
        n = np.shape(params[weight])[0]
        new = cell(params, state[..., :n], x) + link(params, state)
        return new if k == 1 else concat(new, state[..., :(k - 1) * n])

    def init_extra(params, hidden, input_size, rng):
        n = cell.state_size(params)
        return {weight: scale * np.eye(n)}

    return _wrap(step, cell, f"skip:{k}", k=k, names={"skip_weight": weight},
                 init_extra=init_extra, settings={"skip_scale": scale}, link=link)


def dense(cell, k, scale=1.0):
    """s_t = f(s_{t-1}, x_t) + sum_{j=1..k} B_j s_{t-j}: every one of the last k states feeds
    the new one directly (DenseNet's connections, in time).

    The B_j are the parameter 'dense_weight' (n, k n) = [B_1, ..., B_k], each (b / k) I at
    initialisation, so that their sum starts as b I. The state is a_t = (s_t, ..., s_{t-k+1}).
    """
    k = _lag(k)
    weight = _names(cell, "dense_weight")["dense_weight"]

    def link(params, state):
        return dot(state, params[weight].T)

    def step(params, state, x):
        n = np.shape(params[weight])[0]
        new = cell(params, state[..., :n], x) + link(params, state)
        return new if k == 1 else concat(new, state[..., :(k - 1) * n])

    def init_extra(params, hidden, input_size, rng):
        n = cell.state_size(params)
        return {weight: np.tile(scale / k * np.eye(n), (1, k))}

    return _wrap(step, cell, f"dense:{k}", k=k, names={"dense_weight": weight},
                 init_extra=init_extra, settings={"skip_scale": scale}, link=link)


def highway(cell, bias=-1.0):
    """s_t = g * f(s_{t-1}, x_t) + (1 - g) * s_{t-1}, g = sigmoid(W_g s_{t-1} + U_g x_t + b_g).

    The transform gate g decides, per unit and step, how much of the new state to take and how
    much of the old to carry (Srivastava et al. 2015; in time, Zilly et al. 2017). Parameters
    'highway_weight_hh' W_g (n, n) ~ N(0, 1/n), 'highway_weight_ih' U_g (n, D) ~ N(0, 1/D) and
    'highway_bias' b_g (n,) = `bias` at initialisation: a negative bias closes the gate and
    opens the carry (g -> 0 gives s_t = s_{t-1}, g -> 1 the base cell).
    """
    names = _names(cell, "highway_weight_hh", "highway_weight_ih", "highway_bias")
    w_hh, w_ih, b = names.values()

    def step(params, state, x):
        pre = dot(state, params[w_hh].T)
        if x is not None:  # a cell without input (a feed-forward layer) has no U_g
            pre = pre + anp.dot(x, params[w_ih].T)
        gate = sigmoid(pre + params[b])  # this order: the figures' last bits
        return state + gate * (cell(params, state, x) - state)

    def init_extra(params, hidden, input_size, rng):
        n = cell.state_size(params)
        extra = {w_hh: rng.standard_normal((n, n)) / np.sqrt(n)}
        if input_size:  # a cell without input (a feed-forward layer) has no U_g
            extra[w_ih] = rng.standard_normal((n, input_size)) / np.sqrt(input_size)
        # this key order: a global gradient norm sums the parameters in it, to the last bit
        return {**extra, b: np.full(n, float(bias))}

    return _wrap(step, cell, "highway", names=names, init_extra=init_extra,
                 settings={"highway_bias": bias})


def _lag(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"the lag k of a skip connection must be a positive integer, got {k!r}")
    return int(k)


def parse_skip(text):
    """'residual', 'skip:K', 'dense:K', 'highway' or 'none' -> (kind, k) with k None where it
    does not apply; None for 'none'. Raises ValueError naming the accepted forms."""
    forms = ", ".join(SKIPS)
    if text in (None, "none"):
        return None
    kind, _, lag = str(text).partition(":")
    if kind in ("residual", "highway") and not lag:
        return kind, None
    if kind in ("skip", "dense"):
        try:
            k = int(lag)
        except ValueError:
            raise ValueError(f"{text!r}: {kind} needs a lag K >= 1, as in {kind}:4") from None
        if k < 1:
            raise ValueError(f"{text!r}: the lag K must be at least 1")
        return kind, k
    raise ValueError(f"unknown skip connection {text!r}; choose from none, {forms}")


def transform(cell, spec, *, scale=1.0, highway_bias=-1.0):
    """The cell with the connection `spec` ('residual', 'skip:K', 'dense:K', 'highway',
    'none'/None), `scale` the b of skip and dense, `highway_bias` the highway gate's bias."""
    parsed = parse_skip(spec)
    if parsed is None:
        return cell
    kind, k = parsed
    if kind == "residual":
        return residual(cell)
    if kind == "highway":
        return highway(cell, highway_bias)
    return (skip if kind == "skip" else dense)(cell, k, scale)
