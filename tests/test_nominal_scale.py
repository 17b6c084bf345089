"""Nominal and scale effects (R's clm(nominal=, scale=)) with and without random effects,
against R (fixtures/nominal_reference.json from make_nominal_reference.R): clm fits,
nominal_test / scale_test, and clmm2 with a random intercept."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
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
        for column, values in case["theta"].items():
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
    """Against central differences of the objective, away from the optimum."""
    model = interlace.clmm_model("rating ~ temp + (1|judge)", dataset("wine"), **kwargs)
    x = model.start() + 0.1 * np.random.default_rng(1).normal(size=len(model.parameter_names))
    _, grad = model.loglik_and_gradient(x)
    h = 1e-6
    diff = [(model.loglik(x + h * e) - model.loglik(x - h * e)) / (2 * h)
            for e in np.eye(len(x))]
    np.testing.assert_allclose(grad, diff, atol=1e-6)


def test_the_gradient_with_vector_and_crossed_terms_and_scale_effects_is_exact():
    model = interlace.clmm_model("rating ~ temp + (1 + contact|judge) + (1|bottle)",
                                 dataset("wine"), scale="~ temp", nominal="~ contact")
    x = model.start() + 0.1 * np.random.default_rng(2).normal(size=len(model.parameter_names))
    _, grad = model.loglik_and_gradient(x)
    h = 1e-6
    diff = [(model.loglik(x + h * e) - model.loglik(x - h * e)) / (2 * h)
            for e in np.eye(len(x))]
    np.testing.assert_allclose(grad, diff, atol=1e-6)
