"""Threshold structures, case weights and offsets against R (tests/fixtures/extras_reference.json)."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import assert_matches_r, dataset, extras

WINE = "rating ~ temp + contact + (1|judge)"


def wine_with_extras():
    wine = dataset("wine").copy()
    wine["w"] = extras()["weights"]["w"]
    wine["off"] = extras()["offset"]["off"]
    return wine


@pytest.mark.parametrize("threshold", ["symmetric", "symmetric2", "equidistant"])
def test_threshold_structures_match_r(threshold):
    ref = extras()["thresholds"][threshold]
    fit = interlace.clmm(WINE, dataset("wine"), threshold=threshold)
    # Against R with its inner Newton solved to 1e-10: with R's default (1e-4) its
    # symmetric2 fit stops 2e-5 below this optimum and its standard errors move by 1.1%.
    assert_matches_r(fit, ref["tight"], loglik_tol=1e-6)
    assert fit.llf >= ref["logLik"]
    assert fit.threshold == threshold
    # the summary prints R's threshold parameters
    text = str(fit.summary())
    for name in ref["coefficients"]:
        if name not in ("tempwarm", "contactyes"):
            assert f"\n{name} " in text


def test_threshold_structures_need_three_levels():
    wine = dataset("wine").copy()
    wine["high"] = (wine["rating"].astype(int) >= 3).astype(int)
    with pytest.raises(ValueError, match="3 or more levels"):
        interlace.clmm("high ~ temp + (1|judge)", wine, threshold="equidistant")


def test_weights_match_r():
    ref = extras()["weights"]
    fit = interlace.clmm(WINE, wine_with_extras(), weights="w")
    assert_matches_r(fit, ref)
    assert fit.nobs == pytest.approx(sum(ref["w"]))
    assert fit.bic == pytest.approx(ref["BIC"], abs=1e-3)
    # an array gives the same fit as the column
    same = interlace.clmm(WINE, wine_with_extras(), weights=np.asarray(ref["w"]))
    assert same.llf == fit.llf


def test_integer_weights_equal_repeated_rows():
    """A weight of 2 is the same likelihood as the row twice: an independent check."""
    wine = dataset("wine").copy()
    w = np.where(np.arange(len(wine)) % 4 == 0, 2.0, 1.0)
    weighted = interlace.clmm(WINE, wine, weights=w)
    doubled = interlace.clmm(WINE, wine.loc[np.repeat(np.arange(len(wine)), w.astype(int))])
    assert weighted.llf == pytest.approx(doubled.llf, abs=1e-8)
    np.testing.assert_allclose(weighted.params.values, doubled.params.values, atol=1e-6)


@pytest.mark.parametrize("bad", [[-1.0] + [1.0] * 71, [np.nan] + [1.0] * 71, [1.0] * 70,
                                 [0.0] * 72])
def test_bad_weights_are_refused(bad):
    with pytest.raises(ValueError, match="weights"):
        interlace.clmm(WINE, dataset("wine"), weights=bad)


def test_offset_matches_r():
    ref = extras()["offset"]
    fit = interlace.clmm("rating ~ temp + contact + offset(off) + (1|judge)", wine_with_extras())
    assert_matches_r(fit, ref)


def test_offset_is_used_in_prediction():
    df = wine_with_extras()
    fit = interlace.clmm("rating ~ temp + contact + offset(off) + (1|judge)", df)
    b = fit.random_effects["judge"]["(Intercept)"].reindex(df["judge"].astype(str)).to_numpy()
    x = np.column_stack([(df["temp"] == "warm"), (df["contact"] == "yes")]).astype(float)
    expected = x @ fit.fe_params.to_numpy() + df["off"].to_numpy() + b
    np.testing.assert_allclose(fit.predict(type="linear.predictor"), expected, atol=1e-12)
    np.testing.assert_allclose(fit.predict(df, type="linear.predictor"), expected, atol=1e-12)


def test_a_subset_of_rows_keeps_its_offsets():
    """The offset lives in the fixed part alone: a subset of the rows (the bootstrap's,
    a partition's) predicts with its own rows' offsets."""
    df = wine_with_extras()
    design = interlace.clmm_model("rating ~ temp + offset(off) + (1|judge)", df).design
    index = np.array([5, 0, 71, 3])
    subset = design.rows(index)
    np.testing.assert_array_equal(subset.offset, df["off"].to_numpy()[index])
    assert subset.offset is subset.fixed.offset
