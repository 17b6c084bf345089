"""Log-probability of an observed category and its derivatives in the two linear predictors.

An observation in category k has probability ``pi = F(e1) - F(e2)`` with the upper predictor
``e1 = alpha_k - ...`` and the lower ``e2 = alpha_{k-1} - ...``; ``e1 = +inf`` in the top
category and ``e2 = -inf`` in the bottom one. ``log pi`` is formed from whichever tail is
accurate, and the derivatives are returned as ratios to ``pi`` so that nothing overflows:

    p_j = f(e_j) / pi,   q_j = f'(e_j) / pi,   s_j = f''(e_j) / pi.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .links import Link

_LOG_HALF = np.log(0.5)


@dataclass
class IntervalTerms:
    log_prob: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    q1: np.ndarray
    q2: np.ndarray
    s1: np.ndarray
    s2: np.ndarray


def _log_diff_exp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(exp(a) - exp(b)) for a >= b; -inf where they are equal, nan where a < b."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return a + np.log1p(-np.exp(b - a))


def log_interval_prob(link: Link, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    """log(F(e1) - F(e2)), from the lower tail or the upper tail, whichever is exact."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        logcdf2 = link.logcdf(e2)
        upper = logcdf2 > _LOG_HALF
        lower_form = _log_diff_exp(link.logcdf(e1), logcdf2)
        upper_form = _log_diff_exp(link.logsf(e2), link.logsf(e1))
    return np.where(upper, upper_form, lower_form)


def _density_ratios(link: Link, e: np.ndarray, log_prob: np.ndarray, finite: np.ndarray):
    x = np.where(finite, e, 0.0)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        p = np.where(finite, np.exp(link.logpdf(x) - log_prob), 0.0)
        dl = link.dlogpdf(x)
        positive = p > 0
        q = np.where(positive, p * dl, 0.0)
        s = np.where(positive, p * (dl * dl + link.d2logpdf(x)), 0.0)
    return p, q, s


def interval_terms(link: Link, e1: np.ndarray, e2: np.ndarray, derivatives: bool = True) -> IntervalTerms:
    """log pi and the density ratios p, q, s at both ends of each observation's interval."""
    log_prob = log_interval_prob(link, e1, e2)
    if not derivatives:
        empty = np.empty(0)
        return IntervalTerms(log_prob, empty, empty, empty, empty, empty, empty)
    p1, q1, s1 = _density_ratios(link, e1, log_prob, np.isfinite(e1))
    p2, q2, s2 = _density_ratios(link, e2, log_prob, np.isfinite(e2))
    return IntervalTerms(log_prob, p1, p2, q1, q2, s1, s2)
