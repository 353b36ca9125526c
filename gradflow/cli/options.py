"""Options shared by the commands that compute decay profiles (`jacobians`, `plot decay`, ...)."""

import os
import zipfile

import click
import numpy as np

from ..analysis.decay import decay_profile
from ..analysis.depth import depth_map, sensitivity
from ..analysis.network import Network
from ..analysis.parameters import parameter_sensitivity
from ..cells.builtin import CELLS, RNN_ACTIVATIONS
from ..cells.initializers import INITS
from ..cells.layers import layered
from ..cells.skips import parse_skip
from ..engine.jacobians import state_rows
from ..engine.memory import available_bytes, format_bytes, needed_bytes
from ..engine.parameters import needed_bytes as parameter_bytes
from ..engine.parameters import parameter_groups
from .base import fail, given, one_line_errors, progress_bar, refuse
from .params import FINITE, FilePath

DEFAULT_CELLS = ("rnn", "lstm", "gru")


format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True, help="What to print on stdout: a table for people, or CSV / JSON for "
                            "programs (columns in the README).")


def _skip(ctx, param, value):
    """The --skip option: 'none' (None) or a connection `parse_skip` accepts; exit 2 else."""
    try:
        return None if parse_skip(value) is None else value
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


SKIP_OPTIONS = [
    click.option("--skip", default="none", show_default=True, callback=_skip,
                 metavar="none|residual|skip:K|dense:K|highway",
                 help="Skip connection in time around the cell: residual s_t = s_{t-1} + "
                      "f(s_{t-1}, x_t); skip:K adds B s_{t-K}; dense:K adds B_1 s_{t-1} + ... + "
                      "B_K s_{t-K}; highway gates between f and s_{t-1} (equations in the "
                      "README)."),
    click.option("--skip-scale", type=FINITE, default=1.0, show_default=True, metavar="B",
                 help="Initial skip weights: B = B I for skip:K, each B_j = (B / K) I for "
                      "dense:K."),
    click.option("--highway-bias", type=FINITE, default=-1.0, show_default=True, metavar="B",
                 help="Initial bias of the highway's transform gate; negative keeps more of "
                      "s_{t-1}."),
]


INIT_OPTIONS = [
    click.option("--init", type=click.Choice(INITS), default="gaussian", show_default=True,
                 help="Recurrent weights: gaussian N(0, scale^2/H), orthogonal x scale, "
                      "or identity x scale (IRNN); IndRNN's u: U(0, scale), +-scale, or "
                      "scale; minGRU and minLSTM have none."),
    click.option("--scale", type=FINITE, default=1.0, show_default=True, metavar="G",
                 help="Scale of the recurrent weights (gain; 1 is the edge of chaos for "
                      "the gaussian tanh RNN without inputs; for IndRNN the bound of |u|, "
                      "MAG^(1/T) in its authors' code)."),
    click.option("--forget-bias", type=FINITE, default=1.0, show_default=True, metavar="B",
                 help="Bias of the gate that keeps memory: the LSTM's and minLSTM's forget "
                      "gate, the GRU's and minGRU's update gate (signed so that larger keeps "
                      "more)."),
]


LAYER_OPTIONS = [
    click.option("--layers", type=click.IntRange(min=1), default=None, metavar="L",
                 help="Stacked layers of the cell (PyTorch's num_layers); with L > 1, "
                      "`jacobians` gives the depth x time map [default: 1, or the weights "
                      "file's]."),
    click.option("--bidirectional", is_flag=True,
                 help="Each layer also runs a cell backwards in time (PyTorch's "
                      "bidirectional=True); analysed by --wrt input."),
    click.option("--layer-residual", is_flag=True,
                 help="Identity connections between layers: from layer 1 on, a layer passes "
                      "up its output plus its input."),
]


def skip_options(command):
    """Add --skip, --skip-scale and --highway-bias to `command`."""
    for option in reversed(SKIP_OPTIONS):
        command = option(command)
    return command


def check_lag(skip, steps):
    """Refuse (exit 2) a skip or dense connection that reaches back further than the sequence."""
    parsed = parse_skip(skip)
    if parsed is not None and parsed[1] is not None and parsed[1] > steps:
        raise click.BadParameter(f"{skip}: the lag {parsed[1]} is longer than the sequence "
                                 f"({steps} steps)", param_hint="--skip")


def flow_options(command=None, *, default_cells=DEFAULT_CELLS):
    """Add the options that configure cells, weights and inputs to `command` (as a decorator,
    bare or called with the `default_cells` its help names)."""
    if command is None:
        return lambda command: flow_options(command, default_cells=default_cells)
    options = [
        click.option("--cell", "cells", multiple=True, type=click.Choice(list(CELLS)),
                     help="Cell to analyse; repeat to compare cells in one run "
                          f"[default: {' '.join(default_cells)}]. 'gru' is Cho et al. (2014) "
                          "as in the seeds, 'gru_torch' PyTorch's nn.GRU, 'indrnn' Li et al. "
                          "(2018, relu), 'mingru' and 'minlstm' Feng et al. (2024), 'lru' "
                          "Orvieto et al. (2023), 'orthogonal' expRNN (Lezcano-Casado & "
                          "Martinez-Rubio 2019)."),
        click.option("--activation", type=click.Choice(list(RNN_ACTIVATIONS)), default="tanh",
                     show_default=True, help="Nonlinearity of the RNN (also for an nn.RNN "
                                             "weights file, which does not record it)."),
        click.option("--hidden", type=click.IntRange(min=1), default=None, metavar="H",
                     help="Hidden units H; the LSTM's state has 2H entries [default: 64, or "
                          "the weights file's]."),
        click.option("--input-size", type=click.IntRange(min=1), default=None, metavar="D",
                     help="Input dimension D [default: 8, or the input file's]."),
        click.option("--steps", type=click.IntRange(min=1), default=None, metavar="T",
                     help="Sequence length T in steps [default: 100, or the input file's length]."),
        *INIT_OPTIONS,
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     metavar="SEED",
                     help="Seed of the weights and of the random inputs."),
        click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True,
                     metavar="N",
                     help="Average over this many random input sequences (mean and spread of "
                          "the log10 norms)."),
        *SKIP_OPTIONS,
        *LAYER_OPTIONS,
        click.option("--weights", "weights_file", type=FilePath(dir_okay=False),
                     metavar="FILE.npz", help="Trained PyTorch weights: an nn.RNN, nn.LSTM or "
                     "nn.GRU state_dict (any number of layers, bidirectional or not) saved "
                     "with numpy.savez (see README)."),
        click.option("--input-file", type=FilePath(dir_okay=False), metavar="FILE.npy",
                     help="A (T, D) input sequence instead of random inputs."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _finite(array, what):
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        fail(f"{what} has a non-finite value ({array[index]}) at index {index}")


def load_input_file(path, input_size):
    """Read a (T, D) .npy input sequence, T >= 1; one-line errors for anything else."""
    try:
        with open(path, "rb") as fh:  # opened here: np.load leaks it on a corrupt zip
            inputs = np.load(fh, allow_pickle=False)
            if isinstance(inputs, np.lib.npyio.NpzFile):
                with inputs:
                    names = ", ".join(inputs.files) or "none"
                fail(f"{path}: an .npz archive (arrays: {names}); --input-file takes one (T, D) "
                     f"array saved with numpy.save (.npy)")
    except EOFError:  # numpy's word for an empty file; click would print a bare "Aborted!"
        fail(f"{path}: cannot read as a .npy array (the file is empty or cut short)")
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        fail(f"{path}: cannot read as a .npy array ({err})")
    if inputs.ndim != 2 or len(inputs) == 0:
        fail(f"{path}: input sequence has shape {inputs.shape}, expected (T, D) with T >= 1")
    if input_size is not None and inputs.shape[1] != input_size:
        fail(f"{path}: input sequence has shape {inputs.shape}, expected (T, {input_size})")
    if not np.issubdtype(inputs.dtype, np.number) or np.iscomplexobj(inputs):
        fail(f"{path}: input sequence has dtype {inputs.dtype}, expected real numbers")
    inputs = inputs.astype(float)
    _finite(inputs, path)
    return inputs


def load_trained(path, cells, activation):
    """Trained weights as (cell name, params); errors as one line."""
    from ..io.weights import WeightsError, load_weights

    if not os.path.exists(path):
        refuse(f"{path}: no such weights file")
    if len(cells) > 1:
        refuse("--weights holds one model: give at most one --cell")
    try:
        loaded = load_weights(path, cell=cells[0] if cells else None, activation=activation)
    except WeightsError as err:
        fail(str(err))
    return loaded


FLOW_OPTION_NAMES = ("cells", "activation", "hidden", "input_size", "steps", "init", "scale",
                     "forget_bias", "skip", "skip_scale", "highway_bias", "layers",
                     "bidirectional", "layer_residual", "seed", "samples", "weights_file",
                     "input_file", "quiet")


def pop_flow_options(opts):
    """Remove the options added by `flow_options` from `opts` and return them as a dict."""
    return {k: opts.pop(k) for k in FLOW_OPTION_NAMES}


def resolve_networks(config, default_cells=DEFAULT_CELLS, needs="cell"):
    """Check the flow options and resolve their defaults, loading weights and input files.

    Returns one `Network` per cell asked for (the same weights settings, inputs and seed for
    all). One-line errors for bad input: exit 2 for options that contradict each other, among
    them a network the command cannot analyse: `needs` 'cell' refuses a bidirectional network
    (it has no step Jacobian), 'layer' anything but one layer, 'any' nothing.
    """
    cells, hidden, input_size = tuple(config["cells"]), config["hidden"], config["input_size"]
    steps, samples = config["steps"], config["samples"]
    params, inputs, sources = None, None, {}
    if config["weights_file"] is not None:
        unused = given("init", "scale", "forget_bias")
        if unused:
            refuse(f"--weights sets every weight: {', '.join(unused)} "
                   f"{'does' if len(unused) == 1 else 'do'} not apply")
        if config["skip"] is not None:
            raise click.BadParameter(f"{config['skip']}: the weights file holds a network without "
                                     "skip weights", param_hint="--skip")
        loaded = load_trained(config["weights_file"], cells, config["activation"])
        params = loaded.params
        layers, directions = getattr(loaded, "layers", 1), getattr(loaded, "directions", 1)
        for option, value, found in (("--layers", config["layers"], layers),
                                     ("--bidirectional", config["bidirectional"] or None,
                                      True if directions == 2 else None)):
            if value is not None and value != found:
                held = "bidirectional" if directions == 2 else "in one direction"
                refuse(f"{option}: the weights file holds {layers} layer(s), {held}")
        if config["layer_residual"] and (layers > 1 or directions > 1):
            refuse("--layer-residual: a PyTorch module has no residual connections between layers")
        # one layer: the built-in cell by name; a stack or bidirectional network: as loaded
        cells = (loaded.cell.name,) if layers == 1 and directions == 1 else (loaded.cell,)
        for option, value, found in (("--input-size", input_size, loaded.input_size),
                                     ("--hidden", hidden, loaded.hidden)):
            if value is not None and value != found:
                refuse(f"{option} {value} does not match the weights file, whose size is {found}")
        input_size, hidden = loaded.input_size, loaded.hidden
        sources = {"weights": os.path.basename(config["weights_file"])}
    if config["input_file"] is not None:
        inputs = load_input_file(config["input_file"], input_size)
        if samples != 1:
            refuse("--input-file gives one input sequence: --samples must be 1")
        if steps is not None:
            if steps > len(inputs):
                refuse(f"--steps {steps} is longer than the input file ({len(inputs)} steps)")
            inputs = inputs[:steps]
        input_size, steps = inputs.shape[1], len(inputs)
        sources["input_file"] = os.path.basename(config["input_file"])
    steps = 100 if steps is None else steps
    check_lag(config["skip"], steps)
    weights_layout = params is not None and cells and not isinstance(cells[0], str)
    layout = {} if weights_layout else {
        "layers": config["layers"] or 1, "bidirectional": config["bidirectional"],
        "layer_residual": config["layer_residual"]}
    template = {"activation": config["activation"], "skip": config["skip"], **layout,
                "skip_scale": config["skip_scale"], "highway_bias": config["highway_bias"],
                "hidden": 64 if hidden is None else hidden,
                "input_size": 8 if input_size is None else input_size, "steps": steps,
                "init": config["init"], "scale": config["scale"],
                "forget_bias": config["forget_bias"], "seed": config["seed"], "samples": samples,
                "params": params, "inputs": inputs, "sources": sources}
    try:
        networks = [Network(cell, **template) for cell in (cells or default_cells)]
    except ValueError as err:
        fail(str(err))
    _check_layout(networks, needs)
    return networks


def _check_layout(networks, needs):
    command = click.get_current_context().command_path
    for net in networks:
        if needs == "layer" and is_layered(net):
            raise click.BadParameter(f"{command} analyses one layer; {net.name} has "
                                     f"{len(layered(net.cell_function()).layers)} "
                                     f"layer(s){' in two directions' if net.bidirectional else ''}",
                                     param_hint="--layers")
        if needs == "cell" and not net.is_cell:
            source = net.sources.get("weights")
            raise click.BadParameter(
                f"{command} needs a network that runs forwards in time; "
                + (f"{source} holds a bidirectional one, which " if source else
                   "a bidirectional one ")
                + "is analysed by `gradflow jacobians --wrt input`",
                param_hint="--weights" if source else "--bidirectional")


def check_memory(networks, analysis, blocks=0):
    """Refuse, before any work, a run that needs more memory than the machine has left."""
    available = available_bytes()
    if available is None:
        return
    need = max(needed_bytes(net.cell_function(), hidden=net.sizes()[0],
                            input_size=net.sizes()[1], steps=net.length, samples=net.samples,
                            analysis=analysis, blocks=blocks) for net in networks)
    if need > available:
        net = networks[0]
        fail(f"--hidden {net.sizes()[0]}, --steps {net.length}: the run needs about "
             f"{format_bytes(need)} of memory, more than the {format_bytes(available)} "
             "available")


def refuse_with_results(results, *names):
    """Refuse options that configure a computation when RESULTS files are drawn instead:
    the flow options, and the command's own `names` (parameter names)."""
    if not results:
        return
    unused = given(*[n for n in FLOW_OPTION_NAMES if n != "quiet"], *names)
    if unused:
        refuse(f"{', '.join(unused)}: not used when RESULTS files are given (they are drawn "
               f"as they are); leave {'it' if len(unused) == 1 else 'them'} out")


def loss_vector_option(command):
    """Add --loss-vector FILE.npy (dL/ds_T for the loss-gradient column) to `command`."""
    return click.option(
        "--loss-vector", type=FilePath(dir_okay=False), metavar="FILE.npy",
        help="dL/ds_T, a vector of the state's size (2H for the LSTM) saved with numpy.save, "
             "whose pull-back dL/ds_t gives the loss-gradient column [default: (1, ..., 1) / "
             "sqrt(n)].")(command)


def load_loss_vector(path, networks):
    """Read --loss-vector: one finite, non-zero vector whose length is every network's state
    size."""
    try:
        with open(path, "rb") as fh:
            vector = np.load(fh, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        fail(f"{path}: cannot read as a .npy array ({err})")
    if not isinstance(vector, np.ndarray) or vector.ndim != 1 or \
            not np.issubdtype(vector.dtype, np.number) or np.iscomplexobj(vector):
        fail(f"{path}: the loss vector must be one array of real numbers of shape (n,), got "
             f"{getattr(vector, 'shape', 'an .npz archive')}")
    vector = vector.astype(float)
    _finite(vector, path)
    if not np.any(vector):
        fail(f"{path}: the loss vector is zero: every loss gradient would be zero")
    for net in networks:
        n = state_size(net.build())
        if len(vector) != n:
            fail(f"{path}: the loss vector has {len(vector)} entries, but the {net.name}'s "
                 f"state has {n}" + (" (give one --cell)" if len(networks) > 1 else ""))
    return vector


def state_size(built):
    """n, the size of a built network's state s_t (not counting the past states skip
    connections carry, in every layer)."""
    return len(state_rows(built.cell, built.params, len(built.state0)))


def compute_profiles(networks, loss_vector, quiet):
    """Run `decay_profile` for every network (from `resolve_networks`), with a progress bar;
    a list of profiles. `loss_vector` is the path of a .npy file holding dL/ds_T, or None."""
    loss_grad = None
    if loss_vector is not None:
        loss_grad = load_loss_vector(loss_vector, networks)
        networks = [net.replace(sources={**net.sources,
                                         "loss_vector": os.path.basename(loss_vector)})
                    for net in networks]
    check_memory(networks, "decay")
    return for_each_network(networks, networks[0].samples * networks[0].length,
                            "backward sweeps", quiet,
                            lambda net, tick: decay_profile(net, loss_grad=loss_grad,
                                                            progress=tick))


def for_each_network(networks, steps_each, label, quiet, compute):
    """[compute(network, progress) for network in networks] under one progress bar, the
    library's refusals as one line. The analysis calls `progress(k)` with the steps done for
    its network, `steps_each` in all."""
    results = []
    with one_line_errors(), progress_bar(len(networks) * steps_each, label, quiet) as bar:
        for net in networks:
            done = [0]

            def tick(k, done=done):
                bar.update(k - done[0])
                done[0] = k

            results.append(compute(net, tick))
    return results


def is_layered(network):
    """Whether the network has more than one layer, identity connections between layers or a
    second direction: `gradflow jacobians` shows it by its depth x time map."""
    layout = layered(network.cell_function())
    return len(layout.layers) > 1 or layout.directions > 1 or layout.residual


def compute_depth_maps(networks, quiet):
    """`depth_map` of every network under one progress bar; a bidirectional one is refused
    (exit 2): its state at step t depends on later inputs."""
    _check_layout(networks, "cell")
    check_memory(networks, "depth")
    steps = networks[0].samples * networks[0].length * len(
        layered(networks[0].cell_function()).layers)
    return for_each_network(networks, steps, "layer-steps", quiet,
                            lambda net, tick: depth_map(net, progress=tick))


def compute_sensitivities(networks, output_step, quiet):
    """`sensitivity` of every network at `output_step` (1..T; exit 2 outside)."""
    T = networks[0].length
    if output_step is not None and output_step > T:
        raise click.BadParameter(f"{output_step} is outside the sequence of {T} steps",
                                 param_hint="--output-step")
    check_memory(networks, "sensitivity")
    return for_each_network(networks, networks[0].samples, "input sequences", quiet,
                            lambda net, tick: sensitivity(net, output_step, progress=tick))


def compute_parameter_sensitivities(networks, names, quiet):
    """`parameter_sensitivity` of every network with respect to the parameters `names`
    (--param; the recurrent ones when empty): a name a cell lacks is refused (exit 2) before
    any work."""
    wrt = tuple(names) or None
    check_memory(networks, "decay")  # the state Jacobians; before drawing any weights
    available = available_bytes()
    for net in networks:
        built = net.build()
        try:
            groups = parameter_groups(built.cell, built.params, wrt)
        except ValueError as err:
            raise click.BadParameter(f"{net.name}: {err}", param_hint="--param") from None
        n, m = len(built.state0), state_size(built)
        p = sum(np.size(built.params[g]) for g in groups)
        need = parameter_bytes(m, n, p, net.length) + needed_bytes(
            net.cell_function(), hidden=net.sizes()[0], input_size=net.sizes()[1],
            steps=net.length, samples=net.samples)
        if available is not None and need > available:
            fail(f"--hidden {net.sizes()[0]}, --wrt params: ds_T/dtheta of the {net.name} "
                 f"({m} x {p}) needs about {format_bytes(need)} of memory, more than the "
                 f"{format_bytes(available)} available")
    return for_each_network(networks, networks[0].samples * networks[0].length, "steps", quiet,
                            lambda net, tick: parameter_sensitivity(net, wrt=wrt,
                                                                    progress=tick))
