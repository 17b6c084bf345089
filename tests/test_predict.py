"""predict(): against probabilities computed by hand from R's estimates, closed forms and
simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import interlace
from conftest import dataset, fitted, reference

WINE = "rating ~ temp + contact + (1|judge)"


def by_hand(alpha, beta, b_judge, wine, dist=stats.logistic):
    """P(Y = k) = F(alpha_k - x'beta - b) - F(alpha_{k-1} - x'beta - b), computed directly."""
    eta = (beta["tempwarm"] * (wine["temp"] == "warm").to_numpy()
           + beta["contactyes"] * (wine["contact"] == "yes").to_numpy())
    cuts = np.concatenate([[-np.inf], alpha, [np.inf]])
    z = cuts[None, :] - eta[:, None] - b_judge[:, None]
    return np.diff(dist.cdf(z), axis=1)


def test_conditional_probabilities_match_rs_estimates_and_modes():
    case = reference()["cases"]["wine_judge_logit"]
    wine = dataset("wine")
    modes = dict(zip(case["ranef"]["judge"]["levels"], np.ravel(case["ranef"]["judge"]["modes"])))
    b = wine["judge"].astype(str).map(modes).to_numpy()
    expected = by_hand(np.array(list(case["alpha"].values())), case["beta"], b, wine)
    got = fitted(WINE, "wine").predict()
    assert list(got.columns) == ["1", "2", "3", "4", "5"]
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("re_form", ["conditional", "zero", "marginal"])
def test_probabilities_are_probabilities(re_form):
    fit = fitted(WINE, "wine")
    prob = fit.predict(re_form=re_form).to_numpy()
    assert np.all((prob >= 0) & (prob <= 1))
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-12)
    cum = fit.predict(type="cum.prob", re_form=re_form).to_numpy()
    np.testing.assert_allclose(cum, np.cumsum(prob, axis=1)[:, :-1], atol=1e-12)


def test_linear_predictor_class_and_mean():
    fit = fitted(WINE, "wine")
    wine = dataset("wine")
    b = fit.random_effects["judge"]["(Intercept)"].reindex(wine["judge"].astype(str)).to_numpy()
    x = np.column_stack([(wine["temp"] == "warm"), (wine["contact"] == "yes")]).astype(float)
    np.testing.assert_allclose(fit.predict(type="linear.predictor"), x @ fit.fe_params.values + b)
    prob = fit.predict().to_numpy()
    assert (fit.predict(type="class").astype(str).to_numpy()
            == np.array(["1", "2", "3", "4", "5"])[prob.argmax(axis=1)]).all()
    np.testing.assert_allclose(fit.predict(type="mean"), prob @ np.arange(1, 6))


def test_marginal_probit_has_a_closed_form():
    """With a probit link, integrating over b ~ N(0, s^2) gives Phi((alpha - eta)/sqrt(1 + s^2))."""
    fit = fitted(WINE, "wine", "probit")
    wine = dataset("wine")
    s2 = fit.variance_components["judge"]
    alpha = np.array(list(fit.thresholds.values()))
    eta = fit.predict(type="linear.predictor", re_form="zero").to_numpy()
    expected = stats.norm.cdf((alpha[None, :] - eta[:, None]) / np.sqrt(1 + s2))
    got = fit.predict(type="cum.prob", re_form="marginal").to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)
    assert len(wine) == len(got)


def test_marginal_logit_agrees_with_simulation():
    fit = fitted(WINE, "wine")
    wine = dataset("wine")
    rng = np.random.default_rng(7)
    b = rng.normal(0, np.sqrt(fit.variance_components["judge"]), 200_000)
    alpha = np.array(list(fit.thresholds.values()))
    eta = fit.predict(type="linear.predictor", re_form="zero").to_numpy()[:8]
    draws = stats.logistic.cdf(alpha[None, None, :] - eta[None, :, None] - b[:, None, None])
    mc, mc_se = draws.mean(axis=0), draws.std(axis=0) / np.sqrt(len(b))
    got = fit.predict(wine.iloc[:8], type="cum.prob", re_form="marginal").to_numpy()
    assert np.all(np.abs(got - mc) < 4 * mc_se + 1e-12)


def test_new_data_and_new_levels():
    fit = fitted(WINE, "wine")
    new = pd.DataFrame({"temp": ["warm", "cold"], "contact": ["no", "yes"], "judge": ["3", "99"]})
    with pytest.warns(UserWarning, match=r"1 level\(s\) of 'judge' not seen in fitting"):
        got = fit.predict(new)
    population = fit.predict(new, re_form="zero")
    np.testing.assert_allclose(got.iloc[1], population.iloc[1])  # judge 99: b = 0
    b3 = fit.random_effects["judge"].loc["3", "(Intercept)"]
    with pytest.warns(UserWarning, match="set to 0"):
        lp = fit.predict(new, type="linear.predictor")
    assert lp.iloc[0] == pytest.approx(fit.fe_params["tempwarm"] + b3)
    with pytest.raises(ValueError, match=r"'judge'.*\['99'\]"):
        fit.predict(new, allow_new_levels=False)
    with pytest.raises(ValueError, match=r"\['contact'\]"):
        fit.predict(new.drop(columns="contact"))
    with pytest.raises(ValueError, match=r"'temp'.*\['hot'\]"):
        fit.predict(new.assign(temp=["hot", "cold"]))


def test_standard_errors_by_the_delta_method():
    """Against numerical derivatives of the by-hand probabilities and R's-style vcov."""
    fit = fitted(WINE, "wine")
    wine = dataset("wine").iloc[:5]
    n_tau = 4
    psi = fit.params.to_numpy()
    vcov = fit.vcov.to_numpy()[:6, :6]
    b = fit.random_effects["judge"]["(Intercept)"].reindex(wine["judge"].astype(str)).to_numpy()

    def probs(p):
        return by_hand(p[:n_tau], {"tempwarm": p[4], "contactyes": p[5]}, b, wine)

    h = 1e-6
    grad = np.stack([(probs(psi + h * e) - probs(psi - h * e)) / (2 * h) for e in np.eye(6)], -1)
    expected = np.sqrt(np.einsum("nkp,pq,nkq->nk", grad, vcov, grad))
    _, se = fit.predict(wine, se_fit=True)
    np.testing.assert_allclose(se.to_numpy(), expected, rtol=1e-5)
    _, se_lp = fit.predict(wine, type="linear.predictor", se_fit=True)
    x = np.column_stack([(wine["temp"] == "warm"), (wine["contact"] == "yes")]).astype(float)
    np.testing.assert_allclose(se_lp, np.sqrt(np.einsum("ij,jk,ik->i", x, vcov[4:, 4:], x)))


def test_bad_arguments():
    fit = fitted(WINE, "wine")
    with pytest.raises(ValueError, match="unknown type"):
        fit.predict(type="odds")
    with pytest.raises(ValueError, match="unknown re_form"):
        fit.predict(re_form="random")
    wine = dataset("wine").copy()
    wine["word"] = wine["rating"].map(dict(zip("12345", "abcde"))).astype(str)
    with pytest.warns(UserWarning):
        words = interlace.clmm("word ~ temp + (1|judge)", wine)
    with pytest.raises(ValueError, match="numeric response levels"):
        words.predict(type="mean")


def test_row_blocks_do_not_change_predictions():
    import interlace
    from interlace.rows import row_blocks

    fit = fitted(WINE, "wine")
    whole = fit.predict(re_form="marginal", se_fit=True)
    # the fit's Control.block_rows decides prediction's blocks: 7 rows of 5 x 40 values
    small = interlace.clmm(WINE, dataset("wine"), control=interlace.Control(block_rows=22))
    assert len(row_blocks(72, 22, 5 * 40)) == 11
    blocked = small.predict(re_form="marginal", se_fit=True)
    pd.testing.assert_frame_equal(whole[0], blocked[0])
    pd.testing.assert_frame_equal(whole[1], blocked[1])


def _moved(fit, j, h):
    """The fit with parameter j (thresholds, then coefficients) moved by h."""
    import dataclasses

    tau = dict(fit.threshold_params)
    beta = fit.fe_params.copy()
    if j < len(tau):
        key = list(tau)[j]
        tau[key] += h
    else:
        beta.iloc[j - len(tau)] += h
    return dataclasses.replace(fit, threshold_params=tau, fe_params=beta)


@pytest.mark.parametrize("type, re_form", [("prob", "conditional"), ("cum.prob", "marginal"),
                                           ("mean", "zero")])
def test_covariance_of_predictions_is_the_delta_method(type, re_form):
    """cov=True: J V J' with J the derivatives of every prediction in the threshold
    parameters and coefficients, here by central differences of predict() itself."""
    fit = fitted(WINE, "wine")
    new = dataset("wine").iloc[[0, 9, 40]]
    _, se, cov = fit.predict(new, type=type, re_form=re_form, se_fit=True, cov=True)

    def values(f):
        return np.asarray(f.predict(new, type=type, re_form=re_form)).ravel()

    n_par = len(fit.threshold_params) + len(fit.fe_params)
    h = 1e-6
    jac = np.column_stack([(values(_moved(fit, j, h)) - values(_moved(fit, j, -h))) / (2 * h)
                           for j in range(n_par)])
    v = fit.vcov.to_numpy()[:n_par, :n_par]
    np.testing.assert_allclose(cov.to_numpy(), jac @ v @ jac.T, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(cov.to_numpy())), np.asarray(se).ravel(),
                               rtol=1e-12)
    if type == "prob":
        assert cov.index[1] == (new.index[0], "2")


def test_intervals_stay_inside_and_are_the_link_scale_ones():
    """Cumulative probabilities: F(x -+ z sd(x)) with x = alpha_k - x'beta - z'b, the link
    scale, where the variance of x is [e_k, -x] V [e_k, -x]' (flexible thresholds, modes held
    fixed as the delta method here does). Probabilities and the mean stay in their range."""
    from scipy import stats

    fit = fitted(WINE, "wine")
    wine = dataset("wine")
    new = wine.iloc[[0, 40]]
    cum, lower, upper = fit.predict(new, type="cum.prob", interval=True, level=0.9)
    z = stats.norm.ppf(0.95)
    v = fit.vcov.to_numpy()[:6, :6]
    x_rows = np.column_stack([(new["temp"] == "warm"), (new["contact"] == "yes")]).astype(float)
    b = fit.random_effects["judge"].loc[new["judge"].astype(str), "(Intercept)"].to_numpy()
    for i in range(2):
        for k in range(4):
            j = np.concatenate([np.eye(4)[k], -x_rows[i]])
            x = list(fit.thresholds.values())[k] - x_rows[i] @ fit.fe_params.to_numpy() - b[i]
            sd = np.sqrt(j @ v @ j)
            assert cum.iloc[i, k] == pytest.approx(1 / (1 + np.exp(-x)), rel=1e-10)
            assert lower.iloc[i, k] == pytest.approx(1 / (1 + np.exp(-(x - z * sd))), rel=1e-8)
            assert upper.iloc[i, k] == pytest.approx(1 / (1 + np.exp(-(x + z * sd))), rel=1e-8)
    prob, lo, hi = fit.predict(wine, interval=True, re_form="marginal")
    assert (lo.to_numpy() >= 0).all() and (hi.to_numpy() <= 1).all()
    assert (lo.to_numpy() <= prob.to_numpy()).all() and (prob.to_numpy() <= hi.to_numpy()).all()
    mean, lo, hi = fit.predict(wine, type="mean", interval=True)
    assert (lo >= 1).all() and (hi <= 5).all() and (lo <= mean).all() and (mean <= hi).all()
    lp, se, lo, hi = fit.predict(new, type="linear.predictor", se_fit=True, interval=True)
    np.testing.assert_allclose(hi - lp, stats.norm.ppf(0.975) * se, rtol=1e-12)


def test_re_form_names_that_cannot_be_misread():
    """"zero" is b = 0; "population", its old name, still works with a warning; marginal
    predictions average over the levels and need no grouping column."""
    fit = fitted(WINE, "wine")
    zero = fit.predict(re_form="zero")
    with pytest.warns(FutureWarning, match='re_form="zero"'):
        old = fit.predict(re_form="population")
    pd.testing.assert_frame_equal(zero, old)
    new = dataset("wine").iloc[:3].drop(columns=["judge"])
    marginal = fit.predict(new, re_form="marginal")
    np.testing.assert_allclose(marginal.to_numpy(),
                               fit.predict(dataset("wine").iloc[:3], re_form="marginal"))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['judge'\]"):
        fit.predict(new)
