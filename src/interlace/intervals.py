"""Log-probability of an observed category and its derivatives in the two linear predictors.

An observation in category k has probability ``pi = F(e1) - F(e2)`` with the upper predictor
``e1 = alpha_k - ...`` and the lower ``e2 = alpha_{k-1} - ...``; ``e1 = +inf`` in the top
category and ``e2 = -inf`` in the bottom one. The derivatives are returned as ratios to
``pi`` so that nothing overflows:

    p_j = f(e_j) / pi,   q_j = f'(e_j) / pi,   s_j = f''(e_j) / pi.

``pi`` is the difference of lower-tail probabilities, or of upper-tail ones where both ends
lie above the median, so it never cancels; where it is so small that it might underflow,
those rows are recomputed on the log scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .links import Link
from .rows import BLOCK_ROWS, row_blocks

_LOG_HALF = np.log(0.5)
_TINY = 1e-250  # below this pi is recomputed on the log scale


@dataclass
class IntervalTerms:
    log_prob: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    q1: np.ndarray
    q2: np.ndarray
    s1: np.ndarray
    s2: np.ndarray

    def curvature(self) -> tuple[np.ndarray, np.ndarray]:
        """p1 - p2 and D = (p1 - p2)^2 - (q1 - q2): the first and second derivatives of
        -log pi in the random part, per row."""
        dp = self.p1 - self.p2
        return dp, dp * dp - (self.q1 - self.q2)


def _log_diff_exp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(exp(a) - exp(b)) for a >= b; -inf where they are equal, nan where a < b."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return a + np.log1p(-np.exp(b - a))


def log_interval_prob(link: Link, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    """log(F(e1) - F(e2)) on the log scale throughout, from whichever tail is exact."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        logcdf2 = link.logcdf(e2)
        upper = logcdf2 > _LOG_HALF
        lower_form = _log_diff_exp(link.logcdf(e1), logcdf2)
        upper_form = _log_diff_exp(link.logsf(e2), link.logsf(e1))
    return np.where(upper, upper_form, lower_form)


def interval_terms(link: Link, e1: np.ndarray, e2: np.ndarray,
                   block_rows: int = BLOCK_ROWS) -> IntervalTerms:
    """log pi and the density ratios p, q, s at both ends of each observation's interval,
    a block of rows at a time (`rows.row_blocks`): the computation makes a dozen temporaries."""
    blocks = row_blocks(len(e1), block_rows)
    if len(blocks) == 1:
        return _interval_terms(link, e1, e2)
    out = IntervalTerms(*(np.empty(len(e1)) for _ in range(7)))
    for rows in blocks:
        part = _interval_terms(link, e1[rows], e2[rows])
        for name in ("log_prob", "p1", "p2", "q1", "q2", "s1", "s2"):
            getattr(out, name)[rows] = getattr(part, name)
    return out


def _interval_terms(link: Link, e1: np.ndarray, e2: np.ndarray) -> IntervalTerms:
    # one error-state context for the whole block: entering one costs as much as a small
    # array operation, and this runs in every inner iteration
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        F1, S1, f1, dl1, d2l1 = link.ends(e1)
        F2, S2, f2, dl2, d2l2 = link.ends(e2)
        prob = np.where(F2 > 0.5, S2 - S1, F1 - F2)
        log_prob = np.log(prob)
        p1 = f1 / prob
        p2 = f2 / prob
        tiny = np.flatnonzero(~(prob > _TINY))
        if len(tiny):
            # far tails (or disordered thresholds, which stay nan): redo these rows on the
            # log scale
            lp = log_interval_prob(link, e1[tiny], e2[tiny])
            log_prob[tiny] = lp
            for p, e in ((p1, e1), (p2, e2)):
                fin = np.isfinite(e[tiny])
                x = np.where(fin, e[tiny], 0.0)
                p[tiny] = np.where(fin, np.exp(link.logpdf(x) - lp), 0.0)
        q1 = p1 * dl1
        q2 = p2 * dl2
        s1 = p1 * (dl1 * dl1 + d2l1)
        s2 = p2 * (dl2 * dl2 + d2l2)
    if len(tiny):
        # a zero ratio times an overflowing derivative is zero, not nan
        for p, q, s in ((p1, q1, s1), (p2, q2, s2)):
            zero = p == 0
            q[zero] = 0.0
            s[zero] = 0.0
    return IntervalTerms(log_prob, p1, p2, q1, q2, s1, s2)
