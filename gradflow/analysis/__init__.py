"""Analyses that return plain data: decay profiles (`decay`), the phase diagram (`phase`, with
`meanfield` theory), gates (`gates`), spectra (`spectra`), pairwise norms (`pairwise`), the
skip ablation (`skip_ablation`), what truncated BPTT throws away (`truncation`), the
sensitivity of the final state to the parameters (`parameters`), the curse of memory built on
it (`memory`) and the cells side by side (`comparison`), each
taking one description of the network and its inputs (`network.Network`). Imports cells,
engine and io; never above.
"""
