"""Nominal and scale effects (R's clm(nominal=, scale=)) with and without random effects,
against R (fixtures/nominal_reference.json from make_nominal_reference.R): clm fits,
nominal_test / scale_test, and clmm2 with a random intercept."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

import interlace
from conftest import FIXTURES, dataset


@cache
def reference() -> dict:
    return json.loads((FIXTURES / "nominal_reference.json").read_text())


def clm_fit(case: dict):
    data = dataset(case["data"])
    weights = np.resize([1.0, 2.0, 0.5], len(data)) if case["weighted"] else None
    return interlace.clm(case["formula"], data, link=case["link"],
                         threshold=case["threshold"], weights=weights,
                         nominal=case["nominal"], scale=case["scale"])


@pytest.mark.parametrize("case_id", list(reference()["clm"]))
def test_clm_with_nominal_and_scale_effects_is_r_s_clm(case_id):
    """Exact maximum likelihood on both sides: the log-likelihood to 1e-7, every estimate
    to 1e-5 by R's name; standard errors to 1e-4 (R's Hessian is analytic, ours forward
    differences of the exact gradient)."""
    case = reference()["clm"][case_id]
    fit = clm_fit(case)
    assert fit.converged and fit.max_grad < 1e-6
    assert fit.llf == pytest.approx(case["logLik"], abs=1e-7)
    for ours, ours_se, key in ((fit.threshold_params, fit.threshold_params_bse, "alpha"),
                               (fit.fe_params, fit.fe_bse, "beta"),
                               (fit.scale_params, fit.scale_bse, "zeta")):
        ours, ours_se = dict(ours), dict(ours_se)
        theirs, theirs_se = dict(case[key] or {}), dict(case[key + "_se"] or {})  # [] if none
        assert list(ours) == list(theirs), key
        np.testing.assert_allclose(list(ours.values()), list(theirs.values()),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(list(ours_se.values()), list(theirs_se.values()),
                                   rtol=1e-4)
    if case["theta"] is not None:  # R's Theta: thresholds per level of the nominal factors
        theta = fit.thresholds
        assert list(theta.columns) == list(case["theta"])
        for column, values in case["theta"].items():
            values = list(np.atleast_1d(values))
            if isinstance(values[0], str):
                assert list(theta[column].astype(str)) == values
            else:
                np.testing.assert_allclose(theta[column].to_numpy(float), values, rtol=1e-5)


def test_scale_names_take_a_prefix_only_where_they_repeat_a_coefficient():
    fit = clm_fit(reference()["clm"]["wine_scale"])
    assert list(fit.params.index[-3:]) == ["tempwarm", "contactyes", "scale:tempwarm"]
    assert list(fit.scale_params.index) == ["tempwarm"]
    assert list(fit.vcov.index) == list(fit.params.index)
    soup = clm_fit(reference()["clm"]["soup_weighted_scale"])
    assert soup.params.index[-1] == "GENDERFemale"


def test_a_coefficient_the_nominal_design_spans_is_dropped_with_a_warning():
    """R reports it as NA; the fit is the nominal model's."""
    with pytest.warns(UserWarning, match="contactyes"):
        fit = interlace.clm("rating ~ temp + contact", dataset("wine"), nominal="~ contact")
    assert list(fit.fe_params.index) == ["tempwarm"]
    assert fit.llf == pytest.approx(reference()["clm"]["wine_nominal"]["logLik"], abs=1e-7)


def clmm2_fit(case_id, **kwargs):
    case = reference()["clmm2"][case_id]
    formula = {"nominal": "rating ~ temp + (1|judge)",
               "scale": "rating ~ temp + contact + (1|judge)"}[case_id.split("_")[0]]
    extra = ({"nominal": "~ contact"} if case_id.startswith("nominal")
             else {"scale": "~ temp"})
    return case, interlace.clmm(formula, dataset("wine"), nAGQ=case.get("nAGQ", 1),
                                **extra, **kwargs)


@pytest.mark.parametrize("case_id", ["nominal_laplace", "nominal_agq10", "scale_agq10"])
def test_clmm_with_nominal_or_scale_effects_is_r_s_clmm2(case_id):
    """The log-likelihood to 1e-6 and the estimates to 1e-4 (clmm2 stops at its own
    gradient tolerance; our logLik is never lower); standard errors to 2e-3 (both Hessians
    are finite differences).

    With the Laplace approximation clmm2's reported logLik is 1.9e-5 above its own objective
    at its estimates (it stops the inner solve early): written out in R at those estimates,
    the objective is ours there to 1e-8, and our optimum is above it."""
    case, fit = clmm2_fit(case_id)
    assert fit.converged
    theirs = case.get("exact_loglik_at_its_estimates", case["logLik"])
    if "exact_loglik_at_its_estimates" in case:
        model = interlace.clmm_model("rating ~ temp + (1|judge)", dataset("wine"),
                                     nominal="~ contact")
        at_theirs = model.loglik(np.array(case["coef"] + [case["stDev"]]))
        assert at_theirs == pytest.approx(theirs, abs=1e-8)
        assert case["logLik"] - theirs > 1e-5
    assert fit.llf == pytest.approx(theirs, abs=1e-6)
    assert fit.llf >= theirs - 1e-9
    assert list(fit.params.index) == [
        f"scale:{n}" if kind == "zeta" and n in fit.fe_params.index else n
        for n, kind in zip(case["names"], case["kind"])]
    np.testing.assert_allclose(fit.params.to_numpy(), case["coef"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.bse.to_numpy(), case["se"], rtol=2e-3)
    assert np.sqrt(fit.variance_components["judge"]) == pytest.approx(case["stDev"], rel=1e-4)


def wine_laplace(params, power):
    """The Laplace log-likelihood of rating ~ temp + contact + (1|judge), scale = ~ temp
    (logit), written out per judge, independently of interlace: the random effect's
    curvature is (sd / s)^2 with power 2 (exact), sd^2 / s with power 1 (clmm2's)."""
    wine = dataset("wine")
    y = wine["rating"].cat.codes.to_numpy()
    x = np.column_stack([wine["temp"] == "warm", wine["contact"] == "yes"]).astype(float)
    w = (wine["temp"] == "warm").to_numpy(float)
    alpha, beta, zeta, sd = params[:4], params[4:6], params[6], params[7]
    cuts = np.concatenate([[-np.inf], alpha, [np.inf]])
    s, eta = np.exp(w * zeta), x @ beta
    total = 0.0
    for judge in wine["judge"].unique():
        i = (wine["judge"] == judge).to_numpy()

        def args(u, i=i):
            return ((cuts[y[i] + 1] - eta[i] - sd * u) / s[i],
                    (cuts[y[i]] - eta[i] - sd * u) / s[i])

        def g(u):
            e1, e2 = args(u)
            return np.sum(np.log(special.expit(e1) - special.expit(e2))) - u * u / 2

        u = optimize.minimize_scalar(lambda v: -g(v), bounds=(-10, 10), method="bounded",
                                     options={"xatol": 1e-12}).x
        e1, e2 = args(u)
        p = special.expit(e1) - special.expit(e2)
        f1, f2 = (np.where(np.isfinite(e), special.expit(e) * special.expit(-e), 0)
                  for e in (e1, e2))
        d1, d2 = (np.where(np.isfinite(e), f * (1 - 2 * special.expit(e)), 0)
                  for e, f in ((e1, f1), (e2, f2)))
        curvature = ((f1 - f2) / p) ** 2 - (d1 - d2) / p
        total += g(u) - 0.5 * np.log(1 + np.sum(curvature * sd**2 / s[i] ** power))
    return total


def test_scale_effects_with_the_laplace_approximation_take_the_exact_curvature():
    """R's clmm2 divides the random effect's curvature by the scale once, not squared: the
    objective written out with that curvature gives clmm2's logLik at clmm2's estimates,
    while ours is the exact one (the same as the written-out exact objective there). Our
    optimum is the exact objective's, maximised in R by nlminb, and zeta changes sign."""
    theirs = reference()["clmm2"]["scale_laplace_clmm2"]
    exact = reference()["clmm2"]["scale_laplace_exact"]
    params = np.array(theirs["coef"] + [theirs["stDev"]])
    assert wine_laplace(params, power=1) == pytest.approx(theirs["logLik"], abs=1e-6)
    model = interlace.clmm_model("rating ~ temp + contact + (1|judge)", dataset("wine"),
                                 scale="~ temp")
    ours_there = model.loglik(params)
    assert ours_there == pytest.approx(wine_laplace(params, power=2), abs=1e-8)
    assert ours_there == pytest.approx(theirs["exact_loglik_at_its_estimates"], abs=1e-7)
    fit = model.fit()
    assert fit.converged
    assert fit.llf == pytest.approx(exact["logLik"], abs=1e-7)
    assert fit.llf >= exact["logLik"] - 1e-9
    np.testing.assert_allclose(fit.params.to_numpy(), exact["par"], rtol=1e-4, atol=1e-4)
    assert np.sqrt(fit.variance_components["judge"]) == pytest.approx(exact["stDev"], rel=1e-4)
    assert fit.scale_params["tempwarm"] > 0 > theirs["coef"][-1]


@pytest.mark.parametrize("kwargs", [
    {"nominal": "~ contact"}, {"scale": "~ temp"}, {"nominal": "~ contact", "scale": "~ temp"},
    {"nominal": "~ contact", "scale": "~ temp", "nAGQ": 7}, {"scale": "~ temp", "nAGQ": -5}])
def test_the_gradient_with_nominal_and_scale_effects_is_exact(kwargs):
    assert_gradient_is_differences(
        interlace.clmm_model("rating ~ temp + (1|judge)", dataset("wine"), **kwargs), seed=1)


def assert_gradient_is_differences(model, seed: int) -> None:
    """Against central differences of the objective, away from the optimum."""
    x = model.start() + 0.1 * np.random.default_rng(seed).normal(size=len(model.parameter_names))
    _, grad = model.loglik_and_gradient(x)
    h = 1e-6
    diff = [(model.loglik(x + h * e) - model.loglik(x - h * e)) / (2 * h)
            for e in np.eye(len(x))]
    np.testing.assert_allclose(grad, diff, atol=1e-6)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog", "loglog", "cauchit"])
def test_the_gradient_with_vector_and_crossed_terms_and_scale_effects_is_exact(link):
    assert_gradient_is_differences(interlace.clmm_model(
        "rating ~ temp + (1 + contact|judge) + (1|bottle)", dataset("wine"), scale="~ temp",
        nominal="~ contact", link=link), seed=2)


@pytest.mark.parametrize("case_id", list(reference()["clm"]))
def test_predicted_probabilities_of_the_observed_categories_give_r_s_loglik(case_id):
    """For a model without random effects, sum w log P(observed) is the log-likelihood:
    the predictions carry the per-row thresholds and the scale."""
    case = reference()["clm"][case_id]
    fit = clm_fit(case)
    data = dataset(case["data"])
    observed = data[case["formula"].split(" ~")[0]].cat.codes.to_numpy()
    prob = fit.predict().to_numpy()[np.arange(len(data)), observed]
    w = np.resize([1.0, 2.0, 0.5], len(data)) if case["weighted"] else np.ones(len(data))
    assert np.dot(w, np.log(prob)) == pytest.approx(case["logLik"], abs=1e-8)


def _wine_probabilities(params, link_cdf, nominal: bool, scale: bool):
    """P(rating = k) on wine written out from the parameters: rating ~ temp [+ contact],
    nominal = ~ contact, scale = ~ temp as asked."""
    wine = dataset("wine")
    warm = (wine["temp"] == "warm").to_numpy(float)
    yes = (wine["contact"] == "yes").to_numpy(float)
    if nominal:
        tau, rest = params[:8].reshape(2, 4), params[8:]
        alpha = tau[0][None, :] + yes[:, None] * tau[1][None, :]
        eta, rest = warm * rest[0], rest[1:]
    else:
        alpha = np.broadcast_to(params[:4], (len(wine), 4))
        eta, rest = warm * params[4] + yes * params[5], params[6:]
    s = np.exp(warm * rest[0]) if scale else np.ones(len(wine))
    cum = link_cdf((alpha - eta[:, None]) / s[:, None])
    cum = np.column_stack([np.zeros(len(wine)), cum, np.ones(len(wine))])
    return np.diff(cum, axis=1)


@pytest.mark.parametrize(("case_id", "link", "cdf"), [
    ("wine_both_probit", "probit", special.ndtr),
    ("wine_scale", "logit", special.expit),
    (None, "loglog", lambda x: np.exp(-np.exp(-x))),
    (None, "cloglog", lambda x: -np.expm1(-np.exp(x)))])
def test_prediction_standard_errors_are_the_delta_method(case_id, link, cdf):
    """se_fit against J V J' with J by central differences of the probabilities written
    out (cloglog and loglog: the end categories, where log f is inf - inf at the infinite
    cut, used to come out NaN)."""
    if case_id is None:
        fit = interlace.clm("rating ~ temp + contact", dataset("wine"), link=link)
        nominal = scale = False
    else:
        case = reference()["clm"][case_id]
        fit = clm_fit(case)
        nominal, scale = case["nominal"] is not None, case["scale"] is not None
    params = fit.params.to_numpy()
    ours, se = fit.predict(newdata=dataset("wine"), se_fit=True)
    np.testing.assert_allclose(ours.to_numpy(), _wine_probabilities(params, cdf, nominal,
                                                                     scale), atol=1e-12)
    h = 1e-6
    jac = np.stack([(_wine_probabilities(params + h * e, cdf, nominal, scale)
                     - _wine_probabilities(params - h * e, cdf, nominal, scale)) / (2 * h)
                    for e in np.eye(len(params))], axis=2)
    expected = np.sqrt(np.einsum("nkp,pq,nkq->nk", jac, fit.vcov.to_numpy(), jac))
    np.testing.assert_allclose(se.to_numpy(), expected, rtol=1e-5, atol=1e-9)


def test_simulated_responses_follow_the_per_row_thresholds_and_scale():
    """Category frequencies of many simulated responses for two rows against the
    predicted probabilities (4 standard errors of a proportion)."""
    case = reference()["clm"]["wine_both_probit"]
    fit = clm_fit(case)
    rows = dataset("wine").iloc[[0, 40]]
    sims = fit.simulate(nsim=20_000, seed=3, newdata=rows)
    prob = fit.predict(newdata=rows).to_numpy()
    for i in range(2):
        freq = sims.iloc[i].value_counts(normalize=True).reindex(fit.response_levels,
                                                                  fill_value=0).to_numpy()
        np.testing.assert_allclose(freq, prob[i], atol=4 * np.sqrt(0.25 / 20_000))


@pytest.mark.parametrize("case_id", ["wine_nominal", "wine_scale", "wine_both_probit"])
def test_summary_prints_as_r_s_summary_of_clm(case_id):
    """Line for line, but for the statistics line (niter and max.grad are our own counts)."""
    fit = clm_fit(reference()["clm"][case_id])
    fit.data_name = "wine"
    ours = str(fit.summary()).splitlines()
    theirs = reference()["summaries"][case_id].splitlines()
    stats_line = theirs.index(next(t for t in theirs if t.startswith(" link"))) + 1
    assert len(ours) == len(theirs)
    assert [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b] == [stats_line]
    assert ours[stats_line].split()[:5] == theirs[stats_line].split()[:5]


def test_tables_tidy_and_to_dict_carry_the_scale_and_nominal_parts():
    case = reference()["clm"]["wine_both_probit"]
    fit = clm_fit(case)
    tidy = fit.tidy()
    assert list(tidy["kind"]) == ["threshold"] * 8 + ["fixed", "scale"]
    np.testing.assert_allclose(tidy["estimate"].iloc[-1], case["zeta"]["tempwarm"], rtol=1e-5)
    out = json.loads(json.dumps(fit.to_dict()))
    assert out["scale_effects"] == pytest.approx(case["zeta"], rel=1e-5)
    assert out["thresholds"]["contact"] == ["no", "yes"]
    assert out["nominal"] == "contact" and out["scale"] == "temp"
    assert "**log-scale coefficients**" in fit.summary().as_markdown()


@pytest.mark.parametrize("case_id", list(reference()["tests"]))
def test_nominal_and_scale_tests_are_r_s(case_id):
    """R's table: Df, logLik, AIC, LRT, Pr(>Chi) per term, the fit itself as <none>."""
    data_name, which, _ = case_id.split("_")
    formula = {"wine": "rating ~ temp + contact", "soup": "SURENESS ~ PROD + DAY"}[data_name]
    fit = interlace.clm(formula, dataset(data_name))
    test = {"nominal": interlace.nominal_test, "scale": interlace.scale_test}[which]
    if case_id == "wine_nominal_test":
        # temp as a nominal effect separates the response (R's table is silent about it):
        # its log-likelihood is the supremum, approached with unidentified thresholds
        with pytest.warns(interlace.ConvergenceWarning, match="temp as a nominal effect"):
            ours = test(fit)
    else:
        ours = test(fit)
    theirs = reference()["tests"][case_id]
    assert list(ours.index) == theirs["terms"]
    for column, key in (("Df", "Df"), ("logLik", "logLik"), ("AIC", "AIC"), ("LRT", "LRT"),
                        ("Pr(>Chi)", "p")):
        expected = np.array([np.nan if v is None else v for v in theirs[key]], dtype=float)
        np.testing.assert_allclose(ours[column].to_numpy(float), expected, rtol=1e-5,
                                   atol=1e-6, equal_nan=True, err_msg=column)


def test_nominal_test_of_a_mixed_model_keeps_its_random_effects():
    """R has none: each row is the clmm refitted with the term as a nominal effect, so the
    row for contact is the nominal clmm2 fit of the fixtures."""
    fit = interlace.clmm("rating ~ temp + contact + (1|judge)", dataset("wine"))
    with pytest.warns(interlace.ConvergenceWarning, match="temp as a nominal effect"):
        table = interlace.nominal_test(fit)
    nominal = reference()["clmm2"]["nominal_laplace"]
    assert table.loc["contact", "Df"] == 3
    assert table.loc["contact", "logLik"] == pytest.approx(
        nominal["exact_loglik_at_its_estimates"], abs=1e-6)
    assert table.loc["contact", "LRT"] == pytest.approx(2 * (table.loc["contact", "logLik"]
                                                             - fit.llf))


def test_thresholds_that_cross_in_a_row_of_theta_are_named():
    """Three of the four combinations of two nominal factors observed, with weights equal to
    the probabilities of thresholds (-1, 1) moved by (+0.75, -0.75) for each factor: the
    model is saturated, so the fit is that truth, and the unobserved combination (b, d)
    gets thresholds (0.5, -0.5)."""
    from scipy.special import expit

    rows = []
    for a, b in (("a", "c"), ("b", "c"), ("a", "d")):
        shift = 0.75 * ((a == "b") + (b == "d"))
        cum = expit(np.array([-1 + shift, 1 - shift]))
        prob = np.diff(np.concatenate([[0.0], cum, [1.0]]))
        rows += [{"A": a, "B": b, "y": k, "w": 100 * p} for k, p in zip("123", prob)]
    data = pd.DataFrame(rows)
    data["y"] = pd.Categorical(data["y"], ordered=True)
    with pytest.warns(UserWarning, match=r"not increasing for A=b, B=d \("):
        fit = interlace.clm("y ~ 1", data, nominal="~ A + B", weights="w")
    theta = fit.thresholds.set_index(["A", "B"])
    np.testing.assert_allclose(theta.loc[("b", "d")].to_numpy(float), [0.5, -0.5], atol=1e-5)


def test_nominal_and_scale_arguments_are_checked():
    wine = dataset("wine")
    with pytest.raises(ValueError, match="one-sided"):
        interlace.clm("rating ~ temp", wine, scale="rating ~ contact")
    with pytest.raises(TypeError, match="nominal= takes a one-sided formula"):
        interlace.clm("rating ~ temp", wine, nominal=["contact"])
    with pytest.raises(ValueError, match="random terms and offsets belong"):
        interlace.clmm("rating ~ temp + (1|judge)", wine, nominal="~ contact + (1|bottle)")
    with pytest.raises(ValueError, match="'colour'"):
        interlace.clm("rating ~ temp", wine, nominal="~ colour")


def test_a_nominal_level_that_empties_a_threshold_is_said():
    """A level of a nominal factor in which the top categories never occur leaves its last
    nominal parameters unidentified (they run off to infinity): the fit says so instead of
    returning a number."""
    wine = dataset("wine").copy()
    low = (wine["rating"].astype(int) <= 3) & (wine["judge"].astype(int) <= 4)
    wine["group"] = np.where(low, "x", "y")
    with pytest.warns(UserWarning) as record:
        fit = interlace.clm("rating ~ temp", wine, nominal="~ group")
    said = " ".join(str(r.message) for r in record)
    assert "not identified" in said and "not increasing for group=x" in said
    assert not fit.converged


@pytest.mark.parametrize("case_id", ["wine_scale", "wine_both_probit"])
def test_profile_intervals_of_coefficients_and_scale_coefficients_are_r_s(case_id):
    """R's confint(clm) (``sca.`` rows are the scale coefficients) interpolates its profile
    with a spline; ours solves for the bound: they agree to 2e-4. (The probit case's lower
    bound for zeta was -0.364 while the refits' L-BFGS-B ran unscaled: its first step of
    length 1 crossed the thresholds and it stopped there, 5.5 log-likelihood units short.)"""
    fit = clm_fit(reference()["clm"][case_id])
    theirs = reference()["profiles"][case_id]
    names = [n.replace("sca.", "scale:") for n in theirs["rows"]]
    ours = fit.confint(method="profile", params=names)
    np.testing.assert_allclose(ours["lower"].to_numpy(), theirs["lower"], atol=2e-4)
    np.testing.assert_allclose(ours["upper"].to_numpy(), theirs["upper"], atol=2e-4)


def test_a_missing_nominal_or_scale_value_drops_its_row():
    wine = dataset("wine").copy()
    wine["x"] = np.random.default_rng(4).normal(size=len(wine))
    wine.loc[3, "x"] = np.nan
    wine["contact"] = wine["contact"].astype(object)
    wine.loc[10, "contact"] = None
    with pytest.warns(UserWarning, match="dropping 2 row"):
        fit = interlace.clm("rating ~ temp", wine, nominal="~ x", scale="~ contact")
    complete = interlace.clm("rating ~ temp", wine.drop(index=[3, 10]), nominal="~ x",
                             scale="~ contact")
    assert fit.converged and complete.converged
    assert fit.nobs == 70 and fit.llf == pytest.approx(complete.llf, abs=1e-10)
    assert list(fit.predict().index) == list(complete.predict().index)


def test_anova_names_the_nominal_and_scale_parts():
    """Two fits with the same formula and another scale part are told apart, as R's
    anova.clm prints them; the test is scale_test's row."""
    wine = dataset("wine")
    small = interlace.clm("rating ~ temp + contact", wine)
    large = interlace.clm("rating ~ temp + contact", wine, scale="~ temp")
    table = interlace.anova(small, large)
    assert list(table.columns[:3]) == ["formula", "nominal", "scale"]
    assert list(table["scale"]) == ["~1", "~temp"] and list(table["nominal"]) == ["~1", "~1"]
    theirs = reference()["tests"]["wine_scale_test"]
    assert table["LR.stat"].iloc[1] == pytest.approx(theirs["LRT"][1], rel=1e-5)
