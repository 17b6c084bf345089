"""emmeans() and contrasts() against R's emmeans on the same clmm fits
(fixtures/emmeans_reference.json from make_emmeans_reference.R). R's numbers come from R's
clmm fit, whose estimates differ from ours in the fourth digit (test_parity): estimates to
2e-3, standard errors to 1%, p-values to 2% relative (1e-3 absolute for mvt, which both
compute by randomized quasi-Monte Carlo)."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES, fitted

FITS = {"wine": ("rating ~ temp + contact + (1|judge)", "wine"),
        "soup": ("SURENESS ~ PROD + AGEGROUP + (1|RESP)", "soup"),
        "crossed": ("rating ~ temp + contact + (1|judge) + (1|bottle)", "wine")}


@cache
def reference() -> dict:
    return json.loads((FIXTURES / "emmeans_reference.json").read_text())


def r_table(rows) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    value = table.columns[list(table.columns).index("SE") - 1]
    return table.rename(columns={value: "estimate", "SE": "std_error", "asymp.LCL": "conf_low",
                                 "asymp.UCL": "conf_high", "p.value": "p_value"})


def compare(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list, p_abs: float = 0.0):
    merged = ours.astype({k: str for k in keys}).merge(
        theirs.astype({k: str for k in keys}), on=keys, suffixes=("", "_r"))
    assert len(merged) == len(theirs) == len(ours), (ours[keys], theirs[keys])
    scale = np.maximum(1.0, np.abs(merged["estimate_r"]))
    assert np.all(np.abs(merged["estimate"] - merged["estimate_r"]) <= 2e-3 * scale)
    np.testing.assert_allclose(merged["std_error"], merged["std_error_r"], rtol=0.01, atol=1e-6)
    for col in ("conf_low", "conf_high"):
        assert np.all(np.abs(merged[col] - merged[col + "_r"]) <= 5e-3 * scale)
    if "p_value_r" in merged and "p_value" in merged:
        np.testing.assert_allclose(merged["p_value"], merged["p_value_r"], rtol=0.02,
                                   atol=max(p_abs, 1e-8))


EMMEANS = {
    "wine_latent": ("wine", "temp", {}, ["temp"]),
    "wine_latent_by": ("wine", "~ temp | contact", {}, ["temp", "contact"]),
    "wine_lp": ("wine", "temp", {"mode": "linear.predictor"}, ["temp", "cut"]),
    "wine_cum": ("wine", "temp", {"mode": "cum.prob"}, ["temp", "cut"]),
    "wine_exc": ("wine", "temp", {"mode": "exc.prob"}, ["temp", "cut"]),
    "wine_prob": ("wine", "temp", {"mode": "prob"}, ["temp", "rating"]),
    "wine_mean": ("wine", "temp", {"mode": "mean.class"}, ["temp"]),
    "soup_latent": ("soup", "AGEGROUP", {}, ["AGEGROUP"]),
    "soup_mean_by": ("soup", "AGEGROUP", {"by": "PROD", "mode": "mean.class"},
                     ["AGEGROUP", "PROD"]),
    "soup_proportional": ("soup", "PROD", {"weights": "proportional"}, ["PROD"]),
    "soup_prob_proportional": ("soup", "PROD", {"mode": "prob", "weights": "proportional"},
                               ["PROD", "SURENESS"]),
    "crossed_latent_by": ("crossed", "~ temp | contact", {}, ["temp", "contact"]),
    "crossed_cum": ("crossed", "temp", {"mode": "cum.prob"}, ["temp", "cut"]),
}


@pytest.mark.parametrize("case", list(EMMEANS))
def test_emmeans_is_r_s(case):
    data, specs, kwargs, keys = EMMEANS[case]
    ours = fitted(*FITS[data]).emmeans(specs, **kwargs)
    compare(ours, r_table(reference()["emmeans"][case]), keys)


CONTRASTS = {
    "wine_pairwise": ("wine", "~ temp * contact", {}),
    "wine_revpairwise": ("wine", "~ temp * contact", {"method": "revpairwise"}),
    "wine_trt": ("wine", "~ temp * contact", {"method": "trt.vs.ctrl"}),
    "wine_consec": ("wine", "~ temp * contact", {"method": "consec", "seed": 1}),
    "wine_bonferroni": ("wine", "~ temp * contact", {"adjust": "bonferroni"}),
    "wine_holm": ("wine", "~ temp * contact", {"adjust": "holm"}),
    "wine_sidak": ("wine", "~ temp * contact", {"adjust": "sidak"}),
    "wine_prob_by_rating": ("wine", "temp", {"mode": "prob"}),
    "soup_poly": ("soup", "AGEGROUP", {"method": "poly"}),
    "soup_pairwise_by": ("soup", "AGEGROUP", {"by": "PROD"}),
    "soup_trt": ("soup", "AGEGROUP", {"method": "trt.vs.ctrl"}),
    "crossed_pairwise": ("crossed", "~ temp * contact", {}),
}


@pytest.mark.parametrize("case", list(CONTRASTS))
def test_contrasts_are_r_s(case):
    data, specs, kwargs = CONTRASTS[case]
    ours = fitted(*FITS[data]).contrasts(specs, **kwargs)
    theirs = r_table(reference()["contrasts"][case])
    keys = ["contrast"] + [c for c in ("rating", "PROD") if c in theirs.columns]
    compare(ours, theirs, keys, p_abs=2e-3 if case == "wine_consec" else 0.0)


def test_custom_contrasts_and_bad_arguments():
    fit = fitted(*FITS["wine"])
    means = fit.emmeans("~ temp * contact")
    custom = fit.contrasts("~ temp * contact", method={"warm vs cold": [-0.5, 0.5, -0.5, 0.5]})
    assert custom["estimate"].iloc[0] == pytest.approx(
        means["estimate"].to_numpy() @ [-0.5, 0.5, -0.5, 0.5])
    assert custom.attrs["adjust"] == "none"
    with pytest.raises(ValueError, match="unknown mode"):
        fit.emmeans("temp", mode="response")
    with pytest.raises(ValueError, match="not variables of the fixed part"):
        fit.emmeans("judge")
    with pytest.raises(ValueError, match="4 weights"):
        fit.contrasts("~ temp * contact", method={"x": [1, -1]})


def test_marginal_means_average_the_marginal_predictions():
    """re_form="marginal" (R's emmeans has no counterpart): the probabilities averaged over
    the random effects, then over contact with equal weights."""
    fit = fitted(*FITS["wine"])
    ours = fit.emmeans("temp", mode="prob", re_form="marginal")
    grid = pd.DataFrame({"temp": ["cold", "cold", "warm", "warm"],
                         "contact": ["no", "yes", "no", "yes"]})
    by_hand = fit.predict(grid, re_form="marginal").groupby(grid["temp"]).mean()
    for temp in ("cold", "warm"):
        got = ours[ours["temp"] == temp].set_index("rating")["estimate"]
        np.testing.assert_allclose(got.to_numpy(), by_hand.loc[temp].to_numpy(), atol=1e-12)
