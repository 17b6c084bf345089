"""The fitted model: `CLMMResult` with estimates, standard errors, random effects and summary().

Names follow R: thresholds are keyed ``"1|2"``, coefficients as R's model.matrix names them
(``tempwarm``), random-effect parameters in ``vcov`` as ``ST1, ST2, ...``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .inference import anova, profile, wald
from .prediction import PredictionModel, predict
from .rformat import coef_table, format_real, format_sci, left_table


class ConvergenceWarning(UserWarning):
    """The fit did not converge; its estimates should not be trusted as they are."""


@dataclass
class CLMMResult:
    """A fitted cumulative link mixed model.

    Attributes
    ----------
    thresholds, threshold_bse : dict
        Cut points keyed ``"1|2"``, ... and their standard errors.
    threshold_params, threshold_params_bse : dict
        The threshold parameters with R's names (``"1|2"``, ... for flexible thresholds;
        ``central.1``, ``spacing.1``, ``threshold.1``, ``spacing`` for the others).
    fe_params, fe_bse : pandas.Series
        Fixed-effect coefficients (no intercept: the thresholds absorb it) and standard errors.
    random_effects : dict of DataFrame
        Per grouping factor, the conditional modes of b, indexed by level, a column per term.
    cond_var : dict of DataFrame
        Per grouping factor, the conditional variances of b (R's ``condVar``).
    variance_components : dict
        Per grouping factor: the variance (float) for a random intercept, the covariance
        matrix (DataFrame) for a vector-valued term.
    theta : ndarray
        Random-effect parameters in R's ``ST`` layout (per term: L's diagonal, then its lower
        triangle by column, with covariance L L').
    vcov : DataFrame
        Inverse Hessian of the negative log-likelihood in R's parameterisation (thresholds,
        coefficients, then the ST parameters not on the boundary; log(sd) for a single random
        intercept, as R's fast path uses).
    llf, aic, bic, nobs, ngroups, link, threshold, converged, max_grad, cond_hessian,
    n_iter, n_fev, n_inner : fit statistics (``nobs`` is the sum of the weights, as in R).
    """

    formula: str
    link: str
    threshold: str
    response_levels: list[str]
    thresholds: dict
    threshold_bse: dict
    threshold_params: dict
    threshold_params_bse: dict
    fe_params: pd.Series
    fe_bse: pd.Series
    random_effects: dict
    cond_var: dict
    variance_components: dict
    theta: np.ndarray
    vcov: pd.DataFrame
    converged: bool
    nobs: float
    llf: float
    edf: int
    ngroups: dict
    max_grad: float
    cond_hessian: float
    n_iter: int
    n_fev: int
    n_inner: int
    optimizer: str
    elapsed: float
    messages: list = field(default_factory=list)
    term_names: dict = field(default_factory=dict)
    term_groups: dict = field(default_factory=dict)  # term key -> grouping factor
    boundary_terms: list = field(default_factory=list)  # keys of terms on the boundary
    n_agq: int = 1
    data_name: str | None = None
    model: object = None  # prediction.PredictionModel: what predict() needs of the fit
    data_key: str = ""  # a digest of the response and weights, so anova compares like with like
    refitter: object = field(default=None, repr=False)  # for profile intervals; not pickled

    def __getstate__(self):
        state = self.__dict__.copy()
        state["refitter"] = None
        return state

    @property
    def aic(self) -> float:
        return -2.0 * self.llf + 2.0 * self.edf

    @property
    def bic(self) -> float:
        return -2.0 * self.llf + math.log(self.nobs) * self.edf

    @property
    def params(self) -> pd.Series:
        """Threshold parameters then fixed effects: R's ``coef()``."""
        return pd.concat([pd.Series(self.threshold_params, dtype=float), self.fe_params])

    @property
    def bse(self) -> pd.Series:
        return pd.concat([pd.Series(self.threshold_params_bse, dtype=float), self.fe_bse])

    @property
    def is_singular(self) -> bool:
        """A random-effect covariance on its boundary: a diagonal entry of a term's L (a
        standard deviation given the ones before it, per SD of its covariate) below 1e-3,
        lme4's rule; the same entries are left out of the Hessian."""
        return bool(self.boundary_terms)

    @classmethod
    def from_fit(cls, *, design, parsed, link, objective, phi, modes, param, hessian,
                 vcov_free, max_grad, converged, messages, n_iter, optimizer, elapsed, data,
                 n_agq=1, fit_scale=None, phi_scaled=None):
        n_psi = design.n_psi
        random = design.random
        psi, theta = phi[:n_psi], phi[n_psi:]
        ths = design.thresholds
        alpha = ths.jacobian @ psi[: ths.jacobian.shape[1]]
        names = design.psi_names + random.theta_names()
        free_names = [nm for nm, f in zip(names, param.free) if f]
        if vcov_free is None:
            vcov_free = np.full((len(free_names),) * 2, np.nan)
        vcov = pd.DataFrame(vcov_free, index=free_names, columns=free_names)
        se_psi = np.sqrt(np.diag(vcov_free)[:n_psi])
        n_tau = ths.jacobian.shape[1]
        tau_cov = vcov_free[:n_tau, :n_tau]
        alpha_se = np.sqrt(np.einsum("ij,jk,ik->i", ths.jacobian, tau_cov, ths.jacobian))

        factors = random.factors(theta)
        _, _, (p11, s_inv) = modes.factor.observation_inverse(modes.values)
        random_effects, cond_var, variance_components, ngroups, term_names = {}, {}, {}, {}, {}
        q1 = objective.pattern.q1
        boundary = random.boundary(phi_scaled[n_psi:] if phi_scaled is not None else theta)
        boundary_terms = [t.key for k, t in enumerate(random.terms)
                          if random.term_theta(boundary, k).any()]
        for k, (term, L) in enumerate(zip(random.terms, factors)):
            r = term.size
            u = modes.u[random.u_offsets[k]: random.u_offsets[k + 1]].reshape(term.n_levels, r)
            modes_k = pd.DataFrame(u @ L.T, index=term.levels, columns=term.coef_names)
            if k == 0:
                blocks = p11
            else:
                idx = (random.u_offsets[k] - q1
                       + np.arange(term.n_levels)[:, None] * r + np.arange(r)[None, :])
                blocks = s_inv[idx[:, :, None], idx[:, None, :]]
            cov_b = np.einsum("st,jtu,vu->jsv", L, blocks, L)
            var_k = pd.DataFrame(np.diagonal(cov_b, axis1=1, axis2=2).copy(),
                                 index=term.levels, columns=term.coef_names)
            # terms on one grouping factor share its tables, as R's ranef and condVar
            for table, part in ((random_effects, modes_k), (cond_var, var_k)):
                table[term.name] = (part if term.name not in table
                                    else pd.concat([table[term.name], part], axis=1))
            sigma = L @ L.T
            variance_components[term.key] = (
                float(sigma[0, 0]) if r == 1
                else pd.DataFrame(sigma, index=term.coef_names, columns=term.coef_names)
            )
            ngroups[term.name] = term.n_levels
            term_names[term.key] = term.coef_names

        cond_h = float("nan")
        if hessian.size and np.all(np.isfinite(hessian)):
            eig = np.linalg.eigvalsh(hessian)
            cond_h = float(abs(eig.max() / eig.min()))

        return cls(
            formula=parsed.text, link=link, threshold=ths.name,
            response_levels=list(design.response.levels),
            thresholds=dict(zip(ths.cut_names, alpha.tolist())),
            threshold_bse=dict(zip(ths.cut_names, alpha_se.tolist())),
            threshold_params=dict(zip(ths.param_names, psi[:n_tau].tolist())),
            threshold_params_bse=dict(zip(ths.param_names, se_psi[:n_tau].tolist())),
            fe_params=pd.Series(psi[n_tau:], index=design.beta_names, dtype=float),
            fe_bse=pd.Series(se_psi[n_tau:], index=design.beta_names, dtype=float),
            random_effects=random_effects, cond_var=cond_var,
            variance_components=variance_components, theta=theta.copy(), vcov=vcov,
            converged=converged, nobs=float(design.weights.sum()), llf=-float(modes.value),
            edf=len(phi), ngroups=ngroups, max_grad=max_grad, cond_hessian=cond_h,
            n_iter=n_iter, n_fev=objective.n_evaluations, n_inner=objective.n_inner,
            optimizer=optimizer, elapsed=elapsed, messages=list(messages),
            term_names=term_names, n_agq=n_agq, boundary_terms=boundary_terms,
            term_groups={t.key: t.name for t in random.terms},
            model=PredictionModel.from_design(design, parsed, link),
            data_key=hashlib.sha1(design.response.codes.tobytes()
                                  + design.weights.tobytes()).hexdigest(),
            refitter=Refitter.at(objective, phi_scaled if phi_scaled is not None else phi,
                                 param, vcov_free, fit_scale),
        )

    def predict(self, newdata=None, type: str = "prob", re_form: str = "conditional",
                se_fit: bool = False, allow_new_levels: bool = True):
        """Predictions for ``newdata`` (default: the fitting rows, under their labels in the
        data, so that ``data.loc[p.index]`` lines up even after rows were dropped).

        Parameters
        ----------
        type : {"prob", "cum.prob", "linear.predictor", "class", "mean"}
            Category probabilities (DataFrame, a column per level), P(Y <= k) (columns
            ``<=1``, ...), x'beta + z'b, the most probable level, or the expected score
            (numeric levels only).
        re_form : {"conditional", "population", "marginal"}
            Conditional modes of b (b = 0 for levels not seen in fitting), b = 0, or averaged
            over the random-effect distribution (population-averaged probabilities).
        se_fit : bool
            Also return delta-method standard errors (in the threshold and fixed-effect
            parameters): a tuple ``(fit, se)``.
        allow_new_levels : bool
            Levels of a grouping factor not seen in fitting get b = 0, with a warning naming
            the factor (True, the default), or raise a ValueError (False), as lme4's.

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> fit.predict().shape
        (72, 5)
        >>> round(float(fit.predict(type="prob", re_form="marginal").iloc[0].sum()), 6)
        1.0
        """
        return predict(self, newdata, type, re_form, se_fit, allow_new_levels)

    def confint(self, level: float = 0.95, method: str = "wald", params=None) -> pd.DataFrame:
        """Confidence intervals with ``lower`` and ``upper`` columns.

        ``method="wald"`` gives R's ``confint()`` for the threshold parameters and fixed
        effects; ``method="profile"`` profile-likelihood intervals for those and the standard
        deviations of scalar random terms (rows ``sd(judge)``); ``params`` selects rows.

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> list(fit.confint().columns)
        ['lower', 'upper']
        """
        _check_level(level)
        if params is not None:
            params = [params] if isinstance(params, str) else params
            if not isinstance(params, (list, tuple, pd.Index)) or not all(
                    isinstance(p, str) for p in params):
                raise TypeError(f"params must be a parameter name or a list of names, "
                                f"not {params!r}")
            params = list(params)
        if method == "wald":
            table = wald(self, level)
            if params is None:
                return table
            unknown = [p for p in params if p not in table.index]
            if unknown:
                raise ValueError(f"no parameter(s) {unknown} for Wald intervals; choose from "
                                 f"{list(table.index)}")
            return table.loc[params]
        if method == "profile":
            return profile(self, level, params)
        raise ValueError(f"method must be 'wald' or 'profile', not {method!r}")

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per estimate: term, kind (threshold / fixed / random), estimate, std_error,
        statistic, p_value, conf_low, conf_high (Wald; random rows give standard deviations
        and correlations, without standard errors).

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> list(fit.tidy()["kind"])
        ['threshold', 'threshold', 'threshold', 'threshold', 'fixed', 'fixed', 'random']
        """
        _check_level(level)
        ci = wald(self, level)
        est, se, z, p = _z_table(self)
        n_tau = len(self.threshold_params)
        rows = pd.DataFrame({
            "term": est.index, "kind": ["threshold"] * n_tau + ["fixed"] * len(self.fe_params),
            "estimate": est.to_numpy(), "std_error": se.to_numpy(), "statistic": z.to_numpy(),
            "p_value": np.asarray(p),
            "conf_low": ci["lower"].to_numpy(), "conf_high": ci["upper"].to_numpy(),
        })
        random = []
        for g, vc in self.variance_components.items():
            cov = np.atleast_2d(np.asarray(vc, dtype=float))
            sd = np.sqrt(np.diag(cov))
            names = self.term_names[g]
            for j, nm in enumerate(names):
                random.append({"term": f"sd({nm}|{g})", "kind": "random", "estimate": sd[j]})
            for j in range(len(names)):
                for k in range(j):
                    random.append({"term": f"cor({names[k]},{names[j]}|{g})", "kind": "random",
                                   "estimate": cov[j, k] / (sd[j] * sd[k])})
        return pd.concat([rows, pd.DataFrame(random)], ignore_index=True)

    def to_dict(self) -> dict:
        """All estimates, standard errors, variance components and fit statistics, as plain
        Python types (for JSON: an unavailable value is None).

        Examples
        --------
        >>> import json, interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> round(json.loads(json.dumps(fit.to_dict()))["variance_components"]["judge"], 3)
        1.279
        """
        def vc_out(vc):
            return float(vc) if np.ndim(vc) == 0 else np.asarray(vc, dtype=float).tolist()

        return _json_values({
            "formula": self.formula, "link": self.link, "threshold": self.threshold,
            "nAGQ": self.n_agq, "nobs": self.nobs, "logLik": self.llf, "AIC": self.aic,
            "BIC": self.bic, "converged": self.converged, "messages": list(self.messages),
            "max_grad": self.max_grad, "cond_H": self.cond_hessian,
            "thresholds": dict(self.thresholds), "threshold_bse": dict(self.threshold_bse),
            "threshold_params": dict(self.threshold_params),
            "threshold_params_bse": dict(self.threshold_params_bse),
            "fixed_effects": self.fe_params.to_dict(), "fixed_effects_bse": self.fe_bse.to_dict(),
            "variance_components": {g: vc_out(v) for g, v in self.variance_components.items()},
            "theta": self.theta.tolist(), "ngroups": dict(self.ngroups),
            "random_effects": {g: {"levels": list(df.index), "terms": list(df.columns),
                                   "modes": df.to_numpy().tolist()}
                               for g, df in self.random_effects.items()},
            "vcov": {"names": list(self.vcov.index), "values": self.vcov.to_numpy().tolist()},
        })

    def plot_ranef(self, factor: str | None = None, level: float = 0.95, ax=None):
        """Caterpillar plot of one grouping factor's conditional modes (needs matplotlib).

        Examples
        --------
        >>> import interlace, matplotlib
        >>> matplotlib.use("Agg")
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> fig = fit.plot_ranef("judge")
        """
        from .plots import plot_ranef

        return plot_ranef(self, factor, level, ax)

    def plot_effects(self, variable: str, re_form: str = "population", ax=None):
        """Predicted category probabilities across ``variable`` (needs matplotlib).

        Examples
        --------
        >>> import interlace, matplotlib
        >>> matplotlib.use("Agg")
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> fig = fit.plot_effects("temp", re_form="marginal")
        """
        from .plots import plot_effects

        return plot_effects(self, variable, re_form, ax)

    def compare(self, *others) -> pd.DataFrame:
        """Likelihood-ratio test against nested fits: ``interlace.anova(self, *others)``.

        Examples
        --------
        >>> import interlace
        >>> wine = interlace.load_wine()
        >>> small = interlace.clmm("rating ~ temp + (1|judge)", wine)
        >>> big = interlace.clmm("rating ~ temp + contact + (1|judge)", wine)
        >>> round(float(small.compare(big)["LR.stat"].iloc[1]), 2)
        14.35
        """
        return anova(self, *others)

    def summary(self) -> Summary:
        """A summary that prints like R's ``summary.clmm``; its ``coefficients`` attribute
        holds the table (Estimate, Std. Error, z value, Pr(>|z|)) as a DataFrame.

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> print(fit.summary())  # doctest: +ELLIPSIS
        Cumulative Link Mixed Model fitted with the Laplace approximation
        ...
        tempwarm     3.0630     0.5954   5.145 2.68e-07 ***
        ...
        """
        return Summary(self)

    def __repr__(self) -> str:
        return (f"<CLMMResult {self.formula!r} link={self.link} nobs={self.nobs:g} "
                f"logLik={self.llf:.4f} converged={self.converged}>")


@dataclass
class Refitter:
    """The objective at the optimum, and parameter names for profiling."""

    objective: object
    phi: np.ndarray
    lower: np.ndarray
    names: list
    is_sd: np.ndarray
    param: object = None  # fit.RParameterisation at the optimum
    vcov: np.ndarray = None  # in those coordinates, in the data's units
    scale: np.ndarray = None  # the objective's parameters are the data's times this

    def __post_init__(self):
        if self.scale is None:
            self.scale = np.ones(len(self.phi))
        if self.vcov is not None and self.param is not None:
            c = self.param.coordinate_scale(self.scale)
            self.vcov = self.vcov * np.outer(c, c)  # into the objective's units

    def conditional_start(self, j: int, value: float) -> np.ndarray:
        """Where the other parameters go when parameter j moves to value, to second order:
        x_free + V[free, j] / V[j, j] (value - x_j), in R's coordinates. A start this close
        keeps the profile's optimiser away from disordered thresholds."""
        phi = self.phi.copy()
        phi[j] = value
        if self.param is None or self.vcov is None or not self.param.free[j]:
            return phi
        x = self.param.to_r(self.phi)
        k = int(np.sum(self.param.free[:j]))
        moved = self.param.to_r(phi)[k] - x[k]
        x = x + self.vcov[:, k] / self.vcov[k, k] * moved
        start = self.param.from_r(x, self.phi)
        start[j] = value
        return start if np.all(np.isfinite(start)) else phi

    @classmethod
    def at(cls, objective, phi, param=None, vcov=None, scale=None) -> Refitter:
        random = objective.random
        names = list(objective.design.psi_names)
        is_sd = [False] * len(names)
        for k, term in enumerate(random.terms):
            for j, (a, b) in enumerate(term.tril_positions()):
                scalar = term.size == 1
                names.append(f"sd({term.key})" if scalar
                             else f"ST{random.theta_offsets[k] + j + 1}")
                is_sd.append(scalar)
        lower = np.concatenate([np.full(objective.n_psi, -np.inf),
                                random.theta_lower_bounds()])
        return cls(objective, phi.copy(), lower, names, np.array(is_sd), param, vcov, scale)


def _check_level(level) -> None:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1, not {level!r}")


def _json_values(value):
    """NaN and infinities (an unavailable standard error) as None: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _json_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_values(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _z_table(result: CLMMResult):
    est = result.params
    se = result.bse
    z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    return est, se, z, p


class Summary:
    """R's summary.clmm, as text (``print(result.summary())``) and as tables."""

    def __init__(self, result: CLMMResult):
        self.result = result
        est, se, z, p = _z_table(result)
        self.coefficients = pd.DataFrame(
            {"Estimate": est, "Std. Error": se, "z value": z, "Pr(>|z|)": p})

    def info_line(self) -> str:
        r = self.result
        header = ["link", "threshold", "nobs", "logLik", "AIC", "niter", "max.grad", "cond.H"]
        row = [r.link, r.threshold, f"{r.nobs:g}", f"{r.llf:.2f}", f"{r.aic:.2f}",
               f"{r.n_fev}({r.n_inner})", format_sci(r.max_grad, 2), format_sci(r.cond_hessian, 1)]
        return left_table(header, [row])

    def random_table(self) -> str:
        r = self.result
        return random_effects_table(r.variance_components, r.term_names, r.term_groups)

    def __str__(self) -> str:
        r = self.result
        if r.n_agq > 1:
            lines = ["Cumulative Link Mixed Model fitted with the adaptive Gauss-Hermite ",
                     f"quadrature approximation with {r.n_agq} quadrature points ", ""]
        elif r.n_agq < -1:
            lines = ["Cumulative Link Mixed Model fitted with the Gauss-Hermite ",
                     f"quadrature approximation with {-r.n_agq} quadrature points ", ""]
        else:
            lines = ["Cumulative Link Mixed Model fitted with the Laplace approximation", ""]
        lines.append(f"formula: {r.formula}")
        if r.data_name:
            lines.append(f"data:    {r.data_name}")
        lines += ["", self.info_line(), "", "Random effects:", self.random_table()]
        groups = ",  ".join(f"{g} {n}" for g, n in r.ngroups.items())
        lines.append(f"Number of groups:  {groups} ")
        lines.append("")
        if len(r.fe_params):
            lines.append("Coefficients:")
            lines.append(coef_table(list(r.fe_params.index), r.fe_params.values, r.fe_bse.values))
        else:
            lines.append("No Coefficients")
        lines += ["", "Threshold coefficients:"]
        lines.append(coef_table(list(r.threshold_params), list(r.threshold_params.values()),
                                list(r.threshold_params_bse.values()), pvalues=False))
        if r.is_singular:
            zero = [r.term_groups.get(k, k) for k in r.boundary_terms]
            lines += ["", (f"Note: singular fit: the covariance of {', '.join(zero)} is on its "
                          "boundary (a variance at zero, or a correlation of +-1).")]
        if not r.converged:
            lines += ["", "Warning: the fit did not converge: " + "; ".join(r.messages)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))


def random_effects_table(variance_components: dict, term_names: dict,
                         term_groups: dict | None = None) -> str:
    """R's formatVC: Groups, Name, Variance, Std.Dev. and the correlations below the diagonal."""
    groups, names, sds, corr_rows = [], [], [], []
    for g, vc in variance_components.items():
        cov = np.atleast_2d(np.asarray(vc, dtype=float))
        sd = np.sqrt(np.diag(cov))
        for j, nm in enumerate(term_names[g]):
            groups.append((term_groups or {}).get(g, g) if j == 0 else "")
            names.append(nm)
            sds.append(sd[j])
            corr = cov[j] / (sd[j] * sd) if cov.shape[0] > 1 else np.empty(0)
            corr_rows.append([f"{c:.3f}" for c in corr[:j]])
    sds = np.array(sds)
    var_txt = [s.strip() for s in format_real(sds**2, 4)]
    sd_txt = [s.strip() for s in format_real(sds, 4)]
    header = ["Groups", "Name", "Variance", "Std.Dev."]
    # as R's formatVC: one correlation column per term of the largest vector-valued term
    sizes = [np.atleast_2d(np.asarray(vc, dtype=float)).shape[0]
             for vc in variance_components.values()]
    ncorr = max(sizes) if max(sizes) > 1 else 0
    if ncorr:
        header += ["Corr"] + [""] * (ncorr - 1)
    rows = []
    for i in range(len(groups)):
        row = [groups[i], names[i], var_txt[i], sd_txt[i]]
        if ncorr:
            row += corr_rows[i] + [""] * (ncorr - len(corr_rows[i]))
        rows.append(row)
    return left_table(header, rows, lead=" ")
