"""The fixed part of the two linear predictors, stored by its structure.

An observation in category y has the upper and lower predictors (ordinal's ``clm`` layout)

    e1 = upper[y] @ tau - x's beta + o1,    e2 = lower[y] @ tau - x's beta + o2,

with tau the threshold parameters, ``upper``/``lower`` the (K x n_tau) tables of the
threshold structure's Jacobian rows (`design.threshold_tables`), x's the covariates per
standard deviation of their column (``x_scale``; the coefficients the optimiser sees are per
SD), ``o1 = +inf`` in the top category, ``o2 = -inf`` in the bottom one, offsets subtracted.
Written as matrices, e1 = B1 psi + o1 and e2 = B2 psi + o2 with B1 = [upper[y], -X_s] and
B2 = [lower[y], -X_s]; those (n x n_psi) matrices are never formed: every product the fit
needs is taken in this form (bincounts over the categories, then X once). Nominal and scale
effects extend this structure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass
class FixedPart:
    codes: np.ndarray  # (n,) response category 0..K-1
    upper: np.ndarray  # (K, n_tau): row y is the upper threshold of category y in tau
    lower: np.ndarray  # (K, n_tau): row y is the lower threshold
    X: np.ndarray  # (n, p) covariates, each column per its standard deviation
    x_scale: np.ndarray  # (p,) standard deviation of each column of the data's X
    o1: np.ndarray  # (n,) +inf in the top category, else minus the offset
    o2: np.ndarray  # (n,) -inf in the bottom category, else minus the offset

    @property
    def n_obs(self) -> int:
        return len(self.codes)

    @property
    def n_tau(self) -> int:
        return self.upper.shape[1]

    @property
    def n_psi(self) -> int:
        return self.n_tau + self.X.shape[1]

    @property
    def n_categories(self) -> int:
        return self.upper.shape[0]

    def predictors(self, psi: np.ndarray, rows=slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """(e1, e2) at psi for the given rows."""
        tau, beta = psi[: self.n_tau], psi[self.n_tau:]
        codes = self.codes[rows]
        xb = self.X[rows] @ beta
        return ((self.upper @ tau)[codes] - xb + self.o1[rows],
                (self.lower @ tau)[codes] - xb + self.o2[rows])

    def by_category(self, a: np.ndarray, rows=slice(None)) -> np.ndarray:
        """(K,) sums of ``a`` over the given rows in each category."""
        return np.bincount(self.codes[rows], weights=a, minlength=self.n_categories)

    def transpose_times(self, a1: np.ndarray, a2: np.ndarray, rows=slice(None)) -> np.ndarray:
        """B1' a1 + B2' a2 over the given rows: the psi-gradient of sum a1 e1 + a2 e2."""
        tau = self.upper.T @ self.by_category(a1, rows) + self.lower.T @ self.by_category(a2, rows)
        return np.concatenate([tau, -(self.X[rows].T @ (a1 + a2))])

    def weighted_products(self, w11: np.ndarray, w12: np.ndarray,
                          w22: np.ndarray) -> np.ndarray:
        """B1' W11 B1 + B1' W12 B2 + B2' W12 B1 + B2' W22 B2 (diagonal W's): the Hessian of
        sum_i l_i(e1_i, e2_i) in psi for second derivatives w11, w12, w22."""
        K, X = self.n_categories, self.X
        s11, s12, s22 = (self.by_category(w) for w in (w11, w12, w22))
        up, lo = self.upper, self.lower
        tau_tau = (up.T @ (s11[:, None] * up) + up.T @ (s12[:, None] * lo)
                   + lo.T @ (s12[:, None] * up) + lo.T @ (s22[:, None] * lo))
        # per category, the X rows weighted by what meets the upper and the lower table
        c1, c2 = w11 + w12, w12 + w22
        m1 = np.stack([np.bincount(self.codes, weights=c1 * x, minlength=K) for x in X.T], 1)
        m2 = np.stack([np.bincount(self.codes, weights=c2 * x, minlength=K) for x in X.T], 1)
        tau_beta = -(up.T @ m1.reshape(K, -1) + lo.T @ m2.reshape(K, -1))
        beta_beta = X.T @ ((c1 + c2)[:, None] * X)
        return np.block([[tau_tau, tau_beta], [tau_beta.T, beta_beta]])

    def rows(self, index: np.ndarray) -> FixedPart:
        """The same structure on a subset of the observations."""
        return dataclasses.replace(self, codes=self.codes[index], X=self.X[index],
                                   o1=self.o1[index], o2=self.o2[index])
