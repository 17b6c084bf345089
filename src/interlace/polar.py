"""Profiles of a vector random term's standard deviations and correlations, as quantities of
their own (not L's entries, R's ``ST``).

Row j of the term's L is written sd_j * u_j with u_j a unit vector in hyperspherical angles,
u_j = (cos a_1, sin a_1 cos a_2, ..., sin a_1 ... sin a_j), every a in [0, pi]: then each
standard deviation sd_j is a coordinate, and so is the correlation of term j with the first,
cor_0j = u_0 . u_j = cos a_1 (u_0 = e_0). The profile optimises over these coordinates (the
objective's exact gradient chained through the map's Jacobian) with the one in question held.
A correlation between two later terms i and k is the first-term correlation of the same
covariance with its coefficients reordered (i, k, the rest): the map then runs through that
order, Sigma = P' L_p L_p' P and L = chol(Sigma), so every correlation is profiled the same way.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize


def _unit(angles: np.ndarray) -> np.ndarray:
    out = np.ones(len(angles) + 1)
    for i, a in enumerate(angles):
        out[i] *= np.cos(a)
        out[i + 1:] *= np.sin(a)
    return out


def _semidefinite_cholesky(sigma: np.ndarray) -> np.ndarray:
    """Lower L with L L' = sigma for a positive semi-definite sigma (a zero pivot gives a zero
    column, where numpy's cholesky fails): a profile may hold an SD at 0."""
    r = len(sigma)
    L = np.zeros_like(sigma)
    for j in range(r):
        pivot = sigma[j, j] - L[j, :j] @ L[j, :j]
        if pivot <= 1e-14 * max(1.0, sigma[j, j]):
            continue
        L[j, j] = np.sqrt(pivot)
        L[j + 1:, j] = (sigma[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


class PolarTerm:
    """The map between one term's theta entries (R's ST order) and (sds, angles) of the
    Cholesky factor of its covariance with the coefficients in ``order``."""

    def __init__(self, term, offset: int, order=None):
        self.term = term
        self.offset = offset  # where the term's theta starts in phi
        self.r = term.size
        self.positions = term.tril_positions()
        self.order = np.arange(self.r) if order is None else np.asarray(order)
        self.reordered = not np.array_equal(self.order, np.arange(self.r))

    def to_theta(self, sds: np.ndarray, angles: list) -> np.ndarray:
        L = np.zeros((self.r, self.r))
        for j in range(self.r):
            L[j, : j + 1] = sds[j] * _unit(np.asarray(angles[j], dtype=float))
        if self.reordered:
            back = np.argsort(self.order)
            L = _semidefinite_cholesky((L @ L.T)[np.ix_(back, back)])
        return np.array([L[i, k] for i, k in self.positions])

    def from_theta(self, theta: np.ndarray) -> tuple[np.ndarray, list]:
        L = self.term.factor(theta)
        if self.reordered:
            L = _semidefinite_cholesky((L @ L.T)[np.ix_(self.order, self.order)])
        sds = np.sqrt((L**2).sum(axis=1))
        angles = []
        for j in range(self.r):
            u = L[j, : j + 1] / sds[j] if sds[j] > 0 else np.eye(j + 1)[0]
            a, rest = [], 1.0
            for i in range(j):
                a.append(float(np.arccos(np.clip(u[i] / rest, -1, 1))) if rest > 1e-15 else 0.0)
                rest *= np.sin(a[-1])
            angles.append(a)
        return sds, angles

    def pack(self, sds, angles) -> np.ndarray:
        return np.concatenate([sds] + [np.asarray(a, dtype=float) for a in angles])

    def unpack(self, x: np.ndarray):
        sds, pos, angles = x[: self.r], self.r, []
        for j in range(self.r):
            angles.append(x[pos: pos + j])
            pos += j
        return sds, angles

    def theta_of(self, x: np.ndarray) -> np.ndarray:
        return self.to_theta(*self.unpack(x))

    def bounds(self) -> list:
        n_angles = self.r * (self.r - 1) // 2
        return [(0.0, np.inf)] * self.r + [(0.0, np.pi)] * n_angles

    def jacobian(self, x: np.ndarray, h: float = 1e-7) -> np.ndarray:
        """d theta / d x by central differences of the (cheap, smooth) map."""
        cols = [(self.theta_of(x + h * e) - self.theta_of(x - h * e)) / (2 * h)
                for e in np.eye(len(x))]
        return np.column_stack(cols)


def polar_for(term, offset: int, kind: str, which) -> tuple[PolarTerm, int]:
    """The map for one quantity and the position of that quantity among its coordinates:
    sd ``which`` (a row), or the correlation of the pair ``which`` = (i, k), i < k."""
    if kind == "sd":
        return PolarTerm(term, offset), which
    i, k = which
    if i == 0:  # cos of the first angle of row k
        return PolarTerm(term, offset), term.size + k * (k - 1) // 2
    rest = [j for j in range(term.size) if j not in (i, k)]
    return PolarTerm(term, offset, [i, k] + rest), term.size  # row 1's first angle


def profile_value(objective, phi_hat, polar: PolarTerm, k: int, value: float) -> float:
    """min over everything else of the objective, with packed coordinate k of the term held
    at ``value``, starting from phi_hat."""
    lo, hi = polar.offset, polar.offset + polar.term.n_theta
    x_hat = polar.pack(*polar.from_theta(phi_hat[lo:hi]))
    n_other = len(phi_hat) - polar.term.n_theta
    other_hat = np.concatenate([phi_hat[:lo], phi_hat[hi:]])
    free = np.ones(len(x_hat), bool)
    free[k] = False

    def phi_of(z):
        x = x_hat.copy()
        x[free] = z[n_other:]
        x[k] = value
        other = z[:n_other]
        return np.concatenate([other[:lo], polar.theta_of(x), other[lo:]]), x

    def fun(z):
        phi, x = phi_of(z)
        v, g = objective.value_and_grad(phi)
        if not np.isfinite(v):
            return np.inf, np.zeros_like(z)
        g_theta = g[lo:hi]
        g_x = polar.jacobian(x).T @ g_theta
        return v, np.concatenate([g[:lo], g[hi:], g_x[free]])

    lower = objective.random.theta_lower_bounds()
    other_lower = np.concatenate([np.full(objective.n_psi, -np.inf), lower])
    other_lower = np.concatenate([other_lower[:lo], other_lower[hi:]])
    bounds = ([(b, np.inf) for b in other_lower]
              + [b for b, f in zip(polar.bounds(), free) if f])
    z0 = np.concatenate([other_hat, x_hat[free]])
    res = scipy.optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500})
    return float(res.fun)


def vector_quantities(objective) -> dict:
    """name -> (term index, "sd", row) or (term index, "cor", (i, k)) for the vector terms'
    SDs and correlations, named as tidy() names them."""
    out = {}
    for t, term in enumerate(objective.random.terms):
        if term.size < 2:
            continue
        names = term.coef_names
        for j, nm in enumerate(names):
            out[f"sd({nm}|{term.key})"] = (t, "sd", j)
        for i in range(term.size):
            for k in range(i + 1, term.size):
                out[f"cor({names[i]},{names[k]}|{term.key})"] = (t, "cor", (i, k))
    return out
