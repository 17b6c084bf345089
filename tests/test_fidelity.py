"""Inputs that used to give a silent wrong answer or a raw traceback (issue 10): each test
checks a class of input against an independent answer (a closed form, the same model
written another way, or the fit to the rows it should equal)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from simdata import simulate

WINE = "rating ~ temp + contact + (1|judge)"


def quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return interlace.clmm(*args, **kwargs)


@pytest.fixture(scope="module")
def wine():
    return interlace.load_wine()


@pytest.fixture(scope="module")
def wine_fit(wine):
    return interlace.clmm(WINE, wine)


# -- prediction lines up with the data's rows -----------------------------------------------

def test_fitted_predictions_carry_the_data_s_row_labels(wine):
    """Shuffled rows, a non-default index and rows dropped for missing values: predict()
    returns the fitted rows under their own labels, equal to predicting those rows."""
    data = wine.sample(frac=1.0, random_state=3).set_index(
        pd.Index([f"r{i}" for i in range(len(wine))]))
    data["contact"] = data["contact"].astype(object)
    data.loc[data.index[[2, 7, 30]], "contact"] = None
    fit = quiet_fit(WINE, data)
    p = fit.predict()
    kept = data.dropna(subset=["contact"])
    assert list(p.index) == list(kept.index)
    np.testing.assert_allclose(p.to_numpy(), fit.predict(kept).to_numpy(), atol=1e-12)
    # assigning back puts each row's probabilities on its own row
    back = data.assign(p1=p["1"])
    np.testing.assert_allclose(back.loc[kept.index, "p1"], p["1"].to_numpy())


# -- R's arithmetic ------------------------------------------------------------------------

def test_power_inside_I_is_a_power_not_xor():
    df = simulate(seed=4)
    df["k"] = np.arange(len(df)) % 5  # integers, where Python's ^ is XOR
    df["k2"] = df["k"] ** 2
    a = quiet_fit("y ~ I(k^2) + (1|g)", df)
    b = quiet_fit("y ~ k2 + (1|g)", df)
    assert list(a.fe_params.index) == ["I(k^2)"]
    assert a.llf == pytest.approx(b.llf, abs=1e-9)
    assert a.fe_params.iloc[0] == pytest.approx(b.fe_params.iloc[0], rel=1e-6)
    # and inside any call, and in offsets: R's arithmetic, not Python's
    c = quiet_fit("y ~ sqrt(k^2 + 1) + offset(k %% 2) + (1|g)", df)
    df["s"], df["o"] = np.sqrt(df["k"] ** 2 + 1), df["k"] % 2
    d = quiet_fit("y ~ s + offset(o) + (1|g)", df)
    assert c.llf == pytest.approx(d.llf, abs=1e-9)


@pytest.mark.parametrize("formula, message", [
    ("y ~ x %% 2 + (1|g)", "inside I()"),
    ("y ~ x + (1|g) + (", "unbalanced"),
    ("y ~ x + foo(x) + (1|g)", "unknown function foo()"),
    ("y ~ x + f(x, 'a') + (1|g)", r"unknown function f\(\)"),
    ("y ~ I(x + 'a') + (1|g)", "read only as relevel"),
    ("y ~ x + [1] + (1|g)", "cannot read"),
    # R's habits we do not read say what to do instead
    ("y ~ cut(x, 3) + (1|g)", r"unknown function cut\(\).*pd.cut"),
    ("y ~ x + (1|interaction(g, f))", r"unknown function interaction\(\).*a:b"),
])
def test_formula_errors_are_one_plain_line(formula, message):
    with pytest.raises(ValueError, match=message) as err:
        interlace.clmm(formula, simulate(seed=1))
    text = str(err.value)
    assert "\n" not in text and "\x1b" not in text


INJECTIONS = [
    "__import__('os').system('touch {m}')",
    "x + open('{m}', 'w').close()",
    "x.__class__",
    "eval(x)",
    "x[0]",
    "`x`.real",
    "exec(x)",
]


@pytest.mark.parametrize("code", INJECTIONS)
@pytest.mark.parametrize("where", ["fixed", "response", "slope", "group", "offset", "random="])
def test_python_smuggled_into_a_formula_never_runs(tmp_path, code, where):
    marker = tmp_path / "ran"
    code = code.format(m=marker)
    formula, kwargs = {
        "fixed": (f"y ~ {code} + (1|g)", {}),
        "response": (f"{code} ~ x + (1|g)", {}),
        "slope": (f"y ~ x + (1 + {code}|g)", {}),
        "group": (f"y ~ x + (1|{code})", {}),
        "offset": (f"y ~ x + offset({code}) + (1|g)", {}),
        "random=": ("y ~ x", {"random": [f"(1 + {code}|g)"]}),
    }[where]
    with pytest.raises((ValueError, TypeError)):
        interlace.clmm(formula, simulate(seed=1), **kwargs)
    assert not marker.exists()


def test_python_smuggled_through_the_command_line_never_runs(tmp_path):
    from interlace import cli

    marker = tmp_path / "ran"
    simulate(seed=1).to_csv(tmp_path / "d.csv", index=False)
    status = cli.main(["clmm", "--data", str(tmp_path / "d.csv"), "--formula",
                       f"y ~ x + __import__('os').system('touch {marker}') + (1|g)"])
    assert status == 2 and not marker.exists()


@pytest.mark.parametrize("name", ["log", "C", "I", "scale", "center", "poly", "factor"])
def test_a_column_named_like_a_function_is_a_column(name):
    df = simulate(seed=5)
    plain = quiet_fit("y ~ x + (1|g)", df)
    fit = quiet_fit(f"y ~ {name} + (1|g)", df.rename(columns={"x": name}))
    assert list(fit.fe_params.index) == [name]
    assert fit.llf == pytest.approx(plain.llf, abs=1e-10)


def test_columns_named_like_functions_dotted_and_backticked():
    df = simulate(seed=5)
    renamed = df.rename(columns={"x": "log", "g": "judge id"})
    renamed["C"], renamed["my.x"] = np.exp(df["x"]) + 1, df["x"] ** 2
    fit = quiet_fit("y ~ log + C + my.x + log(C) + (1 + log|`judge id`)", renamed)
    assert list(fit.fe_params.index) == ["log", "C", "my.x", "log(C)"]
    assert list(fit.random_effects) == ["judge id"]
    df["c2"], df["x2"] = np.exp(df["x"]) + 1, df["x"] ** 2
    df["lc"] = np.log(df["c2"])
    same = quiet_fit("y ~ x + c2 + x2 + lc + (1 + x|g)", df)
    assert fit.llf == pytest.approx(same.llf, abs=1e-8)


def test_ordered_in_the_response_takes_r_s_order_without_a_warning():
    df = simulate(seed=6)
    df["y"] = df["y"].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = interlace.clmm("ordered(y) ~ x + (1|g)", df)
    assert fit.response_levels == sorted(df["y"].unique(), key=float)


# -- random effects ----------------------------------------------------------------------

def test_random_slope_units_do_not_change_the_fit():
    """x times 1e-6 in a random slope ended at a worse optimum, reported converged: the
    slope's covariate is held per SD inside the fit and reported in the data's units."""
    df = simulate(n=1500, n_groups=30, sd=1.0, slope_sd=0.8, seed=11)
    base = quiet_fit("y ~ x + (1 + x|g)", df)
    small = df.assign(x=df["x"] * 1e-6)
    fit = quiet_fit("y ~ x + (1 + x|g)", small)
    assert base.converged and fit.converged
    assert fit.llf == pytest.approx(base.llf, abs=1e-7)
    scale = np.diag([1.0, 1e6])
    np.testing.assert_allclose(fit.variance_components["g"].to_numpy(),
                               scale @ base.variance_components["g"].to_numpy() @ scale,
                               rtol=1e-5)
    np.testing.assert_allclose(fit.random_effects["g"]["x"], base.random_effects["g"]["x"] * 1e6,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.predict(small), base.predict(df), atol=1e-7)
    # theta0 is in the data's units too
    again = quiet_fit("y ~ x + (1 + x|g)", small, theta0=fit.theta)
    assert again.llf == pytest.approx(fit.llf, abs=1e-8)


def test_a_slope_perfectly_correlated_with_its_intercept_is_singular():
    """L's second diagonal entry 0 (correlation 1) is on the boundary: is_singular, and the
    summary says so, by the same rule the Hessian uses (the old rule, an SD below 1e-4,
    missed it). Data with correlation 1 in truth and 12 groups: the fit lands on the
    boundary (it does for 10 of the first 12 seeds)."""
    rng = np.random.default_rng(0)
    n_groups, per = 12, 30
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    b = rng.normal(size=n_groups)
    latent = 0.5 * x + b[g] + 0.8 * b[g] * x + rng.logistic(size=g.size)
    df = pd.DataFrame({"y": np.digitize(latent, [-1, 0.5, 2]), "x": x, "g": g})
    fit = quiet_fit("y ~ x + (1 + x|g)", df)
    L22 = fit.theta[1] * np.std(x)  # per SD of x, as the boundary rule judges it
    assert L22 < 1e-3
    cov = fit.variance_components["g"].to_numpy()
    assert abs(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])) > 0.999
    assert fit.is_singular
    assert "singular fit" in str(fit.summary())


def test_new_levels_of_a_random_slope_factor_are_refused(wine):
    fit = quiet_fit("rating ~ contact + (1 + temp|judge)", wine)
    new = wine.iloc[:3].copy()
    new["temp"] = pd.Categorical(["hot", "cold", "warm"])
    with pytest.raises(ValueError, match=r"'temp' has level\(s\) \['hot'\]"):
        fit.predict(new)
    df = wine.assign(n=np.arange(len(wine)) % 3)
    fit = quiet_fit("rating ~ contact + (1 + factor(n)|judge)", df)
    with pytest.raises(ValueError, match=r"'n' has level\(s\) \['7'\]"):
        fit.predict(df.iloc[:2].assign(n=[7, 1]))


def test_new_grouping_levels_warn_once_or_are_refused(wine_fit, wine):
    new = wine.iloc[:4].copy()
    new["judge"] = new["judge"].cat.add_categories(["x1", "x2"])
    new.iloc[1:3, new.columns.get_loc("judge")] = ["x1", "x2"]
    with pytest.warns(UserWarning, match=r"2 level\(s\) of 'judge' not seen"):
        p = wine_fit.predict(new)
    population = wine_fit.predict(new, re_form="zero")
    np.testing.assert_allclose(p.iloc[1:3], population.iloc[1:3], atol=1e-14)
    with pytest.raises(ValueError, match="not seen in fitting"):
        wine_fit.predict(new, allow_new_levels=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wine_fit.predict(new, re_form="marginal")  # levels do not matter there


# -- data frames ---------------------------------------------------------------------------

def _frames(wine):
    """The wine data as every frame library narwhals supports, in several dtypes."""
    import polars as pl
    import pyarrow as pa

    buf = io.BytesIO()
    wine.to_parquet(buf)
    buf.seek(0)
    arrow_backed = pd.read_parquet(buf, dtype_backend="pyarrow")
    nullable = wine.convert_dtypes()
    strings = wine.astype({"temp": "string[pyarrow]", "contact": object})
    polars = pl.from_pandas(wine).with_columns(
        pl.col("rating").cast(pl.Enum(list(wine["rating"].cat.categories))))
    return {"pandas": wine, "arrow-backed": arrow_backed, "nullable": nullable,
            "strings": strings, "polars": polars, "pyarrow": pa.Table.from_pandas(wine)}


def test_every_frame_library_and_dtype_fits_and_predicts_alike(wine, wine_fit):
    for name, frame in _frames(wine).items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no order to warn about: each one keeps it
            fit = interlace.clmm(WINE, frame)
        assert fit.llf == pytest.approx(wine_fit.llf, abs=1e-10), name
        assert list(fit.thresholds) == list(wine_fit.thresholds), name
        np.testing.assert_allclose(fit.predict(frame).to_numpy(),
                                   wine_fit.predict().to_numpy(), atol=1e-10, err_msg=name)


def test_a_declared_order_that_is_not_alphabetical_is_kept_from_arrow_and_polars():
    import polars as pl
    import pyarrow as pa

    df = simulate(seed=9)
    order = ["low", "mid", "high", "top", "peak"][: len(df["y"].cat.categories)]
    words = np.array(order)[df["y"].cat.codes.to_numpy()]
    pandas_fit = quiet_fit("y ~ x + (1|g)", df.assign(
        y=pd.Categorical(words, categories=order, ordered=True)))
    arrow = pa.table({"y": pa.DictionaryArray.from_arrays(
        pa.array([order.index(w) for w in words], pa.int8()), pa.array(order), ordered=True),
        "x": df["x"], "g": df["g"]})
    polars = pl.DataFrame({"y": pl.Series(words, dtype=pl.Enum(order)), "x": df["x"],
                           "g": df["g"]})
    for frame in (arrow, arrow.to_pandas(types_mapper=pd.ArrowDtype), polars):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fit = interlace.clmm("y ~ x + (1|g)", frame)
        assert fit.response_levels == order
        assert fit.llf == pytest.approx(pandas_fit.llf, abs=1e-10)


def test_a_lazy_frame_gets_a_hint():
    import polars as pl

    with pytest.raises(TypeError, match=r"\.collect\(\)"):
        interlace.clmm("y ~ x + (1|g)", pl.from_pandas(simulate(seed=1)).lazy())


def test_newdata_of_the_wrong_kind_is_named(wine_fit, wine):
    new = wine.iloc[:3].assign(temp=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="newdata column 'temp' holds numbers; the model was "
                                         "fitted with text or categories"):
        wine_fit.predict(new)
    df = simulate(seed=2)
    fit = quiet_fit("y ~ x + (1|g)", df)
    with pytest.raises(ValueError, match="column 'x' holds text"):
        fit.predict(df.iloc[:2].assign(x=["a", "b"]))


# -- values that cannot be used --------------------------------------------------------------

def test_infinite_values_are_named():
    df = simulate(seed=3)
    fit = quiet_fit("y ~ x + (1|g)", df)
    with pytest.raises(ValueError, match=r"newdata column 'x' is infinite"):
        fit.predict(df.iloc[:3].assign(x=[0.0, np.inf, 1.0]))
    bad = df.copy()
    bad.loc[5, "x"] = -np.inf
    with pytest.raises(ValueError, match=r"column 'x' is infinite or undefined in row\(s\) \[5\]"):
        interlace.clmm("y ~ x + (1|g)", bad)
    with pytest.raises(ValueError, match=r"fixed-effect column 'log\(z\)' is infinite"):
        interlace.clmm("y ~ log(z) + (1|g)", df.assign(z=np.arange(len(df)) % 3))
    with pytest.raises(ValueError, match=r"fixed-effect column 'sqrt\(x\)' is infinite or "
                                         r"undefined"):  # NaN rows were dropped silently
        interlace.clmm("y ~ sqrt(x) + (1|g)", df)


@pytest.mark.parametrize("theta0", [[np.nan], [np.inf], ["a"]])
def test_theta0_that_is_not_finite_is_named(theta0):
    with pytest.raises((ValueError, TypeError), match="theta0"):
        interlace.clmm("y ~ x + (1|g)", simulate(seed=1), theta0=theta0)


def test_weights_that_leave_too_little_are_named():
    df = simulate(seed=3)
    w = (df["y"] == df["y"].min()).astype(float)  # one response category left
    with pytest.raises(ValueError, match="observed level"), \
            pytest.warns(UserWarning, match="dropping unused levels"):
        interlace.clmm("y ~ x + (1|g)", df, weights=w.to_numpy())
    w = (df["g"] == df["g"].iloc[0]).astype(float)  # one group left
    with pytest.raises(ValueError, match="grouping factor 'g' has 1 level"):
        interlace.clmm("y ~ x + (1|g)", df, weights=w.to_numpy())


def test_weights_are_matched_by_label_and_must_be_one_dimensional():
    df = simulate(seed=3)
    w = pd.Series(np.linspace(0.5, 2.0, len(df)), index=df.index)
    a = quiet_fit("y ~ x + (1|g)", df, weights=w)
    b = quiet_fit("y ~ x + (1|g)", df, weights=w.sample(frac=1.0, random_state=1))
    assert a.llf == pytest.approx(b.llf, abs=1e-10)
    with pytest.raises(ValueError, match="no value for the data's row label"):
        interlace.clmm("y ~ x + (1|g)", df, weights=w.iloc[1:])
    with pytest.raises(ValueError, match="one-dimensional"):
        interlace.clmm("y ~ x + (1|g)", df, weights=np.ones((len(df) // 2, 2)))


# -- arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"groups": 3}, TypeError, "groups="),
    ({"random": [1]}, TypeError, "random="),
    ({"link": 2}, ValueError, "unknown link"),
    ({"verbose": "yes"}, TypeError, "verbose"),
    ({"threads": 0}, ValueError, "threads"),
    ({"weights": object()}, TypeError, "weights"),
])
def test_arguments_of_the_wrong_type_are_named(kwargs, error, message):
    formula = "y ~ x" if "groups" in kwargs or "random" in kwargs else "y ~ x + (1|g)"
    with pytest.raises(error, match=message):
        interlace.clmm(formula, simulate(seed=1), **kwargs)


def test_results_methods_check_their_arguments(wine_fit):
    assert list(wine_fit.confint(params="tempwarm").index) == ["tempwarm"]
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['nope'\]"):
        wine_fit.confint(params=["nope"])
    with pytest.raises(TypeError, match="params"):
        wine_fit.confint(params=3)
    with pytest.raises(TypeError, match="argument 2"):
        interlace.anova(wine_fit, "m2")
    with pytest.raises(TypeError, match="allow_new_levels"):
        wine_fit.predict(allow_new_levels="no")


def test_prediction_on_no_rows_is_empty(wine_fit, wine):
    p = wine_fit.predict(wine.iloc[:0])
    assert p.shape == (0, 5) and list(p.columns) == wine_fit.response_levels
    fit, se = wine_fit.predict(wine.iloc[:0], type="cum.prob", se_fit=True)
    assert fit.shape == se.shape == (0, 4)
