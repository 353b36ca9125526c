"""`gradflow jacobians`: the numbers."""

import click

from ..analysis.decay import profiles_to_table
from ..analysis.depth import depth_to_table, sensitivity_to_table
from ..analysis.parameters import parameter_sensitivity_to_table
from .base import check_results_path, emit, main, refuse
from .options import (compute_depth_maps, compute_parameter_sensitivities, compute_profiles,
                      compute_sensitivities, flow_options, format_option, is_layered,
                      loss_vector_option, pop_flow_options, resolve_networks)
from .params import FilePath
from .tables import decay_table, depth_table, parameter_table, sensitivity_table


@main.command()
@flow_options
@loss_vector_option
@click.option("--wrt", type=click.Choice(["state", "input", "params"]), default="state",
              show_default=True,
              help="state: ds_T/ds_t at every distance (for L > 1 layers the depth x time map "
                   "ds^(L-1)_T/ds^(l)_(T-d)); input: dy_tau/dx_t, the output at step tau "
                   "against every input step t; params: ds_T/dtheta, the final state against "
                   "the parameters, and each step's contribution to it by distance.")
@click.option("--output-step", type=click.IntRange(min=1), default=None, metavar="TAU",
              help="With --wrt input: the output step tau, 1..T [default: T].")
@click.option("--param", "param_names", multiple=True, metavar="NAME",
              help="With --wrt params: a parameter theta (weight_hh, skip_weight, ...; "
                   "'recurrent' for the recurrent ones, 'all' for every one); repeat for "
                   "several [default: recurrent].")
@format_option
@click.option("-o", "--output", type=FilePath(dir_okay=False), metavar="FILE",
              help="Also write the results to FILE: .csv, .json or .npz by its suffix.")
def jacobians(fmt, output, loss_vector, wrt, output_step, param_names, **opts):
    """Norms of the Jacobian products ds_T/ds_t at every distance T - t.

    For each cell: log10 of the spectral and Frobenius norms of ds_T/ds_t, of the loss gradient
    dL/ds_t, and for the LSTM of the blocks dh_T/dh_t and dc_T/dc_t; whether gradients vanish,
    explode or hold, the fitted factor per step, and the horizon (the distance where the norm
    leaves [1e-3, 1e3]). With --layers L > 1, a row per layer l of the depth x time map
    ds^(L-1)_T/ds^(l)_(T-d) (layers numbered from 0 as in PyTorch). With --wrt input, the
    input sensitivity dy_tau/dx_t of any network, bidirectional ones included. With --wrt
    params, the sensitivity ds_T/dtheta of the final state to the recurrent parameters (or
    those --param names): log10 of the Frobenius norm of each step's contribution
    (ds_T/ds_t)(ds_t/dtheta) by distance T - t, and of their sum (Zucchet & Orvieto 2024).
    """
    config = pop_flow_options(opts)
    if output is not None:
        check_results_path(output)
    if wrt != "input" and output_step is not None:
        refuse("--output-step applies to --wrt input")
    if wrt != "params" and param_names:
        refuse("--param applies to --wrt params")
    if wrt == "params":
        if loss_vector is not None:
            refuse("--loss-vector applies to --wrt state")
        networks = resolve_networks(config, needs="cell")
        results = compute_parameter_sensitivities(networks, param_names, config["quiet"])
        emit(parameter_sensitivity_to_table(results), parameter_table(results), fmt, output)
        return
    networks = resolve_networks(config, needs="any")
    if wrt == "state" and not any(is_layered(net) for net in networks):
        profiles = compute_profiles(networks, loss_vector, config["quiet"])
        emit(profiles_to_table(profiles), decay_table(profiles), fmt, output)
        return
    if loss_vector is not None:
        refuse("--loss-vector applies to one layer's ds_T/ds_t (--wrt state, one layer)")
    if wrt == "input":
        results = compute_sensitivities(networks, output_step, config["quiet"])
        emit(sensitivity_to_table(results), sensitivity_table(results), fmt, output)
    else:
        results = compute_depth_maps(networks, config["quiet"])
        emit(depth_to_table(results), depth_table(results), fmt, output)
