"""Residuals for an ordinal response, which has none of its own (R's clmm offers none).

For an observation in category y with predictors e_y = alpha_y - eta (upper) and
e_{y-1} = alpha_{y-1} - eta (lower), F the link's distribution and eta the linear predictor
(conditional on the modes by default):

- ``"quantile"`` (randomized quantile residuals, Dunn & Smyth 1996): u drawn uniformly in
  (F(e_{y-1}), F(e_y)), residual Phi^-1(u). Standard normal when the model is right.
- ``"surrogate"`` (Liu & Zhang, JASA 2018, as R's ``sure::resids`` computes them for clm):
  the latent variable S = eta + e (Y <= k iff S <= alpha_k) drawn from its law given the
  observed category, e = F^-1(u) with u as above, which puts e in (e_{y-1}, e_y]; the
  residual is S minus its location, e, distributed as the link's law F when the model is
  right (sure's definition, read in its source: for the Gumbel links, cloglog and loglog,
  not centred: mean -0.5772 and +0.5772).
- ``"probability"`` (probability-scale residuals, Li & Shepherd 2012):
  P(Y < y) - P(Y > y) = F(e_{y-1}) - (1 - F(e_y)); no randomness, in [-1, 1].

The randomized kinds take a ``seed`` (an integer or a numpy Generator).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from .links import get_link

KINDS = ("quantile", "surrogate", "probability")


def residuals(result, kind: str = "quantile", seed=None,
              re_form: str = "conditional") -> pd.Series:
    """See `CLMMResult.residuals`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(map(repr, KINDS))}")
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise TypeError(f"seed must be an integer or a numpy Generator, not {seed!r}")
    link = get_link(result.link)
    cum = result.predict(type="cum.prob", re_form=re_form).to_numpy()  # (n, K-1)
    n = cum.shape[0]
    bounds = np.column_stack([np.zeros(n), cum, np.ones(n)])
    y = result.model.fixed.codes
    lower, upper = bounds[np.arange(n), y], bounds[np.arange(n), y + 1]
    index = result.model.row_labels
    if kind == "probability":
        return pd.Series(lower - (1.0 - upper), index=index, name="probability residual")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    u = lower + (upper - lower) * rng.uniform(size=n)
    u = np.clip(u, np.finfo(float).tiny, 1 - np.finfo(float).eps)
    if kind == "quantile":
        return pd.Series(special.ndtri(u), index=index, name="quantile residual")
    return pd.Series(link.ppf(u), index=index, name="surrogate residual")


def reference_distribution(link_name: str):
    """The law surrogate residuals follow under the model, for QQ plots and tests: the
    link's own distribution (cloglog's F(x) = 1 - exp(-exp(x)) is scipy's gumbel_l,
    loglog's gumbel_r)."""
    laws = {"logit": stats.logistic(), "probit": stats.norm(), "cloglog": stats.gumbel_l(),
            "loglog": stats.gumbel_r(), "cauchit": stats.cauchy()}
    return laws[link_name]
