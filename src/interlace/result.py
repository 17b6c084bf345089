"""The fitted model: `CLMMResult` with estimates, standard errors, random effects and summary().

Names follow R: thresholds are keyed ``"1|2"``, coefficients as R's model.matrix names them
(``tempwarm``), random-effect parameters in ``vcov`` as ``ST1, ST2, ...``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .after_fit import AfterFit
from .arguments import check_level
from .estimates import estimates
from .inference import Refitter, anova, profile, wald
from .nominal_scale import scale_param_names
from .optimize.control import OptSummary
from .prediction import PredictionModel, predict
from .summary import Summary, z_table


class ConvergenceWarning(UserWarning):
    """The fit did not converge; its estimates should not be trusted as they are."""


@dataclass
class CLMMResult(AfterFit):
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
    llf, aic, bic, nobs, ngroups, link, threshold, converged, max_grad, cond_hessian :
        fit statistics (``nobs`` is the sum of the weights, as in R).
    optinfo : OptSummary
        What the fit did: its start, the optimisers that ran and why, restarts, evaluations
        (``n_fev``), inner Newton steps (``n_inner``), time; ``summary(verbose=True)``
        prints it.
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
    optinfo: OptSummary
    messages: list = field(default_factory=list)
    term_names: dict = field(default_factory=dict)
    term_groups: dict = field(default_factory=dict)  # term key -> grouping factor
    boundary_terms: list = field(default_factory=list)  # keys of terms on the boundary
    n_agq: int = 1
    data_name: str | None = None
    scale_params: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    scale_bse: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    nominal_formula: str | None = None  # right-hand sides of nominal= and scale=, if given
    scale_formula: str | None = None
    model: object = None  # prediction.PredictionModel: what predict() needs of the fit
    data_key: str = ""  # a digest of the response and weights, so anova compares like with like
    refitter: object = field(default=None, repr=False)  # for profile intervals; not pickled

    def __getstate__(self):
        state = self.__dict__.copy()
        state["refitter"] = None
        return state

    # counts and the path of the fit, read from its record
    n_fev = property(lambda self: self.optinfo.n_evaluations)
    n_inner = property(lambda self: self.optinfo.n_inner)
    n_iter = property(lambda self: self.optinfo.n_iter)
    optimizer = property(lambda self: self.optinfo.optimizer)
    elapsed = property(lambda self: self.optinfo.elapsed)

    @property
    def aic(self) -> float:
        return -2.0 * self.llf + 2.0 * self.edf

    @property
    def bic(self) -> float:
        return -2.0 * self.llf + math.log(self.nobs) * self.edf

    @property
    def params(self) -> pd.Series:
        """Threshold (and nominal) parameters, fixed effects, then scale coefficients
        (``scale:`` in front of a name a fixed effect has too): R's ``coef()``."""
        return pd.concat([pd.Series(self.threshold_params, dtype=float), self.fe_params,
                          self._scale_keyed(self.scale_params)])

    @property
    def bse(self) -> pd.Series:
        return pd.concat([pd.Series(self.threshold_params_bse, dtype=float), self.fe_bse,
                          self._scale_keyed(self.scale_bse)])

    def _scale_keyed(self, values: pd.Series) -> pd.Series:
        keys = scale_param_names(list(values.index), list(self.fe_params.index))
        return pd.Series(values.to_numpy(), index=keys, dtype=float)

    @property
    def pvalues(self) -> pd.Series:  # statsmodels' names: pvalues, tvalues
        return pd.Series(z_table(self)[3], index=self.params.index, name="pvalues")

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("tvalues")

    def conf_int(self, alpha: float = 0.05, method: str = "wald") -> pd.DataFrame:
        """``confint(level=1 - alpha, method=method)`` under statsmodels' name."""
        return self.confint(level=1 - alpha, method=method)

    def cov_params(self) -> pd.DataFrame:
        return self.vcov  # statsmodels' name
    def _repr_html_(self) -> str:  # Jupyter
        return self.summary().as_html()

    @property
    def is_singular(self) -> bool:
        """A random-effect covariance on its boundary: a diagonal entry of a term's L (a
        standard deviation given the ones before it, per SD of its covariate) below 1e-3,
        lme4's rule; the same entries are left out of the Hessian."""
        return bool(self.boundary_terms)

    @classmethod
    def from_fit(cls, *, model, phi, modes, param, hessian, vcov_free, messages, optinfo):
        """The result of ``model`` at its optimum ``phi`` (objective units), with the Hessian
        and its inverse in R's coordinates and the data's units."""
        return cls(**estimates(model, phi, modes, param, hessian, vcov_free), optinfo=optinfo,
                   converged=not messages, max_grad=optinfo.max_grad, messages=list(messages),
                   model=PredictionModel.from_design(model.design, model.parsed, model.link,
                                                     optinfo.control.block_rows),
                   refitter=Refitter.at(model.objective, phi, param, vcov_free, model))

    def predict(self, newdata=None, type: str = "prob", re_form: str = "conditional",
                se_fit: bool = False, allow_new_levels: bool = True, interval: bool = False,
                level: float = 0.95, cov: bool = False):
        """Predictions for ``newdata`` (default: the fitting rows, under their labels in the
        data, so that ``data.loc[p.index]`` lines up even after rows were dropped).

        Parameters
        ----------
        type : {"prob", "cum.prob", "linear.predictor", "class", "mean"}
            Category probabilities (DataFrame, a column per level), P(Y <= k) (columns
            ``<=1``, ...), x'beta + z'b, the most probable level, or the expected score
            (numeric levels only).
        re_form : {"conditional", "zero", "marginal"}
            Conditional modes of b (b = 0 for levels not seen in fitting), b = 0, or averaged
            over the random-effect distribution (population-averaged probabilities; newdata
            needs no grouping column). ``"population"``, the old name of ``"zero"``, still
            works with a FutureWarning.
        se_fit : bool
            Also return delta-method standard errors (in the threshold and fixed-effect
            parameters): a tuple ``(fit, se)``.
        allow_new_levels : bool
            Levels of a grouping factor not seen in fitting get b = 0, with a warning naming
            the factor (True, the default), or raise a ValueError (False), as lme4's.
        interval, level : bool, float
            Also return ``level`` confidence limits (delta method), computed where they
            cannot leave the range and mapped back: on the link scale for cumulative
            probabilities, the logit scale for probabilities and the mean.
        cov : bool
            Also return the covariance of all the predictions (delta method, in the threshold
            parameters and coefficients), labelled (row, column): what contrasts of
            predictions need.

        Returns the predictions, or a tuple: the predictions, then the SEs, the lower and the
        upper limits, and the covariance, those asked for, in that order.

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> fit.predict().shape
        (72, 5)
        >>> round(float(fit.predict(type="prob", re_form="marginal").iloc[0].sum()), 6)
        1.0
        """
        return predict(self, newdata, type, re_form, se_fit, allow_new_levels, interval, level,
                       cov)

    def confint(self, level: float = 0.95, method: str = "wald", params=None,
                n_jobs: int = 1) -> pd.DataFrame:
        """Confidence intervals with ``lower`` and ``upper`` columns.

        ``method="wald"`` gives R's ``confint()`` for the threshold parameters and fixed
        effects; ``method="profile"`` profile-likelihood intervals for those, the standard
        deviations of random terms and a vector term's correlations
        (``sd((Intercept)|judge)``, ``cor((Intercept),x|g)``, as ``tidy()`` names them; see
        `polar`); ``params`` selects rows; ``n_jobs`` profiles in parallel processes.

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> list(fit.confint().columns)
        ['lower', 'upper']
        """
        check_level(level)
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
            return profile(self, level, params, n_jobs)
        raise ValueError(f"method must be 'wald' or 'profile', not {method!r}")

    def tidy(self, level: float = 0.95, exponentiate: bool = False,
             conf_method: str = "wald") -> pd.DataFrame:
        """One row per estimate: term, kind (threshold / fixed / random), estimate, std_error,
        statistic, p_value, conf_low, conf_high (Wald; random rows give standard deviations
        and correlations, without standard errors). ``exponentiate=True`` gives exp(estimate)
        and exp of the limits for the coefficients: odds ratios for the logit link (hazard
        ratios for cloglog); their std_error, statistic and p_value stay on the linear scale.

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> list(fit.tidy()["kind"])
        ['threshold', 'threshold', 'threshold', 'threshold', 'fixed', 'fixed', 'random']
        """
        from .tables import tidy_table

        check_level(level)
        return tidy_table(self, level, exponentiate, conf_method)

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
        from .tables import plain_values

        return plain_values(self)

    def plot_ranef(self, factor: str | None = None, level: float = 0.95, ax=None,
                   sort: str | None = "first", top: int | None = None):
        """Caterpillar plot of one grouping factor's conditional modes, a panel per term in
        one row order (``sort``), ``top`` highest and lowest levels with intervals (needs
        matplotlib; see `plots.plot_ranef`).

        Examples
        --------
        >>> import interlace, matplotlib
        >>> matplotlib.use("Agg")
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> fig = fit.plot_ranef("judge")
        """
        from .plots import plot_ranef

        return plot_ranef(self, factor, level, ax, sort=sort, top=top)

    def plot_effects(self, variable: str, re_form: str = "zero", ax=None, ci: bool = True,
                     level: float = 0.95, by: str | None = None, kind: str = "lines"):
        """Predicted category probabilities across ``variable`` with confidence limits
        (``ci``, ``level``) computed on the logit scale (needs matplotlib).

        Examples
        --------
        >>> import interlace, matplotlib
        >>> matplotlib.use("Agg")
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> fig = fit.plot_effects("temp", re_form="marginal")
        """
        from .plots import plot_effects

        return plot_effects(self, variable, re_form, ax, ci=ci, level=level, by=by, kind=kind)

    def plot_latent(self, newdata=None, ax=None):
        """The latent density at rows of ``newdata`` with the cut-points (see
        `plots.plot_latent`; needs matplotlib)."""
        from .plots import plot_latent

        return plot_latent(self, newdata, ax)

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

    def summary(self, verbose: bool = False) -> Summary:
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
        return Summary(self, verbose)

    def __repr__(self) -> str:
        return (f"<CLMMResult {self.formula!r} link={self.link} nobs={self.nobs:g} "
                f"logLik={self.llf:.4f} converged={self.converged}>")


