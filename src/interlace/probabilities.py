"""Category probabilities for rows of predictions and their derivatives in the threshold,
nominal, location and scale parameters (for the delta method), confidence limits kept in
range, and the covariance of a set of predictions."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats

from .intervals import log_interval_prob


def interval_limits(value, se, type, level, link, scores):
    """Confidence limits computed where they cannot leave the range, and mapped back: the
    link scale for cumulative probabilities (exact for conditional and zero ones),
    the logit scale for category probabilities and for the mean rescaled to its range
    (delta method: se / (dp/dx))."""
    z = stats.norm.ppf(0.5 + level / 2)
    if type == "linear.predictor":
        return value - z * se, value + z * se
    if type == "cum.prob":
        x = link.ppf(value)
        half = z * se / link.pdf(x)
        return link.cdf(x - half), link.cdf(x + half)
    lo_s, hi_s = (scores.min(), scores.max()) if type == "mean" else (0.0, 1.0)
    p = np.clip((value - lo_s) / (hi_s - lo_s), 1e-300, 1 - 1e-16)
    x = special.logit(p)
    half = z * (se / (hi_s - lo_s)) / (p * (1 - p))
    return (lo_s + (hi_s - lo_s) * special.expit(x - half),
            lo_s + (hi_s - lo_s) * special.expit(x + half))


def prediction_covariance(grad, vcov, fit) -> pd.DataFrame:
    """J V J' for every prediction, rows and columns labelled (row, column) as ``fit``."""
    n, k, _ = grad.shape
    if n * k > 20_000:
        raise ValueError(f"cov=True for {n * k:,} predictions would be a {n * k:,}-square "
                         "matrix; predict fewer rows at a time")
    flat = grad.reshape(n * k, -1)
    if isinstance(fit, pd.DataFrame):
        labels = pd.MultiIndex.from_product([fit.index, fit.columns], names=["row", "column"])
    else:
        labels = fit.index
    return pd.DataFrame(flat @ vcov @ flat.T, index=labels, columns=labels)


class RowDesign(NamedTuple):
    """A block of rows' covariates: X, the nominal and scale designs, 1 / scale."""

    X: np.ndarray
    nominal: np.ndarray | None
    scale: np.ndarray | None
    inv_scale: np.ndarray | None


def probabilities(link, jacobian, alpha, eta, shift, weights, rows: RowDesign, type,
                   derivatives, scores):
    """Probabilities (or cumulative ones, or the mean) for some rows, and (with
    ``derivatives``) their derivatives in the threshold (and nominal) parameters, the
    coefficients and the scale coefficients, (rows, predictions per row, parameters).
    ``alpha``: the thresholds, (K-1,) or per row (rows, K-1)."""
    n = len(eta)
    alpha = np.broadcast_to(alpha, (n, jacobian.shape[0]))
    inf = np.full((n, 1), np.inf)
    cuts = np.concatenate([-inf, alpha, inf], axis=1)
    s = np.ones(n) if rows.inv_scale is None else rows.inv_scale
    upper = (cuts[:, 1:, None] - eta[:, None, None] - shift[:, None, :]) * s[:, None, None]
    lower = (cuts[:, :-1, None] - eta[:, None, None] - shift[:, None, :]) * s[:, None, None]
    if type == "cum.prob":
        out = link.cdf(upper[:, :-1, :]) @ weights
    else:
        out = np.exp(log_interval_prob(link, upper, lower)) @ weights  # (n, K)
    if not derivatives:
        return out, None
    n_alpha = jacobian.shape[1]
    jac = np.vstack([np.zeros((1, n_alpha)), jacobian, np.zeros((1, n_alpha))])
    # f(upper) and f(upper) * upper over the nodes, 0 at the infinite cuts
    fu, fl = link.pdf(upper) @ weights * s[:, None], link.pdf(lower) @ weights * s[:, None]
    with np.errstate(invalid="ignore"):
        gu = np.where(np.isfinite(upper), link.pdf(upper) * upper, 0.0) @ weights
        gl = np.where(np.isfinite(lower), link.pdf(lower) * lower, 0.0) @ weights
    nominal = np.ones((n, 1)) if rows.nominal is None else rows.nominal
    if type == "cum.prob":
        fu, fl, gu, gl, jac_u, jac_l = fu[:, :-1], 0.0 * fu[:, :-1], gu[:, :-1], 0.0, \
            jac[None, 1:-1, :], 0.0
    else:
        jac_u, jac_l = jac[None, 1:, :], jac[None, :-1, :]
    g_alpha = fu[:, :, None] * jac_u - fl[:, :, None] * jac_l  # (n, k, n_alpha)
    g_tau = (g_alpha[:, :, None, :] * nominal[:, None, :, None]).reshape(
        n, g_alpha.shape[1], nominal.shape[1] * n_alpha)
    g_beta = -(fu - fl)[:, :, None] * rows.X[:, None, :]
    blocks = [g_tau, g_beta]
    if rows.scale is not None:
        blocks.append(-(gu - gl)[:, :, None] * rows.scale[:, None, :])
    grad = np.concatenate(blocks, axis=2)
    if type == "mean":
        grad = np.einsum("k,nkp->np", scores, grad)[:, None, :]
    return out, grad
