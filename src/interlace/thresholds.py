"""Threshold structures: the map from threshold parameters to the K-1 cut points.

The cut points are ``alpha = J @ tau`` for a (K-1) x n_tau Jacobian ``J``, as in R's
``ordinal::makeThresholds``: ``"flexible"`` (J = identity, one free cut point per boundary),
``"symmetric"`` (cut points symmetric about a central value), ``"symmetric2"`` (symmetric about
zero) and ``"equidistant"`` (a first cut point and a common spacing).
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


def _jacobian(name: str, n_cuts: int) -> tuple[np.ndarray, list[str]]:
    """R's makeThresholds: the Jacobian from parameters to cut points, and the names."""
    if name == "flexible":
        return np.eye(n_cuts), []
    if n_cuts < 2:
        raise ValueError(
            f"threshold={name!r} needs a response with 3 or more levels; use 'flexible'")
    if name == "equidistant":
        return np.column_stack([np.ones(n_cuts), np.arange(n_cuts)]), ["threshold.1", "spacing"]
    if name == "symmetric":
        if n_cuts % 2:
            n = (n_cuts + 1) // 2
            below = -np.eye(n)[::-1, : n - 1]
            jac = np.hstack([below, np.eye(n)]).T
            jac[:, 0] = 1.0
            return jac, ["central"] + [f"spacing.{i}" for i in range(1, n)]
        half = n_cuts // 2
        n = half + 1
        jac = np.column_stack([np.repeat([1.0, 0.0], half),
                               np.vstack([-np.eye(half)[::-1], np.eye(half)])])
        jac[:, 1] = np.repeat([0.0, 1.0], half)
        return jac, ["central.1", "central.2"] + [f"spacing.{i}" for i in range(1, n - 1)]
    # symmetric2: symmetric about zero
    n = n_cuts // 2
    middle = [np.zeros((1, n))] if n_cuts % 2 else []
    jac = np.vstack([-np.eye(n)[::-1]] + middle + [np.eye(n)])
    return jac, [f"spacing.{i}" for i in range(1, n + 1)]


def make_thresholds(name: str, levels: list[str]) -> ThresholdStructure:
    """The threshold structure ``name`` for a response with these levels, as R builds it."""
    if name not in THRESHOLD_STRUCTURES:
        raise ValueError(
            f"unknown threshold {name!r}; choose one of "
            + ", ".join(repr(t) for t in THRESHOLD_STRUCTURES)
        )
    cuts = cut_point_names(levels)
    jac, names = _jacobian(name, len(cuts))
    return ThresholdStructure(name, jac, names or list(cuts), cuts)
