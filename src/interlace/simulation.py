"""Responses simulated from a fitted model (R's ``simulate()``, which ``clmm`` lacks).

Each simulated response is the category its latent value falls in,

    y* = x'beta + offset + z'b + e,   e ~ F (the link's distribution),   Y = #{k: alpha_k < y*},

which has P(Y <= k) = F(alpha_k - x'beta - z'b), the model. ``re_form`` says which b:
``"conditional"`` the conditional modes (b = 0 for levels not seen in fitting),
``"new"`` fresh draws from N(0, Sigma) for every simulation (new levels of newdata too),
``None`` b = 0. Draws come from one ``numpy.random.Generator`` seeded by ``seed``: the new
random effects term by term (levels x terms x simulations), then the uniforms (rows x
simulations) turned into e by the link's quantile function. All simulations at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .links import get_link
from .prediction import row_inverse_scale, row_thresholds

RE_FORMS = ("conditional", "new", None)


def simulate(result, nsim: int = 1, seed=None, re_form: str | None = "conditional",
             newdata=None, allow_new_levels: bool = True) -> pd.DataFrame:
    """See `CLMMResult.simulate`."""
    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise ValueError(f"nsim must be a whole number of at least 1, not {nsim!r}")
    if re_form not in RE_FORMS:
        raise ValueError(f"unknown re_form {re_form!r}; choose 'conditional', 'new' or None")
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise TypeError(f"seed must be an integer or a numpy Generator, not {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    model = result.model
    X, offset, terms, index, nominal, scale = model.rows(newdata, re_form, allow_new_levels)
    n = X.shape[0]
    latent_mean = (X @ result.fe_params.to_numpy() + offset)[:, None]
    if re_form == "conditional":
        for (idx, cov, _), term in zip(terms, model.terms):
            b = result.random_effects[term.name][term.coef_names].to_numpy()
            seen = idx >= 0
            latent_mean[seen, 0] += np.einsum("ij,ij->i", cov[seen], b[idx[seen]])
    elif re_form == "new":
        latent_mean = latent_mean + _new_random_part(result, terms, n, nsim, rng)
    link = get_link(model.link)
    alpha = row_thresholds(result, model, nominal)
    noise = link.ppf(rng.uniform(size=(n, nsim)))
    inv_scale = row_inverse_scale(result, scale)
    latent = latent_mean + (noise if inv_scale is None else noise / inv_scale[:, None])
    if alpha.ndim == 1:
        codes = np.searchsorted(alpha, latent)  # the number of thresholds below y*
    else:  # thresholds per row (nominal effects)
        codes = (latent[:, :, None] > alpha[:, None, :]).sum(axis=2)
    levels = model.response_levels
    return pd.DataFrame({f"sim_{s + 1}": pd.Categorical.from_codes(codes[:, s], levels,
                                                                   ordered=True)
                         for s in range(nsim)}, index=index)


def _new_random_part(result, terms, n: int, nsim: int, rng) -> np.ndarray:
    """(rows, nsim): z'b with b drawn afresh from N(0, Sigma) per level and simulation,
    for the levels of the rows simulated (levels not seen in fitting included)."""
    model = result.model
    out = np.zeros((n, nsim))
    offsets = np.cumsum([0] + [t.n_theta for t in model.terms])
    for k, ((idx, cov, labels), term) in enumerate(zip(terms, model.terms)):
        L = term.factor(result.theta[offsets[k]: offsets[k + 1]])  # the data's units
        if labels is None:  # the fitting rows
            codes, n_levels = idx, term.n_levels
        else:  # every level of the new rows gets its own draw, seen in fitting or not
            _, codes = np.unique(labels, return_inverse=True)
            n_levels = int(codes.max()) + 1 if len(codes) else 0
        z = rng.standard_normal((n_levels, term.size, nsim))
        b = np.einsum("st,jtk->jsk", L, z)  # (levels, r, nsim)
        out += np.einsum("ir,irk->ik", cov, b[codes])
    return out
