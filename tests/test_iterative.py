"""The iterative path for H (`iterative`: conjugate gradients, the log-determinant and H^-1's
entries estimated from probes) against the exact factorisation, closed forms and
simulation: solves to rounding, estimates within their standard errors, fits within 1% (SDs
2%) of the exact fit, and the result saying that it is estimated."""

from __future__ import annotations

import warnings
from decimal import Decimal, getcontext

import numpy as np
import pytest
import scipy.sparse as sp

import interlace
from conftest import dataset
from interlace import Control
from interlace.factor import HessianFactor, HessianPattern
from interlace.iterative import (
    IterativeFactor,
    SparsePattern,
    _remainder,
    conjugate_gradients,
    quadrature,
)
from simdata import simulate


def crossed_data(n=3000, n_g=150, n_h=100, seed=3):
    return simulate(n=n, n_groups=n_g, n_groups2=n_h, sd=0.8, sd2=0.6, seed=seed)


CROSSED = "y ~ x + (1|g) + (1|h)"


def test_conjugate_gradients_solve_and_give_lanczos_quadrature():
    """X = H^-1 B against a dense solve, and the quadrature from the iteration's
    coefficients against z' g(M) z from M's eigendecomposition (converged Krylov space)."""
    rng = np.random.default_rng(0)
    q = 40
    a = sp.random(200, q, density=0.05, random_state=1, format="csr")
    h = (sp.eye(q) + a.T @ sp.diags(rng.uniform(0.1, 1.0, 200)) @ a).tocsr()
    diag = h.diagonal()
    b = rng.standard_normal((q, 5))
    x, _ = conjugate_gradients(lambda v: h @ v, b, 1.0 / diag, 1e-13, 500)
    np.testing.assert_allclose(x, np.linalg.solve(h.toarray(), b), rtol=1e-9, atol=1e-12)
    x1, _ = conjugate_gradients(lambda v: h @ v, b[:, 0], 1.0 / diag, 1e-13, 500)
    np.testing.assert_allclose(x1, x[:, 0], rtol=1e-12)

    z = rng.choice([-1.0, 1.0], size=(q, 3))
    w = np.sqrt(diag)[:, None] * z
    _, _, tridiagonals = conjugate_gradients(lambda v: h @ v, w, 1.0 / diag, 1e-14, 500,
                                             lanczos=True)
    m = h.toarray() / np.sqrt(np.outer(diag, diag))
    lam, vec = np.linalg.eigh(m)
    exact = np.einsum("ij,i,ij->j", vec.T @ z, _remainder(lam), vec.T @ z)
    np.testing.assert_allclose(quadrature(tridiagonals, np.linalg.norm(z, axis=0)), exact,
                               rtol=1e-6)


def test_remainder_is_accurate_on_both_sides_of_its_series():
    """g(l) = log l - (l - 1) + (l - 1)^2/2 against 50-digit decimal arithmetic."""
    getcontext().prec = 50
    d = np.array([-0.5, -1.001e-3, -0.999e-3, 1e-6, 0.999e-3, 1.001e-3, 2.0])
    want = [float((1 + Decimal(x)).ln() - Decimal(x) + Decimal(x) ** 2 / 2) for x in d]
    np.testing.assert_allclose(_remainder(1.0 + d), want, rtol=1e-9)


def _modes_at(formula, data, **kwargs):
    model = interlace.clmm_model(formula, data, control=Control(random_solver="exact"),
                                 **kwargs)
    objective = model.objective
    phi = model.start() * model.design.phi_scale
    phi[objective.n_psi:] = 0.8
    modes = objective.conditional_modes(phi)
    return objective, modes, model.design.weights * modes.d


@pytest.mark.parametrize(("formula", "data"), [
    (CROSSED, "sim"),
    ("rating ~ temp + (1 + contact|judge) + (1|bottle)", "wine"),
])
def test_factor_against_the_exact_factorisation(formula, data):
    """Solves equal the exact ones. Over 40 probe seeds (64 probes each), the estimates are
    unbiased: the log-determinant, the entries P a_i and a_i'P a_i (P = H^-1) and the
    conditional variances average to the exact ones within 5 of their standard errors of
    the mean, and the log-determinant's errors scatter as its reported standard error says."""
    frame = crossed_data() if data == "sim" else dataset(data)
    objective, modes, wd = _modes_at(formula, frame)
    exact = HessianFactor(HessianPattern(objective.random), modes.values, wd)
    pa, lev, blocks = exact.observation_inverse(modes.values)
    want = np.concatenate([pa.ravel(), lev] + [b.ravel() for b in blocks])
    b = np.random.default_rng(2).standard_normal((objective.random.q, 3))

    errors, ses, got = [], [], []
    for seed in range(40):
        factor = IterativeFactor(SparsePattern(objective.random, 64, seed), objective.random,
                                 modes.values, wd, 1e-11, 2000)
        if seed == 0:
            np.testing.assert_allclose(factor.solve(b), exact.solve(b), rtol=1e-8, atol=1e-10)
        errors.append(factor.logdet - exact.logdet)
        ses.append(factor.logdet_se)
        pa2, lev2, blocks2 = factor.observation_inverse(modes.values)
        assert [x.shape for x in blocks2] == [x.shape for x in blocks]
        got.append(np.concatenate([pa2.ravel(), lev2] + [x.ravel() for x in blocks2]))
    errors, ses, got = np.array(errors), np.array(ses), np.array(got)
    root_s = np.sqrt(len(errors))
    assert np.all(np.abs(errors) < 5 * ses)
    assert abs(errors.mean()) < 4 * ses.mean() / root_s
    assert 0.5 < errors.std() / ses.mean() < 2.0
    spread = got.std(axis=0, ddof=1) / root_s
    assert np.all(np.abs(got.mean(axis=0) - want) <= 5 * spread + 1e-12)
    assert np.max(spread) > 0  # the probes do estimate something


def test_fit_is_within_one_percent_of_the_exact_fit():
    """Fixed effects and thresholds within 1%, SDs within 2%; the log-likelihood within
    4 of its standard errors; the subsample start (levels no row of the sample meets) runs."""
    data = crossed_data(n=6000, n_g=300, n_h=200)
    control = {"subsample_from": 3000}
    with warnings.catch_warnings():
        warnings.simplefilter("error", interlace.ConvergenceWarning)
        exact = interlace.clmm(CROSSED, data, control=Control(random_solver="exact", **control))
        approx = interlace.clmm(CROSSED, data,
                                control=Control(random_solver="iterative", **control))
    assert approx.converged and approx.optinfo.subsample_starts[-1][1]
    np.testing.assert_allclose(approx.fe_params, exact.fe_params, rtol=0.01)
    np.testing.assert_allclose(list(approx.threshold_params.values()),
                               list(exact.threshold_params.values()), rtol=0.01)
    for key in exact.variance_components:
        assert np.sqrt(approx.variance_components[key]) == pytest.approx(
            np.sqrt(exact.variance_components[key]), rel=0.02)
    np.testing.assert_allclose(approx.fe_bse, exact.fe_bse, rtol=0.02)
    se = approx.optinfo.loglik_se
    assert 0 < se < 1
    assert abs(approx.llf - exact.llf) < 4 * se
    assert approx.optinfo.random_solver == "iterative"
    text = str(approx.summary())
    assert f"log-determinant estimated from 32 probes (conjugate gradients): logLik " \
           f"standard error {se:.3g}" in text
    assert "estimated" in "\n".join(approx.optinfo.lines())
    assert exact.optinfo.random_solver == "exact" and exact.optinfo.loglik_se == 0
    assert "estimated" not in str(exact.summary())
    # the tables, to_dict and anova say it too
    assert f"{approx.llf:.2f} ± {se:.2g}" in approx.summary().as_markdown()
    assert f"{exact.llf:.2f} ±" not in exact.summary().as_markdown()
    assert approx.to_dict()["logLik_se"] == se and exact.to_dict()["logLik_se"] == 0
    with pytest.warns(UserWarning, match=r"log-likelihoods of fit 2 \(standard error"):
        interlace.anova(exact, approx)


@pytest.mark.parametrize(("formula", "kwargs"), [
    ("y ~ x + (1 + x|g) + (1|h)", {}),
    ("y ~ x + (1|g) + (1|h)", {"scale": "~ x", "link": "probit"}),
    ("y ~ x + (1|g) + (1|h)", {"link": "cauchit"}),
])
def test_slopes_scale_and_a_heavy_tailed_link_on_the_iterative_path(formula, kwargs):
    """Vector terms (2 x 2 blocks), A's rows divided by the scale, and a link whose
    curvature can be negative: within 1% (estimates) and 2% (covariance entries' roots)."""
    data = simulate(n=4000, n_groups=200, n_groups2=150, slope_sd=0.4, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", interlace.ConvergenceWarning)
        exact = interlace.clmm(formula, data, control=Control(random_solver="exact"), **kwargs)
        approx = interlace.clmm(formula, data, control=Control(random_solver="iterative"),
                                **kwargs)
    np.testing.assert_allclose(approx.fe_params, exact.fe_params, rtol=0.01)
    np.testing.assert_allclose(approx.scale_params, exact.scale_params, rtol=0.01, atol=1e-3)
    for key, value in exact.variance_components.items():
        got, want = np.asarray(approx.variance_components[key]), np.asarray(value)
        np.testing.assert_allclose(np.sqrt(np.abs(got)), np.sqrt(np.abs(want)), rtol=0.02)
    assert abs(approx.llf - exact.llf) < 4 * approx.optinfo.loglik_se


def test_subsample_start_on_the_iterative_path_leaves_the_fit_exact():
    """The start's sample fits may take the iterative path (Control.sample_iterative_from);
    the fit on all the rows is the exact one all the same."""
    data = crossed_data(n=6000, n_g=300, n_h=200)
    base = {"subsample_from": 3000, "iterative_from": 10**6}
    with warnings.catch_warnings():
        warnings.simplefilter("error", interlace.ConvergenceWarning)
        mixed = interlace.clmm(CROSSED, data, control=Control(sample_iterative_from=100, **base))
        exact = interlace.clmm(CROSSED, data,
                               control=Control(sample_iterative_from=10**6, **base))
    assert mixed.optinfo.subsample_starts[-1][1:] == (True, "its fit on the iterative path")
    assert exact.optinfo.subsample_starts[-1][1:] == (True, "")
    assert mixed.optinfo.random_solver == "exact" and mixed.optinfo.loglik_se == 0
    assert mixed.llf == pytest.approx(exact.llf, abs=1e-6)
    np.testing.assert_allclose(mixed.fe_params, exact.fe_params, rtol=1e-5)
    for key in exact.variance_components:
        assert mixed.variance_components[key] == pytest.approx(exact.variance_components[key],
                                                               rel=1e-5)


def test_a_sample_of_a_sample_stays_on_the_iterative_path():
    """A start's sample fit on the iterative path starts from its own sample (while large),
    on the same path: an exact fit there would pay q2^3 per evaluation on a few rows."""
    data = crossed_data(n=16000, n_g=60, n_h=40)
    control = Control(subsample_from=1500, iterative_from=10**6, sample_iterative_from=10)
    fit = interlace.clmm(CROSSED, data, control=control)
    # each entry names the sample fit's path where it differs from the fit it starts
    assert fit.optinfo.subsample_starts == [(250, True, ""),
                                            (2000, True, "its fit on the iterative path")]
    assert fit.optinfo.random_solver == "exact"


def test_auto_takes_the_iterative_path_from_a_size():
    data = crossed_data(n=600, n_g=40, n_h=30)
    q2 = 30
    at = interlace.clmm_model(CROSSED, data, control=Control(iterative_from=q2))
    below = interlace.clmm_model(CROSSED, data, control=Control(iterative_from=q2 + 1))
    assert at.objective.iterative and not below.objective.iterative
    assert not interlace.clmm_model(CROSSED, data).objective.iterative  # default 5,000


def test_iterative_path_refuses_what_it_does_not_do():
    with pytest.raises(ValueError, match="random_solver must be one of"):
        Control(random_solver="cg")
    with pytest.raises(ValueError, match="probes must be at least 2"):
        Control(probes=1)
    wine = dataset("wine")
    with pytest.raises(ValueError, match="random_solver='iterative'.*nAGQ=1"):
        interlace.clmm("rating ~ temp + (1|judge)", wine, nAGQ=5,
                       control=Control(random_solver="iterative"))
    with pytest.raises(ValueError, match="partitions"):
        interlace.clmm("rating ~ temp + (1|judge) + (1|bottle)", wine,
                       control=Control(random_solver="iterative", partitions=2))


def test_command_line_takes_the_solver_and_says_the_estimate(tmp_path, capsys):
    from interlace import cli

    data = crossed_data(n=1500, n_g=80, n_h=60)
    data.to_csv(tmp_path / "crossed.csv", index=False)
    args = ["clmm", "--data", str(tmp_path / "crossed.csv"), "--formula", CROSSED,
            "--levels", "y=1,2,3,4,5"]
    assert cli.main(args + ["--random-solver", "iterative"]) == 0
    assert "log-determinant estimated from 32 probes" in capsys.readouterr().out
    assert cli.main(args + ["--random-solver", "exact"]) == 0
    assert "log-determinant estimated" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(args + ["--random-solver", "cg"])
    assert "invalid choice: 'cg'" in capsys.readouterr().err


def test_profile_intervals_on_the_iterative_path():
    """Profile limits on the iterative path (differences of the estimated value at nearby
    points, the same probes throughout, so that most of the estimate's error cancels) within
    1% of the interval's width of the exact path's."""
    data = crossed_data(n=1500, n_g=80, n_h=60)
    params = ["x", "sd((Intercept)|g)"]
    exact = interlace.clmm(CROSSED, data, control=Control(random_solver="exact"))
    approx = interlace.clmm(CROSSED, data, control=Control(random_solver="iterative"))
    want = exact.confint(method="profile", params=params)
    got = approx.confint(method="profile", params=params)
    width = (want["upper"] - want["lower"]).to_numpy()
    assert np.all(width > 0.1)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=0.01 * width.min())
