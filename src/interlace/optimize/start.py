"""Where a fit starts: the fixed-effects-only model (R's ``clm``) by Newton's method, and a
guess of the full Hessian there, to be corrected along the directions the random effects
share with the fixed part."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..design import ClmmDesign
from ..intervals import interval_terms
from ..links import Link
from ..parameters import Parameterisation

_STEP_TOL = 1e-10  # a Newton step this small, relative to the parameters, has converged
_NEAR = 1e-8  # a predicted decrease below this (relative to the value): take full steps


class ClmFit(NamedTuple):
    psi: np.ndarray
    hessian: np.ndarray  # of the negative log-likelihood at the last Newton step
    n_evaluations: int  # of the likelihood


class ClmRows:
    """The sums over rows the clm fit needs: weighted counts per category, the negative
    log-likelihood and its gradient and Hessian in psi (the interval terms of the last
    value reused by the derivatives at the same psi). In memory here; a partition of a
    cluster's rows holds one for its rows."""

    def __init__(self, design: ClmmDesign, link: Link):
        self.design, self.link, self._last = design, link, None

    def counts(self) -> np.ndarray:
        d = self.design
        return np.bincount(d.response.codes, weights=d.weights, minlength=d.response.n_levels)

    def _terms(self, psi):
        if self._last is None or not np.array_equal(self._last[0], psi):
            self._last = (psi.copy(), interval_terms(self.link, *self.design.fixed.predictors(psi)))
        return self._last[1]

    def value(self, psi) -> float:
        return -float(np.dot(self.design.weights, self._terms(psi).log_prob))

    def gradient(self, psi) -> np.ndarray:
        fixed, w, t = self.design.fixed, self.design.weights, self._terms(psi)
        e1 = e2 = None
        if fixed.W is not None:
            e1, e2 = fixed.predictors(psi)
        return -fixed.transpose_times(w * t.p1, -w * t.p2, slice(None),
                                      fixed.inverse_scale(psi), e1, e2)

    def derivatives(self, psi) -> tuple[np.ndarray, np.ndarray]:
        fixed, w, t = self.design.fixed, self.design.weights, self._terms(psi)
        grad = self.gradient(psi)
        if fixed.W is None:  # second derivatives of log pi in (e1, e2), by the structure
            return grad, -fixed.weighted_products(w * (t.q1 - t.p1**2), w * t.p1 * t.p2,
                                                  -w * (t.q2 + t.p2**2))
        # the scale enters nonlinearly: differences of the exact gradient
        h = 1e-6 * np.maximum(1.0, np.abs(psi))
        hess = np.column_stack([(self.gradient(psi + h[j] * e) - grad) / h[j]
                                for j, e in enumerate(np.eye(len(psi)))])
        self._terms(psi)
        return grad, 0.5 * (hess + hess.T)


def fit_clm(design: ClmmDesign, link: Link, rows=None, max_iter: int = 100) -> ClmFit:
    """Maximum-likelihood psi of the model without random effects, by Newton's method, and
    the Hessian of its negative log-likelihood at the last Newton step; ``rows``: where the
    sums come from (`ClmRows` of the design's rows by default).

    Starts, as R's ``clm`` does, from thresholds at the link quantiles of the cumulative
    proportions and beta = 0.
    """
    rows = ClmRows(design, link) if rows is None else rows
    counts = rows.counts()
    cum = np.cumsum(counts)[:-1] / counts.sum()
    cum = np.clip(cum, 1e-6, 1 - 1e-6)
    alpha0 = link.ppf(cum)
    tau0 = np.linalg.lstsq(design.thresholds.jacobian, alpha0, rcond=None)[0]
    # nominal effects and scale coefficients start at 0, as in R
    psi = np.zeros(design.fixed.n_psi)
    psi[: len(tau0)] = tau0
    evaluations = 0

    def negll(psi):
        nonlocal evaluations
        evaluations += 1
        return rows.value(psi)

    value = negll(psi)
    for _ in range(max_iter):
        grad, hess = rows.derivatives(psi)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrease = float(grad @ step)  # Newton's decrement: the predicted decrease, twice
        if not decrease > 0 or np.max(np.abs(step)) <= _STEP_TOL * max(1.0, np.max(np.abs(psi))):
            if decrease > 0:
                psi = psi - step
            break
        if decrease < _NEAR * max(1.0, abs(value)):
            # The value's rounding can no longer judge a step (a line search halved 40 times
            # in that noise for probit: 2,385 evaluations on wine): here, in Newton's
            # quadratic region, take the full step.
            new_value = negll(psi - step)
            if not np.isfinite(new_value):
                break
            psi, value = psi - step, new_value
            continue
        s = 1.0
        for _ in range(40):
            new_value = negll(psi - s * step)
            if np.isfinite(new_value) and new_value <= value:
                break
            s *= 0.5
        else:
            break
        psi = psi - s * step
        value = new_value
    return ClmFit(psi, hess, evaluations)


def clm_start(objective, clm: ClmFit, theta_start) -> tuple:
    """The start R uses (the clm fit, theta_start) with a guess of the Hessian there: the clm
    Hessian for the fixed part, to be corrected along `group_level_directions`."""
    phi = np.concatenate([clm.psi, theta_start])
    param = Parameterisation.at(objective, phi)
    n_free = int(param.free.sum())
    guess = np.eye(n_free)
    guess[: objective.n_psi, : objective.n_psi] = clm.hessian
    return phi, guess, group_level_directions(objective.design, n_free)


def group_level_directions(design: ClmmDesign, n_free: int) -> np.ndarray:
    """Directions (rows, R's coordinates) whose curvature grows with the number of levels
    rather than the rows: each free theta, and each fixed effect a random term can absorb —
    the common shift of the thresholds for a random intercept, a coefficient for a random
    slope on the same covariate."""
    n_psi = design.n_psi
    n_tau = design.thresholds.jacobian.shape[1]
    directions = list(np.eye(n_free)[n_psi:])
    absorbed = {name for term in design.random.terms for name in term.coef_names}
    if "(Intercept)" in absorbed:
        shift = np.zeros(n_free)
        # the threshold parameters that move every threshold by one
        shift[:n_tau] = np.linalg.lstsq(design.thresholds.jacobian,
                                        np.ones(design.thresholds.jacobian.shape[0]),
                                        rcond=None)[0]
        directions.append(shift)
    for j, name in enumerate(design.beta_names):
        if name in absorbed:
            directions.append(np.eye(n_free)[design.fixed.n_tau + j])
    return np.array(directions).reshape(-1, n_free)
