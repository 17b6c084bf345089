"""clmm() behaviour: optimisers, starting values, inputs, K = 2, and the errors it raises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset, fitted, reference

WINE = "rating ~ temp + contact + (1|judge)"


@pytest.mark.parametrize("formula, data", [
    (WINE, "wine"),
    ("SURENESS ~ PROD + (1 + PROD|RESP)", "soup"),
])
@pytest.mark.parametrize("optimizer", ["lbfgsb", "bobyqa"])
def test_every_optimizer_reaches_the_same_optimum(formula, data, optimizer):
    a = fitted(formula, data)
    b = fitted(formula, data, optimizer=optimizer)
    assert b.converged
    assert b.llf == pytest.approx(a.llf, abs=1e-8)
    np.testing.assert_allclose(b.params.values, a.params.values, atol=1e-6)
    np.testing.assert_allclose(b.theta, a.theta, atol=1e-6)
    np.testing.assert_allclose(b.bse.values, a.bse.values, rtol=1e-5)


def test_theta0_sets_the_start_and_the_optimum_does_not_move():
    a = fitted(WINE, "wine")
    b = interlace.clmm(WINE, dataset("wine"), theta0=[3.0])
    assert b.llf == pytest.approx(a.llf, abs=1e-8)
    with pytest.raises(ValueError, match="theta0 has 2 value.*1 random-effect parameter.*ST1"):
        interlace.clmm(WINE, dataset("wine"), theta0=[1.0, 2.0])


def test_polars_and_pyarrow_give_the_same_fit():
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    wine = dataset("wine")
    a = fitted(WINE, "wine")
    levels = list(wine["rating"].cat.categories)
    polars_table = pl.from_pandas(wine).with_columns(pl.col("rating").cast(pl.Enum(levels)))
    for table in (polars_table, pa.Table.from_pandas(wine)):
        b = interlace.clmm(WINE, table)
        assert b.llf == pytest.approx(a.llf, abs=1e-10)
        np.testing.assert_allclose(b.params.values, a.params.values, atol=1e-8)


def test_the_callers_frame_is_not_modified():
    wine = dataset("wine").copy()
    before = wine.copy()
    interlace.clmm(WINE, wine)
    with pytest.raises(ValueError):
        interlace.clmm("rating ~ nothing + (1|judge)", wine)
    pd.testing.assert_frame_equal(wine, before)


def test_binary_response_is_a_logistic_glmm():
    """K = 2: one threshold, which is minus the intercept of a logistic GLMM."""
    wine = dataset("wine").copy()
    wine["high"] = (wine["rating"].astype(int) >= 3).astype(int)
    fit = interlace.clmm("high ~ temp + contact + (1|judge)", wine)
    assert list(fit.thresholds) == ["0|1"]
    assert fit.converged
    # the same model with its categories reversed flips every sign
    wine["low"] = 1 - wine["high"]
    flipped = interlace.clmm("low ~ temp + contact + (1|judge)", wine)
    assert flipped.llf == pytest.approx(fit.llf, abs=1e-8)
    np.testing.assert_allclose(flipped.fe_params.values, -fit.fe_params.values, atol=1e-6)
    assert flipped.thresholds["0|1"] == pytest.approx(-fit.thresholds["0|1"], abs=1e-6)


def test_numeric_response_levels_sort_numerically():
    wine = dataset("wine").copy()
    wine["score"] = wine["rating"].astype(int) * 10  # 10 < 20 < ... < 50, not "10" < "100"
    fit = interlace.clmm("score ~ temp + contact + (1|judge)", wine)
    assert list(fit.thresholds) == ["10|20", "20|30", "30|40", "40|50"]
    assert fit.llf == pytest.approx(fitted(WINE, "wine").llf, abs=1e-8)


def test_string_response_warns_about_the_order_used():
    wine = dataset("wine").copy()
    wine["rating_text"] = wine["rating"].astype(str)
    with pytest.warns(UserWarning, match=r"sorted order \['1', '2', '3', '4', '5'\]"):
        interlace.clmm("rating_text ~ temp + contact + (1|judge)", wine)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"link": "logistic"}, ValueError, "unknown link"),
    ({"optimizer": "nelder"}, ValueError, "unknown optimizer"),
    ({"threshold": "wiggly"}, ValueError, "unknown threshold"),
    ({"nAGQ": 0}, ValueError, "nAGQ"),
    ({"nAGQ": 1.5}, ValueError, "nAGQ"),
    ({"nAGQ": -1}, ValueError, "nAGQ"),
    ({"weights": "missing"}, ValueError, "weights column 'missing'"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        interlace.clmm(WINE, dataset("wine"), **kwargs)


def test_summary_prints_like_r():
    """Line for line R's, apart from the data line, niter and max.grad (our own work), and
    the coefficient rows, whose standard errors R takes from coarser second differences
    (the tables themselves print as R's, see test_rformat)."""
    fit = fitted(WINE, "wine")
    r_text = reference()["cases"]["wine_judge_logit"]["summary_text"]
    skip = ("data:", " link", " logit", "tempwarm", "contactyes", "1|2", "2|3", "3|4", "4|5")
    ours = [ln for ln in str(fit.summary()).splitlines() if not ln.startswith(skip)]
    theirs = [ln for ln in r_text.splitlines() if not ln.startswith(skip)]
    assert ours == theirs


def test_tidy_lists_every_estimate():
    fit = fitted("SURENESS ~ PROD + (1 + PROD|RESP)", "soup")
    tidy = fit.tidy()
    assert list(tidy.columns) == ["term", "kind", "estimate", "std_error", "statistic",
                                  "p_value", "conf_low", "conf_high"]
    fixed = tidy[tidy["kind"] != "random"]
    np.testing.assert_allclose(fixed["estimate"], fit.params)
    np.testing.assert_allclose(fixed["std_error"], fit.bse)
    np.testing.assert_allclose(fixed["conf_low"], fit.confint()["lower"])
    random = tidy[tidy["kind"] == "random"].set_index("term")["estimate"]
    cov = fit.variance_components["RESP"].to_numpy()
    assert random["sd(PRODTest|RESP)"] == pytest.approx(np.sqrt(cov[1, 1]))
    assert random["cor((Intercept),PRODTest|RESP)"] == pytest.approx(
        cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))


def test_to_dict_is_json_and_pickles_predict():
    import json
    import pickle

    fit = fitted(WINE, "wine")
    again = json.loads(json.dumps(fit.to_dict()))
    assert again["logLik"] == fit.llf
    assert again["variance_components"]["judge"] == fit.variance_components["judge"]
    restored = pickle.loads(pickle.dumps(fit))
    pd.testing.assert_frame_equal(restored.predict(), fit.predict())
    assert str(restored.summary()) == str(fit.summary())


def test_pandas_nullable_dtypes_and_polars_categorical():
    wine = dataset("wine")
    nullable = wine.assign(
        rating=wine["rating"].astype(int).astype("Int64"),
        temp=wine["temp"].astype(str).astype("string"),
        contact=(wine["contact"] == "yes").astype("boolean"),
        judge=wine["judge"].astype(str).astype("string"),
    )
    fit = interlace.clmm("rating ~ temp + contact + (1|judge)", nullable)
    reference = fitted(WINE, "wine")
    assert fit.llf == pytest.approx(reference.llf, abs=1e-8)
    np.testing.assert_allclose(fit.fe_params.values, reference.fe_params.values, atol=1e-6)
    pl = pytest.importorskip("polars")
    table = pl.from_pandas(wine)  # rating becomes an (unordered) polars Categorical
    with pytest.warns(UserWarning, match=r"sorted order \['1', '2', '3', '4', '5'\]"):
        from_polars = interlace.clmm(WINE, table)
    assert from_polars.llf == pytest.approx(reference.llf, abs=1e-8)


SUBSAMPLE_FROM_1000 = interlace.Control(subsample_from=1000)


@pytest.mark.parametrize("formula, kwargs", [
    ("y ~ x + (1|g)", {"n": 9000, "n_groups": 60}),
    ("y ~ x + (1|g) + (1|h)", {"n": 9000, "n_groups": 60, "n_groups2": 15}),
    ("y ~ x + (1 + x|g)", {"n": 9000, "n_groups": 60, "slope_sd": 0.5}),
])
def test_subsample_start_reaches_the_same_optimum(formula, kwargs):
    """Large fits start from a fit to an eighth of the rows (recursively) and finish with
    Newton steps; they must land where the ordinary start (clm, L-BFGS-B) lands."""
    from simdata import simulate

    data = simulate(seed=11, **kwargs)
    plain = interlace.clmm(formula, data)
    fit = interlace.clmm(formula, data, control=SUBSAMPLE_FROM_1000)
    # 9000 rows start from 1125, which start from a sample of their own (whole levels of g:
    # a row sample would keep 2.3 rows per level), unless that sample's fit ends on a bound:
    # then 1125 start as R does
    attempts = fit.optinfo.subsample_starts
    assert len(attempts) == 2 and attempts[-1] == (1125, True, "")
    assert fit.optinfo.start == "fit to a subsample of 1,125 rows"
    assert fit.converged and fit.max_grad < 1e-6
    assert fit.llf == pytest.approx(plain.llf, abs=1e-8)
    np.testing.assert_allclose(fit.params.values, plain.params.values, atol=1e-5)
    np.testing.assert_allclose(fit.theta, plain.theta, atol=1e-5)
    np.testing.assert_allclose(fit.bse.values, plain.bse.values, rtol=1e-4)
    assert fit.n_fev < plain.n_fev


def test_subsample_without_a_category_falls_back_to_the_clm_start():
    from simdata import simulate

    data = simulate(n=3000, n_groups=30, seed=12)
    share = interlace.Control().subsample_share
    sampled = np.random.default_rng(3000).choice(3000, 3000 // share, replace=False)
    top_rows = (data["y"] == "5").to_numpy().nonzero()[0]
    keep = np.setdiff1d(top_rows, sampled)[:2]
    y = data["y"].copy()
    y[np.setdiff1d(top_rows, keep)] = "4"
    data = data.assign(y=y)
    assert (data["y"] == "5").sum() == 2  # both outside the sample
    plain = interlace.clmm("y ~ x + (1|g)", data)
    fit = interlace.clmm("y ~ x + (1|g)", data, control=SUBSAMPLE_FROM_1000)
    assert fit.optinfo.subsample_starts == [(375, False, "a response category is missing")]
    assert fit.converged
    assert fit.llf == pytest.approx(plain.llf, abs=1e-10)


def test_block_secant_update_meets_every_secant_condition():
    """H_new s_i = y_i for all pairs at once, H_new symmetric; an exact quadratic's pairs on a
    full set of directions give back its Hessian."""
    from interlace.optimize.newton import block_secant_update as _block_secant_update

    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    truth = a @ a.T + 6 * np.eye(6)
    guess = np.diag(rng.uniform(1, 20, 6))
    s = rng.standard_normal((6, 3))
    new = _block_secant_update(guess, s, truth @ s)
    np.testing.assert_allclose(new @ s, truth @ s, rtol=1e-10)
    np.testing.assert_allclose(new, new.T, atol=1e-10)
    s_full = rng.standard_normal((6, 6))
    np.testing.assert_allclose(_block_secant_update(guess, s_full, truth @ s_full), truth,
                               rtol=1e-8)


@pytest.mark.parametrize("threshold", ["flexible", "equidistant", "symmetric"])
def test_group_level_directions_shift_every_threshold(threshold):
    """For a random intercept and slope on x: theta's coordinates, the parameter move that
    shifts every threshold by one, and x's coefficient."""
    from interlace.optimize.start import group_level_directions
    from simdata import simulate

    design = interlace.clmm_model("y ~ x + (1 + x|g)", simulate(n=300, seed=1),
                                  threshold=threshold).design
    n_free = design.n_psi + 3
    dirs = group_level_directions(design, n_free)
    assert dirs.shape == (5, n_free)
    np.testing.assert_array_equal(dirs[:3, design.n_psi:], np.eye(3))
    n_tau = design.thresholds.jacobian.shape[1]
    np.testing.assert_allclose(design.thresholds.jacobian @ dirs[3, :n_tau], 1.0, atol=1e-12)
    assert dirs[4, n_tau] == 1.0 and dirs[4].sum() == 1.0


def test_a_start_on_the_bound_does_not_hold_a_standard_deviation_at_zero():
    """Started with the slope's standard deviation at 0, the Newton phase works in R's
    coordinates, which leave a parameter on its bound out; the fit must still notice that
    moving it off 0 lowers the objective and reach the default fit's optimum."""
    from simdata import simulate

    rng = np.random.default_rng(3)
    data = simulate(n=2000, n_groups=40, seed=13)
    slope = rng.normal(0, 0.7, 40)[data["g"].cat.codes.to_numpy()]
    latent_shift = slope * data["x"].to_numpy()
    # re-cut the response with a random slope added to the latent scale
    y = np.clip(data["y"].cat.codes.to_numpy() + np.round(latent_shift).astype(int), 0, 4)
    data = data.assign(y=pd.Categorical.from_codes(y, categories=list("12345"), ordered=True))
    default = interlace.clmm("y ~ x + (1 + x|g)", data)
    assert default.theta[1] > 0.1
    fit = interlace.clmm("y ~ x + (1 + x|g)", data, theta0=[1.0, 0.0, 0.0])
    assert fit.converged
    assert fit.llf == pytest.approx(default.llf, abs=1e-7)
    np.testing.assert_allclose(fit.theta, default.theta, atol=1e-4)


@pytest.mark.parametrize("sd, seed", [(0.0, 21), (0.1, 22), (2.0, 23)])
def test_newton_and_lbfgsb_agree_on_a_single_intercept(sd, seed):
    """The default Newton phase (log sd coordinates) hands a variance heading for zero over to
    L-BFGS-B; with or without that, both optimisers reach the same optimum."""
    from simdata import simulate

    data = simulate(n=400, n_groups=12, sd=sd, seed=seed)
    a = interlace.clmm("y ~ x + (1|g)", data)
    b = interlace.clmm("y ~ x + (1|g)", data, optimizer="lbfgsb")
    assert a.converged and b.converged
    assert a.llf == pytest.approx(b.llf, abs=1e-7)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-3)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog", "loglog", "cauchit"])
@pytest.mark.parametrize("data, formula", [("wine", "rating ~ temp + contact + (1|judge)"),
                                           ("soup", "SURENESS ~ PROD + DAY + (1|RESP)")])
def test_the_fixed_effects_start_stops_for_every_link(link, data, formula):
    """Its absolute stopping rule never triggered for probit (2,385 likelihood evaluations
    on wine); now Newton's decrement at the value's rounding stops it, at the optimum: the
    gradient there is at rounding level."""
    from interlace.intervals import interval_terms
    from interlace.links import get_link
    from interlace.optimize.start import fit_clm

    design = interlace.clmm_model(formula, dataset(data), link=link).design
    result = fit_clm(design, get_link(link))
    assert result.n_evaluations <= 20
    t = interval_terms(get_link(link), *design.fixed.predictors(result.psi))
    w = design.weights
    grad = design.fixed.transpose_times(w * t.p1, -w * t.p2)
    assert np.max(np.abs(grad)) < 1e-6


def test_statsmodels_names_tables_and_odds_ratios():
    """pvalues, tvalues, conf_int, cov_params as statsmodels users type them; the summary's
    tables in Markdown, LaTeX and HTML without optional packages, holding the summary's own
    numbers; odds ratios are exp of the coefficient and its Wald limits."""
    fit = fitted("rating ~ temp + contact + (1|judge)", "wine")
    summary = fit.summary()
    pd.testing.assert_series_equal(fit.pvalues, summary.coefficients["Pr(>|z|)"],
                                   check_names=False)
    np.testing.assert_allclose(fit.tvalues, fit.params / fit.bse)
    pd.testing.assert_frame_equal(fit.conf_int(alpha=0.1), fit.confint(level=0.9))
    assert fit.cov_params() is fit.vcov
    md = summary.as_markdown()
    assert "| tempwarm | 3.0630 | 0.5954 | 5.145 | 2.68e-07 |" in md
    assert "| judge | (Intercept) | 1.279 | 1.131 |" in md
    tex = summary.as_latex()
    assert r"1\textbar{}2" not in tex and r"1$|$2 & -1.6237" in tex
    assert tex.count(r"\begin{tabular}") == 4
    page = fit._repr_html_()
    assert page.count("<table>") == 4 and "<td>tempwarm</td>" in page
    tidy, odds = fit.tidy(), fit.tidy(exponentiate=True)
    fixed = tidy["kind"] == "fixed"
    np.testing.assert_allclose(odds.loc[fixed, "estimate"], np.exp(tidy.loc[fixed, "estimate"]))
    np.testing.assert_allclose(odds.loc[fixed, "conf_high"],
                               np.exp(tidy.loc[fixed, "conf_high"]))
    pd.testing.assert_frame_equal(odds[~fixed], tidy[~fixed])


def test_a_subsample_takes_whole_levels_where_rows_per_level_are_few():
    """Rows are sampled one in eight while that leaves Control.subsample_rows_per_level rows
    per level of the largest factor; below it, whole levels of that factor (every row of a
    sampled level, about one level in eight), so that the sample's SD is the data's."""
    from interlace.optimize.strategy import _sample_rows
    from simdata import simulate

    control = interlace.Control()
    many = interlace.clmm_model("y ~ x + (1|g) + (1|h)",
                                simulate(n=4000, n_groups=50, n_groups2=500, seed=2))
    rows = _sample_rows(many.design, control)  # 4000 / (8 * 500) = 1 row per level of h
    h = next(t for t in many.design.random.terms if t.name == "h")
    assert h.n_levels == 500
    sampled = np.unique(h.index[rows])
    np.testing.assert_array_equal(np.sort(rows), np.flatnonzero(np.isin(h.index, sampled)))
    assert abs(len(sampled) - 500 / 8) < 3 * np.sqrt(500 / 8)
    few = interlace.clmm_model("y ~ x + (1|g)", simulate(n=4000, n_groups=50, seed=2))
    rows = _sample_rows(few.design, control)  # 10 rows per level: a row sample
    assert len(rows) == 500 and len(np.unique(rows)) == 500
    rows = _sample_rows(few.design, interlace.Control(subsample_rows_per_level=11))
    g = few.design.random.terms[0].index
    np.testing.assert_array_equal(rows, np.flatnonzero(np.isin(g, np.unique(g[rows]))))
