"""Predictions from a fitted model: probabilities, cumulative probabilities, linear predictor,
class and mean, conditional on the random effects, at b = 0, or averaged over their law.

For an observation with fixed part eta = x'beta + offset and random part z'b,

    P(Y <= k) = F(alpha_k - eta - z'b).

``re_form="conditional"`` uses the conditional modes of b for levels seen in fitting (b = 0 for
new levels, with a warning naming the factor, or an error with ``allow_new_levels=False``);
``"zero"`` uses b = 0 (``"population"``, its old name, still works with a warning);
``"marginal"`` integrates over b ~ N(0, Sigma): z'b ~ N(0, s^2) with s^2 = sum over terms of
z' Sigma z, by Gauss-Hermite quadrature, giving population-averaged probabilities.
Standard errors (``se_fit=True``) are by the delta method in the threshold and fixed-effect
parameters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import pandas as pd

from .arguments import check_level
from .coding import group_labels
from .fixed_part import FixedPart
from .formula import ParsedFormula
from .frames import plain_column, to_pandas
from .links import get_link
from .model_matrix import check_finite, column_kind, fixed_matrix, offset_values, term_matrix
from .nominal_scale import SideDesign, side_design
from .probabilities import RowDesign, interval_limits, prediction_covariance, probabilities
from .rformula import FormulaParts
from .rows import BLOCK_ROWS, row_blocks

TYPES = ("prob", "cum.prob", "linear.predictor", "class", "mean")
RE_FORMS = ("conditional", "zero", "marginal")
_MARGINAL_NODES = 40


@dataclass
class PredictionModel:
    """What prediction needs of the fit: the formula as read, the fitted model-matrix specs,
    what the columns held in fitting, and the fitting rows."""

    parts: FormulaParts
    offsets: tuple  # the offset expressions as written, for messages
    response_levels: list[str]
    link: str
    jacobian: np.ndarray
    fixed_spec: object
    beta_columns: list[int]
    fixed: FixedPart  # the fitting rows' X (per SD of each column)
    offset: np.ndarray
    terms: list  # random_design.RandomEffectsTerm, in the fit's order
    row_labels: pd.Index
    column_levels: dict
    column_ranges: dict
    column_kinds: dict
    block_rows: int = BLOCK_ROWS  # the fit's Control.block_rows
    factor_values: pd.DataFrame = None  # the fixed part's factors on the fitting rows
    nominal: SideDesign | None = None  # the nominal and scale designs (specs, columns kept)
    scale: SideDesign | None = None
    rows_elsewhere: bool = False  # the fitting rows stayed on a cluster

    @property
    def cut_names(self) -> list[str]:
        """The thresholds' names, ``1|2``, ..., as R's."""
        levels = self.response_levels
        return [f"{a}|{b}" for a, b in pairwise(levels)]

    @classmethod
    def from_design(cls, design, parsed: ParsedFormula, link: str,
                    block_rows: int = BLOCK_ROWS) -> PredictionModel:
        return cls(design.parts, parsed.offsets, list(design.response.levels), link,
                   design.thresholds.jacobian, design.fixed_spec, list(design.beta_columns),
                   design.fixed, design.offset, list(design.random.terms),
                   design.row_labels if design.row_labels is not None
                   else pd.RangeIndex(design.n_obs),
                   design.column_levels or {}, design.column_ranges or {},
                   design.column_kinds or {}, block_rows, design.factor_values,
                   design.nominal, design.scale if design.fixed.W is not None else None,
                   design.total_weight is not None)

    def rows(self, newdata, re_form, allow_new_levels: bool) -> Rows:
        """X, offset, per term (level index, covariates in the data's units, each row's level
        label or None for the fitting rows), row labels, the nominal and scale designs."""
        fixed = self.fixed
        if newdata is None and self.rows_elsewhere:
            raise ValueError("this model was fitted on a Dask DataFrame, whose rows stay on the "
                             "cluster: pass them as newdata (a Dask DataFrame gives a Dask "
                             "DataFrame)")
        if newdata is None:
            return Rows(fixed.X * fixed.x_scale, self.offset,
                        [(t.index, t.covariates * t.covariate_scale, None) for t in self.terms],
                        self.row_labels, None if fixed.N is None else fixed.N * fixed.n_scale,
                        None if fixed.W is None else fixed.W * fixed.w_scale)
        df = to_pandas(newdata)
        needed = list(self.parts.fixed_columns)
        need_terms = re_form not in ("zero", None)
        # marginal predictions average over the levels: the grouping columns are not needed
        grouping = {c for t in self.terms for c in t.factors} if re_form == "marginal" else set()
        if need_terms:
            needed += [c for c in self.parts.random_columns
                       if c not in needed and c not in grouping]
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise ValueError(f"newdata lacks column(s) {missing} needed for prediction")
        has_na = [c for c in needed if df[c].isna().any()]
        if has_na:
            raise ValueError(f"newdata has missing values in column(s) {has_na}")
        frame = pd.DataFrame({c: plain_column(df[c]) for c in needed}, index=df.index)
        self._check_columns(frame)
        renamed = self.parts.columns.rename(frame)
        full, names, _, _ = fixed_matrix(self.parts, renamed, self.fixed_spec)
        check_finite(full, names, "newdata: fixed-effect column", df.index)
        X = full[:, self.beta_columns]
        offset = offset_values(self.parts, renamed, self.offsets)
        check_finite(offset[:, None], ["offset"], "newdata: the", df.index)
        terms = []
        for t in self.terms if need_terms else []:
            cov = term_matrix(self.parts, None, str(t), renamed, t.covariate_spec)[0]
            if re_form == "marginal":
                terms.append((None, cov, None))
                continue
            labels = group_labels(frame, t.factors)
            index = pd.Index(t.levels).get_indexer(labels)
            new = sorted(set(labels[index < 0]))
            if new and re_form == "conditional":
                if not allow_new_levels:
                    raise ValueError(f"newdata has {len(new)} level(s) of {t.name!r} not seen "
                                     f"in fitting: {new[:10]}")
                warnings.warn(f"newdata has {len(new)} level(s) of {t.name!r} not seen in "
                              f"fitting (e.g. {new[:3]}); their random effects are set to 0 "
                              "(allow_new_levels=False refuses them)", UserWarning, stacklevel=4)
            terms.append((index, cov, labels))
        nominal, scale = (None if side is None else side_design(
            self.parts, which, renamed, df.index, fitted=side).matrix
            for side, which in ((self.nominal, "nominal"), (self.scale, "scale")))
        return Rows(X, offset, terms, df.index, nominal, scale)

    def _check_columns(self, frame: pd.DataFrame) -> None:
        """Each column of the kind it had in fitting, with levels seen in fitting, finite."""
        grouping = {c for t in self.terms for c in t.factors}
        for c in frame.columns:
            fitted, given = self.column_kinds.get(c), column_kind(frame[c])
            if c not in grouping and fitted is not None and fitted != given:
                raise ValueError(f"newdata column {c!r} holds {_KINDS[given]}; the model was "
                                 f"fitted with {_KINDS[fitted]} in it")
            seen = self.column_levels.get(c)
            if seen is not None:
                unseen = sorted(set(map(str, pd.unique(frame[c]))) - set(map(str, seen)))
                if unseen:
                    raise ValueError(f"newdata column {c!r} has level(s) {unseen} not seen in "
                                     f"fitting (seen: {[str(v) for v in seen]})")
            if given == "number":
                check_finite(frame[c].to_numpy(dtype=float)[:, None], [c], "newdata column",
                             frame.index)


class Rows(NamedTuple):
    """The rows to predict, each part in the data's units."""

    X: np.ndarray
    offset: np.ndarray
    terms: list  # per random term: (level index, covariates, labels)
    index: pd.Index
    nominal: np.ndarray | None  # the nominal design, its intercept first
    scale: np.ndarray | None  # the scale covariates


def row_thresholds(result, model: PredictionModel, nominal) -> np.ndarray:
    """The thresholds: (K-1,) without nominal effects, (rows, K-1) with them."""
    tau = np.array(list(result.threshold_params.values()))
    if nominal is None:
        return model.jacobian @ tau
    return nominal @ (tau.reshape(nominal.shape[1], -1) @ model.jacobian.T)


def row_inverse_scale(result, scale) -> np.ndarray | None:
    """1 / exp(w'zeta) per row; None without scale effects."""
    return None if scale is None else np.exp(-(scale @ result.scale_params.to_numpy()))


_KINDS = {"number": "numbers", "category": "text or categories", "bool": "true/false values"}


def checked_re_form(re_form):
    """``re_form`` checked; ``"population"`` (b = 0, often misread as population-averaged)
    is the old name of ``"zero"``."""
    if re_form == "population":
        warnings.warn('re_form="population" is now re_form="zero" (b = 0); for probabilities '
                      'averaged over the random effects use re_form="marginal"',
                      FutureWarning, stacklevel=4)
        return "zero"
    if re_form not in RE_FORMS:
        raise ValueError(f"unknown re_form {re_form!r}; choose one of "
                         f"{', '.join(map(repr, RE_FORMS))}")
    return re_form


def predict(result, newdata=None, type: str = "prob", re_form: str = "conditional",
            se_fit: bool = False, allow_new_levels: bool = True, interval: bool = False,
            level: float = 0.95, cov: bool = False):
    """See `CLMMResult.predict`."""
    if type not in TYPES:
        raise ValueError(f"unknown type {type!r}; choose one of {', '.join(map(repr, TYPES))}")
    from .dask_fit import is_dask_frame, predict_dask

    if is_dask_frame(newdata):
        return predict_dask(result, newdata, type=type, re_form=re_form, se_fit=se_fit,
                            allow_new_levels=allow_new_levels, interval=interval,
                            level=level, cov=cov)
    re_form = checked_re_form(re_form)
    if not isinstance(allow_new_levels, bool):
        raise TypeError(f"allow_new_levels must be True or False, not {allow_new_levels!r}")
    for name, flag in (("se_fit", se_fit), ("interval", interval), ("cov", cov)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, not {flag!r}")
    if interval:
        check_level(level)
    if type == "class" and (se_fit or interval or cov):
        raise ValueError("se_fit, interval and cov are not available for type='class'")
    uncertainty = se_fit or interval or cov
    model: PredictionModel = result.model
    levels = model.response_levels
    scores = None
    if type == "mean":
        try:
            scores = np.array([float(v) for v in levels])
        except ValueError:
            raise ValueError(f"type='mean' needs numeric response levels, not {levels}") from None

    X, offset, terms, index, nominal, scale = model.rows(newdata, re_form, allow_new_levels)
    n = X.shape[0]
    beta = result.fe_params.to_numpy()
    alpha = row_thresholds(result, model, nominal)
    inv_scale = row_inverse_scale(result, scale)
    eta = X @ beta + offset

    # the random part as quadrature: shift[i, k] with weights w[k] summing to one
    if re_form == "conditional":
        shift = np.zeros(n)
        for (idx, covariates, _), term in zip(terms, model.terms):
            # terms that share a grouping factor share its table of modes
            b = result.random_effects[term.name][term.coef_names].to_numpy()
            seen = idx >= 0
            shift[seen] += np.einsum("ij,ij->i", covariates[seen], b[idx[seen]])
        shift, weights = shift[:, None], np.ones(1)
    elif re_form == "zero":
        shift, weights = np.zeros((n, 1)), np.ones(1)
    else:
        var = np.zeros(n)
        for (_, covariates, _), term in zip(terms, model.terms):
            vc = result.variance_components[term.key]
            sigma = np.atleast_2d(np.asarray(vc, dtype=float))
            var += np.einsum("ij,jk,ik->i", covariates, sigma, covariates)
        nodes, w = np.polynomial.hermite_e.hermegauss(_MARGINAL_NODES)
        shift = np.sqrt(var)[:, None] * nodes[None, :]
        weights = w / w.sum()

    n_tau, n_zeta = len(result.threshold_params), len(result.scale_params)
    if type == "linear.predictor":
        out = (eta + shift @ weights)[:, None]
        grad = np.concatenate([np.zeros((n, 1, n_tau)), X[:, None, :],
                               np.zeros((n, 1, n_zeta))], axis=2)
    else:
        # rows a block at a time: the work is (rows, K, quadrature nodes)
        link = get_link(model.link)
        parts = []
        for rows in row_blocks(n, model.block_rows, len(levels) * shift.shape[1]):
            design = RowDesign(X[rows], None if nominal is None else nominal[rows],
                               None if scale is None else scale[rows],
                               None if inv_scale is None else inv_scale[rows])
            parts.append(probabilities(link, model.jacobian, alpha if alpha.ndim == 1
                                        else alpha[rows], eta[rows], shift[rows], weights,
                                        design, type, uncertainty,
                                        scores if type == "mean" else None))
        out = np.concatenate([p[0] for p in parts])
        grad = np.concatenate([p[1] for p in parts]) if uncertainty else None
    fit = _shape(out, type, levels, index, scores if type == "mean" else None)
    if not uncertainty:
        return fit
    vcov = _vcov_psi(result)
    se = np.sqrt(np.einsum("nkp,pq,nkq->nk", grad, vcov, grad))
    extras = []
    if se_fit:
        extras.append(_shape(se, type, levels, index, None, is_se=True))
    if interval:
        value = out if type != "mean" else (out @ scores)[:, None]
        lower, upper = interval_limits(value, se, type, level, link if type == "cum.prob" else None,
                                 scores)
        extras += [_shape(b, type, levels, index, None, is_se=True).rename(name)
                   if type in ("mean", "linear.predictor") else _shape(b, type, levels, index, None)
                   for b, name in ((lower, "lower"), (upper, "upper"))]
    if cov:
        extras.append(prediction_covariance(grad, vcov, fit))
    return (fit, *extras)


def _vcov_psi(result) -> np.ndarray:
    n_psi = len(result.threshold_params) + len(result.fe_params) + len(result.scale_params)
    return result.vcov.to_numpy()[:n_psi, :n_psi]


def _shape(values, type, levels, index, scores, is_se=False):
    if type == "prob":
        return pd.DataFrame(values, index=index, columns=levels)
    if type == "cum.prob":
        return pd.DataFrame(values, index=index, columns=[f"<={lv}" for lv in levels[:-1]])
    if type in ("mean", "linear.predictor"):
        data = values[:, 0] if is_se or type == "linear.predictor" else values @ scores
        return pd.Series(data, index=index, name="se" if is_se else type)
    codes = np.argmax(values, axis=1)
    return pd.Series(pd.Categorical.from_codes(codes, categories=levels, ordered=True),
                     index=index, name="class")
