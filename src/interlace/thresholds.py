"""Threshold structures: the map from threshold parameters to the K-1 cut points.

The cut points are ``alpha = J @ tau`` for a (K-1) x n_tau Jacobian ``J``, as in R's
``ordinal::makeThresholds``. Only ``"flexible"`` (J = identity, one free cut point per
boundary) is implemented so far; the other structures R offers raise NotImplementedError.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

THRESHOLD_STRUCTURES = ("flexible", "symmetric", "symmetric2", "equidistant")


@dataclass(frozen=True)
class ThresholdStructure:
    name: str
    jacobian: np.ndarray  # (K-1) x n_params
    param_names: list[str]
    cut_names: list[str]


def cut_point_names(levels: list[str]) -> list[str]:
    """R's names for the cut points between consecutive levels: "1|2", "2|3", ..."""
    return [f"{lo}|{hi}" for lo, hi in itertools.pairwise(levels)]


def make_thresholds(name: str, levels: list[str]) -> ThresholdStructure:
    if name not in THRESHOLD_STRUCTURES:
        raise ValueError(
            f"unknown threshold {name!r}; choose one of "
            + ", ".join(repr(t) for t in THRESHOLD_STRUCTURES)
        )
    cuts = cut_point_names(levels)
    if name != "flexible":
        raise NotImplementedError(f"threshold={name!r} is not implemented yet; use 'flexible'")
    return ThresholdStructure(name, np.eye(len(cuts)), list(cuts), cuts)
