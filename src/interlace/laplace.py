"""The Laplace approximation of the CLMM negative log-likelihood and its exact gradient.

With b = Lambda(theta) u, u ~ N(0, I), and A = Z Lambda, the conditional modes u_hat minimise

    h(u) = -sum_i w_i log pi_i(e1_i - a_i'u, e2_i - a_i'u) + u'u / 2,

found by Newton's method with step halving, warm-started from the previous evaluation.
The objective is

    L(psi, theta) = h(u_hat) + log det H(u_hat) / 2,   H = I + A' W D A,

with D_i = -d^2 log pi_i / dr^2, as in R's ``ordinal:::getNLA``. Its gradient in all
parameters is exact: the explicit derivatives of h and of the log-determinant, plus the
part of the log-determinant that moves with u_hat (implicit function theorem), which needs
one extra solve with H and H^-1 on the entries where two columns of A meet in an observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .design import ClmmDesign
from .factor import HessianFactor, HessianPattern, NotPositiveDefinite
from .intervals import IntervalTerms, interval_terms
from .iterative import IterativeFactor, SparsePattern
from .links import Link
from .optimize.control import Control
from .rows import reduction_block_rows, row_blocks
from .threads import dense_kernel_threads


@dataclass
class WarmStart:
    """Where the next inner solve starts: the last conditional modes, moved along their
    derivative in phi (``tangent`` = (phi0, u0, du/dphi), from the last gradient) when phi
    has moved little. Owned by the objective; set from outside only through
    ``objective.warm_start`` (a subsample's modes, a state saved and put back)."""

    u: np.ndarray
    tangent: tuple | None = None

    def at(self, phi: np.ndarray, max_extrapolation: float) -> np.ndarray:
        if self.tangent is None:
            return self.u.copy()
        phi0, u0, du = self.tangent
        step = phi - phi0
        if np.max(np.abs(step), initial=0.0) > max_extrapolation:
            return self.u.copy()
        return u0 + du @ step


@dataclass
class ConditionalModes:
    """The inner solution at one parameter value, and what the gradient reuses."""

    phi: np.ndarray
    u: np.ndarray
    values: np.ndarray  # entries of A
    terms: IntervalTerms | None  # None: recomputed where needed (`LaplaceObjective._curvature`)
    d: np.ndarray | None
    factor: HessianFactor
    value: float
    converged: bool
    inv_scale: np.ndarray | None = None  # 1 / s per row with scale effects (A's rows divided)


INNER_GRAD_TOL = 1e-4  # the inner gradient at a mode is far below this (R stops at 1e-4)


class InnerSolveError(RuntimeError):
    """The conditional modes could not be found (non-finite likelihood)."""


class ModesObjective:
    """L(phi), and with its gradient, from ``conditional_modes`` and ``gradient``: the single-
    block objective's and the partitioned one's."""

    def value(self, phi: np.ndarray) -> float:
        """L(phi); +inf where the conditional modes cannot be found (the optimiser backs off)."""
        self.n_evaluations += 1
        try:
            return self.conditional_modes(phi).value
        except (InnerSolveError, NotPositiveDefinite):
            return np.inf

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        # the optimiser's last point is the polish's first: answer it again without solving
        if self._last is not None and np.array_equal(self._last[0], phi):
            return self._last[1], self._last[2].copy()
        self.n_evaluations += 1
        try:
            modes = self.conditional_modes(phi)
        except (InnerSolveError, NotPositiveDefinite):
            return np.inf, np.full(len(phi), np.nan)
        grad = self.gradient(modes)
        self._last = (modes.phi, modes.value, grad.copy())
        return modes.value, grad


class LaplaceObjective(ModesObjective):
    """L(phi) and its gradient, phi = (threshold parameters, beta, theta)."""

    def __init__(self, design: ClmmDesign, link: Link, control: Control | None = None,
                 step_tol: float | None = None):
        self.design = design
        self.link = link
        self.control = control = Control() if control is None else control
        self.random = design.random
        self.iterative = uses_iterative_solver(design.random, control)
        self.pattern = HessianPattern(design.random, index_maps=not self.iterative)
        self.sparse_pattern = (SparsePattern(design.random, control.probes, control.probe_seed)
                               if self.iterative else None)
        self.n_psi = design.n_psi
        self.step_tol = control.inner_step_tol if step_tol is None else step_tol
        self.max_iter = control.inner_max_iter
        self.max_halvings = control.inner_max_halvings
        self.block_rows = control.block_rows
        self.warm_start = WarmStart(np.zeros(design.random.q))
        self.n_evaluations = 0
        self.max_extrapolation = 1.0
        self.n_inner = 0
        self.n_halvings = 0
        self._theta_derivs = design.random.theta_derivatives()
        self._last = None  # (phi, value, gradient) of the last value_and_grad

    # -- pieces ----------------------------------------------------------------------------
    def split(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return phi[: self.n_psi], phi[self.n_psi:]

    def _at_times(self, values: np.ndarray, y: np.ndarray, rows=slice(None)) -> np.ndarray:
        """A' y over the given rows, for y with one value per one of those rows."""
        return np.bincount(self.random.cols[rows].ravel(),
                           weights=(values[rows] * y[:, None]).ravel(), minlength=self.random.q)

    def _at_times_matrix(self, values: np.ndarray, y: np.ndarray, rows=slice(None)) -> np.ndarray:
        """A' Y over the given rows, for Y with one row per one of those rows, by whichever way
        measured fastest: one bincount over (column of A, column of Y) pairs for a few
        thousand entries, a bincount per column of Y for few columns, a sparse A' otherwise."""
        vals, cols = values[rows], self.random.cols[rows]
        n, m = vals.shape
        q, k = self.random.q, y.shape[1]
        if n * k <= 4096:
            keys = (cols.astype(np.int64)[:, :, None] * k + np.arange(k)).ravel()
            weights = (vals[:, :, None] * y[:, None, :]).ravel()
            return np.bincount(keys, weights=weights, minlength=q * k).reshape(q, k)
        if k <= 3 or n < 10_000:
            return np.column_stack([self._at_times(values, col, rows) for col in y.T])
        a = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, n * m + 1, m)), shape=(n, q))
        return np.asarray(a.T @ y)

    def _at_times_by_category(self, values, y_weights, categories, rows) -> np.ndarray:
        """(q, K): column k is A' y over the given rows in response category k."""
        n_cat = self.design.fixed.n_categories
        keys = self.random.cols[rows].astype(np.int64) * n_cat + categories[:, None]
        return np.bincount(keys.ravel(), weights=(values[rows] * y_weights[:, None]).ravel(),
                           minlength=self.random.q * n_cat).reshape(self.random.q, n_cat)

    def _terms_at(self, eta1, eta2, values, u, rows=slice(None)) -> IntervalTerms:
        """The interval terms of the given rows (``eta1``, ``eta2``: theirs) at u."""
        r = np.einsum("is,is->i", values[rows], u[self.random.cols[rows]])
        return interval_terms(self.link, eta1 - r, eta2 - r, self.block_rows)

    def _at(self, eta1, eta2, values, u):
        """The interval terms and h(u) at u."""
        terms = self._terms_at(eta1, eta2, values, u)
        h = -float(np.dot(self.design.weights, terms.log_prob)) + 0.5 * float(np.dot(u, u))
        return terms, (h if np.isfinite(h) else np.inf)

    def curvature_at(self, eta1, eta2, values, u) -> tuple:
        """h(u), p1 - p2 and D at u, a block of rows at a time: what a Newton step needs,
        without the other interval terms' whole-length arrays."""
        n = len(eta1)
        dp, d, h = np.empty(n), np.empty(n), 0.0
        w = self.design.weights
        for rows in row_blocks(n, self.block_rows):
            t = self._terms_at(eta1[rows], eta2[rows], values, u, rows)
            dp[rows], d[rows] = t.curvature()
            h -= float(np.dot(w[rows], t.log_prob))
        h += 0.5 * float(np.dot(u, u))
        return h if np.isfinite(h) else np.inf, dp, d

    def new_factor(self, values, wd):
        """H factorised (`factor.HessianFactor`) or for conjugate gradients
        (`iterative.IterativeFactor`), as ``Control.random_solver`` decides."""
        if self.iterative:
            c = self.control
            return IterativeFactor(self.sparse_pattern, self.random, values, wd, c.cg_rtol,
                                   c.cg_max_iter)
        return HessianFactor(self.pattern, values, wd,
                             dense_kernel_threads(self.control, self.pattern.q2))

    def _factor(self, values, wd):
        try:
            return self.new_factor(values, wd), True
        except NotPositiveDefinite:
            # a non-log-concave link (cauchit) can make H indefinite away from the mode;
            # the positive part of D still gives a descent direction
            return self.new_factor(values, np.maximum(wd, 0.0)), False

    # -- inner problem -----------------------------------------------------------------------
    def conditional_modes(self, phi: np.ndarray) -> ConditionalModes:
        """Find u_hat by Newton's method from the last solution (warm start), or from u = 0
        if that fails; raise InnerSolveError or NotPositiveDefinite if both fail.

        Converged when the Newton step is below ``step_tol``; the factor of the last step,
        taken at u_hat, gives the log-determinant.
        """
        self._last = None
        warm = self.warm_start.at(phi, self.max_extrapolation)
        try:
            modes = self._newton(phi, warm)
            if modes.converged or not np.any(warm):
                return modes
        except (InnerSolveError, NotPositiveDefinite):
            if not np.any(warm):
                raise
        # a warm start left by a failed evaluation far away can itself be the trouble
        self.warm_start = WarmStart(self.warm_start.u)
        return self._newton(phi, np.zeros_like(warm))

    def _newton(self, phi: np.ndarray, u: np.ndarray) -> ConditionalModes:
        design = self.design
        psi, theta = self.split(phi)
        values = self.random.values(theta)
        inv_scale = design.fixed.inverse_scale(psi)
        if inv_scale is not None:  # (e_lin - r) / s: the random part is divided by s too
            values = values * inv_scale[:, None]
        eta1, eta2 = design.fixed.predictors(psi)
        w = design.weights
        terms, h = self._at(eta1, eta2, values, u)
        if not np.isfinite(h):
            u = np.zeros_like(u)
            terms, h = self._at(eta1, eta2, values, u)
            if not np.isfinite(h):
                raise InnerSolveError("non-finite likelihood at these parameters")
        converged = False
        for _ in range(self.max_iter):
            dp, d = terms.curvature()
            grad = self._at_times(values, w * dp) + u
            factor, exact = self._factor(values, w * d)
            step = factor.solve(grad)
            self.n_inner += 1
            if exact and np.max(np.abs(step), initial=0.0) < self.step_tol:
                # a tiny step with a large gradient is not a mode: far in a link's tail the
                # curvature dp^2 - (q1 - q2) cancels to rounding noise (cloglog at
                # log P = -1e16 gave curvature 1e32 and a step of 1e-16)
                converged = np.max(np.abs(grad), initial=0.0) < INNER_GRAD_TOL
                break
            t = 1.0
            noise = 1e-13 * max(1.0, abs(h))  # rounding in h: near u_hat no step can beat it
            for _ in range(self.max_halvings):
                new_terms, h_new = self._at(eta1, eta2, values, u - t * step)
                if h_new <= h + noise:
                    break
                t *= 0.5
                self.n_halvings += 1
            else:
                break  # no decrease along Newton's direction: at the floor of precision
            u = u - t * step
            terms, h = new_terms, h_new
        if not converged:
            dp, d = terms.curvature()
            factor = self.new_factor(values, w * d)  # may raise NotPositiveDefinite
            grad = self._at_times(values, w * dp) + u
            converged = bool(np.max(np.abs(factor.solve(grad)), initial=0.0) < 1e-6
                             and np.max(np.abs(grad), initial=0.0) < INNER_GRAD_TOL)
        self.warm_start = WarmStart(u, self.warm_start.tangent)
        return ConditionalModes(phi.copy(), u, values, terms, d, factor,
                                h + 0.5 * factor.logdet, converged, inv_scale)

    def gradient(self, modes: ConditionalModes) -> np.ndarray:
        """The exact gradient at the conditional modes, in one pass over the observations, a
        block of rows at a time so that the per-observation temporaries stay in the cache.

        The part that moves with u_hat is -C' v with v = H^-1 g_u, where C = d^2 h / du dphi
        (``cross``, also the tangent's right-hand side) and g_u is the derivative of
        log det H / 2 in u: C and g_u are sums over observations, so one pass gathers them
        with the explicit part, and v enters after it.
        """
        w = self.design.weights
        values, u = modes.values, modes.u
        pa, lev, _ = modes.factor.observation_inverse(values)
        n_theta = len(self._theta_derivs)
        grad = np.zeros(self.n_psi + n_theta)
        cross = np.zeros((self.random.q, self.n_psi + n_theta))
        g_u = np.zeros(self.random.q)
        block = reduction_block_rows(self.block_rows, self.random.q,
                                     self.control.rows_per_level)
        for rows in row_blocks(len(w), block):
            self._gradient_rows(modes, pa, lev, u, rows, grad, cross, g_u)
        v = modes.factor.solve(0.5 * g_u)
        grad -= cross.T @ v
        self.warm_start = WarmStart(u, (modes.phi, u, -modes.factor.solve(cross)))
        return grad

    def _gradient_rows(self, modes, pa, lev, u, rows, grad, cross, g_u):
        """Add the given rows' share of the explicit gradient, of ``cross`` and of g_u."""
        design = self.design
        w = design.weights[rows]
        values = modes.values
        parts = self._curvature(modes, rows)
        t = parts.terms
        dp, d, lev = parts.dp, parts.d, lev[rows]
        g_u += self._at_times(values, w * lev * parts.dd_r, rows)
        # the fixed part by its structure (fixed_part.FixedPart): rows y of two small tables,
        # then the same -X; no (rows x n_psi) matrices
        fixed = design.fixed
        y = fixed.codes[rows]
        inv_s = e1 = e2 = None
        if modes.inv_scale is not None:
            inv_s = modes.inv_scale[rows]
            r = np.einsum("is,is->i", values[rows], u[self.random.cols[rows]])
            e1, e2 = fixed.predictors(modes.phi[: self.n_psi], rows)
            e1, e2 = e1 - r, e2 - r
        a1 = w * (-t.p1 + 0.5 * lev * parts.dd1)
        a2 = w * (t.p2 + 0.5 * lev * parts.dd2)
        grad[: self.n_psi] += fixed.transpose_times(a1, a2, rows, inv_s, e1, e2)
        if inv_s is not None:
            # log det H: A's rows are divided by s, so they move with zeta
            grad[self.n_psi - fixed.n_zeta: self.n_psi] -= fixed.W[rows].T @ (w * d * lev)
        cross[:, : self.n_psi] += fixed.random_cross(
            lambda a, rows: self._at_times_by_category(values, a, y, rows),
            lambda a, rows: self._at_times_matrix(values, a, rows),
            w * parts.c1, w * parts.c2, w * dp, rows, inv_s, e1, e2)
        cols = self.random.cols[rows]
        for k, (entry, cov_col, term) in enumerate(self._theta_derivs):
            x = self.random.terms[term].covariates[rows, cov_col]
            if inv_s is not None:
                x = x * inv_s
            du = x * u[cols[:, entry]]  # d r_i / d theta_k at fixed u
            grad[self.n_psi + k] += (
                np.dot(w * dp, du)
                + np.dot(w * d * pa[rows, entry], x)
                + 0.5 * np.dot(w * lev * parts.dd_r, du)
            )
            cross[:, self.n_psi + k] += (
                np.bincount(cols[:, entry], weights=x * w * dp, minlength=self.random.q)
                + self._at_times(values, w * d * du, rows))

    def _curvature(self, modes, rows) -> CurvatureDerivatives:
        """`CurvatureDerivatives` of the given rows at the modes: from the modes' interval
        terms, or recomputed where the modes keep none (a partition's, see `curvature_at`)."""
        if modes.terms is not None:
            return CurvatureDerivatives(modes.terms, modes.d, rows)
        e1, e2 = self.design.fixed.predictors(modes.phi[: self.n_psi], rows)
        terms = self._terms_at(e1, e2, modes.values, modes.u, rows)
        return CurvatureDerivatives(terms, terms.curvature()[1], slice(None))


def uses_iterative_solver(random, control: Control) -> bool:
    """Whether H goes by conjugate gradients and probes (`Control.random_solver`)."""
    if control.random_solver != "auto":
        return control.random_solver == "iterative"
    return random.q_after_first >= control.iterative_from


class CurvatureDerivatives:
    """For a block of rows: the interval terms, p1 - p2, D and the derivatives of D in the
    upper and lower predictor and in the random part, and of p1 - p2 in the two predictors."""

    def __init__(self, terms: IntervalTerms, d: np.ndarray, rows: slice):
        p1, p2, q1, q2 = terms.p1[rows], terms.p2[rows], terms.q1[rows], terms.q2[rows]
        s1, s2 = terms.s1[rows], terms.s2[rows]
        self.terms = IntervalTerms(terms.log_prob[rows], p1, p2, q1, q2, s1, s2)
        self.d = d[rows]
        self.dp = dp = p1 - p2
        dq = q1 - q2
        self.dd1 = 2.0 * dp * (q1 - p1 * dp) - s1 + p1 * dq
        self.dd2 = 2.0 * dp * (-q2 + p2 * dp) - p2 * dq + s2
        self.dd_r = -(self.dd1 + self.dd2)
        self.c1 = q1 - p1 * dp
        self.c2 = -q2 + p2 * dp
