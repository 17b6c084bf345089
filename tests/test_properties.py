"""Property tests on generated data sets (hypothesis): invariances a correct fit must have."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import interlace
from simdata import simulate

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

data_sets = st.builds(
    lambda n, groups, seed, sd, beta: simulate(n=n, n_groups=groups, seed=seed, sd=sd, beta=beta),
    n=st.integers(60, 200), groups=st.integers(3, 12), seed=st.integers(0, 10_000),
    sd=st.floats(0.0, 2.0), beta=st.floats(-1.5, 1.5),
)

FORMULA = "y ~ x + (1|g)"


def fit(df, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning is allowed; errors are not
        return interlace.clmm(FORMULA, df, **kwargs)


@SETTINGS
@given(data_sets)
def test_fits_are_sane(df):
    try:
        result = fit(df)
    except ValueError:
        return  # a documented refusal (e.g. a response level missing) is allowed
    assert np.all(np.diff(list(result.thresholds.values())) > 0)
    for re_form in ("conditional", "marginal"):
        prob = result.predict(re_form=re_form).to_numpy()
        assert np.all((prob >= 0) & (prob <= 1))
        np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-10)


@SETTINGS
@given(data_sets, st.integers(0, 2**31 - 1))
def test_row_order_and_level_names_do_not_matter(df, seed):
    base = fit(df)
    rng = np.random.default_rng(seed)
    shuffled = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    codes = df["g"].cat.codes.to_numpy()
    renamed_levels = rng.permutation(len(df["g"].cat.categories))
    renamed = df.assign(g=pd.Categorical([f"level_{renamed_levels[c]}" for c in codes]))
    for other in (fit(shuffled), fit(renamed)):
        assert abs(other.llf - base.llf) < 1e-7
        np.testing.assert_allclose(other.params, base.params, atol=1e-5)
        np.testing.assert_allclose(other.theta, base.theta, atol=1e-5)


@SETTINGS
@given(data_sets, st.sampled_from([1e-3, 0.5, 7.0, 1e4]))
def test_scaling_a_covariate_divides_its_coefficient(df, c):
    base = fit(df)
    scaled = fit(df.assign(x=df["x"] * c))
    assert abs(scaled.llf - base.llf) < 1e-7
    np.testing.assert_allclose(scaled.fe_params["x"] * c, base.fe_params["x"], rtol=1e-5,
                               atol=1e-7)


@SETTINGS
@given(data_sets)
def test_the_same_input_gives_bit_identical_results(df):
    a, b = fit(df), fit(df.copy())
    assert a.llf == b.llf
    assert np.array_equal(a.params.to_numpy(), b.params.to_numpy())
    assert np.array_equal(a.bse.to_numpy(), b.bse.to_numpy())
    assert np.array_equal(a.theta, b.theta)
