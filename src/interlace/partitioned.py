"""The Laplace objective over partitions of the rows: the row backend a cluster implements.

Each partition owns whole levels of the first (largest) random term, so its block of
H = I + A'WDA for those levels, its conditional modes u1 and its share of the Schur
complement S = I + sum_p (H22_p - H12_p' H11_p^-1 H12_p) stay with it (`factor.BlockParts`);
the driver holds u2 (the other terms' modes, q2 of them) and S. One inner Newton step is two
round trips of O(q2^2) numbers whatever the number of rows: the partitions return their
share of h, of u2's gradient and of S; the driver solves for u2's step; the partitions take
their own step and return the new h for the line search. The gradient is the in-memory one
(`laplace.LaplaceObjective._gradient_rows` on each partition's rows), its implicit part
H^-1 g_u solved the same way.

The partitions and the in-memory backend are in `partition`; `InMemoryPartitions`
(``Control.partitions``) gives the same numbers as the single-block objective, sums taken in
another order; `dask_fit.DaskPartitions` implements the same ``map`` and ``reduce``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg

from .factor import (
    NotPositiveDefinite,
    cholesky_logdet,
    inverse_from_cholesky,
    schur_cholesky,
    term_inverse_blocks,
)
from .laplace import (
    INNER_GRAD_TOL,
    InnerSolveError,
    ModesObjective,
    WarmStart,
)
from .partition import again
from .threads import blas_threads, dense_kernel_threads


class PartitionedLaplace(ModesObjective):
    """L(phi) and its exact gradient over a row backend (`InMemoryPartitions`, or a
    cluster's); the interface of `laplace.LaplaceObjective`."""

    def __init__(self, design, link, control, backend):
        self.design, self.link, self.control, self.backend = design, link, control, backend
        self.random = design.random
        self.n_psi = design.n_psi
        self.pattern = _GlobalPattern(design.random)
        self.q2 = self.pattern.q2
        self.dense_threads = dense_kernel_threads(control, self.q2)  # S's kernels
        self.u2 = np.zeros(self.q2)
        self.tangent2 = None
        self.n_evaluations = self.n_inner = self.n_halvings = 0
        self.max_extrapolation = 1.0
        self.step_tol = control.inner_step_tol
        self._last = None

    def split(self, phi):
        return phi[: self.n_psi], phi[self.n_psi:]

    # -- the inner solve --------------------------------------------------------------------
    def conditional_modes(self, phi: np.ndarray):
        return again(lambda: self._modes(phi))

    def value_and_grad(self, phi: np.ndarray):
        def evaluate():
            self._last = None
            return ModesObjective.value_and_grad(self, phi)

        return again(evaluate)

    def _modes(self, phi: np.ndarray):
        self._last = None
        try:
            modes = self._newton(phi, cold=False)
            if modes.converged:
                return modes
        except (InnerSolveError, NotPositiveDefinite):
            pass
        return self._newton(phi, cold=True)

    def _start_u2(self, phi, cold):
        if cold:
            return np.zeros(self.q2)
        if self.tangent2 is not None:
            phi0, u0, du = self.tangent2
            step = phi - phi0
            if np.max(np.abs(step), initial=0.0) <= self.max_extrapolation:
                return u0 + du @ step
        return self.u2.copy()

    def _parts(self, u2, positive):
        parts = self.backend.reduce("newton_parts", u2, positive)
        if parts.get("not_pd") and not positive:
            return self._parts(u2, True), False
        h = parts["h"] + 0.5 * float(u2 @ u2)
        return (parts, h), not positive

    def _newton(self, phi, cold: bool):
        control = self.control
        u2 = self._start_u2(phi, cold)
        self.backend.map("start", phi, self.max_extrapolation, cold)
        (parts, h), exact = self._parts(u2, False)
        if not np.isfinite(h):
            u2 = np.zeros(self.q2)
            self.backend.map("start", phi, self.max_extrapolation, True)
            (parts, h), exact = self._parts(u2, False)
            if not np.isfinite(h):
                raise InnerSolveError("non-finite likelihood at these parameters")
        converged = False
        for _ in range(control.inner_max_iter):
            chol, logdet, x2, max_grad = self._solve(parts, u2)
            self.n_inner += 1
            t, noise = 1.0, 1e-13 * max(1.0, abs(h))
            trials = self.backend.reduce("trial", u2, x2, t)
            max_step = max(trials["max_step"], float(np.max(np.abs(x2), initial=0)))
            if exact and max_step < self.step_tol:
                converged = max_grad < INNER_GRAD_TOL
                break
            for _ in range(control.inner_max_halvings):
                h_new = trials["h"] + 0.5 * float((u2 - t * x2) @ (u2 - t * x2))
                if h_new <= h + noise:
                    break
                t *= 0.5
                self.n_halvings += 1
                trials = self.backend.reduce("trial", u2, x2, t)
            else:
                break  # no decrease along Newton's direction: at the floor of precision
            self.backend.map("accept")
            u2 = u2 - t * x2
            (parts, h), exact = self._parts(u2, False)
            if not np.isfinite(h):
                raise InnerSolveError("non-finite likelihood at the conditional modes")
        if not converged:
            chol, logdet, x2, max_grad = self._solve(parts, u2)
            trials = self.backend.reduce("trial", u2, x2, 0.0)
            max_step = max(trials["max_step"], float(np.max(np.abs(x2), initial=0)))
            converged = exact and max_step < 1e-6 and max_grad < INNER_GRAD_TOL
        self.u2 = u2
        self._chol, self._logdet = chol, logdet
        return _Modes(phi.copy(), h + 0.5 * logdet, bool(converged), u2, self)

    def _solve(self, parts, u2):
        """S's Cholesky factor, log det H, u2's Newton step and max |gradient|."""
        logdet = parts["logdet11"]
        grad2 = parts["grad2"] + u2 if self.q2 else np.zeros(0)
        max_grad = max(parts["max_grad1"], float(np.max(np.abs(grad2), initial=0)))
        if not self.q2:
            return None, logdet, np.zeros(0), max_grad
        if "chol" not in parts:  # S's share is consumed by its factor, formed once
            with blas_threads(self.dense_threads):
                parts["chol"] = schur_cholesky(parts.pop("schur"))
        chol = parts["chol"]
        logdet += cholesky_logdet(chol)
        x2 = scipy.linalg.cho_solve(chol, grad2 - parts["m_grad1"], check_finite=False)
        return chol, logdet, x2, max_grad

    def _s_inv(self):
        """S^-1 at the last modes, formed once here rather than in every partition."""
        if not self.q2:
            return None
        with blas_threads(self.dense_threads):
            return inverse_from_cholesky(self._chol)

    # -- gradient ---------------------------------------------------------------------------
    def gradient(self, modes) -> np.ndarray:
        parts = self.backend.reduce("gradient_parts", modes.u2, self._s_inv(), self._logdet)
        grad = parts["grad"]
        v2 = x2 = np.zeros((0,))
        if self.q2:
            solve = self._chol
            v2 = scipy.linalg.cho_solve(
                solve, parts["half_g_u2"] - parts["m_half_g_u1"], check_finite=False)
            cross2 = parts["cross2"]
            x2 = scipy.linalg.cho_solve(solve, cross2 - parts["m_cross1"], check_finite=False)
            grad -= cross2.T @ v2
            self.tangent2 = (modes.phi, modes.u2.copy(), -x2)
        grad -= self.backend.reduce("finish_gradient", v2, x2)
        return grad

    @property
    def warm_start(self) -> WarmStart:
        u = np.zeros(self.random.q)
        for positions, u1 in self.backend.map("gather_u1"):
            u[positions] = u1
        u[self.pattern.q1:] = self.u2
        return WarmStart(u)

    @warm_start.setter
    def warm_start(self, start: WarmStart) -> None:
        self.backend.map("set_u1", start.u)
        self.u2 = start.u[self.pattern.q1:].copy()
        self.tangent2 = None

    @property
    def clm_rows(self):
        """The clm start's sums over the partitions (`optimize.start.fit_clm`)."""
        return _ClmOverPartitions(self.backend)


@dataclasses.dataclass
class _Modes:
    """The inner solution as the driver holds it; ``u`` and ``factor`` (for the random
    effects' tables) gather from the partitions when asked."""

    phi: np.ndarray
    value: float
    converged: bool
    u2: np.ndarray
    objective: PartitionedLaplace
    values = None

    @property
    def u(self) -> np.ndarray:
        return self.objective.warm_start.u

    @property
    def factor(self) -> _Inverse:
        return _Inverse(self)


class _Inverse:
    """What `estimates.random_tables` asks of the factor: H^-1's diagonal blocks of the
    first term and S^-1."""

    def __init__(self, modes: _Modes):
        self.modes = modes

    def observation_inverse(self, values):
        obj = self.modes.objective
        first = obj.random.terms[0]
        p11 = np.zeros((first.n_levels, first.size, first.size))
        for levels, blocks in obj.backend.map("diagonal_blocks", self.modes.u2, obj._s_inv(),
                                              obj._logdet):
            p11[levels] = blocks
        return None, None, term_inverse_blocks(obj.random.layout, p11, obj._s_inv())


class _ClmOverPartitions:
    """The clm start's value and derivatives, summed over the partitions."""

    def __init__(self, backend):
        self.backend = backend

    def counts(self):
        return again(lambda: self.backend.reduce("clm", "counts"))

    def value(self, psi) -> float:
        return float(again(lambda: self.backend.reduce("clm", "value", psi)))

    def derivatives(self, psi) -> tuple:
        return again(lambda: self.backend.reduce("clm", "derivatives", psi))


class _GlobalPattern:
    """q1 and q2 of the whole design, without its per-row index maps."""

    def __init__(self, random):
        first = random.terms[0]
        self.q1 = first.n_levels * first.size
        self.q2 = random.q - self.q1
