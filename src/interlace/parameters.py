"""The parameters phi = (threshold parameters, beta, theta) in their three coordinate systems.

- the objective's: coefficients and random-effect covariates per standard deviation of
  their column, so that a covariate's units cannot stall a fit (what optimisers see);
- the data's: ``phi_objective / scale`` (what results report);
- R's, at a point: the parameters off the boundary, with log(sd) for a single scalar random
  term (R's fast path), the ST entries otherwise; R's Hessian and vcov are in these.

`Parameterisation` holds the conversions, for values, gradients, Hessians and covariances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Parameterisation:
    n_psi: int
    log_theta: bool  # theta enters R's coordinates as log(sd)
    free: np.ndarray  # boolean over phi: not on the boundary
    scale: np.ndarray  # objective units per data unit, per entry of phi

    @classmethod
    def at(cls, objective, phi: np.ndarray) -> Parameterisation:
        """R's coordinates at phi (objective units): the boundary decides what is free."""
        random, n_psi = objective.random, objective.n_psi
        free = np.concatenate([np.ones(n_psi, bool), ~random.boundary(phi[n_psi:])])
        return cls(n_psi, random.is_single_scalar(), free, objective.design.phi_scale)

    # -- the data's units ------------------------------------------------------------------
    def to_data(self, phi: np.ndarray) -> np.ndarray:
        return phi / self.scale

    def from_data(self, phi_data: np.ndarray) -> np.ndarray:
        return phi_data * self.scale

    def coordinate_scale(self) -> np.ndarray:
        """Per R coordinate, the objective's units per data unit; log(sd) only shifts with
        the units, so its scale is 1."""
        c = self.scale.copy()
        if self.log_theta:
            c[self.n_psi:] = 1.0
        return c[self.free]

    def hessian_to_data(self, hessian_r: np.ndarray) -> np.ndarray:
        """R-coordinate Hessian in the objective's units to the data's: C H C."""
        c = self.coordinate_scale()
        return hessian_r * np.outer(c, c)

    def vcov_to_objective(self, vcov_r: np.ndarray) -> np.ndarray:
        """R-coordinate covariance in the data's units to the objective's: C V C."""
        c = self.coordinate_scale()
        return vcov_r * np.outer(c, c)

    # -- R's coordinates ---------------------------------------------------------------------
    def to_r(self, phi: np.ndarray) -> np.ndarray:
        x = phi.copy()
        if self.log_theta:
            with np.errstate(divide="ignore"):
                x[self.n_psi:] = np.log(x[self.n_psi:])
        return x[self.free]

    def from_r(self, x_free: np.ndarray, phi_full: np.ndarray) -> np.ndarray:
        """phi with its free entries from R's coordinates, the rest from ``phi_full``."""
        x = phi_full.copy()
        if self.log_theta:
            with np.errstate(divide="ignore"):
                x[self.n_psi:] = np.log(x[self.n_psi:])
        x[self.free] = x_free
        if self.log_theta:
            x[self.n_psi:] = np.exp(x[self.n_psi:])
        return x

    def gradient_to_r(self, grad: np.ndarray, phi: np.ndarray) -> np.ndarray:
        g = grad.copy()
        if self.log_theta:
            g[self.n_psi:] = g[self.n_psi:] * phi[self.n_psi:]
        return g[self.free]
