"""Predictions from a fitted model: probabilities, cumulative probabilities, linear predictor,
class and mean, conditional on the random effects, at b = 0, or averaged over their law.

For an observation with fixed part eta = x'beta + offset and random part z'b,

    P(Y <= k) = F(alpha_k - eta - z'b).

``re_form="conditional"`` uses the conditional modes of b for levels seen in fitting (b = 0 for
new levels, or an error with ``new_levels="error"``); ``"population"`` uses b = 0;
``"marginal"`` integrates over b ~ N(0, Sigma): z'b ~ N(0, s^2) with s^2 = sum over terms of
z' Sigma z, by Gauss-Hermite quadrature, giving population-averaged probabilities.
Standard errors (``se_fit=True``) are by the delta method in the threshold and fixed-effect
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import group_labels, offset_values, rhs_formula, term_covariates
from .formula import ParsedFormula
from .frames import to_pandas
from .intervals import log_interval_prob
from .links import get_link

TYPES = ("prob", "cum.prob", "linear.predictor", "class", "mean")
RE_FORMS = ("conditional", "population", "marginal")
_MARGINAL_NODES = 40
_BLOCK_ENTRIES = 2_000_000  # rows x categories x nodes held at once


@dataclass
class TermInfo:
    name: str
    factors: tuple[str, ...]
    expr: str
    levels: list[str]
    covariate_spec: object
    index: np.ndarray  # fitting rows' levels
    covariates: np.ndarray  # fitting rows' covariates


@dataclass
class PredictionModel:
    """What prediction needs of the fit: the data recipes and the fitting rows."""

    parsed: ParsedFormula
    response_levels: list[str]
    link: str
    jacobian: np.ndarray
    fixed_spec: object
    fixed_levels: dict
    fixed_values: dict
    beta_columns: list[int]
    X: np.ndarray
    offset: np.ndarray
    terms: list[TermInfo]

    @classmethod
    def from_design(cls, design, parsed: ParsedFormula, link: str) -> PredictionModel:
        terms = [TermInfo(t.name, t.factors, t.expr, t.levels, t.covariate_spec, t.index,
                          t.covariates) for t in design.random.terms]
        return cls(parsed, list(design.response.levels), link, design.thresholds.jacobian,
                   design.fixed_spec, design.fixed_levels or {}, design.fixed_values or {},
                   list(design.beta_columns), design.X,
                   design.offset if design.offset is not None else np.zeros(len(design.X)),
                   terms)

    def rows(self, newdata, need_terms: bool, new_levels: str):
        """X, offset and per term (level index, covariates) for the rows to predict."""
        if newdata is None:
            return self.X, self.offset, [(t.index, t.covariates) for t in self.terms], None
        df = to_pandas(newdata)
        needed = sorted(self.fixed_spec.required_variables)
        for expr in self.parsed.offsets:
            needed += [c for c in _vars(f"0 + {expr}") if c not in needed]
        if need_terms:
            for t in self.terms:
                needed += [c for c in list(t.factors) + _vars(t.expr) if c not in needed]
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise ValueError(f"newdata lacks column(s) {missing} needed for prediction")
        df = df[needed]
        has_na = [c for c in needed if df[c].isna().any()]
        if has_na:
            raise ValueError(f"newdata has missing values in column(s) {has_na}")
        for col, seen in self.fixed_levels.items():
            unseen = sorted(set(map(str, pd.unique(df[col]))) - set(map(str, seen)))
            if unseen:
                raise ValueError(f"newdata column {col!r} has level(s) {unseen} not seen in "
                                 f"fitting (seen: {[str(v) for v in seen]})")
        X = np.asarray(self.fixed_spec.get_model_matrix(df, output="numpy"), dtype=float)
        X = X[:, self.beta_columns]
        offset = offset_values(self.parsed, df)
        terms = []
        if need_terms:
            for t in self.terms:
                labels = group_labels(df, t.factors)
                index = pd.Index(t.levels).get_indexer(labels)
                if new_levels == "error" and (index < 0).any():
                    unseen = sorted(set(labels[index < 0]))
                    raise ValueError(f"newdata has level(s) of {t.name!r} not seen in fitting: "
                                     f"{unseen[:10]}")
                cov, _ = term_covariates(t.expr, df, t.covariate_spec)
                terms.append((index, cov))
        return X, offset, terms, df.index


def _vars(rhs: str) -> list[str]:
    return sorted(rhs_formula(rhs).required_variables)


def predict(result, newdata=None, type: str = "prob", re_form: str = "conditional",
            se_fit: bool = False, new_levels: str = "zero"):
    """See `CLMMResult.predict`."""
    if type not in TYPES:
        raise ValueError(f"unknown type {type!r}; choose one of {', '.join(map(repr, TYPES))}")
    if re_form not in RE_FORMS:
        raise ValueError(f"unknown re_form {re_form!r}; choose one of "
                         f"{', '.join(map(repr, RE_FORMS))}")
    if new_levels not in ("zero", "error"):
        raise ValueError(f"new_levels must be 'zero' or 'error', not {new_levels!r}")
    model: PredictionModel = result.model
    levels = model.response_levels
    if type == "mean":
        try:
            scores = np.array([float(v) for v in levels])
        except ValueError:
            raise ValueError(f"type='mean' needs numeric response levels, not {levels}") from None

    X, offset, terms, index = model.rows(newdata, re_form != "population", new_levels)
    n = X.shape[0]
    index = pd.RangeIndex(n) if index is None else index
    beta = result.fe_params.to_numpy()
    tau = np.array(list(result.threshold_params.values()))
    alpha = model.jacobian @ tau
    eta = X @ beta + offset

    # the random part as quadrature: shift[i, k] with weights w[k] summing to one
    if re_form == "conditional":
        shift = np.zeros(n)
        for (idx, cov), (name, modes) in zip(terms, result.random_effects.items()):
            b = modes.to_numpy()
            seen = idx >= 0
            shift[seen] += np.einsum("ij,ij->i", cov[seen], b[idx[seen]])
        shift, weights = shift[:, None], np.ones(1)
    elif re_form == "population":
        shift, weights = np.zeros((n, 1)), np.ones(1)
    else:
        var = np.zeros(n)
        for (idx, cov), vc in zip(terms, result.variance_components.values()):
            sigma = np.atleast_2d(np.asarray(vc, dtype=float))
            var += np.einsum("ij,jk,ik->i", cov, sigma, cov)
        nodes, w = np.polynomial.hermite_e.hermegauss(_MARGINAL_NODES)
        shift = np.sqrt(var)[:, None] * nodes[None, :]
        weights = w / w.sum()

    if type == "linear.predictor":
        lp = eta + shift @ weights
        fit = pd.Series(lp, index=index, name="linear.predictor")
        if not se_fit:
            return fit
        vb = _vcov_psi(result)[len(tau):, len(tau):]
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, vb, X))
        return fit, pd.Series(se, index=index, name="se")

    link = get_link(model.link)
    if type == "class" and se_fit:
        raise ValueError("se_fit is not available for type='class'")
    vcov = _vcov_psi(result) if se_fit else None
    # rows a block at a time: the work is (rows, K, quadrature nodes)
    block = max(1, _BLOCK_ENTRIES // (len(levels) * shift.shape[1]))
    parts = [_probabilities(link, model.jacobian, alpha, eta[i:i + block], shift[i:i + block],
                            weights, X[i:i + block], type, vcov,
                            scores if type == "mean" else None)
             for i in range(0, n, block)]
    out = np.concatenate([p[0] for p in parts]) if parts else np.empty((0, len(levels)))
    fit = _shape(out, type, levels, index, scores if type == "mean" else None)
    if not se_fit:
        return fit
    se = np.concatenate([p[1] for p in parts])
    return fit, _shape(se, type, levels, index, None, is_se=True)


def _probabilities(link, jacobian, alpha, eta, shift, weights, X, type, vcov, scores):
    """Probabilities (or cumulative ones) for some rows, and their delta-method SEs."""
    cuts = np.concatenate([[-np.inf], alpha, [np.inf]])
    upper = cuts[1:][None, :, None] - eta[:, None, None] - shift[:, None, :]  # (n, K, nodes)
    lower = cuts[:-1][None, :, None] - eta[:, None, None] - shift[:, None, :]
    if type == "cum.prob":
        out = link.cdf(upper[:, :-1, :]) @ weights
    else:
        out = np.exp(log_interval_prob(link, upper, lower)) @ weights  # (n, K)
    if vcov is None:
        return out, None
    n_tau = jacobian.shape[1]
    jac = np.vstack([np.zeros((1, n_tau)), jacobian, np.zeros((1, n_tau))])
    fu = link.pdf(upper) @ weights  # f(alpha_k - eta - shift), 0 at the infinite cuts
    fl = link.pdf(lower) @ weights
    if type == "cum.prob":
        g_tau = fu[:, :-1, None] * jac[None, 1:-1, :]
        g_beta = -fu[:, :-1, None] * X[:, None, :]
    else:
        g_tau = fu[:, :, None] * jac[None, 1:, :] - fl[:, :, None] * jac[None, :-1, :]
        g_beta = -(fu - fl)[:, :, None] * X[:, None, :]
        if type == "mean":
            g_tau = np.einsum("k,nkp->np", scores, g_tau)[:, None, :]
            g_beta = np.einsum("k,nkp->np", scores, g_beta)[:, None, :]
    grad = np.concatenate([g_tau, g_beta], axis=2)
    return out, np.sqrt(np.einsum("nkp,pq,nkq->nk", grad, vcov, grad))


def _vcov_psi(result) -> np.ndarray:
    n_psi = len(result.threshold_params) + len(result.fe_params)
    return result.vcov.to_numpy()[:n_psi, :n_psi]


def _shape(values, type, levels, index, scores, is_se=False):
    if type == "prob":
        return pd.DataFrame(values, index=index, columns=levels)
    if type == "cum.prob":
        return pd.DataFrame(values, index=index, columns=[f"<={lv}" for lv in levels[:-1]])
    if type == "mean":
        data = values[:, 0] if is_se else values @ scores
        return pd.Series(data, index=index, name="se" if is_se else "mean")
    codes = np.argmax(values, axis=1)
    return pd.Series(pd.Categorical.from_codes(codes, categories=levels, ordered=True),
                     index=index, name="class")
