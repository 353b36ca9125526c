"""The skip-connection ablation: one base cell, one set of weights and inputs, and the decay of
||ds_T/ds_t|| without a skip connection and with each of several (`gradflow.cells.skips`).

Every variant is the same `Network` with only `skip` changed, so the base cell's weights and
the input sequences are the same draws (a connection's own weights are drawn after the base
cell's from the same generator); what differs between the curves is the connection alone.
"""

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .decay import DecayProfile, decay_profile, summarize

__all__ = ["VARIANTS", "SkipAblation", "skip_ablation", "skip_ablation_to_table",
           "skip_ablation_from_table", "SKIP_COLUMNS"]

VARIANTS = ("none", "residual", "skip:2", "skip:4", "skip:8", "dense:4", "highway")
SKIP_COLUMNS = ("variant", "distance", "log10_spectral_norm", "log10_frobenius_norm")


@dataclass(frozen=True)
class SkipAblation:
    """variants: the connections ('none' for the base cell alone); profiles: one
    `DecayProfile` per variant, in the same order (its `summary` gives the verdict, the factor
    per step and the horizon); metadata: what made them (the base network's settings)."""
    variants: Sequence[str]
    profiles: Sequence[DecayProfile]
    metadata: Mapping[str, object] = field(default_factory=dict)


def skip_ablation(network, variants=VARIANTS, *, progress=None):
    """The decay of ||ds_T/ds_t|| for `network` under each skip connection in `variants`.

    Args:
      network: the base `Network` (its `skip` is replaced by each variant in turn; its
        `skip_scale` and `highway_bias` initialise the connections).
      variants: 'none', 'residual', 'skip:K', 'dense:K', 'highway', each at most once.
      progress: called with the number of backward steps done, over all variants.

    Returns:
      A `SkipAblation`.
    """
    variants = tuple(variants)
    if not variants:
        raise ValueError("give at least one variant")
    twice = [v for i, v in enumerate(variants) if v in variants[:i]]
    if twice:
        raise ValueError(f"variant {twice[0]!r} is given twice")
    per_variant = network.samples * network.length
    profiles = []
    for i, variant in enumerate(variants):
        net = network.replace(skip=None if variant == "none" else variant)
        tick = None if progress is None else (lambda d, base=i * per_variant: progress(base + d))
        profiles.append(decay_profile(net, progress=tick))
    metadata = {k: v for k, v in network.metadata().items() if k not in ("cell", "skip")}
    metadata.update(cell=network.replace(skip=None).name, skip_scale=network.skip_scale,
                    highway_bias=network.highway_bias)
    return SkipAblation(variants=variants, profiles=tuple(profiles), metadata=metadata)


def skip_ablation_to_table(ablation):
    """A long `Table` (kind 'skip'): one row per variant and distance.

    Columns SKIP_COLUMNS: variant ('none', 'residual', 'skip:4', ...), distance (T - t),
    log10_spectral_norm and log10_frobenius_norm of ds_T/ds_t (the network's own state: for
    skip:K and dense:K the block of the augmented product; mean over the input sequences). The
    metadata holds the base network's settings and, per variant, its cell name and summary.
    """
    from ..io.results import Table

    columns = {name: [] for name in SKIP_COLUMNS}
    summaries = {}
    for variant, p in zip(ablation.variants, ablation.profiles):
        T = len(p.distance)
        columns["variant"] += [variant] * T
        columns["distance"] += p.distance.tolist()
        columns["log10_spectral_norm"] += p.mean["spectral"].tolist()
        columns["log10_frobenius_norm"] += p.mean["frobenius"].tolist()
        summaries[variant] = {"cell": p.cell, "verdict": p.summary.verdict,
                              "rate_per_step": p.summary.rate, "horizon": p.summary.horizon,
                              "skip_scale": p.metadata.get("skip_scale"),
                              "highway_bias": p.metadata.get("highway_bias")}
    return Table({k: np.array(v) for k, v in columns.items()},
                 {**ablation.metadata, "kind": "skip", "variants": summaries})


def skip_ablation_from_table(table):
    """The `SkipAblation` of a skip table read back (summaries recomputed from the numbers).

    Raises ValueError naming the first required column that is missing.
    """
    for name in SKIP_COLUMNS:
        if name not in table.columns:
            raise ValueError(f"not a skip ablation table: no column {name!r}")
    meta = {k: v for k, v in table.metadata.items() if k not in ("kind", "variants")}
    per_variant = table.metadata.get("variants", {}) or {}
    variants = list(dict.fromkeys(np.asarray(table.columns["variant"]).astype(str).tolist()))
    profiles = []
    for variant in variants:
        rows = table.where("variant", variant)
        distance = np.asarray(rows.columns["distance"], dtype=int)
        mean = {q: np.asarray(rows.columns[f"log10_{q}_norm"], dtype=float)
                for q in ("spectral", "frobenius")}
        std = {q: np.zeros(len(distance)) for q in mean}
        base = meta.get("cell", "cell")
        cell = per_variant.get(variant, {}).get("cell") or \
            (base if variant == "none" else f"{base}+{variant}")
        profiles.append(DecayProfile(cell=cell, distance=distance, mean=mean, std=std,
                                     summary=summarize(distance, mean["spectral"]),
                                     metadata={**meta, **per_variant.get(variant, {})}))
    return SkipAblation(variants=tuple(variants), profiles=tuple(profiles), metadata=meta)
