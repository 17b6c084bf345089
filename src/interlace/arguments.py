"""Checks of the arguments that several steps after the fit share (a coverage, a number of
processes), so that each is refused with the same words wherever it is given."""

from __future__ import annotations

import os

import numpy as np


def check_level(level) -> None:
    """Every ``level=`` (intervals, emmeans, bootstrap) is a coverage strictly in (0, 1)."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1, not {level!r}")


def checked_jobs(n_jobs) -> int:
    """``n_jobs`` (processes for profiles and the bootstrap), with -1 for every core."""
    if n_jobs == -1:
        return os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a whole number of at least 1, or -1 for every core, "
                         f"not {n_jobs!r}")
    return int(n_jobs)
