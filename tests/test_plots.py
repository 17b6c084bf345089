"""Pictures: rendered on the Agg backend, checked by their content."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from conftest import fitted

matplotlib.use("Agg")

WINE = "rating ~ temp + contact + (1|judge)"


def test_caterpillar_plot_shows_every_level_sorted_with_intervals():
    fit = fitted(WINE, "wine")
    fig = fit.plot_ranef("judge")
    ax = fig.axes[0]
    points = ax.lines[0].get_xdata()
    assert len(points) == 9
    assert np.all(np.diff(points) >= 0)  # sorted
    np.testing.assert_allclose(np.sort(points), np.sort(fit.random_effects["judge"].iloc[:, 0]))
    assert ax.get_title() == "judge"
    assert len(ax.collections) >= 1  # the error bars
    fig.savefig(_tmp_png())


def test_random_slopes_get_a_panel_per_term():
    fit = fitted("SURENESS ~ PROD + (1 + PROD|RESP)", "soup")
    fig = fit.plot_ranef()
    assert len(fig.axes) == 2
    assert len(fig.axes[1].lines[0].get_xdata()) == 185


@pytest.mark.parametrize("re_form", ["zero", "marginal"])
def test_effects_plot_has_a_line_per_category(re_form):
    fit = fitted(WINE, "wine")
    fig = fit.plot_effects("contact", re_form=re_form)
    ax = fig.axes[0]
    assert len(ax.lines) == 5
    assert [t.get_text() for t in ax.get_xticklabels()] == ["no", "yes"]
    heights = np.array([line.get_ydata() for line in ax.lines])
    np.testing.assert_allclose(heights.sum(axis=0), 1.0, atol=1e-10)
    with pytest.raises(ValueError, match="not a fixed-effect variable"):
        fit.plot_effects("judge")


def test_effects_of_a_numeric_variable_are_a_curve():
    import interlace
    from simdata import simulate

    fit = interlace.clmm("y ~ x + (1|g)", simulate(seed=11))
    ax = fit.plot_effects("x").axes[0]
    assert len(ax.lines) == 5 and len(ax.lines[0].get_xdata()) == 60


def _tmp_png():
    import tempfile

    return tempfile.NamedTemporaryFile(suffix=".png", delete=False).name


def test_effects_plot_with_an_offset_and_a_slope_outside_the_fixed_part():
    """The plot's new data lacked the offset's column and the slope's covariate (a raw
    KeyError); they now stand at their mean, and the curves are the predictions there."""
    import interlace
    from conftest import dataset

    df = dataset("wine").assign(x=np.sin(np.arange(72.0)), z=np.cos(np.arange(72.0)))
    fit = interlace.clmm("rating ~ temp + offset(0.5 * z) + (1 + x|judge)", df)
    fig = fit.plot_effects("temp", re_form="marginal")
    ax = fig.axes[0]
    lines = [line.get_ydata() for line in ax.lines]
    assert len(lines) == 5
    new = pd.DataFrame({"temp": ["cold", "warm"], "z": df["z"].mean(), "x": df["x"].mean(),
                        "judge": "(new)"})
    expected = fit.predict(new, re_form="marginal")  # a new judge: averaged over judges
    np.testing.assert_allclose(np.array(lines).T, expected.to_numpy(), atol=1e-12)
    fig.savefig(_tmp_png())


def test_effects_plots_carry_the_prediction_intervals():
    """Bands along a numeric variable, error bars at a factor's levels: the limits of
    predict(interval=True) there; the caption says how the rest is held."""
    import interlace
    from simdata import simulate

    fit = interlace.clmm("y ~ x + (1|g)", simulate(seed=11))
    ax = fit.plot_effects("x", level=0.9).axes[0]
    assert len(ax.collections) == 5  # one band per category
    band = ax.collections[0].get_paths()[0].vertices
    _, lo, hi = fit.model.column_ranges["x"]
    new = pd.DataFrame({"x": np.linspace(lo, hi, 60), "g": "(new)"})
    with pytest.warns(UserWarning):
        _, lower, upper = fit.predict(new, interval=True, level=0.9)
    assert band[:, 1].min() == pytest.approx(min(lower["1"].min(), upper["1"].min()), abs=1e-12)
    assert band[:, 1].max() == pytest.approx(upper["1"].max(), abs=1e-12)
    wine_fit = fitted(WINE, "wine")
    ax = wine_fit.plot_effects("temp", re_form="marginal").axes[0]
    bars = [c for c in ax.collections if c.get_segments()]
    assert len(bars) == 5 and all(len(b.get_segments()) == 2 for b in bars)
    assert "contact = no" in ax.get_title() and "averaged over the random effects" in ax.get_title()
    assert ax.get_legend().get_title().get_text() == "rating"


def test_caterpillar_panels_share_one_order_and_stay_readable():
    """Intercept and slope panels of one factor list the levels in one order (the
    intercepts'); 185 levels: a bounded figure, at most 40 labels; top=N draws intervals for
    the N highest and lowest only; ax= takes one Axes per term."""
    import matplotlib.pyplot as plt

    fit = fitted("SURENESS ~ PROD + (1 + PROD|RESP)", "soup")
    fig = fit.plot_ranef()
    intercept, slope = fig.axes
    modes = fit.random_effects["RESP"]
    order = np.argsort(modes.iloc[:, 0].to_numpy(), kind="stable")
    np.testing.assert_allclose(intercept.lines[0].get_xdata(), modes.iloc[:, 0].to_numpy()[order])
    np.testing.assert_allclose(slope.lines[0].get_xdata(), modes.iloc[:, 1].to_numpy()[order])
    assert fig.get_size_inches()[1] <= 12
    assert len(intercept.get_yticklabels()) <= 40
    fig = fit.plot_ranef(top=10)
    assert len(fig.axes[0].lines[0].get_xdata()) == 20
    assert len(fig.axes[0].lines[1].get_xdata()) == 185 - 20  # the rest as dots
    _, axes = plt.subplots(1, 2)
    assert fit.plot_ranef(ax=axes).axes[1] is axes[1]
    with pytest.raises(ValueError, match="2 terms, so ax must be 2 Axes"):
        fit.plot_ranef(ax=axes[0])
    plt.close("all")


def test_latent_picture_puts_the_cut_points_and_densities_where_the_model_does():
    """The area of each density between consecutive cut-points is the category probability
    with b = 0 (trapezoid rule on the plotted curve)."""
    fit = fitted(WINE, "wine")
    new = dataset_rows([0, 40])
    ax = fit.plot_latent(new).axes[0]
    cuts = [line.get_xdata()[0] for line in ax.lines[2:]]
    np.testing.assert_allclose(cuts, list(fit.thresholds.values()))
    prob = fit.predict(new, re_form="zero").to_numpy()
    for row, line in enumerate(ax.lines[:2]):
        x, y = line.get_xdata(), line.get_ydata()
        edges = np.concatenate([[-np.inf], cuts, [np.inf]])
        for k in range(5):
            inside = (x >= edges[k]) & (x <= edges[k + 1])
            area = np.trapezoid(y[inside], x[inside])
            assert area == pytest.approx(prob[row, k], abs=0.02)


def dataset_rows(rows):
    from conftest import dataset

    return dataset("wine").iloc[rows]


def test_effects_by_a_second_variable_and_stacked():
    """by=: a panel per level, each holding that level (its curves are the predictions
    there); kind="stacked": the layers' tops are the cumulative probabilities."""
    import interlace
    from simdata import simulate

    fit = fitted(WINE, "wine")
    fig = fit.plot_effects("temp", by="contact", re_form="marginal")
    assert len(fig.axes) == 2 and fig.axes[1].get_title().startswith("contact = yes")
    assert fig.axes[1].get_title().count("contact") == 1  # named once, not again as held
    yes = pd.DataFrame({"temp": ["cold", "warm"], "contact": "yes", "judge": "x"})
    expected = fit.predict(yes, re_form="marginal")
    np.testing.assert_allclose([line.get_ydata() for line in fig.axes[1].lines[:5]],
                               expected.to_numpy().T, atol=1e-12)
    numeric = interlace.clmm("y ~ x + (1|g)", simulate(seed=11))
    ax = numeric.plot_effects("x", kind="stacked").axes[0]
    top = ax.collections[-1].get_paths()[0].vertices[:, 1]
    assert top.max() == pytest.approx(1.0, abs=1e-9)  # the last layer reaches 1
    bars = fit.plot_effects("temp", kind="stacked").axes[0].patches
    assert len(bars) == 10  # 2 temperatures x 5 ratings
    with pytest.raises(ValueError, match="kind must be"):
        fit.plot_effects("temp", kind="pie")


def test_latent_picture_by_default_is_the_first_fitting_row_s():
    """Without newdata the density is the first fitting row's (here warm with contact, so
    its location is not 0): the same curve as for that row passed as newdata."""
    import interlace
    from conftest import dataset

    data = dataset("wine").iloc[::-1]
    fit = interlace.clmm(WINE, data)
    default = fit.plot_latent().axes[0].lines[0]
    given = fit.plot_latent(data.iloc[[0]]).axes[0].lines[0]
    assert fit.predict(data.iloc[[0]], type="linear.predictor", re_form="zero").iloc[0] > 4
    np.testing.assert_allclose(default.get_xydata(), given.get_xydata(), atol=1e-12)


def test_effects_of_a_nominal_variable_follow_its_thresholds_and_latent_refuses():
    """The effects plot draws predict()'s probabilities, which carry the nominal thresholds
    and the scale; the latent picture of one row has that row's cut-points and spread (the
    areas between them are its probabilities), and takes one row at a time."""
    import interlace

    wine = interlace.load_wine()
    fit = interlace.clmm("rating ~ temp + (1|judge)", wine, nominal="~ contact",
                         scale="~ temp")
    ax = fit.plot_effects("contact").axes[0]
    heights = np.array([line.get_ydata() for line in ax.lines])  # (categories, levels)
    grid = pd.DataFrame({"temp": pd.Categorical(["cold", "cold"], categories=["cold", "warm"]),
                         "contact": pd.Categorical(["no", "yes"], categories=["no", "yes"])})
    expected = fit.predict(grid, re_form="zero").to_numpy().T
    np.testing.assert_allclose(heights, expected, atol=1e-10)
    row = wine.iloc[[40]]
    ax = fit.plot_latent(row).axes[0]
    cuts = [line.get_xdata()[0] for line in ax.lines[1:]]
    theta = fit.thresholds.set_index("contact").loc[row["contact"].iloc[0]].to_numpy(float)
    np.testing.assert_allclose(cuts, theta)
    x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])
    prob = fit.predict(row, re_form="zero").to_numpy()[0]
    for k in range(5):
        inside = (x >= edges[k]) & (x <= edges[k + 1])
        assert np.trapezoid(y[inside], x[inside]) == pytest.approx(prob[k], abs=0.02)
    with pytest.raises(ValueError, match="one row at a time"):
        fit.plot_latent(wine.iloc[[0, 40]])
