"""Residuals with known truth: on data simulated from a model and refitted, quantile
residuals are standard normal and surrogate residuals follow the link's centred latent law
(fixed-seed Kolmogorov-Smirnov tests); a wrong link or a missing covariate shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import interlace
from interlace.residuals import reference_distribution

ALPHA = 0.01  # one level for the KS tests: accept when the model is right, reject when not


def simulated(link: str, seed: int, n_groups: int = 60, per: int = 25, beta=(1.0, -0.8)):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x1, x2 = rng.normal(size=g.size), rng.normal(size=g.size)
    e = {"logit": rng.logistic, "probit": rng.standard_normal,
         "cloglog": lambda size: np.log(rng.exponential(size=size))}[link](size=g.size)
    latent = beta[0] * x1 + beta[1] * x2 + rng.normal(0, 0.7, n_groups)[g] + e
    y = np.digitize(latent, [-1.5, -0.3, 0.8, 2.0])
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": g})


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_residuals_follow_their_laws_when_the_model_is_right(link):
    fit = interlace.clmm("y ~ x1 + x2 + (1|g)", simulated(link, 1), link=link)
    quantile = fit.residuals("quantile", seed=3)
    assert stats.kstest(quantile, "norm").pvalue > ALPHA
    surrogate = fit.residuals("surrogate", seed=3)
    assert stats.kstest(surrogate, reference_distribution(link).cdf).pvalue > ALPHA
    probability = fit.residuals("probability")
    assert probability.between(-1, 1).all() and abs(probability.mean()) < 0.05
    assert list(quantile.index) == list(range(1500))


def test_a_missing_covariate_or_a_wrong_link_shows():
    data = simulated("logit", 2, beta=(1.0, -2.5))
    right = interlace.clmm("y ~ x1 + x2 + (1|g)", data)
    missing = interlace.clmm("y ~ x1 + (1|g)", data)
    # the residuals carry the left-out covariate
    assert abs(np.corrcoef(missing.residuals("surrogate", seed=1), data["x2"])[0, 1]) > 0.4
    assert abs(np.corrcoef(right.residuals("surrogate", seed=1), data["x2"])[0, 1]) < 0.1
    # errors of another law: heavy-tailed Cauchy data fitted with probit
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    y = np.digitize(x + rng.standard_cauchy(size=3000), [-1.5, -0.3, 0.8, 2.0])
    df = pd.DataFrame({"y": y, "x": x, "g": np.arange(3000) % 50})
    wrong = interlace.clmm("y ~ x + (1|g)", df, link="probit")
    assert stats.kstest(wrong.residuals("surrogate", seed=2), "norm").pvalue < ALPHA


def test_randomized_residuals_are_reproducible_and_probability_ones_closed_form():
    fit = interlace.clmm("y ~ x1 + x2 + (1|g)", simulated("logit", 1))
    pd.testing.assert_series_equal(fit.residuals(seed=4), fit.residuals(seed=4))
    cum = fit.predict(type="cum.prob").to_numpy()
    y = simulated("logit", 1)["y"].to_numpy()
    below = np.where(y > 0, cum[np.arange(len(y)), np.maximum(y - 1, 0)], 0.0)
    above = 1 - np.where(y < 4, cum[np.arange(len(y)), np.minimum(y, 3)], 1.0)
    np.testing.assert_allclose(fit.residuals("probability"), below - above, atol=1e-12)
    with pytest.raises(ValueError, match="unknown kind"):
        fit.residuals("pearson")


def test_the_simulation_check_passes_a_right_model_and_flags_a_wrong_one():
    """Scaled residuals are uniform and the dispersion ratio near 1 on data from the fitted
    model's own law; fitted without a strong covariate the residuals trend with it, and the
    plot shows it."""
    import matplotlib

    matplotlib.use("Agg")
    data = simulated("logit", 2, beta=(1.0, -2.5))
    right = interlace.clmm("y ~ x1 + x2 + (1|g)", data).check(nsim=200, seed=1, data=data)
    assert right.uniformity[1] > ALPHA and right.dispersion[1] > ALPHA
    assert 0.8 < right.dispersion[0] < 1.2
    assert right.residuals.between(0, 1).all() and len(right.residuals) == len(data)
    wrong = interlace.clmm("y ~ x1 + (1|g)", data).check(nsim=200, seed=1, data=data)
    assert abs(np.corrcoef(wrong.residuals, data["x2"])[0, 1]) > 0.4
    fig = wrong.plot(covariate="x2")
    assert len(fig.axes) == 3 and fig.axes[2].get_xlabel() == "x2"
    assert "uniformity (KS)" in str(right)


def test_the_simulation_check_tells_a_wrong_link_from_the_right_one():
    """Heavy-tailed (Cauchy) errors: the check's uniformity test rejects probit and accepts
    cauchit at the same level."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    y = np.digitize(x + rng.standard_cauchy(size=3000), [-1.5, -0.3, 0.8, 2.0])
    df = pd.DataFrame({"y": y, "x": x, "g": np.arange(3000) % 50})
    wrong = interlace.clmm("y ~ x + (1|g)", df, link="probit").check(nsim=200, seed=1)
    right = interlace.clmm("y ~ x + (1|g)", df, link="cauchit").check(nsim=200, seed=1)
    assert wrong.uniformity[1] < ALPHA < right.uniformity[1]


def test_the_check_plots_against_a_covariate_of_a_fit_that_dropped_incomplete_rows():
    """The plotted covariate is taken at the fitting rows: the point for each row is its
    own (residual, covariate) pair, not shifted by a dropped row."""
    import matplotlib

    matplotlib.use("Agg")
    data = simulated("logit", 3).copy()
    data.loc[5, "x1"] = np.nan
    with pytest.warns(UserWarning, match="dropping 1 row"):
        fit = interlace.clmm("y ~ x1 + x2 + (1|g)", data)
    checked = fit.check(nsim=20, seed=1, data=data)
    assert 5 not in checked.residuals.index and len(checked.residuals) == len(data) - 1
    fig = checked.plot(covariate="x2")
    x, y = fig.axes[2].lines[0].get_data()
    np.testing.assert_array_equal(x, data["x2"].drop(index=5).to_numpy())
    np.testing.assert_array_equal(y, checked.residuals.to_numpy())
    with pytest.raises(ValueError, match="pass the fitting data"):
        fit.check(nsim=5, seed=1).plot(covariate="x2")
