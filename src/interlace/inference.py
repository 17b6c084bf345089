"""Inference after the fit: Wald and profile-likelihood intervals, likelihood-ratio tests.

``confint(result, method="wald")`` is R's ``confint()`` for clmm (estimate +- z * se, for the
threshold parameters and fixed effects). ``method="profile"`` profiles the Laplace likelihood:
for each parameter, the values where twice the drop in log-likelihood, with every other
parameter re-optimised, equals the chi-square(1) quantile; it covers random-effect standard
deviations too (R's clmm has no profile intervals). ``anova(m1, m2, ...)`` is R's
``anova.clmm``: likelihood-ratio tests between nested fits of the same data.
"""

from __future__ import annotations

import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.optimize
from scipy import stats

from .arguments import checked_jobs
from .parameters import Parameterisation
from .polar import polar_for, profile_value, vector_quantities
from .threads import pool_worker


def wald(result, level: float = 0.95) -> pd.DataFrame:
    z = stats.norm.ppf(0.5 + level / 2)
    est, se = result.params, result.bse
    return pd.DataFrame({"lower": est - z * se, "upper": est + z * se})


def profile(result, level: float = 0.95, params=None, n_jobs: int = 1) -> pd.DataFrame:
    """Profile-likelihood intervals; ``params`` selects rows by name (default: all);
    ``n_jobs`` processes profile parameters in parallel (-1: every core); progress shows on
    a terminal."""
    fitter = result.refitter
    if fitter is None:
        raise ValueError("profile intervals need the fitting data; this result has none")
    names = fitter.names + list(vector_quantities(fitter.objective))
    wanted = fitter.names if params is None else list(params)
    unknown = [p for p in wanted if p not in names]
    if unknown:
        raise ValueError(f"no parameter(s) {unknown}; choose from {names}")
    n_jobs = checked_jobs(n_jobs)
    se = dict(zip(result.vcov.index, np.sqrt(np.diag(result.vcov.to_numpy()))))
    job = _ProfileJob(fitter, se, stats.chi2.ppf(level, 1) / 2.0)
    show = sys.stderr.isatty()
    rows = {}
    if n_jobs == 1:
        iterator = map(job, wanted)
    else:
        pool = ProcessPoolExecutor(min(n_jobs, len(wanted)), initializer=pool_worker)
        iterator = pool.map(job, wanted)
    try:
        for k, (name, bounds) in enumerate(zip(wanted, iterator), 1):
            rows[name] = bounds
            if show:
                print(f"\rprofile: {k}/{len(wanted)} parameters", end="", file=sys.stderr,
                      flush=True)
    finally:
        if n_jobs != 1:
            pool.shutdown()
        if show:
            print(file=sys.stderr)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])


@dataclass
class _ProfileJob:
    """One parameter's profile interval (picklable, for worker processes)."""

    fitter: Refitter
    se: dict
    target: float

    def __call__(self, name: str) -> list:
        fitter = self.fitter
        objective, phi_hat, lower = fitter.objective, fitter.phi, fitter.lower
        saved = objective.warm_start  # profiling moves the inner solve's warm start
        best = objective.value(phi_hat)
        if name not in fitter.names:
            bounds = self._vector_quantity(name, best)
            objective.warm_start = saved
            return bounds
        j = fitter.names.index(name)
        # the objective's parameter j is the data's times fitter.scale[j]
        scale = self.se.get(name, np.nan) * fitter.scale[j]
        if not np.isfinite(scale) or scale <= 0 or (fitter.is_sd[j] and name not in self.se):
            scale = 0.1 * max(1.0, abs(phi_hat[j]))

        # the others' standard errors scale the refits' optimiser: a unit step is then
        # about one SE in every direction (unscaled, L-BFGS-B's first step of length 1 can
        # cross thresholds and stop it there)
        step = np.array([self.se.get(n, np.nan) for n in fitter.names]) * fitter.scale
        step = np.where(np.isfinite(step) & (step > 0), step,
                        0.1 * np.maximum(1.0, np.abs(phi_hat)))

        def drop(value):
            start = fitter.conditional_start(j, value)
            return (_profile_value(objective, start, lower, j, value, step)
                    - best - self.target)

        bounds = [_find_bound(drop, phi_hat[j], direction, scale, lower[j])
                  for direction in (-1.0, 1.0)]
        objective.warm_start = saved
        return [b / fitter.scale[j] for b in bounds]


    def _vector_quantity(self, name: str, best: float) -> list:
        """A vector term's SD or correlation, profiled in polar coordinates of L's rows
        (`polar`)."""
        fitter = self.fitter
        objective, phi_hat = fitter.objective, fitter.phi
        t, kind, which = vector_quantities(objective)[name]
        term = objective.random.terms[t]
        polar, c = polar_for(term, objective.n_psi + int(objective.random.theta_offsets[t]),
                             kind, which)
        lo = polar.offset
        x_hat = polar.pack(*polar.from_theta(phi_hat[lo: lo + term.n_theta]))

        def drop(value):  # the SD (objective units), or the correlation cos(angle)
            held = value if kind == "sd" else float(np.arccos(np.clip(value, -1, 1)))
            return profile_value(objective, phi_hat, polar, c, held) - best - self.target

        if kind == "sd":
            centre, limits = x_hat[c], (0.0, np.inf)
            scale = 0.1 * max(1e-3, centre)
        else:
            centre, limits, scale = float(np.cos(x_hat[c])), (-1.0, 1.0), 0.05
        bounds = [_find_bound(drop, centre, direction, scale, *limits)
                  for direction in (-1.0, 1.0)]
        if kind == "sd":  # back to the data's units: the row's covariate scale
            bounds = [b / term.covariate_scale[which] for b in bounds]
        return bounds


def _profile_value(objective, phi_hat, lower, j, value, step=None) -> float:
    """min over the other parameters of the objective, with parameter j held at value,
    starting from ``phi_hat``; ``step``: each parameter's typical scale (its standard
    error), by which the optimiser's coordinates are divided."""
    free = np.ones(len(phi_hat), bool)
    free[j] = False
    d = np.ones(free.sum()) if step is None else np.asarray(step, dtype=float)[free]
    start = phi_hat[free]

    def fun(z):
        phi = phi_hat.copy()
        phi[free] = start + d * z
        phi[j] = value
        v, g = objective.value_and_grad(phi)
        return v, g[free] * d

    bounds = list(zip((lower[free] - start) / d, [np.inf] * free.sum()))
    res = scipy.optimize.minimize(fun, np.zeros(free.sum()), jac=True, method="L-BFGS-B",
                                  bounds=bounds,
                                  options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500})
    return float(res.fun)


def _find_bound(drop, centre, direction, scale, lower_bound, upper_bound=np.inf):
    """The point on one side of ``centre`` where ``drop`` crosses zero (None: none there)."""
    step = scale
    inner = centre
    for _ in range(30):
        outer = centre + direction * step
        if outer < lower_bound or outer > upper_bound:
            outer = lower_bound if outer < lower_bound else upper_bound
            if drop(outer) < 0:
                return outer  # the likelihood never drops far enough: the limit itself
            break
        if drop(outer) > 0:
            break
        inner = outer
        step *= 2.0
    else:
        return np.inf * direction
    a, b = sorted((inner, outer))
    return scipy.optimize.brentq(drop, a, b, xtol=1e-7)


def anova(*results) -> pd.DataFrame:
    """Likelihood-ratio tests between nested fits, as R's anova.clmm prints them.

    Parameters
    ----------
    *results : CLMMResult
        Two or more fits to the same observations; they are ordered by their number of
        parameters, and each is tested against the one before.

    Returns
    -------
    pandas.DataFrame
        formula, link, threshold, no.par, AIC, logLik, LR.stat, df, Pr(>Chisq); with
        nominal or scale effects in any fit, nominal and scale after formula (``~1``
        for none), as R's anova.clm.

    Examples
    --------
    >>> import interlace
    >>> wine = interlace.load_wine()
    >>> m0 = interlace.clmm("rating ~ temp + (1|judge)", wine)
    >>> m1 = interlace.clmm("rating ~ temp + contact + (1|judge)", wine)
    >>> table = interlace.anova(m0, m1)
    >>> int(table["df"].iloc[1]), round(float(table["Pr(>Chisq)"].iloc[1]), 5)
    (1, 0.00015)
    """
    if len(results) < 2:
        raise ValueError("anova needs at least two fits to compare")
    for i, r in enumerate(results, 1):
        if not hasattr(r, "data_key") or not hasattr(r, "llf"):
            raise TypeError(f"anova compares fitted models; argument {i} is a "
                            f"{type(r).__name__}")
    keys = {r.data_key for r in results}
    if len(keys) > 1:
        raise ValueError("the fits are to different data or responses; anova compares fits of "
                         "the same observations")
    ordered = sorted(results, key=lambda r: r.edf)
    estimated = [(i, r.optinfo.loglik_se) for i, r in enumerate(results, 1)
                 if getattr(getattr(r, "optinfo", None), "loglik_se", 0.0) > 0]
    if estimated:
        which = ", ".join(f"fit {i} (standard error {se:.2g})" for i, se in estimated)
        warnings.warn(f"the log-likelihoods of {which} are estimated (the iterative path): "
                      "each LR.stat carries twice their error; refit with "
                      "Control(random_solver='exact') where the difference is small",
                      UserWarning, stacklevel=2)
    rows = []
    prev = None
    for r in ordered:
        row = {"formula": r.formula, "link": r.link, "threshold": r.threshold,
               "no.par": r.edf, "AIC": r.aic, "logLik": r.llf,
               "LR.stat": np.nan, "df": np.nan, "Pr(>Chisq)": np.nan}
        if prev is not None:
            lr = 2.0 * (r.llf - prev.llf)
            df = r.edf - prev.edf
            row.update({"LR.stat": lr, "df": df,
                        "Pr(>Chisq)": stats.chi2.sf(lr, df) if df > 0 else np.nan})
        if any(getattr(f, "nominal_formula", None) or getattr(f, "scale_formula", None)
               for f in ordered):  # R's anova.clm columns, where the fits differ there
            extra = {"nominal": f"~{getattr(r, 'nominal_formula', None) or 1}",
                     "scale": f"~{getattr(r, 'scale_formula', None) or 1}"}
            row = {"formula": row.pop("formula"), **extra, **row}
        rows.append(row)
        prev = r
    return pd.DataFrame(rows)


@dataclass
class Refitter:
    """What profiling needs of a fit: the objective and its optimum (objective units), the
    parameters' names, bounds and coordinates, and the covariance there."""

    objective: object
    phi: np.ndarray  # the optimum, objective units
    lower: np.ndarray
    names: list  # thresholds, coefficients, then sd(x|g) for scalar terms, ST<k> otherwise
    is_sd: np.ndarray
    param: Parameterisation  # R's coordinates at the optimum, and the units
    vcov: np.ndarray | None  # in R's coordinates, the objective's units
    model: object = None  # the ClmmModel, for refits (the bootstrap)

    @property
    def scale(self) -> np.ndarray:
        """The objective's parameters are the data's times this."""
        return self.param.scale

    def conditional_start(self, j: int, value: float) -> np.ndarray:
        """Where the other parameters go when parameter j moves to value, to second order:
        x_free + V[free, j] / V[j, j] (value - x_j), in R's coordinates. A start this close
        keeps the profile's optimiser away from disordered thresholds."""
        phi = self.phi.copy()
        phi[j] = value
        if self.vcov is None or not self.param.free[j]:
            return phi
        x = self.param.to_r(self.phi)
        k = int(np.sum(self.param.free[:j]))
        moved = self.param.to_r(phi)[k] - x[k]
        x = x + self.vcov[:, k] / self.vcov[k, k] * moved
        start = self.param.from_r(x, self.phi)
        start[j] = value
        return start if np.all(np.isfinite(start)) else phi

    @classmethod
    def at(cls, objective, phi, param: Parameterisation, vcov_data, model=None) -> Refitter:
        """At the optimum phi (objective units), with the covariance in the data's units."""
        random = objective.random
        names = list(objective.design.psi_names)
        is_sd = [False] * len(names)
        for k, term in enumerate(random.terms):
            for j, _ in enumerate(term.tril_positions()):
                scalar = term.size == 1
                names.append(f"sd({term.coef_names[0]}|{term.key})" if scalar
                             else f"ST{random.theta_offsets[k] + j + 1}")
                is_sd.append(scalar)
        lower = np.concatenate([np.full(objective.n_psi, -np.inf),
                                random.theta_lower_bounds()])
        vcov = None if vcov_data is None else param.vcov_to_objective(vcov_data)
        return cls(objective, phi.copy(), lower, names, np.array(is_sd), param, vcov, model)
