"""interlace.clm(): the model without random effects against R's clm (fixtures/clm_reference.json
from make_clm_reference.R), and anova(clm, clmm) against R's."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

import interlace
from conftest import FIXTURES, dataset, fitted


@cache
def reference() -> dict:
    return json.loads((FIXTURES / "clm_reference.json").read_text())


def fit_case(case: dict):
    data = dataset(case["data"])
    weights = np.resize([1.0, 2.0, 0.5], len(data)) if case["weighted"] else None
    return interlace.clm(case["formula"], data, link=case["link"],
                         threshold=case["threshold"], weights=weights)


@pytest.mark.parametrize("case_id", list(reference()["cases"]))
def test_clm_is_r_s_clm(case_id):
    """Both are exact maximum likelihood (R's max.grad up to 1e-6, ours below 1e-8): the
    log-likelihood to 1e-7, the estimates to 1e-5; standard errors to 1e-4 (R's Hessian is
    analytic, ours forward differences of the exact gradient)."""
    case = reference()["cases"][case_id]
    fit = fit_case(case)
    assert fit.converged and fit.max_grad < 1e-8
    assert fit.llf == pytest.approx(case["logLik"], abs=1e-7)
    assert list(fit.params.index) == list(case["coef"])
    np.testing.assert_allclose(fit.params.to_numpy(), list(case["coef"].values()),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fit.bse.to_numpy(), list(case["se"].values()), rtol=1e-4)
    assert list(fit.vcov.index) == case["vcov"]["rows"]
    np.testing.assert_allclose(fit.vcov.to_numpy(), np.array(case["vcov"]["values"]),
                               rtol=2e-4, atol=1e-8)
    assert fit.random_effects == {} and fit.variance_components == {} and fit.ngroups == {}
    assert not fit.is_singular


def test_clm_summary_prints_as_r_s():
    """Line for line, but for the statistics line (niter and max.grad are our own counts)."""
    case = reference()["cases"]["wine_logit"]
    fit = fit_case(case)
    fit.data_name = "wine"
    ours = str(fit.summary()).splitlines()
    theirs = case["summary_text"].splitlines()
    assert len(ours) == len(theirs)
    different = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    assert different == [4]  # the line under "link threshold nobs logLik AIC niter ..."
    # link, threshold, nobs, logLik, AIC and cond.H as R prints them
    assert ours[4].split()[:5] + ours[4].split()[-1:] == theirs[4].split()[:5] + \
        theirs[4].split()[-1:]


def test_anova_of_clm_and_clmm_tests_the_variance_component():
    """R's LR statistic uses its clmm log-likelihood, 3.5e-6 below the exact Laplace value
    (README, "Log-likelihood digits"): ours differs from R's by twice that."""
    ref = reference()["anova"]
    small = interlace.clm("rating ~ temp + contact", dataset("wine"))
    mixed = fitted("rating ~ temp + contact + (1|judge)", "wine")
    table = interlace.anova(small, mixed)
    assert list(table["no.par"]) == ref["no_par"]
    assert table["LR.stat"].iloc[1] == pytest.approx(ref["LR_stat"], abs=1e-4)
    assert table["df"].iloc[1] == ref["df"]
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["p_value"], rel=1e-4)


def test_clm_refuses_random_terms_and_works_after_the_fit():
    with pytest.raises(ValueError, match=r"use clmm\(\)"):
        interlace.clm("rating ~ temp + (1|judge)", dataset("wine"))
    fit = interlace.clm("rating ~ temp + contact", dataset("wine"))
    by_hand = fit.predict(re_form="zero")
    np.testing.assert_allclose(fit.predict().to_numpy(), by_hand.to_numpy())
    ci = fit.confint(method="profile", params=["tempwarm"])
    assert ci.loc["tempwarm", "lower"] < fit.fe_params["tempwarm"] < ci.loc["tempwarm", "upper"]
    assert fit.simulate(nsim=2, seed=1).shape == (72, 2)
    assert len(fit.tidy()) == 6
    with pytest.raises(ValueError, match="no random effects"):
        fit.plot_ranef()
