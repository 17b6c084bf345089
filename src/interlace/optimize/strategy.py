"""From the start to the optimum: which start, which optimiser, and what to do when a fit is
not yet at an optimum. Each step is recorded in the fit's `OptSummary`.

``auto`` (the default; ``newton`` is its old name): Newton steps from a start with a guessed
Hessian where that is safe, a subsample's fit on large data (from
``Control.subsample_from`` rows) or the clm fit for a single scalar random term (R's log(sd)
coordinate has no bound to run into); otherwise L-BFGS-B from R's start. ``lbfgsb`` and
``bobyqa``: that optimiser from R's start. Every path ends with the Newton polish on a
difference Hessian, and a fit that is not at an optimum (`restart_point`) goes through the
fallback optimiser again, up to ``Control.max_restarts`` times.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..laplace import LaplaceObjective, WarmStart
from ..links import Link
from ..parameters import Parameterisation
from .adapters import run_optimizer
from .control import Control, OptSummary
from .newton import TowardsZero, newton_polish
from .start import clm_start, fit_clm, group_level_directions


@dataclass
class Optimum:
    phi: np.ndarray  # objective units
    param: Parameterisation
    grad_r: np.ndarray  # gradient in R's coordinates
    hess_r: np.ndarray  # Hessian in R's coordinates, from differences taken at phi
    optimizer_ok: bool
    message: str


def maximise(objective, link: Link, theta_start, lower, optimizer: str, control: Control,
             summary: OptSummary, verbose: bool, subsample: bool) -> Optimum:
    """The optimum of ``objective`` from R's start (the clm fit, ``theta_start``)."""
    auto = optimizer in ("auto", "newton")
    # at most once per fit; over the objective's rows wherever they are (its clm_rows)
    clm = cache(lambda: fit_clm(objective.design, link, getattr(objective, "clm_rows", None)))
    start = None
    random = objective.random
    if auto:
        if subsample and random.terms and objective.design.n_obs >= control.subsample_from:
            start = subsample_start(objective, link, theta_start, lower, control, summary,
                                    verbose)
        if start is None and (random.is_single_scalar() or not random.terms):
            start = clm_start(objective, clm(), theta_start)
            summary.start = summary.start or "clm fit, its Hessian as the guess"
    summary.start = summary.start or "clm fit"
    fallback = "lbfgsb" if auto else optimizer
    if start is not None:
        phi, hess_guess, directions = start
        try:
            phi, param, _, grad_r, hess_r, steps = newton_polish(
                objective, phi, lower, control, hess_guess=hess_guess,
                difference_directions=directions, verbose=verbose, give_up_near_zero=True)
            summary.phases.append(f"Newton from the guessed Hessian: {steps} steps")
            summary.n_iter += steps
            opt_ok, message = True, ""
        except TowardsZero as near_zero:
            summary.phases.append("Newton from the guessed Hessian: a standard deviation "
                                  f"heading for 0, handed to {fallback}")
            start = None
            phi, param, grad_r, hess_r, opt_ok, message = _optimise_and_polish(
                objective, near_zero.phi, lower, fallback, control, summary, verbose)
    else:
        phi0 = np.concatenate([clm().psi, theta_start])
        phi, param, grad_r, hess_r, opt_ok, message = _optimise_and_polish(
            objective, phi0, lower, fallback, control, summary, verbose)
    for round_ in range(control.max_restarts):
        restart = restart_point(objective, phi, grad_r, param, control)
        if restart is None:
            break
        why, point = restart
        if why == "stalled" and start is not None and round_ == 0:
            # Newton steps that stall far from an optimum may have been drawn into a poor
            # region (they can creep along a bound); L-BFGS-B starts afresh from R's start
            point = np.concatenate([clm().psi, theta_start])
            why = "stalled Newton steps; from R's start"
        summary.restarts.append(why)
        phi, param, grad_r, hess_r, opt_ok, message = _optimise_and_polish(
            objective, point, lower, fallback, control, summary, verbose)
    return Optimum(phi, param, grad_r, hess_r, opt_ok, message)


def _optimise_and_polish(objective, phi0, lower, optimizer, control, summary, verbose):
    phi, opt_ok, message, n_iter = run_optimizer(objective, phi0, lower, optimizer, control,
                                                 verbose)
    summary.n_iter += n_iter
    phi, param, _, grad_r, hess_r, steps = newton_polish(objective, phi, lower, control)
    summary.phases.append(f"{optimizer}: {n_iter} iterations"
                          + ("" if opt_ok else f" ({message})")
                          + f"; Newton polish: {steps} steps")
    return phi, param, grad_r, hess_r, opt_ok, message


def subsample_start(objective, link: Link, theta_start, lower, control: Control,
                    summary: OptSummary, verbose: bool):
    """A start near the optimum and a Hessian to begin Newton's method with, from a fit to
    one row in ``Control.subsample_share`` (itself started the same way while large); None
    when that sample misses a response category, or its fit does not converge or ends on a
    bound.

    With the start this close, a large fit needs a handful of Newton steps instead of the
    optimiser's dozens, whose number grows with n (the thresholds' curvature grows with the
    rows, theta's with the levels). The sample's Hessian, scaled by the share of the weight,
    is the guess; along the directions whose curvature does not scale with the rows (see
    `group_level_directions`) it is corrected by differences on all the data.
    """
    design = objective.design
    n = design.n_obs
    rows = _sample_rows(design, control)
    sample = design.rows(rows)
    if np.any(np.bincount(sample.response.codes, minlength=design.response.n_levels) == 0):
        summary.subsample_starts.append((len(rows), False, "a response category is missing"))
        return None
    if verbose:
        print(f"start: fit to a random {len(rows):,} of the {n:,} rows", flush=True)
    sample_control = _sample_control(objective, control)
    sample_objective = LaplaceObjective(sample, link, sample_control)
    inner = OptSummary(summary.optimizer, control=control)
    # the sample's own sample (while large) is started with the sample's control
    start = maximise(sample_objective, link, theta_start, lower, "auto", sample_control,
                     inner, verbose, subsample=True)
    summary.subsample_starts.extend(inner.subsample_starts)
    if not np.max(np.abs(start.grad_r), initial=0.0) < control.grad_tol:
        summary.subsample_starts.append((len(rows), False, "its fit did not converge"))
        return None
    if not start.param.free.all():
        # Newton steps from there would hold it to the bound
        summary.subsample_starts.append((len(rows), False, "its fit ends on a bound"))
        return None
    path = "iterative" if sample_objective.iterative else "exact"
    summary.subsample_starts.append(
        (len(rows), True, "" if sample_objective.iterative == getattr(objective, "iterative", False)
         else f"its fit on the {path} path"))
    summary.start = f"fit to a subsample of {len(rows):,} rows"
    # the sample's conditional modes (same levels, same layout) start the first inner solve
    objective.warm_start = WarmStart(sample_objective.warm_start.u.copy())
    hess = start.hess_r * (design.weights.sum() / sample.weights.sum())
    return start.phi, hess, group_level_directions(design, len(hess))


def _sample_control(objective, control: Control) -> Control:
    """The sample's fit is only a start: from ``Control.sample_iterative_from`` random effects
    outside the largest factor it takes the iterative path, whose cost does not grow as their
    cube (the sample keeps every level, so an exact sample fit pays what the full one does)."""
    if (not getattr(objective, "iterative", False)
            and objective.random.q_after_first >= control.sample_iterative_from):
        return dataclasses.replace(control, random_solver="iterative")
    return control


def _sample_rows(design, control: Control) -> np.ndarray:
    """One row in ``subsample_share``, or, where that leaves fewer than
    ``subsample_rows_per_level`` rows per level of the largest grouping factor, the rows of
    one level in ``subsample_share`` of it (each sampled level keeps all its rows)."""
    n, share = design.n_obs, control.subsample_share
    rng = np.random.default_rng(n)
    # levels with rows (a sample keeps the layout of every level, most of them empty)
    present = [np.bincount(t.index, minlength=t.n_levels) > 0 for t in design.random.terms]
    k = int(np.argmax([p.sum() for p in present]))
    if n / (share * present[k].sum()) >= control.subsample_rows_per_level:
        return np.sort(rng.choice(n, n // share, replace=False))
    kept = present[k] & (rng.random(len(present[k])) < 1.0 / share)
    return np.flatnonzero(kept[design.random.terms[k].index])


def restart_point(objective, phi, grad_r, param: Parameterisation, control: Control):
    """None at an optimum; otherwise why not ("stalled" or "bound") and where to start again.

    Stalled: the free parameters' gradient is not small. Bound: a standard deviation held at
    its bound of 0 would lower the objective by moving off it (its derivative there is often
    exactly 0, the objective being even in a column of L, so the value
    ``Control.boundary_probe`` is tried as well), or one held just above the bound is better
    on it. The restart begins at the better value.
    """
    if not np.max(np.abs(grad_r), initial=0.0) < control.grad_tol:
        return "stalled", phi
    if param.free.all():
        return None
    value, grad = objective.value_and_grad(phi)
    noise = 1e-11 * max(1.0, abs(value))
    for k in np.flatnonzero(~param.free):
        probe = phi.copy()
        probe[k] = control.boundary_probe
        if grad[k] < -control.grad_tol or objective.value(probe) < value - noise:
            return "a standard deviation held at 0 is better off it", probe
        if phi[k] > 0:
            # held near the bound but not on it: the bound may be lower
            probe[k] = 0.0
            if objective.value(probe) < value:
                return "a standard deviation near 0 is better at 0", probe
    return None
