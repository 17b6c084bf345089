"""A model without fitting: ``clmm_model(formula, data, ...)`` parses the formula, builds the
design and the objective (Laplace or quadrature), and can evaluate the log-likelihood and
its gradient at any parameters before ``.fit()`` finds the optimum, as lme4's
``lFormula`` + ``mkGlmerDevfun`` before ``optimizeGlmer``.

Parameters here are in the data's units, in the order of ``parameter_names``: threshold
parameters, coefficients, then theta (R's ST layout).
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np

from .dask_fit import dask_model, is_dask_frame
from .design import build_design, with_response
from .fixed_effects import FixedEffectsObjective
from .formula import parse_formula
from .laplace import LaplaceObjective
from .links import LINKS, get_link
from .memory import reuse_large_blocks
from .nominal_scale import crossing_rows
from .optimize.control import OPTIMIZERS, Control, OptSummary
from .optimize.convergence import check_convergence
from .optimize.start import fit_clm
from .optimize.strategy import maximise
from .partition import InMemoryPartitions, split_by_first_term
from .partitioned import PartitionedLaplace
from .quadrature import QuadratureObjective
from .result import CLMMResult, ConvergenceWarning
from .threads import blas_threads
from .thresholds import THRESHOLD_STRUCTURES


class ClmmModel:
    """The design and the objective of a cumulative link mixed model, before fitting."""

    def __init__(self, formula: str, data, groups=None, random=None, link: str = "logit",
                 threshold: str = "flexible", nAGQ: int = 1, weights=None,
                 na_action: str = "drop", control: Control | None = None,
                 random_effects: bool = True, nominal=None, scale=None, client=None):
        if isinstance(na_action, str):
            na_action = R_NA_ACTIONS.get(na_action, na_action)
        _check_choices(link=link, threshold=threshold, na_action=na_action, nAGQ=nAGQ)
        if control is not None and not isinstance(control, Control):
            raise TypeError(f"control must be an interlace.Control, not {type(control).__name__}")
        # as given, for `updated` (R's update())
        self.arguments = {
            "formula": formula, "data": data, "groups": groups, "random": random,
            "link": link, "threshold": threshold, "nAGQ": nAGQ, "weights": weights,
            "na_action": na_action, "control": control, "random_effects": random_effects,
            "nominal": nominal, "scale": scale, "client": client}
        self.control = Control() if control is None else control
        if self.control.random_solver == "iterative" and (
                int(nAGQ) != 1 or self.control.partitions > 1 or is_dask_frame(data)):
            raise ValueError("Control(random_solver='iterative') is for the Laplace "
                             "approximation (nAGQ=1) on rows in memory in one block "
                             "(partitions=1); quadrature, partitions and Dask frames use the "
                             "exact factorisation")
        self.link = link
        self.n_agq = int(nAGQ)
        self.data = data
        self.parsed = parse_formula(formula, groups=groups, random=random,
                                    random_effects=random_effects, nominal=nominal, scale=scale)
        link_obj = get_link(link)
        if is_dask_frame(data):
            if not random_effects or nAGQ != 1:
                raise ValueError("a Dask DataFrame is fitted by clmm() with the Laplace "
                                 "approximation (nAGQ=1); collect the data for clm() or "
                                 "quadrature")
            self.design, self.objective = dask_model(
                self.parsed, data, threshold, weights, na_action, link, self.control, client)
            return
        self.design = build_design(self.parsed, data, threshold=threshold, weights=weights,
                                   na_action=na_action)
        if not random_effects:
            self.objective = FixedEffectsObjective(self.design, link_obj, self.control)
        elif nAGQ == 1 and self.control.partitions > 1:
            parts = split_by_first_term(self.design, self.control.partitions)
            self.objective = PartitionedLaplace(
                self.design, link_obj, self.control,
                InMemoryPartitions(parts, link_obj, self.control))
        elif nAGQ == 1:
            self.objective = LaplaceObjective(self.design, link_obj, self.control)
        else:
            self.objective = QuadratureObjective(self.design, link_obj, self.n_agq, self.control)

    def with_response(self, codes: np.ndarray) -> ClmmModel:
        """The same model for another response on the same rows (codes 0..K-1, every
        category present): what a parametric bootstrap refits."""
        K = self.design.response.n_levels
        if np.bincount(codes, minlength=K).min() == 0:
            raise ValueError("a response category is empty: its thresholds are not identified")
        model = copy.copy(self)
        model.design = with_response(self.design, codes)
        objective = self.objective
        if isinstance(objective, PartitionedLaplace):
            parts = split_by_first_term(model.design, self.control.partitions)
            model.objective = PartitionedLaplace(
                model.design, objective.link, self.control,
                InMemoryPartitions(parts, objective.link, self.control))
        elif isinstance(objective, QuadratureObjective):
            model.objective = QuadratureObjective(model.design, objective.link, self.n_agq,
                                                  self.control)
        else:
            model.objective = type(objective)(model.design, objective.link, self.control)
        return model

    def updated(self, **changes) -> ClmmModel:
        """The same model with some arguments changed (R's ``update()``), e.g.
        ``model.updated(nominal="~ contact")``."""
        return ClmmModel(**{**self.arguments, **changes})

    @property
    def parameter_names(self) -> list[str]:
        return self.design.psi_names + self.design.random.theta_names()

    def start(self) -> np.ndarray:
        """R's start, in the data's units: the clm fit and L = identity in every term."""
        psi = fit_clm(self.design, self.objective.link,
                      getattr(self.objective, "clm_rows", None)).psi
        phi = np.concatenate([psi, self.design.random.theta_start()])
        return phi / self.design.phi_scale

    def loglik(self, params) -> float:
        """The log-likelihood (Laplace or quadrature) at ``params`` (the data's units)."""
        return -self.objective.value(self._objective_phi(params))

    def loglik_and_gradient(self, params) -> tuple[float, np.ndarray]:
        """The log-likelihood and its exact gradient in the data's units."""
        phi = self._objective_phi(params)
        value, grad = self.objective.value_and_grad(phi)
        return -value, -grad * self.design.phi_scale

    def _objective_phi(self, params) -> np.ndarray:
        phi = np.asarray(params, dtype=float).ravel()
        if phi.shape != (len(self.parameter_names),):
            raise ValueError(f"params needs {len(self.parameter_names)} values "
                             f"({', '.join(self.parameter_names)}), got {phi.size}")
        return phi * self.design.phi_scale

    def fit(self, optimizer: str = "auto", theta0=None, verbose: bool = False,
            threads: int | None = 1) -> CLMMResult:
        """Maximise the likelihood; see `interlace.clmm` for the arguments."""
        started = time.perf_counter()
        _check_fit_arguments(optimizer=optimizer, verbose=verbose, threads=threads)
        design, objective, control = self.design, self.objective, self.control
        n_psi = design.n_psi
        theta_start = (design.random.theta_start() if theta0 is None
                       else self._theta0(theta0) * design.phi_scale[n_psi:])
        lower = np.concatenate([np.full(n_psi, -np.inf), design.random.theta_lower_bounds()])
        summary = OptSummary("auto" if optimizer == "newton" else optimizer, control=control)
        if theta0 is not None:
            summary.start = "clm fit and theta0"
        allocator = reuse_large_blocks(control.reuse_large_blocks)
        with blas_threads(threads), allocator:
            # a start of the user's, or quadrature: no subsample start
            optimum = maximise(objective, objective.link, theta_start, lower, optimizer,
                               control, summary, verbose,
                               subsample=theta0 is None and self.n_agq == 1)
            modes = objective.conditional_modes(optimum.phi)
        param = optimum.param
        hessian = param.hessian_to_data(optimum.hess_r)
        max_grad = float(np.max(np.abs(optimum.grad_r), initial=0.0))
        problems, vcov = check_convergence(design, max_grad, optimum.optimizer_ok,
                                           optimum.message, modes.converged, hessian, control)
        if problems:
            what = "clmm" if design.random.terms else "clm"
            warnings.warn(f"{what} did not converge: " + "; ".join(problems), ConvergenceWarning,
                          stacklevel=3)
        summary.n_evaluations, summary.n_inner = objective.n_evaluations, objective.n_inner
        if getattr(objective, "iterative", False):
            summary.random_solver = "iterative"
            summary.loglik_se = 0.5 * modes.factor.logdet_se
        summary.max_grad, summary.converged = max_grad, not problems
        summary.elapsed = time.perf_counter() - started
        result = CLMMResult.from_fit(
            model=self, phi=optimum.phi, modes=modes, param=param, hessian=hessian,
            vcov_free=vcov, messages=problems, optinfo=summary)
        if design.nominal is not None:
            crossing = crossing_rows(result.thresholds, design.thresholds.cut_names)
            if crossing:
                warnings.warn(f"the thresholds are not increasing for {'; '.join(crossing)} "
                              "(rows of result.thresholds): a category there has a negative "
                              "probability; the nominal effects extrapolate beyond the data",
                              UserWarning, stacklevel=3)
        return result

    def _theta0(self, theta0) -> np.ndarray:
        random = self.design.random
        try:
            theta = np.asarray(theta0, dtype=float).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"theta0 must be numbers, not {theta0!r}") from None
        if theta.shape != (random.n_theta,):
            raise ValueError(f"theta0 has {theta.size} value(s); this model has "
                             f"{random.n_theta} random-effect parameters "
                             f"({', '.join(random.theta_names())})")
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"theta0 must be finite numbers, got {theta.tolist()}")
        if np.any(theta < random.theta_lower_bounds()):
            raise ValueError("theta0: standard deviations (diagonal entries) must be >= 0")
        return theta


def clmm_model(formula: str, data, groups=None, random=None, link: str = "logit",
               threshold: str = "flexible", nAGQ: int = 1, weights=None,
               na_action: str = "drop", control: Control | None = None, nominal=None,
               scale=None, client=None) -> ClmmModel:
    """The model of `interlace.clmm`, not yet fitted: ``.loglik(params)``,
    ``.loglik_and_gradient(params)``, ``.start()``, ``.fit()``.

    Examples
    --------
    >>> import interlace
    >>> model = interlace.clmm_model("rating ~ temp + contact + (1|judge)",
    ...                              interlace.load_wine())
    >>> model.parameter_names
    ['1|2', '2|3', '3|4', '4|5', 'tempwarm', 'contactyes', 'ST1']
    >>> round(model.loglik(model.start()), 2)
    -82.72
    >>> round(model.fit().llf, 2)
    -81.57
    """
    return ClmmModel(formula, data, groups=groups, random=random, link=link,
                     threshold=threshold, nAGQ=nAGQ, weights=weights, na_action=na_action,
                     control=control, nominal=nominal, scale=scale, client=client)


# R's names for the same actions (na.action = na.omit, na.fail)
R_NA_ACTIONS = {"na.omit": "drop", "na.fail": "raise"}


def _check_choices(*, link, threshold, na_action, nAGQ):
    if na_action == "na.exclude":
        raise ValueError("na_action='na.exclude' (R's fitted values and residuals padded with "
                         "NA at the dropped rows) is not supported: use 'drop' (R's "
                         "'na.omit'); predict() and residuals() carry the data's row labels, "
                         "so .reindex(data.index) pads them")
    for name, value, choices in (("link", link, LINKS), ("threshold", threshold,
                                                         THRESHOLD_STRUCTURES),
                                 ("na_action", na_action, ("drop", "raise"))):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"unknown {name} {value!r}; choose one of "
                             f"{', '.join(map(repr, choices))}")
    if (isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer))
            or nAGQ in (0, -1)):
        raise ValueError(
            f"nAGQ must be an integer: 1 (Laplace), n > 1 (adaptive Gauss-Hermite with n "
            f"points) or -n < -1 (non-adaptive), got {nAGQ!r}")


def _check_fit_arguments(*, optimizer, verbose, threads):
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of "
                         f"{', '.join(map(repr, OPTIMIZERS))}")
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, not {verbose!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(
            threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be a whole number of at least 1, or None, "
                         f"not {threads!r}")
