"""The parametric bootstrap: the null distribution of a variance component's LR statistic
against its known asymptotic law (half 0, half chi-square(1)), reproducibility across n_jobs,
percentile intervals."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset, fitted

WINE = "rating ~ temp + contact + (1|judge)"


def test_the_null_of_a_variance_component_is_the_boundary_mixture():
    """Data with no group effect: the bootstrap LR statistics (simulated from the clm fit,
    refitted with and without (1|g)) are 0 about half the time and above 2.71 (the mixture's
    95% point) about 5% of the time; 80 simulations, binomial margins of 3 SE."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=600)
    y = np.digitize(0.8 * x + rng.logistic(size=600), [-1.0, 0.5, 2.0])
    df = pd.DataFrame({"y": y, "x": x, "g": np.arange(600) % 30})
    small = interlace.clm("y ~ x", df)
    large = interlace.clmm("y ~ x + (1|g)", df)
    result = interlace.bootstrap_lrt(small, large, nsim=80, seed=2)
    assert result.n_failed == 0 and len(result.simulated) == 80
    at_zero = np.mean(result.simulated < 1e-6)
    assert abs(at_zero - 0.5) < 3 * np.sqrt(0.25 / 80)
    assert np.mean(result.simulated > 2.706) < 0.05 + 3 * np.sqrt(0.05 * 0.95 / 80)
    expected_p = (1 + np.sum(result.simulated >= result.statistic - 1e-8)) / 81
    assert result.p_value == pytest.approx(expected_p)


def test_the_same_seed_gives_the_same_answer_on_any_number_of_processes():
    small = interlace.clm("rating ~ temp + contact", dataset("wine"))
    large = fitted(WINE, "wine")
    one = interlace.bootstrap_lrt(small, large, nsim=12, seed=5)
    two = interlace.bootstrap_lrt(large, small, nsim=12, seed=5, n_jobs=2)  # order too
    np.testing.assert_array_equal(one.simulated, two.simulated)
    assert one.statistic == pytest.approx(2 * (large.llf - small.llf))


def test_percentile_intervals_of_every_estimate():
    fit = fitted(WINE, "wine")
    table = fit.bootstrap(nsim=30, seed=1)
    assert list(table.index) == list(fit.params.index) + ["sd((Intercept)|judge)"]
    assert (table["lower"] <= table["upper"]).all()
    draws = table.attrs["draws"]
    # the refits left out are the simulations with an empty category (72 rows, rare ends)
    sims = fit.simulate(nsim=30, seed=1, re_form="new")
    empty = sum(np.bincount(sims[c].cat.codes, minlength=5).min() == 0 for c in sims.columns)
    assert table.attrs["n_failed"] == empty and draws.shape == (30 - empty, 7)
    np.testing.assert_allclose(table["upper"], np.quantile(draws, 0.975, axis=0))
    with pytest.raises(ValueError, match="n_jobs"):
        fit.bootstrap(nsim=2, n_jobs=0)
    with pytest.raises(ValueError, match="needs the fit itself"):
        pickle.loads(pickle.dumps(fit)).bootstrap(nsim=2)


def test_a_bootstrap_without_one_successful_refit_says_so():
    """Refits under a control that stops before convergence all fail: an error, not a table
    of NaN quantiles; and a coverage outside (0, 1) is refused here as for every level=."""
    with pytest.warns(UserWarning):
        stopped = interlace.clmm(WINE, dataset("wine"),
                                 control=interlace.Control(lbfgsb_maxiter=1, max_restarts=0,
                                                           max_newton_steps=0))
    assert not stopped.converged
    with pytest.raises(ValueError, match="all 3 bootstrap refits failed"):
        stopped.bootstrap(nsim=3, seed=1)
    fit = fitted(WINE, "wine")
    with pytest.raises(ValueError, match="level must be a number between 0 and 1"):
        fit.bootstrap(nsim=2, level=1.5)
    with pytest.raises(ValueError, match="level must be a number between 0 and 1"):
        fit.emmeans("temp", level=95)
