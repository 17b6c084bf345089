"""simulate(): the frequencies of simulated categories against the model's own probabilities
(closed forms: predict with the matching re_form), reproducibility, new levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import dataset, fitted

WINE = "rating ~ temp + contact + (1|judge)"
NSIM = 4000


def frequencies(sims: pd.DataFrame, levels) -> np.ndarray:
    """(rows, K): the share of simulations in each category."""
    codes = np.column_stack([sims[c].cat.codes.to_numpy() for c in sims.columns])
    return np.stack([(codes == k).mean(axis=1) for k in range(len(levels))], axis=1)


def assert_within_monte_carlo(freq, prob, nsim):
    """Every row and category within 5 Monte Carlo standard errors (360 comparisons: a
    false alarm has probability below 1e-4)."""
    se = np.sqrt(np.maximum(prob * (1 - prob), 1e-12) / nsim)
    assert np.all(np.abs(freq - prob) <= 5 * se + 1e-12), np.max(np.abs(freq - prob) / se)


@pytest.mark.parametrize("re_form, predicted", [
    ("conditional", "conditional"),  # the modes: predict()'s conditional probabilities
    (None, "zero"),  # b = 0
    ("new", "marginal"),  # b ~ N(0, Sigma): the population-averaged probabilities
])
def test_simulated_frequencies_are_the_model_s_probabilities(re_form, predicted):
    fit = fitted(WINE, "wine")
    sims = fit.simulate(nsim=NSIM, seed=7, re_form=re_form)
    assert list(sims.columns[:2]) == ["sim_1", "sim_2"] and sims.shape == (72, NSIM)
    assert sims["sim_1"].cat.ordered
    assert list(sims["sim_1"].cat.categories) == fit.response_levels
    prob = fit.predict(re_form=predicted).to_numpy()
    assert_within_monte_carlo(frequencies(sims, fit.response_levels), prob, NSIM)


def test_new_random_effects_are_shared_within_a_level_and_drawn_per_simulation():
    """With re_form="new" the rows of one judge share a draw, so they are correlated across
    simulations (the latent intra-judge correlation is 1.28 / (1.28 + pi^2/3) = 0.28; the
    categories' is lower), while rows of different judges are independent (correlation 0,
    Monte Carlo SE about 0.016 per pair)."""
    fit = fitted(WINE, "wine")
    sims = fit.simulate(nsim=NSIM, seed=3, re_form="new")
    codes = np.column_stack([sims[c].cat.codes for c in sims.columns]).astype(float)
    judge = dataset("wine")["judge"].to_numpy()
    same = [i for i in range(1, 72) if judge[i] == judge[0]]
    other = [i for i in range(1, 72) if judge[i] != judge[0]]
    within = np.mean([np.corrcoef(codes[0], codes[i])[0, 1] for i in same])
    between = np.mean([np.corrcoef(codes[0], codes[i])[0, 1] for i in other])
    assert within > 0.15 and abs(between) < 0.05


def test_the_same_seed_gives_the_same_draws():
    fit = fitted(WINE, "wine")
    a = fit.simulate(nsim=5, seed=11, re_form="new")
    b = fit.simulate(nsim=5, seed=11, re_form="new")
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(fit.simulate(nsim=5, seed=12, re_form="new"))
    rng = np.random.default_rng(11)
    pd.testing.assert_frame_equal(fit.simulate(nsim=5, seed=rng, re_form="new"), a)


def test_newdata_and_its_new_levels():
    fit = fitted(WINE, "wine")
    new = dataset("wine").iloc[:4].copy()
    new.index = ["a", "b", "c", "d"]
    new["judge"] = new["judge"].cat.add_categories(["new"])
    new.iloc[0, new.columns.get_loc("judge")] = "new"
    with pytest.warns(UserWarning, match="not seen in fitting"):
        sims = fit.simulate(nsim=NSIM, seed=5, newdata=new)
    assert list(sims.index) == ["a", "b", "c", "d"]
    with pytest.warns(UserWarning):
        prob = fit.predict(new).to_numpy()  # b = 0 for the new judge
    assert_within_monte_carlo(frequencies(sims, fit.response_levels), prob, NSIM)
    # with new random effects, the new judge gets its own draws: marginal probabilities
    sims = fit.simulate(nsim=NSIM, seed=5, newdata=new, re_form="new")
    assert_within_monte_carlo(frequencies(sims, fit.response_levels),
                              fit.predict(new, re_form="marginal").to_numpy(), NSIM)


@pytest.mark.parametrize("kwargs, error", [
    ({"nsim": 0}, ValueError), ({"re_form": "marginal"}, ValueError),
    ({"seed": "x"}, TypeError),
])
def test_bad_arguments_are_named(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        fitted(WINE, "wine").simulate(**kwargs)
