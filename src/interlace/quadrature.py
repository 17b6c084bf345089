"""Gauss-Hermite quadrature of the marginal likelihood for a single scalar random-effect term.

With one random intercept the likelihood factorises over the levels j,

    L = prod_j  int exp(l_j(theta u)) phi(u) du,

and each one-dimensional integral is approximated with ``n`` Gauss-Hermite nodes, as R's
``clmm(nAGQ=)`` does:

- adaptive (nAGQ = n > 1): nodes centred at the conditional mode u_j and scaled by the
  curvature D_j there, u = u_j + sqrt(2 / D_j) x_k; n = 1 is the Laplace approximation;
- non-adaptive (nAGQ = -n < -1): R's rule, nodes u = x_k with weights w_k exp(x_k^2 / 2)
  against the normal density (the textbook rule would use u = sqrt(2) x_k; R's puts the
  nodes closer to zero, and interlace follows R so that the numbers agree).

The conditional modes and curvatures come from the Laplace objective's inner Newton solve.
The gradient is exact. With g_j(u) = sum_i w_i l_i(u) - u^2/2 the log joint of level j, its
mode u_j, curvature D_j = -g_j''(u_j), scale s_j = sqrt(2 / D_j), and pi_jk the nodes'
shares of I_j, the adaptive rule's log I_j moves with phi as

    d log I_j = sum_k pi_jk dg_j(u_jk) + cU_j dg_j'(u_j) - cD_j dg_j''(u_j)

with d the partial derivative at fixed u, G_j = sum_k pi_jk g_j'(u_jk), Gx_j the same
weighted by x_k, cD_j = -(1 + s_j Gx_j) / (2 D_j) and cU_j = (G_j - cD_j g_j'''(u_j)) / D_j.
(From du_j = dg_j' / D_j, dD_j = -dg_j'' - g_j''' du_j and ds_j = -s_j dD_j / (2 D_j).)
Every term is a per-observation weight on the two predictors or the covariate: one pass per
node.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .design import ClmmDesign
from .factor import NotPositiveDefinite
from .intervals import interval_terms
from .laplace import ConditionalModes, CurvatureDerivatives, InnerSolveError, LaplaceObjective
from .links import Link
from .optimize.control import Control

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


class QuadratureObjective(LaplaceObjective):
    """The negative log-likelihood by (adaptive) Gauss-Hermite quadrature."""

    def __init__(self, design: ClmmDesign, link: Link, n_agq: int,
                 control: Control | None = None):
        if not design.random.is_single_scalar():
            raise ValueError(
                f"nAGQ={n_agq}: quadrature needs a single scalar random-effect term, such as "
                "(1|g); with several terms or random slopes use nAGQ=1 (Laplace)"
            )
        # The quadrature sum is not stationary in u at the mode, so the conditional modes are
        # solved to the floor of precision: the gradient's formula assumes g_j'(u_j) = 0.
        super().__init__(design, link, control, step_tol=1e-13)
        self.n_agq = n_agq
        self.adaptive = n_agq > 0
        self.nodes, weights = np.polynomial.hermite.hermgauss(abs(n_agq))
        self.log_weights = np.log(weights)
        self.level = design.random.terms[0].index
        self.covariate = design.random.terms[0].covariates[:, 0]

    def _integrals(self, phi: np.ndarray, modes: ConditionalModes, gradient: bool = False):
        """-log L by quadrature given the conditional modes at phi, and its gradient (None
        unless asked for, or where the value is not finite)."""
        psi, theta = self.split(phi)
        design = self.design
        q, lev, w = self.random.q, self.level, design.weights
        # a_i = x_i * theta / s_i for a scalar term (s: the scale, 1 without scale effects)
        inv_scale = design.fixed.inverse_scale(psi)
        covariate = self.covariate if inv_scale is None else self.covariate * inv_scale
        a = theta[0] * covariate
        eta1, eta2 = design.fixed.predictors(psi)
        if self.adaptive:
            curvature = 1.0 + np.bincount(lev, weights=w * a * a * modes.d, minlength=q)
            scale = np.sqrt(2.0 / curvature)
            centre = modes.u
        else:
            scale, centre = np.ones(q), np.zeros(q)
        n_nodes = len(self.nodes)
        log_terms = np.empty((n_nodes, q))
        if gradient:
            p1s, p2s = np.empty((n_nodes, len(w))), np.empty((n_nodes, len(w)))
            slopes = np.empty((n_nodes, q))  # g_j'(u_jk)
        for k, (x, log_w) in enumerate(zip(self.nodes, self.log_weights)):
            u = centre + scale * x
            r = a * u[lev]
            t = interval_terms(self.link, eta1 - r, eta2 - r, self.block_rows)
            loglik = np.bincount(lev, weights=w * t.log_prob, minlength=q)
            if self.adaptive:
                # int exp(g(u)) du, nodes around the mode
                log_terms[k] = log_w + x * x + loglik - 0.5 * u * u
            else:
                log_terms[k] = log_w + 0.5 * x * x + loglik
            if gradient:
                p1s[k], p2s[k] = t.p1, t.p2
                slopes[k] = -np.bincount(lev, weights=w * a * (t.p1 - t.p2), minlength=q) - u
        total = logsumexp(log_terms, axis=0)
        per_level = total - _HALF_LOG_2PI
        if self.adaptive:
            per_level = per_level + np.log(scale)
        value = -float(np.sum(per_level))
        if not np.isfinite(value):
            return np.inf, None
        if not gradient:
            return value, None
        pi = np.exp(log_terms - total)  # (nodes, levels): each level's shares sum to one
        pi_obs = pi[:, lev]
        at_nodes = centre[None, :] + scale[None, :] * self.nodes[:, None]
        # sum_k pi_jk dg_j(u_jk): psi through the two predictors, theta through r = a u
        coef1 = w * np.sum(pi_obs * p1s, axis=0)
        coef2 = -w * np.sum(pi_obs * p2s, axis=0)
        # per row, the derivative in a_i
        coef_a = -w * np.sum(pi_obs * (p1s - p2s) * at_nodes[:, lev], axis=0)
        if self.adaptive:
            parts = CurvatureDerivatives(modes.terms, modes.d, slice(None))
            d0, u_hat = parts.d, centre[lev]
            g3 = -np.bincount(lev, weights=w * a**3 * parts.dd_r, minlength=q)
            c_d = -0.5 * (1.0 + scale * np.sum(pi * slopes * self.nodes[:, None], axis=0))
            c_d = c_d / curvature
            c_u = ((np.sum(pi * slopes, axis=0) - c_d * g3) / curvature)[lev]
            c_d = c_d[lev]
            coef1 += w * (-c_u * a * parts.c1 + c_d * a * a * parts.dd1)
            coef2 += w * (-c_u * a * parts.c2 + c_d * a * a * parts.dd2)
            coef_a += w * (-c_u * (parts.dp + a * u_hat * d0)
                           + c_d * a * (2.0 * d0 + a * u_hat * parts.dd_r))
        fixed = design.fixed
        grad_psi = fixed.transpose_times(coef1, coef2, slice(None), inv_scale, eta1, eta2)
        if inv_scale is not None:
            # everything moves with zeta as (e1, e2, a) / s: a's share of d/dzeta
            grad_psi[fixed.n_psi - fixed.n_zeta:] -= fixed.W.T @ (coef_a * a)
        grad = np.concatenate([grad_psi, [np.dot(coef_a, covariate)]])
        return value, -grad

    def conditional_modes(self, phi: np.ndarray) -> ConditionalModes:
        modes = super().conditional_modes(phi)
        modes.value = self._integrals(phi, modes)[0]
        return modes

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        self.n_evaluations += 1
        try:
            modes = super().conditional_modes(phi)
        except (InnerSolveError, NotPositiveDefinite):
            return np.inf, np.full(len(phi), np.nan)
        value, grad = self._integrals(phi, modes, gradient=True)
        if grad is None:
            return np.inf, np.full(len(phi), np.nan)
        return value, grad
