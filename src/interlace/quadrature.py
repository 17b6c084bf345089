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

The conditional modes and curvatures come from the Laplace objective's inner Newton solve;
the gradient is by central differences (the quadrature sum has no cheap exact one).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .design import ClmmDesign
from .intervals import log_interval_prob
from .laplace import ConditionalModes, LaplaceObjective
from .links import Link

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)
_FD_STEP = 1e-5


class QuadratureObjective(LaplaceObjective):
    """The negative log-likelihood by (adaptive) Gauss-Hermite quadrature."""

    def __init__(self, design: ClmmDesign, link: Link, n_agq: int):
        if not design.random.is_single_scalar():
            raise ValueError(
                f"nAGQ={n_agq}: quadrature needs a single scalar random-effect term, such as "
                "(1|g); with several terms or random slopes use nAGQ=1 (Laplace)"
            )
        # The quadrature sum is not stationary in u at the mode, so the conditional modes are
        # solved to the floor of precision: finite differences of the value then stay clean.
        super().__init__(design, link, step_tol=1e-13)
        self.exact_gradient = False
        self.hessian_step = 1e-4
        self.n_agq = n_agq
        self.adaptive = n_agq > 0
        self.nodes, weights = np.polynomial.hermite.hermgauss(abs(n_agq))
        self.log_weights = np.log(weights)
        self.level = design.random.terms[0].index
        self.covariate = design.random.terms[0].covariates[:, 0]

    def _integrals(self, phi: np.ndarray, modes: ConditionalModes) -> float:
        """-log L by quadrature, given the conditional modes at phi."""
        psi, theta = self.split(phi)
        design = self.design
        q = self.random.q
        eta1 = design.B1 @ psi + design.o1
        eta2 = design.B2 @ psi + design.o2
        lam = theta[0] * self.covariate  # a_i = x_i * theta for a scalar term
        if self.adaptive:
            curvature = 1.0 / modes.factor.inv11[:, 0, 0]  # H_jj at the mode
            scale = np.sqrt(2.0 / curvature)
            centre = modes.u
        else:
            scale = np.ones(q)
            centre = np.zeros(q)
        log_terms = np.empty((len(self.nodes), q))
        for k, (x, log_w) in enumerate(zip(self.nodes, self.log_weights)):
            u = centre + scale * x
            r = lam * u[self.level]
            lp = log_interval_prob(self.link, eta1 - r, eta2 - r)
            loglik = np.bincount(self.level, weights=design.weights * lp, minlength=q)
            if self.adaptive:
                # int exp(-h(u)) du with h(u) = -l(u) + u^2/2, nodes around the mode
                log_terms[k] = log_w + x * x + loglik - 0.5 * u * u
            else:
                log_terms[k] = log_w + 0.5 * x * x + loglik
        per_level = logsumexp(log_terms, axis=0) - _HALF_LOG_2PI
        if self.adaptive:
            per_level = per_level + np.log(scale)
        value = -float(np.sum(per_level))
        return value if np.isfinite(value) else np.inf

    def conditional_modes(self, phi: np.ndarray) -> ConditionalModes:
        modes = super().conditional_modes(phi)
        modes.value = self._integrals(phi, modes)
        return modes

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        value = self.value(phi)
        if not np.isfinite(value):
            return value, np.full(len(phi), np.nan)
        grad = np.empty(len(phi))
        for j in range(len(phi)):
            h = _FD_STEP * max(1.0, abs(phi[j]))
            step = np.zeros(len(phi))
            step[j] = h
            grad[j] = (self.value(phi + step) - self.value(phi - step)) / (2 * h)
        self.conditional_modes(phi)  # the warm start back at phi
        return value, grad
