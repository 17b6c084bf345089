"""Link functions: distribution functions of the latent variable, accurate in both tails.

Each link gives, vectorised over numpy arrays, the log of the cumulative distribution
function ``log F``, the log survival function ``log(1 - F)``, the log density, and in one
fused pass (``ends``) F, 1 - F, f and the first two derivatives of log f. Probabilities are never formed as ``1 - F`` where that
would cancel; the objective works with log-probabilities throughout.

Definitions follow R's ``ordinal::clm``:

- logit    F(x) = 1 / (1 + exp(-x))
- probit   F(x) = Phi(x)
- cloglog  F(x) = 1 - exp(-exp(x))
- loglog   F(x) = exp(-exp(-x))
- cauchit  F(x) = 1/2 + atan(x) / pi
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

Array = np.ndarray


def _log_neg_expm1(x: Array) -> Array:
    """log(1 - exp(-x)) for x > 0, accurate for small and large x."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(x < np.log(2.0), np.log(-np.expm1(-x)), np.log1p(-np.exp(-x)))


# --- logit -----------------------------------------------------------------------------
def _logit_logcdf(x):
    return -np.logaddexp(0.0, -x)


def _logit_logsf(x):
    return -np.logaddexp(0.0, x)


def _logit_logpdf(x):
    return -np.abs(x) - 2.0 * np.log1p(np.exp(-np.abs(x)))


# --- probit ----------------------------------------------------------------------------
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def _probit_logcdf(x):
    return special.log_ndtr(x)


def _probit_logsf(x):
    return special.log_ndtr(-x)


def _probit_logpdf(x):
    return -0.5 * x * x - _LOG_SQRT_2PI


# --- cloglog: F(x) = 1 - exp(-exp(x)) --------------------------------------------------
def _cloglog_logcdf(x):
    return _log_neg_expm1(np.exp(x))


def _cloglog_logsf(x):
    return -np.exp(x)


def _cloglog_logpdf(x):
    return x - np.exp(x)


# --- loglog: F(x) = exp(-exp(-x)) ------------------------------------------------------
def _loglog_logcdf(x):
    return -np.exp(-x)


def _loglog_logsf(x):
    return _log_neg_expm1(np.exp(-x))


def _loglog_logpdf(x):
    return -x - np.exp(-x)


# --- cauchit ---------------------------------------------------------------------------
def _cauchit_logcdf(x):
    # For x < 0, F(x) = atan(-1/x) / pi avoids the cancellation in 1/2 + atan(x)/pi.
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.log(np.arctan2(1.0, -x) / np.pi)
    return lower


def _cauchit_logsf(x):
    return _cauchit_logcdf(-np.asarray(x, dtype=float))


def _cauchit_logpdf(x):
    return -np.log(np.pi) - np.log1p(x * x)


# --- fused evaluations: (F, 1 - F, f, (log f)', (log f)'') in a few passes ---------------
# F and 1 - F are each formed from the tail they are small in, so both are exact. At x = +-inf
# they give F, 1 - F and f their limits and (log f)', (log f)'' finite values (they are only
# ever multiplied by f / pi = 0 there), so callers need no masks.
def _logit_ends(x):
    F = special.expit(x)  # 1 / (1 + exp(-x)): exact in both tails, as is expit(-x)
    S = special.expit(-x)
    f = F * S
    return F, S, f, S - F, -2.0 * f


def _probit_ends(x):
    F = special.ndtr(x)
    S = special.ndtr(-x)
    f = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    return F, S, f, -np.clip(x, -1e100, 1e100), np.full_like(x, -1.0)


def _cloglog_ends(x):
    # beyond x = 200, F = 1 and f = 0 in double precision; the cap keeps (log f)'^2 finite
    ex = np.exp(np.minimum(x, 200.0))
    S = np.exp(-ex)
    F = -np.expm1(-ex)
    return F, S, ex * S, 1.0 - ex, -ex


def _loglog_ends(x):
    ex = np.exp(np.minimum(-x, 200.0))
    F = np.exp(-ex)
    S = -np.expm1(-ex)
    return F, S, ex * F, ex - 1.0, -ex


def _cauchit_ends(x):
    F = np.arctan2(1.0, -x) / np.pi
    S = np.arctan2(1.0, x) / np.pi
    f = 1.0 / (np.pi * (1.0 + x * x))
    xc = np.clip(x, -1e100, 1e100)
    x2 = xc * xc
    return F, S, f, -2.0 * xc / (1.0 + x2), -2.0 * (1.0 - x2) / (1.0 + x2) ** 2


@dataclass(frozen=True)
class Link:
    """A link function, described by the latent distribution F."""

    name: str
    logcdf: Callable[[Array], Array]
    logsf: Callable[[Array], Array]
    logpdf: Callable[[Array], Array]
    ppf: Callable[[Array], Array]
    ends: Callable[[Array], tuple]  # (F, 1 - F, f, (log f)', (log f)'')

    def cdf(self, x: Array) -> Array:
        return np.exp(self.logcdf(np.asarray(x, dtype=float)))

    def sf(self, x: Array) -> Array:
        return np.exp(self.logsf(np.asarray(x, dtype=float)))

    def pdf(self, x: Array) -> Array:
        """f(x), 0 at +-inf (where log f of cloglog and loglog is inf - inf)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.where(np.isinf(x), 0.0, np.exp(self.logpdf(x)))


LINKS: dict[str, Link] = {
    "logit": Link(
        "logit", _logit_logcdf, _logit_logsf, _logit_logpdf, special.logit, _logit_ends,
    ),
    "probit": Link(
        "probit", _probit_logcdf, _probit_logsf, _probit_logpdf, special.ndtri, _probit_ends,
    ),
    "cloglog": Link(
        "cloglog", _cloglog_logcdf, _cloglog_logsf, _cloglog_logpdf, lambda p: np.log(-np.log1p(-p)), _cloglog_ends,
    ),
    "loglog": Link(
        "loglog", _loglog_logcdf, _loglog_logsf, _loglog_logpdf, lambda p: -np.log(-np.log(p)), _loglog_ends,
    ),
    "cauchit": Link(
        "cauchit", _cauchit_logcdf, _cauchit_logsf, _cauchit_logpdf, lambda p: np.tan(np.pi * (p - 0.5)), _cauchit_ends,
    ),
}


def get_link(name: str) -> Link:
    """Return the link called ``name``; a ValueError lists the valid names otherwise."""
    try:
        return LINKS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown link {name!r}; choose one of {', '.join(repr(k) for k in LINKS)}"
        ) from None
