"""Bad input: a clear error (or warning) naming what is wrong; the caller's data untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset

WINE = "rating ~ temp + contact + (1|judge)"


def wine():
    return dataset("wine").copy()


def test_continuous_response_is_refused():
    df = wine()
    df["score"] = np.random.default_rng(0).normal(size=len(df))
    with pytest.raises(ValueError, match="'score' looks continuous"):
        interlace.clmm("score ~ temp + (1|judge)", df)


def test_too_few_response_levels():
    df = wine()
    df["one"] = 3
    with pytest.raises(ValueError, match="'one' has 1 observed level"):
        interlace.clmm("one ~ temp + (1|judge)", df)


def test_unused_levels_of_an_ordered_response_are_dropped_with_a_message():
    df = wine()
    df["rating"] = df["rating"].cat.add_categories(["6"])
    with pytest.warns(UserWarning, match=r"dropping unused levels \['6'\]"):
        fit = interlace.clmm(WINE, df)
    assert list(fit.thresholds) == ["1|2", "2|3", "3|4", "4|5"]


def test_unordered_categorical_response_warns_with_the_order_used():
    df = wine()
    df["rating"] = pd.Categorical(df["rating"].astype(str), categories=["5", "4", "3", "2", "1"])
    with pytest.warns(UserWarning, match=r"sorted order \['1', '2', '3', '4', '5'\]"):
        fit = interlace.clmm(WINE, df)
    assert list(fit.thresholds) == ["1|2", "2|3", "3|4", "4|5"]


def test_missing_values_are_dropped_with_a_count_or_refused():
    df = wine()
    df.loc[[3, 10], "temp"] = np.nan
    df.loc[20, "judge"] = np.nan
    with pytest.warns(UserWarning, match="dropping 3 row"):
        fit = interlace.clmm(WINE, df)
    assert fit.nobs == 69
    with pytest.raises(ValueError, match=r"missing values in column\(s\) \['temp', 'judge'\]"):
        interlace.clmm(WINE, df, na_action="raise")
    with pytest.raises(ValueError, match="na_action"):
        interlace.clmm(WINE, df, na_action="omit")


def test_r_s_names_of_the_missing_value_actions_do_what_they_do_in_r():
    """na.omit drops the rows (the fit of the complete rows), na.fail refuses, and
    na.exclude, whose padding is not built, is refused with the way to pad."""
    df = wine()
    df.loc[[3, 10], "temp"] = np.nan
    with pytest.warns(UserWarning, match="dropping 2 row"):
        omitted = interlace.clmm(WINE, df, na_action="na.omit")
    complete = interlace.clmm(WINE, df.dropna(subset=["temp"]))
    assert omitted.nobs == 70
    assert omitted.llf == pytest.approx(complete.llf, abs=1e-10)
    with pytest.raises(ValueError, match=r"missing values in column\(s\) \['temp'\]"):
        interlace.clmm(WINE, df, na_action="na.fail")
    with pytest.raises(ValueError, match=r"na.exclude.*reindex\(data.index\)"):
        interlace.clmm(WINE, df, na_action="na.exclude")


def test_grouping_factor_with_one_level():
    df = wine()
    df["one"] = "a"
    with pytest.raises(ValueError, match="grouping factor 'one' has 1 level"):
        interlace.clmm("rating ~ temp + (1|one)", df)


def test_grouping_factor_with_a_level_per_observation_warns():
    df = wine()
    df["row"] = np.arange(len(df)).astype(str)
    with pytest.warns(UserWarning, match="'row': 72 random effects for 72 observations"):
        interlace.clmm("rating ~ temp + (1|row)", df)


def test_random_slope_constant_within_groups_is_refused():
    df = wine()
    df["judge_x"] = df["judge"].astype(int) * 0.5  # one value per judge
    with pytest.raises(ValueError, match="random slope 'judge_x'.*constant within every level"):
        interlace.clmm("rating ~ temp + (1 + judge_x|judge)", df)


def test_aliased_fixed_effects_are_dropped_and_named():
    df = wine()
    df["warm"] = (df["temp"] == "warm").astype(float)
    with pytest.warns(UserWarning, match=r"dropping aliased column\(s\) \['warm'\]"):
        fit = interlace.clmm("rating ~ temp + contact + warm + (1|judge)", df)
    assert list(fit.fe_params.index) == ["tempwarm", "contactyes"]
    assert np.all(np.isfinite(fit.fe_bse))
    reference = interlace.clmm(WINE, df)
    assert fit.llf == pytest.approx(reference.llf, abs=1e-8)
    # prediction follows the same columns
    np.testing.assert_allclose(fit.predict(df), reference.predict(df), atol=1e-8)


def test_an_empty_interaction_cell_is_dropped():
    df = wine()
    keep = ~((df["temp"] == "warm") & (df["contact"] == "yes"))
    with pytest.warns(UserWarning, match=r"\['tempwarm:contactyes'\]"):
        fit = interlace.clmm("rating ~ temp * contact + (1|judge)", df[keep])
    assert list(fit.fe_params.index) == ["tempwarm", "contactyes"]


def test_empty_data_is_refused():
    with pytest.raises(ValueError, match="no complete rows"):
        interlace.clmm(WINE, wine().iloc[:0])


def test_not_a_table_is_refused():
    with pytest.raises(TypeError, match="data must be a pandas, polars or pyarrow table"):
        interlace.clmm(WINE, [1, 2, 3])


def test_polars_input_is_not_modified():
    pl = pytest.importorskip("polars")
    df = pl.from_pandas(wine()).with_columns(
        pl.col("rating").cast(pl.Enum(["1", "2", "3", "4", "5"])))
    before = df.clone()
    interlace.clmm(WINE, df)
    with pytest.raises(ValueError):
        interlace.clmm("rating ~ nothing + (1|judge)", df)
    assert df.equals(before)
