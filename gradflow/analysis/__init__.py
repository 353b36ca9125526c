"""Analyses that return plain data: decay profiles (`decay`), the phase diagram (`phase`, with
`meanfield` theory), gates (`gates`), spectra (`spectra`), pairwise norms (`pairwise`), each
drawing its network and inputs one way (`sampling`). Imports cells, engine and io; never above.
"""
