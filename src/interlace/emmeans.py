"""Estimated marginal means and contrasts, as R's emmeans computes them for clm and clmm fits.

The reference grid crosses the levels of every factor of the fixed part, numeric covariates
at their means (or ``at=``). In each cell a quantity of the ``mode`` is computed (random
effects at 0, as emmeans does for clmm, or averaged over them with ``re_form="marginal"``)
with its Jacobian in the threshold parameters and coefficients; cells are averaged over the
factors not named, with equal weights; standard errors by the delta method, intervals
estimate +- z se, as emmeans prints them. Modes (emmeans' names and definitions):

- ``latent``: x'beta - mean(alpha) (one row per cell);
- ``linear.predictor``: alpha_k - x'beta, ``cum.prob``: P(Y <= k), ``exc.prob``: P(Y > k)
  (a row per cut point, column ``cut``);
- ``prob``: P(Y = k) (a row per category, a column named as the response);
- ``mean.class``: sum_k k P(Y = k) with the classes numbered 1..K.

Contrasts take emmeans' methods, labels and p-value adjustments (tukey: ptukey(sqrt(2)|z|,
k, Inf); dunnettx: emmeans' approximation to Dunnett; mvt: the multivariate normal, by
randomized quasi-Monte Carlo, seedable; sidak, bonferroni, holm); intervals use the
adjustment's critical value (holm's are bonferroni's, as in emmeans).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .arguments import check_level

MODES = ("latent", "linear.predictor", "cum.prob", "exc.prob", "prob", "mean.class")
METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "consec", "poly")
ADJUST = ("tukey", "dunnettx", "mvt", "sidak", "bonferroni", "holm", "none")
DEFAULT_ADJUST = {"pairwise": "tukey", "revpairwise": "tukey", "trt.vs.ctrl": "dunnettx",
                  "consec": "mvt", "poly": "none"}


def _names(specs, by) -> tuple[list[str], list[str]]:
    if isinstance(specs, str) and "~" in specs:
        rhs = specs.split("~", 1)[1]
        left, _, right = rhs.partition("|")
        specs = [s.strip() for s in left.replace("*", "+").split("+") if s.strip()]
        by = [s.strip() for s in right.replace("*", "+").split("+") if s.strip()] or by
    specs = [specs] if isinstance(specs, str) else list(specs)
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    return specs, by


def _grid(result, at: dict | None) -> pd.DataFrame:
    model = result.model
    at = dict(at or {})
    columns = {}
    for col in model.parts.fixed_columns + [c for c in model.parts.random_columns
                                            if c not in {f for t in model.terms
                                                         for f in t.factors}]:
        if col in at:
            values = at.pop(col)
            columns[col] = list(values) if isinstance(values, (list, tuple, np.ndarray)) \
                else [values]
        elif col in model.column_levels:
            columns[col] = list(model.column_levels[col])
        elif col in model.column_ranges:
            columns[col] = [model.column_ranges[col][0]]
    if at:
        raise ValueError(f"at= names column(s) {sorted(at)} the model does not use")
    rows = list(itertools.product(*columns.values()))
    return pd.DataFrame(rows, columns=list(columns))


def _cells(result, grid, mode, re_form):
    """Per cell the mode's values (cells, m) and their covariance ((cells m) square)."""
    model = result.model
    n_tau = len(result.threshold_params)
    vcov = result.vcov.to_numpy()[: n_tau + len(result.fe_params),
                                  : n_tau + len(result.fe_params)]
    if mode in ("latent", "linear.predictor"):
        if model.nominal is not None or model.scale is not None:
            raise ValueError(f"mode={mode!r} needs thresholds shared by every row and one "
                             "latent scale; with nominal or scale effects use mode='prob', "
                             "'cum.prob', 'exc.prob' or 'mean.class'")
        X, offset = model.rows(grid, "zero", True)[:2]
        eta = X @ result.fe_params.to_numpy() + offset
        jac = model.jacobian
        alpha = jac @ np.array(list(result.threshold_params.values()))
        if mode == "latent":
            values = (eta - alpha.mean())[:, None]
            grad = np.concatenate([np.broadcast_to(-jac.mean(axis=0), (len(eta), n_tau)),
                                   X], axis=1)[:, None, :]
        else:
            values = alpha[None, :] - eta[:, None]
            grad = np.concatenate([np.broadcast_to(jac[None], (len(eta),) + jac.shape),
                                   np.broadcast_to(-X[:, None, :], (len(eta), len(alpha),
                                                                    X.shape[1]))], axis=2)
        flat = grad.reshape(-1, grad.shape[2])
        return values, flat @ vcov @ flat.T
    kind = "cum.prob" if mode in ("cum.prob", "exc.prob") else "prob"
    fit, cov = result.predict(grid, type=kind, re_form=re_form, cov=True)
    values, cov = fit.to_numpy(), cov.to_numpy()
    if mode == "exc.prob":
        values = 1 - values
    if mode == "mean.class":
        k = values.shape[1]
        w = np.kron(np.eye(len(values)), np.arange(1, k + 1)[None, :])
        values, cov = (values @ np.arange(1, k + 1))[:, None], w @ cov @ w.T
    return values, cov


def emmeans_table(result, specs, by=None, at=None, mode="latent", level=0.95,
                  weights="equal", re_form=None):
    """(table, covariance of its estimates): see `CLMMResult.emmeans`."""
    check_level(level)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(map(repr, MODES))}")
    if weights not in ("equal", "proportional"):
        raise ValueError(f"weights must be 'equal' or 'proportional', not {weights!r}")
    re_form = "zero" if re_form is None else re_form
    if re_form not in ("zero", "marginal"):
        raise ValueError(f"re_form must be None (random effects at 0) or 'marginal', "
                         f"not {re_form!r}")
    specs, by = _names(specs, by)
    grid = _grid(result, at)
    unknown = [v for v in specs + by if v not in grid.columns]
    if unknown:
        raise ValueError(f"{unknown} are not variables of the fixed part; choose from "
                         f"{list(grid.columns)}")
    values, cov = _cells(result, grid, mode, re_form)
    m = values.shape[1]
    cells = grid[specs + by].astype(str).apply(tuple, axis=1)
    # emmeans' order: by-groups outermost, the first variable varying fastest
    keys = sorted(dict.fromkeys(cells), key=lambda key: _order(grid, specs, by, key))
    share = _cell_weights(result, grid, specs + by, weights)
    average = np.zeros((len(keys), len(grid)))
    for i, key in enumerate(keys):
        members = [j for j, c in enumerate(cells) if c == key]
        average[i, members] = share[members] / share[members].sum()
    w = np.kron(average, np.eye(m))  # (keys m) x (cells m), value j of a cell is index c*m+j
    estimate = (average @ values).ravel()
    covariance = w @ cov @ w.T
    se = np.sqrt(np.diag(covariance))
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    extra = {"linear.predictor": "cut", "cum.prob": "cut", "exc.prob": "cut",
             "prob": result.model.parts.response}.get(mode)
    labels = (list(result.thresholds) if extra == "cut" else list(result.response_levels))
    for i, key in enumerate(keys):
        for j in range(m):
            row = dict(zip(specs + by, key))
            if extra:
                row[extra] = labels[j]
            rows.append(row)
    table = pd.DataFrame(rows)
    table["estimate"], table["std_error"] = estimate, se
    table["conf_low"], table["conf_high"] = estimate - z * se, estimate + z * se
    return table, covariance, specs, by + ([extra] if extra else [])


def _cell_weights(result, grid, named, weights) -> np.ndarray:
    """Per grid cell, its weight in the averages: 1, or (``"proportional"``, emmeans') the
    number of fitting rows with its combination of the factors averaged over."""
    values = result.model.factor_values
    averaged = [c for c in grid.columns if c not in named and c in values.columns]
    if weights == "equal" or not averaged:
        return np.ones(len(grid))
    counts = values[averaged].astype(str).value_counts()
    keys = grid[averaged].astype(str).apply(tuple, axis=1)
    return np.array([counts.get(k, 0) for k in keys], dtype=float)


def _order(grid, specs, by, key):
    """Sort key: the by-variables' level positions, then the specs', each list reversed so
    that its first variable varies fastest."""
    ranks = [list(dict.fromkeys(grid[n].astype(str))).index(v)
             for n, v in zip(specs + by, key)]
    return tuple(ranks[len(specs):][::-1] + ranks[:len(specs)][::-1])


def contrast_table(result, specs, method="pairwise", by=None, mode="latent", adjust=None,
                   level=0.95, at=None, re_form=None, seed=None) -> pd.DataFrame:
    """See `CLMMResult.contrasts`."""
    table, cov, specs, groups = emmeans_table(result, specs, by, at, mode, level,
                                              re_form=re_form)
    if adjust is None:
        adjust = DEFAULT_ADJUST.get(method, "none") if isinstance(method, str) else "none"
    if adjust not in ADJUST:
        raise ValueError(f"unknown adjust {adjust!r}; choose one of {', '.join(ADJUST)}")
    rng = np.random.default_rng(seed)
    out = []
    group_keys = (table[groups].astype(str).apply(tuple, axis=1) if groups
                  else pd.Series([()] * len(table)))
    for key in dict.fromkeys(group_keys):
        rows = np.array([i for i, k in enumerate(group_keys) if k == key])
        names = [_wrapped(" ".join(str(table.iloc[r][s]) for s in specs)) for r in rows]
        weights, labels, pairwise = _contrast_matrix(method, names)
        est = weights @ table["estimate"].to_numpy()[rows]
        c = weights @ cov[np.ix_(rows, rows)] @ weights.T
        se = np.sqrt(np.diag(c))
        zs = est / se
        p, crit = _adjusted(zs, adjust, len(rows), pairwise, c / np.outer(se, se), level, rng)
        for i, label in enumerate(labels):
            row = {"contrast": label, **dict(zip(groups, key))}
            row.update(estimate=est[i], std_error=se[i], statistic=zs[i], p_value=p[i],
                       conf_low=est[i] - crit * se[i], conf_high=est[i] + crit * se[i])
            out.append(row)
    result_table = pd.DataFrame(out)
    result_table.attrs["adjust"] = adjust
    return result_table


def _wrapped(level: str) -> str:
    """emmeans' default ``parens``: a level with - + / * in it is put in parentheses, so
    that "(18-30) - (31-40)" reads as one difference."""
    return f"({level})" if re.search(r"[-+/*]", level) else level


def _contrast_matrix(method, names):
    k = len(names)
    eye = np.eye(k)
    if isinstance(method, dict):
        labels = list(method)
        weights = np.array([np.asarray(v, dtype=float) for v in method.values()])
        if weights.shape[1] != k:
            raise ValueError(f"each contrast needs {k} weights (one per {names}), "
                             f"got {weights.shape[1]}")
        return weights, labels, False
    if method == "pairwise":
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        return (np.array([eye[i] - eye[j] for i, j in pairs]),
                [f"{names[i]} - {names[j]}" for i, j in pairs], True)
    if method == "revpairwise":
        pairs = [(j, i) for j in range(1, k) for i in range(j)]
        return (np.array([eye[j] - eye[i] for j, i in pairs]),
                [f"{names[j]} - {names[i]}" for j, i in pairs], True)
    if method == "trt.vs.ctrl":
        return (np.array([eye[i] - eye[0] for i in range(1, k)]),
                [f"{names[i]} - {names[0]}" for i in range(1, k)], False)
    if method == "consec":
        return (np.array([eye[i + 1] - eye[i] for i in range(k - 1)]),
                [f"{names[i + 1]} - {names[i]}" for i in range(k - 1)], False)
    if method == "poly":
        basis = np.vander(np.arange(1.0, k + 1), k, increasing=True)
        q, _ = np.linalg.qr(basis)
        coefs = q[:, 1:].T  # orthogonal polynomials, as R's contr.poly, up to scale
        # emmeans' poly.emmc: each scaled to the smallest whole numbers
        scaled = [c / np.min(np.abs(c[np.abs(c) > 1e-10])) for c in coefs]
        scaled = [np.round(s * (1 if s[-1] > 0 else -1), 8) for s in scaled]
        words = ["linear", "quadratic", "cubic"] + [f"degree {d}" for d in range(4, k)]
        return np.array(scaled), words[: k - 1], False
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)} or a "
                     "dict of weights")


def _pdunnx(x, k):
    """emmeans' .pdunnx at df = Inf: a weighted mix of Tukey's and Sidak's probabilities."""
    twt = (k - 1) / k
    tukey = stats.studentized_range.cdf(np.sqrt(2) * x, (1 + np.sqrt(1 + 8 * k)) / 2, np.inf)
    sidak = stats.chi2.cdf(x**2, 1) ** k
    return twt * tukey + (1 - twt) * sidak


def _pmvt(t, corr, rng):
    """P(|Z_i| < t for all i), Z ~ N(0, corr)."""
    n = len(corr)
    return stats.multivariate_normal.cdf(np.full(n, t), mean=np.zeros(n), cov=corr,
                                         lower_limit=np.full(n, -t), rng=rng,
                                         allow_singular=True)


def _adjusted(z, adjust, n_means, pairwise, corr, level, rng):
    """Adjusted p-values and the critical value for the intervals."""
    n = len(z)
    a = np.abs(z)
    p = 2 * stats.norm.sf(a)
    if n == 1:
        adjust = "none"
    if adjust == "tukey" and not pairwise:
        adjust = "sidak"  # as emmeans: Tukey is for one set of pairwise comparisons
    alpha = 1 - level
    if adjust == "none":
        return p, stats.norm.ppf(1 - alpha / 2)
    if adjust == "tukey":
        return (stats.studentized_range.sf(np.sqrt(2) * a, n_means, np.inf),
                stats.studentized_range.ppf(level, n_means, np.inf) / np.sqrt(2))
    if adjust == "sidak":
        return (1 - (1 - p) ** n, stats.norm.ppf(1 - (1 - level ** (1 / n)) / 2))
    if adjust in ("bonferroni", "holm"):
        crit = stats.norm.ppf(1 - alpha / (2 * n))  # holm's intervals are bonferroni's
        if adjust == "bonferroni":
            return np.minimum(1, n * p), crit
        order = np.argsort(p)
        stepped = np.maximum.accumulate(np.minimum(1, (n - np.arange(n)) * p[order]))
        out = np.empty(n)
        out[order] = stepped
        return out, crit
    if adjust == "dunnettx":
        crit = optimize.brentq(lambda x: _pdunnx(x, n) - level, 0.1, 10)
        return 1 - _pdunnx(a, n), crit
    crit = optimize.brentq(lambda x: _pmvt(x, corr, rng) - level, 0.1, 10, xtol=1e-4)
    return np.array([1 - _pmvt(t, corr, rng) for t in a]), crit
