"""confint and anova against R; profile intervals against their definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import interlace
from conftest import dataset, extras, fitted

WINE = "rating ~ temp + contact + (1|judge)"


@pytest.mark.parametrize("key", ["confint", "confint90"])
def test_wald_intervals_match_r(key):
    ref = extras()[key]
    fit = fitted(WINE, "wine")
    ci = fit.confint(level=ref["level"])
    assert list(ci.index) == ref["rows"]
    se = fit.bse.to_numpy()
    # within 1% of a standard error (R's standard errors carry its own Hessian's noise)
    assert np.all(np.abs(ci["lower"].to_numpy() - ref["lower"]) < 0.01 * se)
    assert np.all(np.abs(ci["upper"].to_numpy() - ref["upper"]) < 0.01 * se)


def test_profile_bounds_drop_the_likelihood_by_the_chi_square_quantile():
    fit = interlace.clmm(WINE, dataset("wine"))
    ci = fit.confint(method="profile", params=["tempwarm", "sd((Intercept)|judge)"])
    refit = fit.refitter
    from interlace.inference import _profile_value

    target = stats.chi2.ppf(0.95, 1) / 2
    for name in ci.index:
        j = refit.names.index(name)
        for bound in ci.loc[name]:
            value = bound * refit.scale[j]  # the objective works per SD of each column
            drop = _profile_value(refit.objective, refit.phi, refit.lower, j, value) + fit.llf
            assert drop == pytest.approx(target, abs=1e-4)
    # the standard deviation's interval is asymmetric, as a likelihood interval should be
    sd = fit.variance_components["judge"] ** 0.5
    lo, hi = ci.loc["sd((Intercept)|judge)"]
    assert lo < sd < hi and (hi - sd) > (sd - lo)


def test_profile_and_wald_agree_where_the_likelihood_is_quadratic():
    """soup: 1,847 rows, a coefficient estimated to 8% relative error."""
    fit = interlace.clmm("SURENESS ~ PROD + (1|RESP)", dataset("soup"))
    prof = fit.confint(method="profile", params=["PRODTest"]).loc["PRODTest"]
    wald = fit.confint(params=["PRODTest"]).loc["PRODTest"]
    width = wald["upper"] - wald["lower"]
    assert abs(prof["lower"] - wald["lower"]) < 0.02 * width
    assert abs(prof["upper"] - wald["upper"]) < 0.02 * width


def test_anova_matches_r():
    ref = extras()["anova"]
    fits = [interlace.clmm(f, dataset("wine")) for f in ref["formulas"]]
    table = interlace.anova(fits[2], fits[0], fits[1])  # ordered by the number of parameters
    assert list(table["no.par"]) == ref["no_par"]
    np.testing.assert_allclose(table["logLik"], ref["logLik"], atol=1e-4)
    np.testing.assert_allclose(table["AIC"], ref["AIC"], atol=2e-4)
    np.testing.assert_allclose(table["LR.stat"][1:], ref["LR_stat"][1:], atol=2e-4)
    np.testing.assert_allclose(table["df"][1:], ref["df"][1:])
    np.testing.assert_allclose(table["Pr(>Chisq)"][1:], ref["p"][1:], rtol=1e-3)
    assert fits[0].compare(fits[1]).equals(interlace.anova(fits[0], fits[1]))


def test_anova_refuses_different_data():
    wine = dataset("wine")
    a = interlace.clmm(WINE, wine)
    b = interlace.clmm(WINE, wine.iloc[:60])
    with pytest.raises(ValueError, match="different data"):
        interlace.anova(a, b)


def test_profile_in_parallel_and_in_tidy():
    """n_jobs=2 gives the single process's intervals; tidy(conf_method="profile") carries
    them, the scalar term's SD row included."""
    fit = fitted("rating ~ temp + contact + (1|judge)", "wine")
    names = ["tempwarm", "sd((Intercept)|judge)"]
    one = fit.confint(method="profile", params=names)
    two = fit.confint(method="profile", params=names, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)
    tidy = fit.tidy(conf_method="profile").set_index("term")
    np.testing.assert_allclose(tidy.loc[names, ["conf_low", "conf_high"]].to_numpy(),
                               one.to_numpy())
    assert np.isfinite(tidy.loc["1|2", "conf_low"])


@pytest.mark.parametrize("name, side", [("sd(PRODTest|RESP)", "upper"),
                                        ("cor((Intercept),PRODTest|RESP)", "lower")])
def test_profiles_of_a_vector_term_s_sd_and_correlation(name, side):
    """At the returned limit, the log-likelihood maximised with that SD (or correlation)
    held - by SLSQP with an equality constraint on L's entries, another optimiser in other
    coordinates - is chi-square(1, 0.95) / 2 below the optimum."""
    import scipy.optimize

    fit = fitted("SURENESS ~ PROD + (1 + PROD|RESP)", "soup")
    limit = fit.confint(method="profile", params=[name]).loc[name, side]
    assert np.isfinite(limit)
    model = interlace.clmm_model("SURENESS ~ PROD + (1 + PROD|RESP)", dataset("soup"))
    start = np.concatenate([fit.params.to_numpy(), fit.theta])  # theta: L00, L11, L10

    def held(x):
        l11, l10 = x[-2:]  # theta is L00, L11, L10
        sd1 = np.hypot(l10, l11)
        return sd1 - limit if name.startswith("sd") else l10 / sd1 - limit

    res = scipy.optimize.minimize(
        lambda x: tuple(-v for v in model.loglik_and_gradient(x)), start, jac=True,
        method="SLSQP", constraints=[{"type": "eq", "fun": held}],
        bounds=[(None, None)] * (len(start) - 3) + [(0, None), (0, None), (None, None)],
        options={"ftol": 1e-12, "maxiter": 500})
    drop = fit.llf + res.fun
    assert drop == pytest.approx(stats.chi2.ppf(0.95, 1) / 2, abs=2e-3)


def _three_coefficient_data():
    """80 groups with a correlated random intercept and two random slopes (known truth)."""
    rng = np.random.default_rng(11)
    groups, per = 80, 30
    g = np.repeat(np.arange(groups), per)
    x1, x2 = rng.normal(size=groups * per), rng.normal(size=groups * per)
    sds = np.array([1.0, 0.7, 0.6])
    cor = np.array([[1, 0.5, -0.3], [0.5, 1, 0.4], [-0.3, 0.4, 1]])
    b = rng.multivariate_normal(np.zeros(3), cor * np.outer(sds, sds), size=groups)
    eta = x1 - 0.5 * x2 + b[g, 0] + b[g, 1] * x1 + b[g, 2] * x2
    y = np.digitize(eta + rng.logistic(size=groups * per), [-1.5, 0, 1.5])
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": g})


@pytest.mark.parametrize("name, side", [("cor(x1,x2|g)", "lower"),
                                        ("cor(x1,x2|g)", "upper"),
                                        ("cor((Intercept),x2|g)", "upper")])
def test_profiles_of_any_correlation_of_a_three_coefficient_term(name, side):
    """A correlation between two slopes is profiled too (through the reordered covariance);
    at its limit SLSQP, holding the correlation as an equality constraint on L's entries,
    finds the log-likelihood chi-square(1, 0.95) / 2 below the optimum."""
    import scipy.optimize

    formula, data = "y ~ x1 + x2 + (1 + x1 + x2|g)", _three_coefficient_data()
    fit = interlace.clmm(formula, data)
    limit = fit.confint(method="profile", params=[name]).loc[name, side]
    assert -1 < limit < 1
    model = interlace.clmm_model(formula, data)
    positions = model.design.random.terms[0].tril_positions()
    i, k = (1, 2) if name.startswith("cor(x1") else (0, 2)
    n_theta = len(positions)

    def held(x):
        L = np.zeros((3, 3))
        for (a, c), v in zip(positions, x[-n_theta:]):
            L[a, c] = v
        cov = L @ L.T
        return cov[i, k] / np.sqrt(cov[i, i] * cov[k, k]) - limit

    start = np.concatenate([fit.params.to_numpy(), fit.theta])
    diagonal = [a == c for a, c in positions]
    res = scipy.optimize.minimize(
        lambda x: tuple(-v for v in model.loglik_and_gradient(x)), start, jac=True,
        method="SLSQP", constraints=[{"type": "eq", "fun": held}],
        bounds=[(None, None)] * (len(start) - n_theta)
        + [(0, None) if d else (None, None) for d in diagonal],
        options={"ftol": 1e-12, "maxiter": 1000})
    assert res.success and abs(held(res.x)) < 1e-6
    assert fit.llf + res.fun == pytest.approx(stats.chi2.ppf(0.95, 1) / 2, abs=2e-3)


@pytest.mark.parametrize("name, side", [("tempwarm", "lower"),
                                        ("sd((Intercept)|judge)", "upper")])
def test_profiles_under_quadrature_drop_the_quadrature_likelihood(name, side):
    """nAGQ=10: at the profile limit, the adaptive Gauss-Hermite log-likelihood maximised by
    scipy with that parameter held (a bound of zero width) is chi2(1, .95)/2 below the fit's."""
    import scipy.optimize

    fit = interlace.clmm(WINE, dataset("wine"), nAGQ=10)
    limit = fit.confint(method="profile", params=[name]).loc[name, side]
    model = interlace.clmm_model(WINE, dataset("wine"), nAGQ=10)
    start = np.concatenate([fit.params.to_numpy(), fit.theta])
    j = list(fit.params.index).index(name) if name in fit.params.index else len(start) - 1
    start[j] = limit
    bounds = [(None, None)] * (len(start) - 1) + [(0, None)]
    bounds[j] = (limit, limit)
    res = scipy.optimize.minimize(lambda x: tuple(-v for v in model.loglik_and_gradient(x)),
                                  start, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 1000})
    assert fit.llf + res.fun == pytest.approx(stats.chi2.ppf(0.95, 1) / 2, abs=2e-3)
