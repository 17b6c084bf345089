"""The gradient and Hessian in R's coordinates (`Parameterisation`), the Hessian by forward
differences of the exact gradient.

Measured against central differences with the inner solve at 1e-14, forward differences
with a relative step of 1e-7 taken within ``Control.long_step`` of the optimum give standard
errors within 1.6 ppm (wine, soup, simulated single, crossed, nested and slope designs up to
100k rows) and 7 ppm at a million rows: the fourth printed digit is the true one. p
evaluations for p parameters.
"""

from __future__ import annotations

import numpy as np

from ..parameters import Parameterisation


def r_gradient(objective, param: Parameterisation, phi_full, x_free):
    """The objective and its gradient at R coordinates ``x_free``."""
    phi = param.from_r(x_free, phi_full)
    value, grad = objective.value_and_grad(phi)
    return value, param.gradient_to_r(grad, phi)


def r_hessian(objective, param: Parameterisation, phi: np.ndarray, step: float,
              grad_at_phi: np.ndarray | None = None) -> np.ndarray:
    """The Hessian in R's coordinates at phi, symmetrised; steps relative to each
    coordinate's size."""
    x = param.to_r(phi)
    scale = np.maximum(1.0, np.abs(x))
    hess = hessian_directions(objective, param, phi, np.diag(scale), step, grad_at_phi) / scale
    return 0.5 * (hess + hess.T)


def hessian_directions(objective, param: Parameterisation, phi: np.ndarray, directions,
                       step: float, grad_at_phi: np.ndarray | None = None) -> np.ndarray:
    """H d for each row d of ``directions`` (R's coordinates), by forward differences of the
    gradient with steps ``step`` times d; returned as columns."""
    x = param.to_r(phi)
    if grad_at_phi is None:
        _, grad_at_phi = r_gradient(objective, param, phi, x)
    out = np.empty((len(x), len(directions)))
    for i, d in enumerate(directions):
        _, g_plus = r_gradient(objective, param, phi, x + step * np.asarray(d, dtype=float))
        out[:, i] = (g_plus - grad_at_phi) / step
    return out
