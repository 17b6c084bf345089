"""One partition of the rows and the in-memory row backend.

A `Partition` owns whole levels of the first (largest) random term: it keeps its rows'
design, its conditional modes u1, the blocks of H for its levels and its warm-start tangent
between calls, and does every per-row pass for its rows (its share of h, of u2's gradient
and of the Schur complement, the line search's trials, the gradient's parts, the clm start's
sums). `InMemoryPartitions` calls partitions in this process; `dask_fit.DaskPartitions`
calls them as actors on a cluster; both `map` a method over them and `reduce` the results
(`combine`). The driver is `partitioned.PartitionedLaplace`.
"""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import numpy as np

from .factor import BlockParts, HessianFactor, NotPositiveDefinite, _block_apply
from .laplace import ConditionalModes, LaplaceObjective
from .optimize.start import ClmRows
from .rows import reduction_block_rows, row_blocks


class PartitionsLost(RuntimeError):
    """A backend lost partitions (a worker died) and rebuilt them from the data: what was
    running must run again from the start."""


def again(call, attempts: int = 3):
    """``call()``, run again while partitions are lost and rebuilt."""
    for attempt in range(attempts):
        try:
            return call()
        except PartitionsLost:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def split_by_first_term(design, n_partitions: int) -> list:
    """The design cut into partitions of whole levels of the first random term (contiguous
    runs of levels with about equal numbers of rows): per partition its design, the term-0
    levels re-indexed within it (`own_first_levels`), and those levels' global indices."""
    first = design.random.terms[0]
    counts = np.bincount(first.index, minlength=first.n_levels)
    edges = np.searchsorted(np.cumsum(counts), np.linspace(0, counts.sum(), n_partitions + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], edges, [first.n_levels]]))
    parts = []
    for lo, hi in pairwise(bounds):
        rows = np.flatnonzero((first.index >= lo) & (first.index < hi))
        local = design.rows(rows)
        parts.append(own_first_levels(local))
    return parts


def own_first_levels(design):
    """The design of rows that own whole levels of the first term, that term re-indexed
    over the levels present, and those levels' indices among the whole design's."""
    first = design.random.terms[0]
    present = np.unique(first.index)
    terms = list(design.random.terms)
    terms[0] = dataclasses.replace(first, index=np.searchsorted(present, first.index),
                                   levels=[first.levels[i] for i in present])
    return dataclasses.replace(design, random=type(design.random)(terms)), present


class Partition:
    """One partition's rows and what the inner solve keeps between calls: its modes u1,
    the blocks of the last Newton step, the trial of the line search, the tangent."""

    def __init__(self, design, link, control, first_levels=None):
        # a partition's share of H goes through the driver's block elimination (exact)
        self.local = LaplaceObjective(design, link,
                                      dataclasses.replace(control, random_solver="exact"))
        self.q1 = self.local.pattern.q1
        first = design.random.terms[0]
        if first_levels is None:  # `own_first_levels` on the whole design's rows
            first_levels = np.arange(first.n_levels)
        # where this partition's u1 sits in the whole u
        self.positions = (np.asarray(first_levels)[:, None] * first.size
                          + np.arange(first.size)).ravel()
        self.first_levels = np.asarray(first_levels)
        self.clm_rows = None
        self.u1 = np.zeros(self.q1)
        self.tangent = None  # (phi0, u1 at phi0, du1/dphi)
        self.accepted = None  # (u2, ((p1 - p2, D), h)) of the step just taken

    # -- the inner solve ------------------------------------------------------------------
    def start(self, phi, max_extrapolation, cold: bool) -> None:
        if cold:
            self.u1 = np.zeros(self.q1)
        elif self.tangent is not None:
            phi0, u0, du = self.tangent
            step = phi - phi0
            if np.max(np.abs(step), initial=0.0) <= max_extrapolation:
                self.u1 = u0 + du @ step
        self.accepted = None
        self._setup(phi)

    def _setup(self, phi) -> None:
        local = self.local
        psi, theta = local.split(phi)
        fixed = local.design.fixed
        values = local.random.values(theta)
        inv_scale = fixed.inverse_scale(psi)
        if inv_scale is not None:
            values = values * inv_scale[:, None]
        self.phi, self.values, self.inv_scale = phi.copy(), values, inv_scale
        self.eta = fixed.predictors(psi)

    def _h(self, u1, u2) -> tuple:
        """h's share at (u1, u2) and what a Newton step there needs of the rows: p1 - p2 and
        D (`laplace.curvature_at`); the other interval terms are not kept (the gradient
        recomputes them a block at a time): five arrays per row fewer, in two places."""
        local = self.local
        h, dp, d = local.curvature_at(*self.eta, self.values, np.concatenate([u1, u2]))
        return (dp, d), h - 0.5 * float(u2 @ u2)  # the driver adds u2'u2 once

    def newton_parts(self, u2, positive: bool) -> dict:
        """At (u1, u2): this partition's share of h, of u2's gradient and of S."""
        accepted, self.accepted = self.accepted, None
        if accepted is not None and np.array_equal(accepted[0], u2):
            (dp, d), h = accepted[1]  # the line search's last trial, taken
        else:
            (dp, d), h = self._h(self.u1, u2)
        if not np.isfinite(h):
            return {"h": np.inf}
        w = self.local.design.weights
        grad = self.local._at_times(self.values, w * dp)
        grad[: self.q1] += self.u1
        wd = np.maximum(w * d, 0.0) if positive else w * d
        try:
            parts = BlockParts(self.local.pattern, self.values, wd)
        except NotPositiveDefinite:
            return {"h": h, "not_pd": True}
        grad1 = grad[: self.q1]
        self.newton = (grad1, parts)
        return {"h": h, "grad2": grad[self.q1:], "schur": parts.schur,
                "m_grad1": None if parts.m is None else parts.m.T @ grad1,
                "logdet11": parts.logdet11, "max_grad1": float(np.max(np.abs(grad1), initial=0))}

    def trial(self, u2, x2, t: float) -> dict:
        """h at u1 - t x1, u2 - t x2, with x1 = H11^-1 (grad1 - H12 x2) this partition's step."""
        grad1, parts = self.newton
        x1 = _block_apply(parts.inv11, grad1)
        if parts.m is not None:
            x1 = x1 - parts.m @ x2
        u1, u2_trial = self.u1 - t * x1, u2 - t * x2
        curvature, h = self._h(u1, u2_trial)
        self.proposal = (u1, u2_trial, curvature, h)
        return {"h": h, "max_step": float(np.max(np.abs(x1), initial=0.0))}

    def accept(self) -> None:
        u1, u2, curvature, h = self.proposal
        self.u1, self.accepted = u1, (u2, (curvature, h))

    def gather_u1(self) -> tuple:
        return self.positions, self.u1.copy()

    def set_u1(self, u_all: np.ndarray) -> None:
        """Take this partition's modes out of the whole u (a start from outside)."""
        self.u1 = u_all[self.positions].copy()
        self.tangent = None

    def diagonal_blocks(self, u2, s_inv, logdet) -> tuple:
        """The diagonal blocks of H^-1 for this partition's first-term levels."""
        blocks = self.modes(u2, s_inv, logdet).factor.observation_inverse(self.values)[2][0]
        return self.first_levels, blocks

    def clm(self, method: str, *args):
        """The clm start's sums on these rows (`optimize.start.ClmRows`)."""
        if self.clm_rows is None:
            self.clm_rows = ClmRows(self.local.design, self.local.link)
        return getattr(self.clm_rows, method)(*args)

    # -- the gradient -----------------------------------------------------------------------
    def modes(self, u2, s_inv, logdet) -> ConditionalModes:
        _, parts = self.newton
        factor = HessianFactor.of_rows(parts, s_inv, logdet)
        return ConditionalModes(self.phi, np.concatenate([self.u1, u2]), self.values, None, None,
                                factor, np.nan, True, self.inv_scale)

    def gradient_parts(self, u2, s_inv, logdet) -> dict:
        """This partition's explicit gradient and its shares of C and g_u: those of u1 stay
        here, those of u2 go to the driver with M' times the u1 ones."""
        local = self.local
        modes = self.modes(u2, s_inv, logdet)
        pa, lev, _ = modes.factor.observation_inverse(modes.values)
        n_phi = local.n_psi + len(local._theta_derivs)
        grad, cross = np.zeros(n_phi), np.zeros((len(modes.u), n_phi))
        g_u = np.zeros(len(modes.u))
        block = reduction_block_rows(local.block_rows, len(modes.u), local.control.rows_per_level)
        for rows in row_blocks(local.design.n_obs, block):
            local._gradient_rows(modes, pa, lev, modes.u, rows, grad, cross, g_u)
        q1, m = self.q1, modes.factor.m
        self.cross1, self.half_g_u1 = cross[:q1], 0.5 * g_u[:q1]
        return {"grad": grad, "cross2": cross[q1:], "half_g_u2": 0.5 * g_u[q1:],
                "m_half_g_u1": None if m is None else m.T @ self.half_g_u1,
                "m_cross1": None if m is None else m.T @ self.cross1}

    def finish_gradient(self, v2, x2) -> np.ndarray:
        """C1' v1 with v1 = H11^-1 (g_u1 / 2 - H12 v2); keeps the tangent du1 = -x1."""
        _, parts = self.newton
        v1 = _block_apply(parts.inv11, self.half_g_u1)
        x1 = _block_apply(parts.inv11, self.cross1)
        if parts.m is not None:
            v1 = v1 - parts.m @ v2
            x1 = x1 - parts.m @ x2
        self.tangent = (self.phi, self.u1.copy(), -x1)
        out = self.cross1.T @ v1
        self.cross1 = self.half_g_u1 = None  # until the next gradient: memory per level
        return out


def combine(total, part):
    """Two partitions' results added up: sums of numbers and arrays, the larger of the
    ``max_`` entries, a flag if either has it, None where neither has a value."""
    if total is None:
        return part
    if isinstance(total, dict):
        out = dict(total)
        for key, value in part.items():
            mine = out.get(key)
            if mine is None or value is None:
                out[key] = value if mine is None else mine
            elif key.startswith("max_"):
                out[key] = max(mine, value)
            elif key == "not_pd":
                out[key] = True
            else:
                out[key] = mine + value
        return out
    if isinstance(total, tuple):
        return tuple(a + b for a, b in zip(total, part))
    return total + part


class InMemoryPartitions:
    """The partitions in this process, called one after another."""

    def __init__(self, parts, link, control):
        self.partitions = [Partition(d, link, control, levels) for d, levels in parts]

    def map(self, method: str, *args) -> list:
        return [getattr(p, method)(*args) for p in self.partitions]

    def reduce(self, method: str, *args):
        """The partitions' results added up (`combine`)."""
        total = None
        for p in self.partitions:
            total = combine(total, getattr(p, method)(*args))
        return total
