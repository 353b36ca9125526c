"""Analyses that return plain data: decay profiles (`decay`), the phase diagram (`phase`, with
`meanfield` theory), gates (`gates`), spectra (`spectra`), pairwise norms (`pairwise`), each
taking one description of the network and its inputs (`network.Network`). Imports cells,
engine and io; never above.
"""
