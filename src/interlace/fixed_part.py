"""The fixed part of the two linear predictors, stored by its structure.

An observation in category y has the upper and lower predictors (ordinal's ``clm`` layout)

    e1 = (sum_j n_j upper[y] @ tau_j - x's beta - offset + o1) / s,
    e2 = (sum_j n_j lower[y] @ tau_j - x's beta - offset + o2) / s,    s = exp(w's zeta),

with ``upper``/``lower`` the (K x n_alpha) tables of the threshold structure's Jacobian rows
(`design.threshold_tables`), n the row of the nominal design (n_0 = 1: tau_0 are the
threshold parameters; tau_j, j > 0, the nominal effects of column j, one per threshold
parameter, as R's ``clm`` applies the structure to each nominal column), x's and w's the
covariates and scale covariates per standard deviation of their column (the coefficients
the optimiser sees are per SD), ``o1 = +inf`` in the top category, ``o2 = -inf`` in the
bottom one (`FixedPart.ends`), else 0. psi = (tau_0, ..., tau_m-1, beta, zeta).

The (n x n_psi) matrices of derivatives are never formed: every product the fit needs is
taken in this form (bincounts over the categories, then X, N and W once). A random part r
enters as (... - r) / s: `transpose_times` and `random_cross` take the chain rule through
the scale for whatever enters the predictors (E = (e_lin - r) / s, dE/dzeta = -E w).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .rows import take_rows


@dataclass
class FixedPart:
    codes: np.ndarray  # (n,) response category 0..K-1
    upper: np.ndarray  # (K, n_alpha): row y is the upper threshold of category y in tau_j
    lower: np.ndarray  # (K, n_alpha): row y is the lower threshold
    X: np.ndarray  # (n, p) covariates, each column per its standard deviation
    x_scale: np.ndarray  # (p,) standard deviation of each column of the data's X
    offset: np.ndarray  # (n,) the offset (`rows.shared_rows`: one row where there is none)
    N: np.ndarray | None = None  # (n, m) nominal design, column 0 ones, others per SD
    n_scale: np.ndarray | None = None  # (m,) SD of each nominal column (1 for the first)
    W: np.ndarray | None = None  # (n, s) scale covariates per SD (no intercept)
    w_scale: np.ndarray | None = None  # (s,)
    # the thresholds above the top category and below the bottom one (R's clmm stands in
    # +-1e5 for them)
    ends: tuple[float, float] = (np.inf, -np.inf)

    @property
    def n_obs(self) -> int:
        return len(self.codes)

    @property
    def n_alpha(self) -> int:
        """Threshold parameters per nominal column."""
        return self.upper.shape[1]

    @property
    def n_nominal(self) -> int:
        """Columns of the nominal design, its intercept included."""
        return 1 if self.N is None else self.N.shape[1]

    @property
    def n_tau(self) -> int:
        """Threshold and nominal parameters."""
        return self.n_alpha * self.n_nominal

    @property
    def n_beta(self) -> int:
        return self.X.shape[1]

    @property
    def n_zeta(self) -> int:
        return 0 if self.W is None else self.W.shape[1]

    @property
    def n_psi(self) -> int:
        return self.n_tau + self.n_beta + self.n_zeta

    @property
    def n_categories(self) -> int:
        return self.upper.shape[0]

    @property
    def psi_scale(self) -> np.ndarray:
        """Objective units per data unit of each entry of psi."""
        n_scale = np.ones(1) if self.n_scale is None else self.n_scale
        w_scale = np.zeros(0) if self.w_scale is None else self.w_scale
        return np.concatenate([np.repeat(n_scale, self.n_alpha), self.x_scale, w_scale])

    def split(self, psi: np.ndarray):
        """(tau as an (m, n_alpha) array, beta, zeta)."""
        n_tau, p = self.n_tau, self.n_beta
        return (psi[:n_tau].reshape(self.n_nominal, self.n_alpha), psi[n_tau: n_tau + p],
                psi[n_tau + p:])

    def inverse_scale(self, psi: np.ndarray, rows=slice(None)) -> np.ndarray | None:
        """1 / s per row; None without scale effects."""
        if self.W is None:
            return None
        return np.exp(-(self.W[rows] @ self.split(psi)[2]))

    def predictors(self, psi: np.ndarray, rows=slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """(e1, e2) at psi for the given rows."""
        tau, beta, _ = self.split(psi)
        codes = self.codes[rows]
        xb = self.X[rows] @ beta
        up, lo = self.upper @ tau.T, self.lower @ tau.T  # (K, m)
        if self.N is None:
            t1, t2 = up[codes, 0], lo[codes, 0]
        else:
            n = self.N[rows]
            t1 = np.einsum("ij,ij->i", n, up[codes])
            t2 = np.einsum("ij,ij->i", n, lo[codes])
        end1, end2 = np.zeros(self.n_categories), np.zeros(self.n_categories)
        end1[-1], end2[0] = self.ends
        lin = xb + self.offset[rows]
        e1, e2 = t1 + end1[codes] - lin, t2 + end2[codes] - lin
        inv_s = self.inverse_scale(psi, rows)
        if inv_s is not None:
            e1 *= inv_s
            e2 *= inv_s
        return e1, e2

    def by_category(self, a: np.ndarray, rows=slice(None)) -> np.ndarray:
        """(K,) sums of ``a`` over the given rows in each category."""
        return np.bincount(self.codes[rows], weights=a, minlength=self.n_categories)

    def _nominal(self, a: np.ndarray, rows):
        """``a`` times each nominal column (the first is ones)."""
        yield a
        if self.N is not None:
            for col in self.N[rows, 1:].T:
                yield a * col

    def transpose_times(self, a1: np.ndarray, a2: np.ndarray, rows=slice(None),
                        inv_scale=None, e1=None, e2=None) -> np.ndarray:
        """The psi-gradient of sum a1 E1 + a2 E2 over the given rows, with E = (e_lin - r)
        / s the arguments of the link (``e1``, ``e2``: their values, needed with scale
        effects; ``inv_scale``: 1 / s on these rows)."""
        b1, b2 = (a1, a2) if inv_scale is None else (a1 * inv_scale, a2 * inv_scale)
        tau = [self.upper.T @ self.by_category(c1, rows) + self.lower.T @ self.by_category(c2, rows)
               for c1, c2 in zip(self._nominal(b1, rows), self._nominal(b2, rows))]
        parts = tau + [-(self.X[rows].T @ (b1 + b2))]
        if self.W is not None:
            parts.append(-(self.W[rows].T @ scaled_sum(a1, e1, a2, e2)))
        return np.concatenate(parts)

    def random_cross(self, at_by_category, at_matrix, c1, c2, g, rows=slice(None),
                     inv_scale=None, e1=None, e2=None) -> np.ndarray:
        """(q, n_psi): the psi-derivative of A' g over the given rows, for g a function of
        (E1, E2) with derivatives c1, c2 and A's rows divided by s (so that A moves with
        zeta too). ``at_by_category(y, rows)``: (q, K) of A' y per response category;
        ``at_matrix(Y, rows)``: A' Y."""
        b1, b2 = (c1, c2) if inv_scale is None else (c1 * inv_scale, c2 * inv_scale)
        parts = [at_by_category(n1, rows) @ self.upper + at_by_category(n2, rows) @ self.lower
                 for n1, n2 in zip(self._nominal(b1, rows), self._nominal(b2, rows))]
        if self.n_beta:
            parts.append(at_matrix(self.X[rows] * -(b1 + b2)[:, None], rows))
        if self.W is not None:
            parts.append(at_matrix(self.W[rows] * -(scaled_sum(c1, e1, c2, e2) + g)[:, None],
                                   rows))
        return np.hstack(parts)

    def weighted_products(self, w11: np.ndarray, w12: np.ndarray,
                          w22: np.ndarray) -> np.ndarray:
        """B1' W11 B1 + B1' W12 B2 + B2' W12 B1 + B2' W22 B2 (diagonal W's) in (tau, beta),
        with B the predictors' derivatives: the Hessian of sum_i l_i(e1_i, e2_i) for second
        derivatives w11, w12, w22 without scale effects."""
        K, X, up, lo = self.n_categories, self.X, self.upper, self.lower
        nominal = [None] if self.N is None else [None] + list(self.N[:, 1:].T)

        def by(weights, a, b):
            if a is not None:
                weights = weights * a
            if b is not None:
                weights = weights * b
            return self.by_category(weights)

        tau_tau = np.block([[up.T @ (by(w11, a, b)[:, None] * up)
                             + up.T @ (by(w12, a, b)[:, None] * lo)
                             + lo.T @ (by(w12, a, b)[:, None] * up)
                             + lo.T @ (by(w22, a, b)[:, None] * lo) for b in nominal]
                            for a in nominal])
        # per category, the X rows weighted by what meets the upper and the lower table
        c1, c2 = w11 + w12, w12 + w22
        tau_beta = np.vstack([
            -(up.T @ np.stack([by(c1, a, x) for x in X.T] + [np.zeros(K)], 1)[:, :-1]
              + lo.T @ np.stack([by(c2, a, x) for x in X.T] + [np.zeros(K)], 1)[:, :-1])
            for a in nominal])
        beta_beta = X.T @ ((c1 + c2)[:, None] * X)
        return np.block([[tau_tau, tau_beta], [tau_beta.T, beta_beta]])

    def rows(self, index: np.ndarray) -> FixedPart:
        """The same structure on a subset of the observations."""
        return dataclasses.replace(
            self, codes=self.codes[index], X=self.X[index], offset=take_rows(self.offset, index),
            N=None if self.N is None else self.N[index],
            W=None if self.W is None else self.W[index])


def scaled_sum(a1, e1, a2, e2) -> np.ndarray:
    """a1 e1 + a2 e2 with 0 where a predictor is infinite (the end categories, where its
    coefficient is 0 too)."""
    with np.errstate(invalid="ignore"):
        return (np.where(np.isfinite(e1), a1 * e1, 0.0)
                + np.where(np.isfinite(e2), a2 * e2, 0.0))
