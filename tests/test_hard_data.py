"""Hard data: fits that converge, or say plainly that they did not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset
from simdata import simulate


def increasing(fit):
    return np.all(np.diff(list(fit.thresholds.values())) > 0)


def test_complete_separation_is_reported_not_returned_quietly():
    wine = dataset("wine").copy()
    wine["sep"] = (wine["rating"].astype(int) >= 4).astype(float)
    with pytest.warns(interlace.ConvergenceWarning, match=r"'sep'.*not identified"):
        fit = interlace.clmm("rating ~ temp + sep + (1|judge)", wine)
    assert not fit.converged
    assert "did not converge" in str(fit.summary())


def squeeze(df, level, into, keep):
    """Move all but ``keep`` observations of category ``level`` into category ``into``."""
    rows = np.flatnonzero(df["y"] == level)[keep:]
    y = df["y"].copy()
    y.iloc[rows] = into
    return df.assign(y=y)


def test_a_category_with_a_single_observation():
    df = squeeze(simulate(n=300, seed=1), "5", "4", keep=1)
    assert (df["y"] == "5").sum() == 1
    fit = interlace.clmm("y ~ x + (1|g)", df)
    assert fit.converged and increasing(fit)


def test_ten_categories_with_sparse_extremes():
    df = simulate(n=400, thresholds=(-4.0, -2.2, -1.2, -0.4, 0.3, 1.0, 1.8, 2.8, 4.2), seed=2)
    df = squeeze(squeeze(df, "1", "2", keep=2), "10", "9", keep=2)
    counts = df["y"].value_counts()
    assert counts["1"] == 2 and counts["10"] == 2
    fit = interlace.clmm("y ~ x + (1|g)", df)
    assert fit.converged and increasing(fit)
    assert len(fit.thresholds) == 9


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_covariate_scale_does_not_matter(scale):
    df = simulate(seed=3)
    base = interlace.clmm("y ~ x + (1|g)", df)
    scaled = interlace.clmm("y ~ x + (1|g)", df.assign(x=df["x"] * scale))
    assert scaled.converged
    assert scaled.llf == pytest.approx(base.llf, abs=1e-7)
    assert scaled.fe_params["x"] * scale == pytest.approx(base.fe_params["x"], rel=1e-6)
    assert scaled.fe_bse["x"] * scale == pytest.approx(base.fe_bse["x"], rel=1e-4)


def test_groups_with_a_single_observation_each():
    df = simulate(n=150, n_groups=10, seed=4, n_groups2=150)  # h: ~one row per level
    df = df.drop_duplicates("h")
    with pytest.warns(UserWarning, match="random effects for"):
        fit = interlace.clmm("y ~ x + (1|g) + (1|h)", df)
    assert np.all(np.isfinite(fit.fe_bse)) or not fit.converged


def test_two_levels_per_factor():
    df = simulate(n=200, n_groups=2, seed=5)
    fit = interlace.clmm("y ~ x + (1|g)", df)
    assert fit.ngroups == {"g": 2}
    assert np.all(np.isfinite(fit.fe_bse)) and increasing(fit)


def test_inner_newton_halves_its_step_and_still_finds_the_mode():
    """A huge variance and a start at u = 0 overshoot with full Newton steps."""
    df = simulate(n=200, n_groups=10, sd=3.0, seed=6)
    model = interlace.clmm_model("y ~ x + (1|g)", df, link="cauchit")
    design, objective = model.design, model.objective
    phi = np.array([-1.5, -0.3, 0.8, 2.0, 0.8, 25.0])
    modes = objective.conditional_modes(phi)
    assert objective.n_halvings > 0
    assert modes.converged
    # the mode: the gradient of h vanishes there
    values = design.random.values(phi[-1:])
    t = modes.terms
    grad = objective._at_times(values, design.weights * (t.p1 - t.p2)) + modes.u
    assert np.max(np.abs(grad)) < 1e-6


def test_starting_values_far_off_reach_the_same_optimum():
    df = simulate(seed=7)
    base = interlace.clmm("y ~ x + (1|g)", df)
    far = interlace.clmm("y ~ x + (1|g)", df, theta0=[40.0])
    assert far.converged
    assert far.llf == pytest.approx(base.llf, abs=1e-7)
    np.testing.assert_allclose(far.params, base.params, atol=1e-5)


def test_singular_fit_is_flagged_with_finite_standard_errors():
    fit = interlace.clmm("rating ~ temp + contact + (1|judge) + (1|bottle)", dataset("wine"))
    assert fit.is_singular
    assert fit.converged
    assert np.all(np.isfinite(fit.bse))
    assert "singular fit" in str(fit.summary())
    assert not interlace.clmm("rating ~ temp + contact + (1|judge)", dataset("wine")).is_singular


def test_convergence_failure_warns_and_is_recorded():
    """An optimiser stopped after two iterations, with no polish or restart after it, must
    not pass for a fit."""
    control = interlace.Control(lbfgsb_maxiter=2, max_newton_steps=0, max_restarts=0)
    with pytest.warns(interlace.ConvergenceWarning, match="optimiser reported"):
        fit = interlace.clmm("rating ~ temp + contact + (1|judge)", dataset("wine"),
                             optimizer="lbfgsb", control=control)
    assert not fit.converged
    assert fit.max_grad > 1e-4
    assert "lbfgsb: 2 iterations" in str(fit.optinfo)
    assert "NOT converged" in str(fit.summary(verbose=True))


def test_nobs_counts_rows_used():
    df = simulate(seed=8)
    df.loc[:9, "x"] = np.nan
    with pytest.warns(UserWarning, match="dropping 10 row"):
        fit = interlace.clmm("y ~ x + (1|g)", df)
    assert fit.nobs == len(df) - 10
    assert isinstance(df, pd.DataFrame)


@pytest.mark.parametrize("formula, kwargs, link", [
    ("y ~ x + (1 + x|g)", {"n": 150, "n_groups": 8, "sd": 0.0, "seed": 58}, "cloglog"),
    ("y ~ x + (1|g) + (1|h)", {"n": 1500, "n_groups": 3, "sd": 3.0, "seed": 25, "n_groups2": 5},
     "loglog"),
])
def test_an_optimiser_step_into_an_impossible_region_is_survived(formula, kwargs, link):
    """L-BFGS-B stepped where the conditional modes cannot be found (the objective is +inf
    there), stopped, and the inner solve's warm start was left broken: the fit raised
    NotPositiveDefinite. The optimiser's best finite point is kept and a failed warm start
    is retried from u = 0; both optimisers reach the same optimum."""
    data = simulate(**kwargs)
    a = interlace.clmm(formula, data, link=link, optimizer="lbfgsb")
    b = interlace.clmm(formula, data, link=link)
    assert a.converged and b.converged
    assert a.llf == pytest.approx(b.llf, abs=1e-7)
