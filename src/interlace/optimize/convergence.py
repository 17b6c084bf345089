"""Whether a fit is at an optimum that can be trusted, as lme4's ``checkConv``: a small
gradient, converged conditional modes, a positive definite Hessian, identified parameters.
Every problem found is said; a fit with one is reported as not converged."""

from __future__ import annotations

import numpy as np

from ..design import ClmmDesign
from .control import Control


def check_convergence(design: ClmmDesign, max_grad: float, optimizer_ok: bool, message: str,
                      modes_converged: bool, hessian: np.ndarray, control: Control):
    """(problems, vcov): what is wrong, in words, and the inverse Hessian (None if it is
    not positive definite). ``hessian`` is in R's coordinates and the data's units."""
    problems = []
    if not max_grad < control.grad_tol:
        # an optimiser's complaint matters only if the gradient confirms it
        if not optimizer_ok:
            problems.append(f"the optimiser reported: {message}")
        problems.append(f"max|gradient| = {max_grad:.2e} is above {control.grad_tol:g}")
    if not modes_converged:
        problems.append("the conditional modes did not converge")
    vcov = None
    try:
        inv_chol = np.linalg.inv(np.linalg.cholesky(hessian))
        vcov = inv_chol.T @ inv_chol
    except np.linalg.LinAlgError:
        problems.append("the Hessian is not positive definite, so standard errors are unavailable")
    if np.all(np.isfinite(hessian)):
        unidentified = unidentified_parameters(design, hessian, control.unidentified_se)
        if unidentified:
            problems.append(
                f"parameter(s) {unidentified} are not identified (standard errors above "
                f"{control.unidentified_se:g} on the latent scale): the response may be "
                "separated by them; remove them or merge categories")
    return problems, vcov


def unidentified_parameters(design: ClmmDesign, hessian: np.ndarray, limit: float) -> list[str]:
    """Threshold parameters and coefficients the data do not pin down (separation).

    ``hessian`` is in the data's units; coefficients are judged per standard deviation of
    their column, so a covariate's scale does not matter; thresholds on the latent scale. The variances come from |H|^-1 (H's eigenvalues taken in absolute value), which is
    H^-1 when H is positive definite and still names the parameters of a flat direction
    whose curvature rounding has made 0 or slightly negative.
    """
    eigval, eigvec = np.linalg.eigh(hessian)
    with np.errstate(divide="ignore"):
        variance = (eigvec**2 / np.abs(eigval)).sum(axis=1)
    se = np.sqrt(variance[: design.n_psi])
    bad = se * design.psi_scale > limit
    return [name for name, b in zip(design.psi_names, bad) if b]
