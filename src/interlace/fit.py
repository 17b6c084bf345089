"""Fitting: starting values, the outer optimiser, a Newton polish, the Hessian and standard errors.

``clmm()`` parses the formula, builds the design and the Laplace objective and starts, as R
does, from the fixed-effects-only fit (``clm``) and theta = identity. For a single scalar
random term the default optimiser takes Newton steps on the exact gradient from a guessed
Hessian (clm's, corrected by differences along the directions the random effects share with
the fixed part), BFGS-updated while the steps are long; from `SUBSAMPLE_FROM` rows the start
and the guess come from a fit to a random eighth of the rows, for any model. Otherwise, or if
chosen, L-BFGS-B (or BOBYQA) runs from R's start; it also takes over when Newton stalls.
Every fit ends with Newton steps on a Hessian from forward differences of the exact gradient,
taken near the optimum, until the gradient is at the floor of precision. Standard errors come from that Hessian in R's parameterisation (see
`RParameterisation`), so that ``vcov`` and ``cond.H`` are R's."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import scipy.optimize
from threadpoolctl import ThreadpoolController

from .design import ClmmDesign, build_design
from .formula import parse_formula
from .intervals import interval_terms
from .laplace import LaplaceObjective
from .links import Link, get_link
from .memory import reuse_large_blocks
from .quadrature import QuadratureObjective
from .result import CLMMResult, ConvergenceWarning

OPTIMIZERS = ("newton", "lbfgsb", "bobyqa")
GRAD_TOL = 1e-4  # max |gradient| below which a fit counts as converged


def _check_arguments(*, link, threshold, nAGQ, optimizer, na_action, verbose, threads):
    """Each argument of the right type and among its choices, named when it is not."""
    from .links import LINKS
    from .thresholds import THRESHOLD_STRUCTURES as STRUCTURES

    for name, value, choices in (("link", link, LINKS), ("threshold", threshold, STRUCTURES),
                                 ("optimizer", optimizer, OPTIMIZERS),
                                 ("na_action", na_action, ("drop", "raise"))):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"unknown {name} {value!r}; choose one of "
                             f"{', '.join(map(repr, choices))}")
    if (isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer))
            or nAGQ in (0, -1)):
        raise ValueError(
            f"nAGQ must be an integer: 1 (Laplace), n > 1 (adaptive Gauss-Hermite with n "
            f"points) or -n < -1 (non-adaptive), got {nAGQ!r}")
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, not {verbose!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(
            threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be a whole number of at least 1, or None, "
                         f"not {threads!r}")


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """Scanning the loaded libraries costs milliseconds; do it once per process."""
    return ThreadpoolController()


UNIDENTIFIED_SE = 100.0  # standard error, in latent units per SD of x, that means no information


def _unidentified(design: ClmmDesign, hessian: np.ndarray) -> list[str]:
    """Threshold parameters and coefficients the data do not pin down (separation).

    Coefficients are judged per standard deviation of their column, so a covariate's scale
    does not matter; thresholds on the latent scale. The variances come from |H|^-1 (H's
    eigenvalues taken in absolute value), which is H^-1 when H is positive definite and still
    names the parameters of a flat direction whose curvature rounding has made 0 or slightly
    negative.
    """
    eigval, eigvec = np.linalg.eigh(hessian)
    with np.errstate(divide="ignore"):
        variance = (eigvec**2 / np.abs(eigval)).sum(axis=1)
    se = np.sqrt(variance[: design.n_psi])
    bad = se * design.psi_scale > UNIDENTIFIED_SE
    return [name for name, b in zip(design.psi_names, bad) if b]


_STEP_TOL = 1e-10  # a Newton step this small, relative to the parameters, has converged
_NEAR = 1e-8  # a predicted decrease below this (relative to the value): take full steps


class ClmFit(NamedTuple):
    psi: np.ndarray
    hessian: np.ndarray  # of the negative log-likelihood at the last Newton step
    n_evaluations: int  # of the likelihood


def fit_clm(design: ClmmDesign, link: Link, max_iter: int = 100) -> ClmFit:
    """Maximum-likelihood psi of the model without random effects, by Newton's method, and
    the Hessian of its negative log-likelihood at the last Newton step.

    Starts, as R's ``clm`` does, from thresholds at the link quantiles of the cumulative
    proportions and beta = 0.
    """
    K = design.response.n_levels
    w = design.weights
    counts = np.bincount(design.response.codes, weights=w, minlength=K)
    cum = np.cumsum(counts)[:-1] / counts.sum()
    cum = np.clip(cum, 1e-6, 1 - 1e-6)
    alpha0 = link.ppf(cum)
    tau0 = np.linalg.lstsq(design.thresholds.jacobian, alpha0, rcond=None)[0]
    psi = np.concatenate([tau0, np.zeros(design.X.shape[1])])

    evaluations = 0

    def negll_parts(psi):
        nonlocal evaluations
        evaluations += 1
        t = interval_terms(link, design.B1 @ psi + design.o1, design.B2 @ psi + design.o2)
        return -float(np.dot(w, t.log_prob)), t

    value, t = negll_parts(psi)
    for _ in range(max_iter):
        grad = -(design.B1.T @ (w * t.p1) - design.B2.T @ (w * t.p2))
        l11 = t.q1 - t.p1**2
        l22 = -(t.q2 + t.p2**2)
        l12 = t.p1 * t.p2
        hess = -(design.B1.T @ ((w * l11)[:, None] * design.B1)
                 + design.B1.T @ ((w * l12)[:, None] * design.B2)
                 + design.B2.T @ ((w * l12)[:, None] * design.B1)
                 + design.B2.T @ ((w * l22)[:, None] * design.B2))
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
            new_value, new_t = negll_parts(psi - step)
            if not np.isfinite(new_value):
                break
            psi, value, t = psi - step, new_value, new_t
            continue
        s = 1.0
        for _ in range(40):
            new_value, new_t = negll_parts(psi - s * step)
            if np.isfinite(new_value) and new_value <= value:
                break
            s *= 0.5
        else:
            break
        psi = psi - s * step
        value, t = new_value, new_t
    return ClmFit(psi, hess, evaluations)


@dataclass
class RParameterisation:
    """R's coordinates for the Hessian: log(sd) for a single scalar random intercept (R's
    fast path), the ST entries (L's entries) otherwise; parameters on the boundary are left
    out, as R does."""

    n_psi: int
    log_theta: bool
    free: np.ndarray  # boolean mask over phi

    @classmethod
    def at(cls, objective: LaplaceObjective, phi: np.ndarray) -> RParameterisation:
        random = objective.random
        n_psi = objective.n_psi
        theta = phi[n_psi:]
        free = np.concatenate([np.ones(n_psi, bool), ~random.boundary(theta)])
        return cls(n_psi, random.is_single_scalar(), free)

    def coordinate_scale(self, phi_scale: np.ndarray) -> np.ndarray:
        """Per free coordinate, the objective's units per data unit; a log(sd) coordinate
        only shifts with the units, so its scale is 1."""
        c = phi_scale.copy()
        if self.log_theta:
            c[self.n_psi:] = 1.0
        return c[self.free]

    def to_r(self, phi: np.ndarray) -> np.ndarray:
        x = phi.copy()
        if self.log_theta:
            with np.errstate(divide="ignore"):
                x[self.n_psi:] = np.log(x[self.n_psi:])
        return x[self.free]

    def from_r(self, x_free: np.ndarray, phi_full: np.ndarray) -> np.ndarray:
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


def r_gradient(objective, param: RParameterisation, phi_full, x_free):
    phi = param.from_r(x_free, phi_full)
    value, grad = objective.value_and_grad(phi)
    return value, param.gradient_to_r(grad, phi)


def r_hessian(objective, param: RParameterisation, phi: np.ndarray,
              grad_at_phi: np.ndarray | None = None) -> np.ndarray:
    """Finite differences of the gradient, in R's coordinates, symmetrised.

    An exact gradient (Laplace) is differenced forwards with a small step, p evaluations; a
    gradient that is itself a finite difference (quadrature) needs central differences with a
    larger step, 2p. Measured against central differences with the inner solve at 1e-14, the
    standard errors of whole fits agree to 1.6 ppm (wine, soup, simulated single, crossed,
    nested and slope designs up to 100k rows) and 7 ppm at a million rows; with the
    differences taken within `LONG_STEP` of the optimum, so that the fourth printed digit is
    the true one.
    """
    x = param.to_r(phi)
    scale = np.maximum(1.0, np.abs(x))  # steps relative to each parameter's size
    hess = hessian_directions(objective, param, phi, np.diag(scale), grad_at_phi) / scale
    return 0.5 * (hess + hess.T)


def hessian_directions(objective, param: RParameterisation, phi: np.ndarray, directions,
                       grad_at_phi: np.ndarray | None = None) -> np.ndarray:
    """H d for each row d of ``directions`` (R's coordinates), by differences of the gradient
    with steps ``objective.hessian_step`` times d; returned as columns."""
    x = param.to_r(phi)
    forward = objective.exact_gradient
    if forward and grad_at_phi is None:
        _, grad_at_phi = r_gradient(objective, param, phi, x)
    out = np.empty((len(x), len(directions)))
    for i, d in enumerate(directions):
        e = objective.hessian_step * np.asarray(d, dtype=float)
        _, g_plus = r_gradient(objective, param, phi, x + e)
        if forward:
            out[:, i] = (g_plus - grad_at_phi) / objective.hessian_step
        else:
            _, g_minus = r_gradient(objective, param, phi, x - e)
            out[:, i] = (g_plus - g_minus) / (2 * objective.hessian_step)
    return out


class _BestPoint:
    """Wraps the objective for an optimiser and keeps the lowest finite value it was shown:
    an optimiser that stops after stepping where the objective is infinite (the conditional
    modes could not be found) hands back that point, not the best one."""

    def __init__(self, objective):
        self.objective = objective
        self.value, self.phi = np.inf, None

    def _keep(self, phi, value):
        if value < self.value:
            self.value, self.phi = value, np.array(phi, dtype=float)

    def value_and_grad(self, phi):
        value, grad = self.objective.value_and_grad(phi)
        self._keep(phi, value)
        return value, grad

    def value_only(self, phi):
        value = self.objective.value(phi)
        self._keep(phi, value)
        return value

    def best(self, phi, value):
        """The optimiser's answer (phi, with its value) if no better point was seen."""
        return phi if self.phi is None or value <= self.value else self.phi


def _optimise(objective: LaplaceObjective, phi0: np.ndarray, lower: np.ndarray,
              optimizer: str, verbose: bool):
    bounds_lower = np.where(np.isfinite(lower), lower, -np.inf)
    tracked = _BestPoint(objective)
    if optimizer == "lbfgsb":
        res = scipy.optimize.minimize(
            tracked.value_and_grad, phi0, jac=True, method="L-BFGS-B",
            bounds=list(zip(bounds_lower, [np.inf] * len(phi0))),
            options={"maxiter": 5000, "maxfun": 10000, "ftol": 1e-12, "gtol": 1e-6,
                     "maxcor": 20},
            callback=_progress(objective) if verbose else None,
        )
        return tracked.best(res.x, res.fun), bool(res.success), str(res.message), int(res.nit)
    import pybobyqa

    res = pybobyqa.solve(
        tracked.value_only, phi0, bounds=(bounds_lower, np.full(len(phi0), np.inf)),
        rhobeg=0.2, rhoend=1e-9, maxfun=max(2000, 500 * len(phi0)),
        print_progress=verbose,
    )
    ok = res.flag in (res.EXIT_SUCCESS, res.EXIT_SLOW_WARNING)
    return tracked.best(res.x, res.f), ok, str(res.msg), int(res.nf)


def _progress(objective):
    state = {"it": 0}

    def callback(xk, *args):
        state["it"] += 1
        value, grad = objective.value_and_grad(xk)
        print(f"iter {state['it']:4d}  objective {value:.8f}  max|grad| {np.max(np.abs(grad)):.3e}",
              flush=True)

    return callback


@dataclass
class Optimum:
    phi: np.ndarray
    param: RParameterisation
    grad_r: np.ndarray  # gradient in R's coordinates
    hess_r: np.ndarray  # Hessian in R's coordinates, from differences taken at phi
    optimizer_ok: bool
    message: str
    n_iter: int


LONG_STEP = 1e-5  # a step (R's coordinates) after which the Hessian must be formed again
GUESS_STEP = 0.5  # longest first trial (R's coordinates) of a step from a guessed Hessian
NEWTON_MIN_SD = 0.05  # below this sd, Newton steps in log(sd) hand over to L-BFGS-B


def _absolute_eigenvalues(hess: np.ndarray) -> np.ndarray:
    eigval, eigvec = np.linalg.eigh(0.5 * (hess + hess.T))
    floor = 1e-8 * max(1.0, float(np.max(np.abs(eigval))))
    return (eigvec * np.maximum(np.abs(eigval), floor)) @ eigvec.T


def _bfgs_update(hess: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _block_secant_update(hess, s[:, None], y[:, None])


def _block_secant_update(hess: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Block BFGS: the closest update of ``hess`` with ``new @ s = y`` for every column of
    s (steps or difference directions) and y (the gradient's changes along them)."""
    hs = hess @ s
    sy = s.T @ y
    return (hess - hs @ np.linalg.solve(s.T @ hs, hs.T)
            + y @ np.linalg.solve(0.5 * (sy + sy.T), y.T))


class _TowardsZero(Exception):
    """Newton steps from a guess are taking a standard deviation towards 0 (below
    `NEWTON_MIN_SD`): in log(sd) a singular fit is approached a constant factor per step;
    L-BFGS-B, on the sd with its bound at 0, gets there at once."""

    def __init__(self, phi):
        super().__init__("a standard deviation is heading for 0")
        self.phi = phi


def _newton_polish(objective, phi, lower, hess_guess=None, difference_directions=(),
                   max_steps=50, verbose=False, give_up_near_zero=False):
    """Newton steps on the free parameters in R's coordinates until the gradient is at the
    floor of precision; returns phi, R's coordinates, value, gradient, Hessian, steps taken.

    Without a guess the Hessian comes from differences of the gradient. A guess (a
    subsample's Hessian, or clm's), first made to agree with differences along
    `difference_directions`, is corrected by BFGS updates while the steps are long, with step
    halving, and replaced by differences once they are short. Either way the Hessian returned is one of
    differences taken within `LONG_STEP` of phi, so a fit that the optimiser already brought
    to the optimum costs one Hessian.
    """
    param = RParameterisation.at(objective, phi)
    x = param.to_r(phi)
    value, g = r_gradient(objective, param, phi, x)
    exact = hess_guess is None
    if exact:
        hess = r_hessian(objective, param, phi, g)
    else:
        hess = hess_guess
        if len(difference_directions):
            dirs = np.asarray(difference_directions)
            hess = _block_secant_update(hess, dirs.T, hessian_directions(
                objective, param, phi, dirs, g))
    steps = 0
    # the gradient's rounding grows with the size of the sum (1e-8 at a million rows)
    floor = max(1e-9, 1e-14 * abs(value))
    while steps < max_steps and np.max(np.abs(g), initial=0.0) >= floor:
        try:
            np.linalg.cholesky(hess)
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            if exact:
                break
            # a guess that is not positive definite (far from the optimum, where the objective
            # curves down in theta): its eigenvalues in absolute value still give descent
            hess = _absolute_eigenvalues(hess)
            continue
        # Near the optimum the decrease (~ g'H^-1 g / 2) is below the objective's rounding,
        # so a step is also kept when the value holds within that and the gradient shrinks.
        noise = 1e-11 * max(1.0, abs(value))
        # from a guess, no first trial beyond GUESS_STEP: far off, a long step mostly costs
        # inner iterations before the halving brings it back
        longest = float(np.max(np.abs(step), initial=0.0))
        t = 1.0 if exact or longest <= GUESS_STEP else GUESS_STEP / longest
        accepted = False
        for _ in range(1 if exact else 20):
            # A step that would make a standard deviation negative is shortened, not cut off
            # at the bound: stopped there early, several of them can leave the fit in a
            # corner whose way out no single coordinate shows.
            x_trial = x - t * step
            if np.all(param.from_r(x_trial, phi) >= lower):
                new_value, new_g = r_gradient(objective, param, phi, x_trial)
                if new_value <= value or (new_value <= value + noise
                                          and np.max(np.abs(new_g)) < np.max(np.abs(g))):
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            if exact:
                break
            hess, exact = r_hessian(objective, param, phi, g), True
            continue
        s, y = x_trial - x, new_g - g
        x, phi, value, g = x_trial, param.from_r(x_trial, phi), new_value, new_g
        steps += 1
        if give_up_near_zero and param.log_theta and np.any(phi[param.n_psi:] < NEWTON_MIN_SD):
            raise _TowardsZero(phi)
        if verbose:
            print(f"newton {steps:4d}  objective {value:.8f}  max|grad| "
                  f"{np.max(np.abs(g)):.3e}", flush=True)
        if np.max(np.abs(s)) > LONG_STEP:
            if s @ y > 0:
                hess = _bfgs_update(hess, s, y)
            exact = False
        elif not exact:
            hess, exact = r_hessian(objective, param, phi, g), True
        now_free = RParameterisation.at(objective, phi).free
        if not np.array_equal(now_free, param.free):
            # a standard deviation reached its bound: on in R's coordinates, which leave it
            # out, with what is known of the Hessian in the others
            keep = now_free[param.free]
            phi, param, value, g, hess, more = _newton_polish(
                objective, phi, lower, hess_guess=hess[np.ix_(keep, keep)],
                max_steps=max_steps - steps, verbose=verbose)
            return phi, param, value, g, hess, steps + more
    if not exact:
        hess = r_hessian(objective, param, phi, g)
    return phi, param, value, g, hess, steps


SUBSAMPLE_FROM = 50_000  # rows from which the start comes from a fit to a subsample
SUBSAMPLE_SHARE = 8  # that subsample is one row in this many


def _subsample_start(objective, link: Link, theta_start, lower, verbose: bool):
    """A start near the optimum and a Hessian to begin Newton's method with, from a fit to a
    random eighth of the rows (itself started the same way while it is large); None when that
    sample misses a response category, or its fit does not converge or ends on a bound.

    With the start this close, a large fit needs a handful of Newton steps instead of the
    optimiser's dozens, whose number grows with n (the thresholds' curvature grows with the
    rows, theta's with the levels). The sample's Hessian, scaled by the share of the weight,
    is the guess; along the directions whose curvature does not scale with the rows (see
    `_group_level_directions`) it is corrected by differences on all the data.
    """
    design = objective.design
    n = design.n_obs
    rows = np.sort(np.random.default_rng(n).choice(n, n // SUBSAMPLE_SHARE, replace=False))
    sample = design.rows(rows)
    if np.any(np.bincount(sample.response.codes, minlength=design.response.n_levels) == 0):
        return None
    if verbose:
        print(f"start: fit to a random {len(rows):,} of the {n:,} rows", flush=True)
    sample_objective = LaplaceObjective(sample, link)
    start = _maximise(sample_objective, link, theta_start, lower, "newton", verbose,
                      subsample=True)
    if not np.max(np.abs(start.grad_r), initial=0.0) < GRAD_TOL or not start.param.free.all():
        # not converged, or on a bound that Newton steps from there would hold it to
        return None
    # the sample's conditional modes (same levels, same layout) start the first inner solve
    objective.u = sample_objective.u.copy()
    hess = start.hess_r * (design.weights.sum() / sample.weights.sum())
    return start.phi, hess, _group_level_directions(design, len(hess))


def _group_level_directions(design: ClmmDesign, n_free: int) -> np.ndarray:
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
            directions.append(np.eye(n_free)[n_tau + j])
    return np.array(directions).reshape(-1, n_free)


BOUNDARY_PROBE = 1e-2  # how far off its bound a held standard deviation is tried
MAX_RESTARTS = 3  # rounds of the fallback optimiser after the first attempt


def _restart_point(objective, phi, grad_r, param: RParameterisation):
    """None at an optimum; otherwise why not ("stalled" or "bound") and where to start again.

    Stalled: the free parameters' gradient is not small. Bound: a standard deviation held at
    its bound of 0 would lower the objective by moving off it (its derivative there is often
    exactly 0, the objective being even in a column of L, so the value `BOUNDARY_PROBE` is
    tried as well), or one held just above the bound is better on it. The restart begins
    at the better value.
    """
    if not np.max(np.abs(grad_r), initial=0.0) < GRAD_TOL:
        return "stalled", phi
    if param.free.all():
        return None
    value, grad = objective.value_and_grad(phi)
    noise = 1e-11 * max(1.0, abs(value))
    for k in np.flatnonzero(~param.free):
        probe = phi.copy()
        probe[k] = BOUNDARY_PROBE
        if grad[k] < -GRAD_TOL or objective.value(probe) < value - noise:
            return "bound", probe
        if phi[k] > 0:
            # held near the bound (below BOUNDARY_TOL) but not on it: the bound may be lower
            probe[k] = 0.0
            if objective.value(probe) < value:
                return "bound", probe
    return None


def _clm_start(objective, link: Link, theta_start) -> tuple:
    """The start R uses (the clm fit, theta_start) with a guess of the Hessian there: the clm
    Hessian for the fixed part, to be corrected along `_group_level_directions`."""
    psi, hess_psi, _ = fit_clm(objective.design, link)
    phi = np.concatenate([psi, theta_start])
    param = RParameterisation.at(objective, phi)
    n_free = int(param.free.sum())
    guess = np.eye(n_free)
    guess[: objective.n_psi, : objective.n_psi] = hess_psi
    return phi, guess, _group_level_directions(objective.design, n_free)


def _maximise(objective, link: Link, theta_start, lower, optimizer: str, verbose: bool,
              subsample: bool) -> Optimum:
    """From the start to the optimum.

    ``newton``: Newton steps from a start with a guessed Hessian: a subsample's fit on large
    data, or the clm fit for a single scalar random term; otherwise, and for ``lbfgsb`` and
    ``bobyqa``, that optimiser (L-BFGS-B for ``newton``) from the clm start, then the Newton
    polish. A fit that is not at an optimum (see `_restart_point`) goes once more through
    L-BFGS-B (or BOBYQA) and the polish, up to `MAX_RESTARTS` times.
    """
    start = None
    if optimizer == "newton":
        if subsample and objective.design.n_obs >= SUBSAMPLE_FROM:
            start = _subsample_start(objective, link, theta_start, lower, verbose)
        if start is None and objective.random.is_single_scalar():
            # log(sd) is R's coordinate here: no bound for the steps to run into
            start = _clm_start(objective, link, theta_start)
    fallback = "lbfgsb" if optimizer == "newton" else optimizer
    if start is not None:
        phi, hess_guess, directions = start
        try:
            phi, param, _, grad_r, hess_r, n_iter = _newton_polish(
                objective, phi, lower, hess_guess=hess_guess, difference_directions=directions,
                verbose=verbose, give_up_near_zero=True)
            opt_ok, message = True, ""
        except _TowardsZero as near_zero:
            start = None
            phi, opt_ok, message, n_iter = _optimise(objective, near_zero.phi, lower, fallback,
                                                     verbose)
            phi, param, _, grad_r, hess_r, _ = _newton_polish(objective, phi, lower)
    else:
        phi0 = np.concatenate([fit_clm(objective.design, link).psi, theta_start])
        phi, opt_ok, message, n_iter = _optimise(objective, phi0, lower, fallback, verbose)
        phi, param, _, grad_r, hess_r, _ = _newton_polish(objective, phi, lower)
    for round_ in range(MAX_RESTARTS):
        restart = _restart_point(objective, phi, grad_r, param)
        if restart is None:
            break
        why, point = restart
        if why == "stalled" and start is not None and round_ == 0:
            # Newton steps that stall far from an optimum may have been drawn into a poor
            # region (they can creep along a bound); L-BFGS-B starts afresh from R's start
            point = np.concatenate([fit_clm(objective.design, link).psi, theta_start])
        phi, opt_ok, message, more = _optimise(objective, point, lower, fallback, verbose)
        n_iter += more
        phi, param, _, grad_r, hess_r, _ = _newton_polish(objective, phi, lower)
    return Optimum(phi, param, grad_r, hess_r, opt_ok, message, n_iter)


def clmm(formula: str, data, groups=None, random=None, link: str = "logit",
         threshold: str = "flexible", nAGQ: int = 1, optimizer: str = "newton",
         theta0=None, weights=None, na_action: str = "drop", verbose: bool = False,
         threads: int | None = 1) -> CLMMResult:
    """Fit a cumulative link mixed model by maximising the Laplace approximation.

    Parameters
    ----------
    formula : str
        ``"response ~ fixed terms"``, optionally with lme4-style random terms such as
        ``"rating ~ temp + contact + (1|judge)"``.
    data : pandas, polars or pyarrow table
    groups : str or list of str, optional
        Grouping columns, one random intercept each (``groups="judge"`` is ``(1|judge)``).
    random : str or list of str, optional
        lme4-style random terms, e.g. ``["(1 + PROD|RESP)"]``. Random effects come from one
        of: terms in the formula, ``random``, ``groups``.
    link : {"logit", "probit", "cloglog", "loglog", "cauchit"}
    threshold : {"flexible", "symmetric", "symmetric2", "equidistant"}
        R's threshold structures; ``result.threshold_params`` holds their parameters.
    nAGQ : int
        1: the Laplace approximation. n > 1: adaptive Gauss-Hermite quadrature with n points;
        -n < -1: non-adaptive Gauss-Hermite. Quadrature needs a single scalar random term.
    optimizer : {"newton", "lbfgsb", "bobyqa"}
        ``"newton"`` (default): Newton steps on the exact gradient from a guessed Hessian,
        corrected by BFGS updates and replaced by differences near the optimum, started from
        a fit to a subsample on large data (from 50,000 rows) and from the clm fit for a
        single scalar random term; L-BFGS-B from R's start for other models on smaller
        data. ``"lbfgsb"``: L-BFGS-B from R's start. ``"bobyqa"``: derivative-free. Every
        one ends with Newton steps on a difference Hessian and falls back to L-BFGS-B
        (BOBYQA) if it stops early.
    theta0 : array-like, optional
        Starting random-effect parameters in R's ``ST`` layout (per term: the standard
        deviations on the diagonal of L, then L's lower triangle by column), in the data's
        units.
    weights : str or array-like, optional
        Non-negative case weights: a column name, a pandas Series (matched to the data's
        rows by index) or one value per row. Rows of weight 0 are left out, as in R.
    na_action : {"drop", "raise"}
    verbose : bool
        Print the optimiser's progress.
    threads : int or None
        Threads for dense linear algebra (BLAS). 1, the default, was measured fastest: on a
        60k-row crossed fit with a 1,200-level dense Schur complement, 7.7 s against 8.3 s
        for two threads on an idle 2-core machine, 7.5 s against 15.8 s with the other core
        busy. None leaves BLAS's own setting.

    Returns
    -------
    CLMMResult

    Examples
    --------
    >>> import interlace
    >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
    >>> round(fit.llf, 2)
    -81.57
    """
    started = time.perf_counter()
    _check_arguments(link=link, threshold=threshold, nAGQ=nAGQ, optimizer=optimizer,
                     na_action=na_action, verbose=verbose, threads=threads)
    link_obj = get_link(link)

    parsed = parse_formula(formula, groups=groups, random=random)
    design = build_design(parsed, data, threshold=threshold, weights=weights, na_action=na_action)
    # The objective works with coefficients and random-effect covariates per standard
    # deviation of their column: phi in its units is phi in the data's times phi_scale
    phi_scale = design.phi_scale
    n_psi = design.n_psi
    objective = (LaplaceObjective(design, link_obj) if nAGQ == 1
                 else QuadratureObjective(design, link_obj, int(nAGQ)))

    if theta0 is None:
        theta_start = design.random.theta_start()
    else:
        try:
            theta_start = np.asarray(theta0, dtype=float).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"theta0 must be numbers, not {theta0!r}") from None
        if theta_start.shape != (design.random.n_theta,):
            raise ValueError(
                f"theta0 has {theta_start.size} value(s); this model has {design.random.n_theta} "
                f"random-effect parameters ({', '.join(design.random.theta_names())})"
            )
        if not np.all(np.isfinite(theta_start)):
            raise ValueError(f"theta0 must be finite numbers, got {theta_start.tolist()}")
        theta_start = theta_start * phi_scale[n_psi:]
    lower = np.concatenate([np.full(n_psi, -np.inf), design.random.theta_lower_bounds()])
    if np.any(theta_start < lower[n_psi:]):
        raise ValueError("theta0: standard deviations (diagonal entries) must be >= 0")

    with _blas_controller().limit(limits=threads, user_api="blas"), reuse_large_blocks():
        # a start of the user's, or quadrature: no subsample start
        optimum = _maximise(objective, link_obj, theta_start, lower, optimizer, verbose,
                            subsample=theta0 is None and nAGQ == 1)
        phi, param, grad_r, hess_r = optimum.phi, optimum.param, optimum.grad_r, optimum.hess_r
        opt_ok, message, n_iter = optimum.optimizer_ok, optimum.message, optimum.n_iter
        modes = objective.conditional_modes(phi)

    # back to the data's units: phi = phi_scaled / c, H = C H_scaled C in R's coordinates
    c_free = param.coordinate_scale(phi_scale)
    phi_scaled, phi = phi, phi / phi_scale
    hess_r = hess_r * np.outer(c_free, c_free)
    max_grad = float(np.max(np.abs(grad_r), initial=0.0))
    problems = []
    if not max_grad < GRAD_TOL:
        # an optimiser's complaint matters only if the gradient confirms it
        if not opt_ok:
            problems.append(f"the optimiser reported: {message}")
        problems.append(f"max|gradient| = {max_grad:.2e} is above {GRAD_TOL:g}")
    if not modes.converged:
        problems.append("the conditional modes did not converge")
    vcov_r = None
    try:
        inv_chol = np.linalg.inv(np.linalg.cholesky(hess_r))
        vcov_r = inv_chol.T @ inv_chol
    except np.linalg.LinAlgError:
        problems.append("the Hessian is not positive definite, so standard errors are unavailable")
    if np.all(np.isfinite(hess_r)):
        unidentified = _unidentified(design, hess_r)
        if unidentified:
            problems.append(
                f"parameter(s) {unidentified} are not identified (standard errors above "
                f"{UNIDENTIFIED_SE:g} on the latent scale): the response may be separated by "
                "them; remove them or merge categories")
    converged = not problems
    if problems:
        warnings.warn("clmm did not converge: " + "; ".join(problems), ConvergenceWarning,
                      stacklevel=2)

    return CLMMResult.from_fit(
        design=design, parsed=parsed, link=link, objective=objective, phi=phi, modes=modes,
        param=param, hessian=hess_r, vcov_free=vcov_r, max_grad=max_grad,
        converged=converged, messages=problems, n_iter=n_iter, optimizer=optimizer,
        elapsed=time.perf_counter() - started, data=data, n_agq=int(nAGQ),
        fit_scale=phi_scale, phi_scaled=phi_scaled,
    )
