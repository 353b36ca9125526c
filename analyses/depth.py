"""Seed 004's claim about depth: an 8-layer tanh RNN stack without and with residual (identity)
connections between its layers, the depth x time map log10 ||ds^(7)_T/ds^(l)_(T-d)||_2 of each
side by side, and beside them the same question for a deep tanh MLP (L = 50): plain, residual
(ResNet), dense:4 (DenseNet) and highway.

Settings, and why:
- the stack: the toolkit's defaults (H = 64, D = 8, gaussian weights N(0, 1/H), T = 100), mean
  of 5 input sequences. Nothing is tuned: T = 100 is long enough for both maps to leave
  [1e-3, 1e3] in time, so what the connections do in depth (the columns at small d) and in
  time (along the rows) are both on the picture. The colour range is cut at 10 decades
  (--limit 10): the plain map spans 10 of them, and a range stretched to the residual
  stack's 30 would leave the plain map (and the small distances of both) all but white.
- the MLP: weights N(0, 0.7^2/n). At scale 1 (and zero biases) a tanh MLP sits at the edge of
  chaos of mean-field theory (Poole et al. 2016; Schoenholz et al. 2017) and its dy_L/dy_0
  barely moves over 50 layers (`plain_scale_1` in NUMBERS); at 0.7 the plain network
  vanishes clearly while the connections hold, the question seed 004 asks. The highway's gate
  bias is the toolkit's -1; NUMBERS also holds the plain network's and the highway's value at
  gate bias -3 (not drawn) for the README.

Writes figures/depth.png by running COMMAND through the CLI (what the README quotes), and
NUMBERS: per network and for layers 0 and 7, log10 ||ds^(7)_T/ds^(l)_(T-d)||_2 at d = 0, 10,
50, 99 and the first distance where it falls below 1e-3; the mean tanh' of each layer's units
and the rms of what the top layer reads (why the residual stack forgets faster in time); and
the MLP's log10 ||dy_L/dy_0||_2 per variant.
Run it from anywhere: `python analyses/depth.py`, or every figure with `make figures`.
"""

from _run import run_with_results, write_numbers

import numpy as np  # noqa: E402  (after _run has pinned the kernels)

COMMAND = ("gradflow plot depth --cell rnn --layers 8 --samples 5 --compare-residual --limit 10 "
           "--feedforward 0.7 -o figures/depth.png")
NUMBERS = "figures/depth.json"
DISTANCES = (0, 10, 50, 99)
LAYERS = (0, 7)
FEEDFORWARD_SCALE = 0.7  # as in COMMAND


def saturation(network):
    """(mean tanh' = 1 - h^2 of each layer's units over steps and sequences, (L,); rms of what
    the top layer reads) of a tanh RNN stack."""
    from gradflow.engine.layered import forward

    built = network.build()
    slopes, reads = [], []
    for seq in built.sequences:
        run = forward(built.cell, built.params, seq)
        slopes.append([np.mean(1 - chains[0][1:] ** 2) for chains in run.states])
        reads.append(np.sqrt(np.mean(run.reads[-1] ** 2)))
    return np.mean(slopes, axis=0), float(np.mean(reads))


def main():
    from gradflow.analysis.depth import depth_from_table, feedforward_flow
    from gradflow.analysis.network import Network

    maps = depth_from_table(run_with_results(COMMAND))
    columns = {k: [] for k in ("cell", "layer", *(f"d{d}" for d in DISTANCES), "below_1e-3_at",
                               "mean_tanh_slope")}
    reads = {}
    for m in maps:
        meta = m.metadata
        net = Network("rnn", layers=meta["layers"], layer_residual=meta["layer_residual"],
                      steps=meta["steps"], samples=meta["samples"], seed=meta["seed"])
        slope, reads[m.cell] = saturation(net)
        for layer in LAYERS:
            row = m.mean["spectral"][layer]
            columns["cell"].append(m.cell)
            columns["layer"].append(layer)
            for d in DISTANCES:
                columns[f"d{d}"].append(float(row[d]))
            below = np.flatnonzero(row < -3)
            columns["below_1e-3_at"].append(int(below[0]) if below.size else None)
            columns["mean_tanh_slope"].append(float(slope[layer]))
    end = {}  # log10 ||dy_L/dy_0||_2 of the MLPs
    for name, kws in (("plain", {}), ("residual", {"skip": "residual"}),
                      ("dense:4", {"skip": "dense:4"}), ("highway", {"skip": "highway"}),
                      ("highway_bias_-3", {"skip": "highway", "highway_bias": -3.0}),
                      ("plain_scale_1", {"scale": 1.0})):
        kws = {"scale": FEEDFORWARD_SCALE, **kws}
        flow = feedforward_flow(kws.pop("skip", None), **kws)
        end[name] = float(flow.log10_spectral_norm[0])
        width = flow.metadata["width"]
    write_numbers(NUMBERS, columns, {"kind": "depth_summary", "command": COMMAND,
                                     "hidden": maps[0].metadata["hidden"],
                                     "steps": maps[0].metadata["steps"],
                                     "samples": maps[0].metadata["samples"],
                                     "top_layer_reads_rms": reads,
                                     "feedforward_depth": 50, "feedforward_width": width,
                                     "feedforward_scale": FEEDFORWARD_SCALE,
                                     "feedforward_log10_norm_layer0": end})


if __name__ == "__main__":
    main()
