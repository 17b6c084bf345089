"""R's ``nominal_test`` and ``scale_test``: for each term of the fixed-effects formula, the
likelihood-ratio test of letting it act on the thresholds (a nominal effect: one coefficient
per threshold parameter, relaxing proportional odds) or on the latent scale. Each row is a
refit of the model with the term added to ``nominal=`` or ``scale=`` (for a mixed model with
its random effects kept: R offers no such test there).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .result import ConvergenceWarning
from .rformula import r_column_names


def nominal_test(result) -> pd.DataFrame:
    """Likelihood-ratio tests of a nominal effect for each fixed-effect term, as R's
    ``nominal_test``: Df, logLik, AIC, LRT and Pr(>Chi) per term, the fit itself as
    ``<none>``.

    Examples
    --------
    >>> import interlace
    >>> fit = interlace.clm("SURENESS ~ PROD + DAY", interlace.load_soup())
    >>> table = interlace.nominal_test(fit)
    >>> [int(d) for d in table["Df"].iloc[1:]], round(float(table["LRT"].iloc[1]), 3)
    ([4, 4], 10.942)
    """
    return _term_tests(result, "nominal")


def scale_test(result) -> pd.DataFrame:
    """Likelihood-ratio tests of a scale effect for each fixed-effect term, as R's
    ``scale_test``; see `nominal_test`."""
    return _term_tests(result, "scale")


def fixed_terms(model) -> list[str]:
    """The fixed-effects formula's terms by R's labels (``temp``, ``temp:contact``)."""
    design = model.design
    labels = [str(t) for t in design.fixed_spec.terms if str(t) != "1"]
    return r_column_names(labels, design.parts.columns)


def _term_tests(result, which: str) -> pd.DataFrame:
    refitter = getattr(result, "refitter", None)
    if refitter is None or refitter.model is None:
        raise ValueError(f"{which}_test refits the model, which a result loaded from a file "
                         "does not carry; fit it again in this session")
    model = refitter.model
    current = model.arguments[which]
    current_rhs = None if current is None else current.split("~")[-1].strip()
    rows = [{"term": "<none>", "Df": np.nan, "logLik": result.llf, "AIC": result.aic,
             "LRT": np.nan, "Pr(>Chi)": np.nan}]
    for term in fixed_terms(model):
        rhs = term if current_rhs is None else f"{current_rhs} + {term}"
        with warnings.catch_warnings():
            # the term leaves the location part as aliased (R reports it as NA)
            warnings.filterwarnings("ignore", message=".*rank deficient")
            warnings.filterwarnings("ignore", message=".*intercept is needed")
            warnings.filterwarnings("ignore", category=ConvergenceWarning)  # said below
            fit = model.updated(**{which: f"~ {rhs}"}).fit()
        if not fit.converged:
            warnings.warn(f"{which}_test: the fit with {term} as a {which} effect did not "
                          f"converge ({'; '.join(fit.messages)})", ConvergenceWarning,
                          stacklevel=3)
        df = fit.edf - result.edf
        lrt = 2.0 * (fit.llf - result.llf)
        rows.append({"term": term, "Df": df, "logLik": fit.llf, "AIC": fit.aic, "LRT": lrt,
                     "Pr(>Chi)": float(stats.chi2.sf(lrt, df)) if df > 0 else np.nan})
    return pd.DataFrame(rows).set_index("term")
