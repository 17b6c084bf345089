"""R's number formatting, so that printed summaries read digit for digit like R's.

``format_real`` follows R's ``formatReal`` (common decimals for a vector, fixed or scientific
by width), ``format_pval`` R's ``format.pval`` and ``coef_table`` R's ``printCoefmat``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

_EPS = float(np.finfo(float).eps)


def _scientific(x: float, digits: int) -> tuple[int, int]:
    """(exponent, significant digits needed) of x shown with ``digits`` significant digits."""
    if x == 0 or not math.isfinite(x):
        return 0, 1
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    sig = mantissa.replace(".", "").rstrip("0")
    return int(exponent), max(1, len(sig))


def format_real(values, digits: int = 7, nsmall: int = 0) -> list[str]:
    """Format numbers together as R's ``format(x, digits=)`` does."""
    xs = [float(v) for v in np.atleast_1d(values)]
    finite = [x for x in xs if math.isfinite(x)]
    if not finite:
        return [_special(x) for x in xs]
    parts = [_scientific(x, digits) for x in finite]
    neg = any(x < 0 for x in finite)
    left = max((e + 1 if e >= 0 else 1) for e, _ in parts)
    rgt = max(max(0, sig - e - 1) for e, sig in parts)
    rgt = max(rgt, nsmall)
    width_fixed = neg + left + (rgt + 1 if rgt > 0 else 0)
    mxsig = max(sig for _, sig in parts)
    big_exp = any(abs(e) >= 100 for e, _ in parts)
    width_sci = neg + (mxsig + 1 if mxsig > 1 else mxsig) + (5 if big_exp else 4)
    out = []
    for x in xs:
        if not math.isfinite(x):
            out.append(_special(x))
        elif width_fixed <= width_sci:
            out.append(f"{x:.{rgt}f}")
        else:
            out.append(_r_exp(f"{x:.{mxsig - 1}e}"))
    width = max(len(s) for s in out)
    return [s.rjust(width) for s in out]


def _r_exp(text: str) -> str:
    mantissa, exponent = text.split("e")
    sign = exponent[0]
    digits = exponent[1:].lstrip("0").rjust(2, "0")
    return f"{mantissa}e{sign}{digits}"


def format_sci(x: float, digits: int) -> str:
    """R's formatC(x, digits=, format="e"): ``2.8e+01``."""
    if not math.isfinite(x):
        return _special(x)
    return _r_exp(f"{x:.{digits}e}")


def _special(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    return "Inf" if x > 0 else "-Inf"


def r_round(x, digits: int):
    """Round to ``digits`` decimals for display, as printCoefmat does before formatting."""
    return np.round(np.asarray(x, dtype=float), digits)


def format_pval(pv, digits: int = 3, eps: float = _EPS) -> list[str]:
    pv = np.atleast_1d(np.asarray(pv, dtype=float))
    out = [""] * len(pv)
    is0 = pv < eps
    idx = np.flatnonzero(~is0)
    if len(idx):
        expo = np.floor(np.log10(np.where(pv[idx] > 0, pv[idx], 1e-50)))
        fixp = (expo >= -3) | ((expo == -4) & (digits > 1))
        for group in (idx[fixp], idx[~fixp]):
            if len(group):
                for i, s in zip(group, format_real(pv[group], digits)):
                    out[i] = s.strip()
    if is0.any():
        d = max(1, digits - 2)
        if (~is0).any():
            nc = max(len(out[i]) for i in idx)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        text = "<" + sep + format_real([eps], d)[0].strip()
        for i in np.flatnonzero(is0):
            out[i] = text
    return out


def _stars(p: float) -> str:
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


SIGNIF_LEGEND = "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


def coef_columns(estimate, std_error, digits: int = 4, pvalues: bool = True):
    """The cells R's printCoefmat prints: Estimate, Std. Error, z value (and Pr(>|z|)) as
    strings, and the p-values (None without them)."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(std_error, dtype=float)
    z = est / se
    coef_se = np.concatenate([est, se])
    acs = np.abs(coef_se[np.isfinite(coef_se) & (coef_se != 0)])
    digmin = 1 + (math.floor(math.log10(acs.min())) if len(acs) else 0)
    rounded = r_round(coef_se, max(1, digits - digmin))
    cs = format_real(rounded, digits)
    # R reformats entries that rounding turned into zero
    for i, (orig, text) in enumerate(zip(coef_se, cs)):
        if math.isfinite(orig) and (orig == 0) != (float(text) == 0):
            cs[i] = format_real([orig], max(1, digits - 1))[0]
    n = len(est)
    columns = {"Estimate": cs[:n], "Std. Error": cs[n:]}
    dig_tst = max(1, min(5, digits - 1))
    columns["z value"] = format_real(r_round(z, dig_tst), digits)
    p = None
    if pvalues:
        p = 2 * stats.norm.sf(np.abs(z))
        columns["Pr(>|z|)"] = format_pval(p, dig_tst)
    return columns, p


def coef_table(names: list[str], estimate, std_error, digits: int = 4,
               pvalues: bool = True, signif_stars: bool = True) -> str:
    """R's printCoefmat for Estimate, Std. Error, z value (and Pr(>|z|))."""
    columns, p = coef_columns(estimate, std_error, digits, pvalues)
    stars = None
    if p is not None and signif_stars and np.any(p[np.isfinite(p)] < 0.1):
        stars = [_stars(v) for v in p]
    header = [""] + list(columns)
    rows = [[name] + [columns[c][i] for c in columns] for i, name in enumerate(names)]
    if stars is not None:
        width = max(len(s) for s in stars)
        header.append("")
        for row, s in zip(rows, stars):
            row.append(s.ljust(width))
    widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
    lines = []
    for row in [header] + rows:
        cells = [row[0].ljust(widths[0])]
        for j in range(1, len(row)):
            if stars is not None and j == len(row) - 1:
                cells.append(row[j].ljust(widths[j]))
            else:
                cells.append(row[j].rjust(widths[j]))
        lines.append(" ".join(cells))
    text = "\n".join(lines)
    if stars is not None:
        text += "\n---\n" + SIGNIF_LEGEND
    return text


def left_table(header: list[str], rows: list[list[str]], lead: str = " ") -> str:
    """R's print of a character table with left-justified columns (data frames, formatVC)."""
    widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
    return "\n".join(
        "".join(lead + cell.ljust(w) for cell, w in zip(row, widths)) for row in [header] + rows
    )
