"""Small simulated ordinal data sets for tests (latent logistic model, known truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate(n=300, n_groups=20, thresholds=(-1.5, -0.3, 0.8, 2.0), beta=0.8, sd=0.9,
             seed=0, n_groups2=None, sd2=0.5, slope_sd=0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    x = rng.standard_normal(n)
    latent = beta * x + rng.normal(0, sd, n_groups)[g] + rng.logistic(size=n)
    data = {"x": x, "g": pd.Categorical([f"g{i}" for i in g])}
    if n_groups2:
        h = rng.integers(0, n_groups2, n)
        latent = latent + rng.normal(0, sd2, n_groups2)[h]
        data["h"] = pd.Categorical([f"h{i}" for i in h])
    if slope_sd:  # drawn last, so that the other draws do not change with it
        latent = latent + rng.normal(0, slope_sd, n_groups)[g] * x
    codes = np.searchsorted(np.asarray(thresholds), latent)
    levels = [str(k + 1) for k in range(len(thresholds) + 1)]
    data["y"] = pd.Categorical.from_codes(codes, categories=levels, ordered=True)
    return pd.DataFrame(data)
