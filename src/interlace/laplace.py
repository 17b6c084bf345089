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

from .design import ClmmDesign
from .factor import HessianFactor, HessianPattern, NotPositiveDefinite
from .intervals import IntervalTerms, interval_terms, log_interval_prob
from .links import Link


@dataclass
class ConditionalModes:
    """The inner solution at one parameter value, and what the gradient reuses."""

    u: np.ndarray
    values: np.ndarray  # entries of A
    e1: np.ndarray
    e2: np.ndarray
    terms: IntervalTerms
    d: np.ndarray
    factor: HessianFactor
    value: float
    converged: bool


class InnerSolveError(RuntimeError):
    """The conditional modes could not be found (non-finite likelihood)."""


class LaplaceObjective:
    """L(phi) and its gradient, phi = (threshold parameters, beta, theta)."""

    def __init__(self, design: ClmmDesign, link: Link, grad_tol: float = 1e-10,
                 max_iter: int = 100, max_halvings: int = 40):
        self.design = design
        self.link = link
        self.random = design.random
        self.pattern = HessianPattern(design.random)
        self.n_psi = design.n_psi
        self.grad_tol = grad_tol
        self.max_iter = max_iter
        self.max_halvings = max_halvings
        self.u = np.zeros(design.random.q)
        self.n_evaluations = 0
        self.n_inner = 0
        self.inner_failures = 0
        self._theta_derivs = design.random.theta_derivatives()

    # -- pieces ----------------------------------------------------------------------------
    def split(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return phi[: self.n_psi], phi[self.n_psi:]

    def _a_times(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """A x, for x laid out like u."""
        return np.einsum("is,is->i", values, x[self.random.cols])

    def _at_times(self, values: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A' y, for y with one value per observation."""
        return np.bincount(self.random.cols.ravel(), weights=(values * y[:, None]).ravel(),
                           minlength=self.random.q)

    def _h(self, eta1, eta2, values, u) -> float:
        r = self._a_times(values, u)
        lp = log_interval_prob(self.link, eta1 - r, eta2 - r)
        val = -float(np.dot(self.design.weights, lp)) + 0.5 * float(np.dot(u, u))
        return val if np.isfinite(val) else np.inf

    # -- inner problem -----------------------------------------------------------------------
    def conditional_modes(self, phi: np.ndarray) -> ConditionalModes:
        """Find u_hat by Newton's method from the last solution; raise InnerSolveError if hopeless."""
        design = self.design
        psi, theta = self.split(phi)
        values = self.random.values(theta)
        eta1 = design.B1 @ psi + design.o1
        eta2 = design.B2 @ psi + design.o2
        w = design.weights
        u = self.u.copy()
        h = self._h(eta1, eta2, values, u)
        if not np.isfinite(h):
            u = np.zeros_like(u)
            h = self._h(eta1, eta2, values, u)
            if not np.isfinite(h):
                raise InnerSolveError("non-finite likelihood at these parameters")
        converged = False
        for _ in range(self.max_iter):
            r = self._a_times(values, u)
            terms = interval_terms(self.link, eta1 - r, eta2 - r)
            dp = terms.p1 - terms.p2
            grad = self._at_times(values, w * dp) + u
            if np.max(np.abs(grad), initial=0.0) < self.grad_tol:
                converged = True
                break
            d = dp * dp - (terms.q1 - terms.q2)
            try:
                step = HessianFactor(self.pattern, values, w * d).solve(grad)
            except NotPositiveDefinite:
                # a non-log-concave link (cauchit) can make H indefinite away from the mode;
                # the positive part of D still gives a descent direction
                step = HessianFactor(self.pattern, values, w * np.maximum(d, 0.0)).solve(grad)
            self.n_inner += 1
            t = 1.0
            for _ in range(self.max_halvings):
                h_new = self._h(eta1, eta2, values, u - t * step)
                if h_new <= h:
                    break
                t *= 0.5
            else:
                break  # no decrease along Newton's direction: at the floor of precision
            u = u - t * step
            if h - h_new < 1e-15 * max(1.0, abs(h)) and t < 1.0:
                h = h_new
                break
            h = h_new
        r = self._a_times(values, u)
        e1, e2 = eta1 - r, eta2 - r
        terms = interval_terms(self.link, e1, e2)
        dp = terms.p1 - terms.p2
        if not converged:
            grad = self._at_times(values, w * dp) + u
            converged = bool(np.max(np.abs(grad), initial=0.0) < 1e-6)
        d = dp * dp - (terms.q1 - terms.q2)
        factor = HessianFactor(self.pattern, values, w * d)  # may raise NotPositiveDefinite
        h = -float(np.dot(w, terms.log_prob)) + 0.5 * float(np.dot(u, u))
        self.u = u
        return ConditionalModes(u, values, e1, e2, terms, d, factor,
                                h + 0.5 * factor.logdet, converged)

    # -- objective -----------------------------------------------------------------------------
    def value(self, phi: np.ndarray) -> float:
        self.n_evaluations += 1
        try:
            modes = self.conditional_modes(phi)
        except (InnerSolveError, NotPositiveDefinite):
            self.inner_failures += 1
            return np.inf
        if not modes.converged:
            self.inner_failures += 1
        return modes.value

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        self.n_evaluations += 1
        try:
            modes = self.conditional_modes(phi)
        except (InnerSolveError, NotPositiveDefinite):
            self.inner_failures += 1
            return np.inf, np.full(len(phi), np.nan)
        if not modes.converged:
            self.inner_failures += 1
        return modes.value, self.gradient(modes)

    def gradient(self, modes: ConditionalModes) -> np.ndarray:
        design = self.design
        w = design.weights
        t = modes.terms
        p1, p2, q1, q2, s1, s2 = t.p1, t.p2, t.q1, t.q2, t.s1, t.s2
        dp = p1 - p2
        dq = q1 - q2
        d = modes.d
        # derivatives of d in the upper and lower predictor, and in the random part r
        dd1 = 2.0 * dp * (q1 - p1 * dp) - s1 + p1 * dq
        dd2 = 2.0 * dp * (-q2 + p2 * dp) - p2 * dq + s2
        dd_r = -(dd1 + dd2)
        # derivatives of (p1 - p2) in the two predictors
        c1 = q1 - p1 * dp
        c2 = -q2 + p2 * dp

        values = modes.values
        pa, lev, _ = modes.factor.observation_inverse(values)
        g_u = 0.5 * self._at_times(values, w * lev * dd_r)
        v = modes.factor.solve(g_u)
        av = self._a_times(values, v)

        grad_psi = (design.B1.T @ (w * (-p1 + 0.5 * lev * dd1 - c1 * av))
                    + design.B2.T @ (w * (p2 + 0.5 * lev * dd2 - c2 * av)))

        cols = self.random.cols
        u = modes.u
        grad_theta = np.empty(len(self._theta_derivs))
        for k, (entry, cov_col, term) in enumerate(self._theta_derivs):
            x = self.random.terms[term].covariates[:, cov_col]
            du = x * u[cols[:, entry]]  # d r_i / d theta_k at fixed u
            dv = x * v[cols[:, entry]]
            grad_theta[k] = (
                np.dot(w * dp, du)
                + np.dot(w * d * pa[:, entry], x)
                + 0.5 * np.dot(w * lev * dd_r, du)
                - np.dot(w * dp, dv)
                - np.dot(w * d * av, du)
            )
        return np.concatenate([grad_psi, grad_theta])
