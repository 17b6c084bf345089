"""Gauss-Hermite quadrature (nAGQ) against R and against the Laplace approximation."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import assert_matches_r, dataset, extras
from interlace.quadrature import QuadratureObjective

WINE = "rating ~ temp + contact + (1|judge)"


@pytest.mark.parametrize("case, formula, data, n", [
    ("wine_agq10", WINE, "wine", 10),
    ("wine_ghq_7", WINE, "wine", -7),
    ("soup_agq7", "SURENESS ~ PROD + (1|RESP)", "soup", 7),
])
def test_quadrature_matches_r(case, formula, data, n):
    ref = extras()["quadrature"][case]
    fit = interlace.clmm(formula, dataset(data), nAGQ=n)
    assert_matches_r(fit, ref)
    assert fit.llf == pytest.approx(ref["logLik"], abs=1e-4)
    header = str(fit.summary()).splitlines()[:2]
    assert header == ref["summary_text"].splitlines()[:2]


def test_one_adaptive_node_is_the_laplace_approximation():
    model = interlace.clmm_model(WINE, dataset("wine"))
    phi = np.array([-1.5, 1.4, 4.0, 6.0, 3.0, 1.8, 1.2])
    laplace = model.loglik(phi)
    one_node = -QuadratureObjective(model.design, model.objective.link, 1).value(
        phi * model.design.phi_scale)
    assert one_node == pytest.approx(laplace, abs=1e-10)


def test_adaptive_quadrature_converges_in_the_number_of_nodes():
    """Many nodes approximate the integral exactly: 20 and 40 points agree to 1e-9."""
    phi = np.array([-1.5, 1.4, 4.0, 6.0, 3.0, 1.8, 1.2])
    v20, v40 = (interlace.clmm_model(WINE, dataset("wine"), link="probit", nAGQ=n).loglik(phi)
                for n in (20, 40))
    assert v20 == pytest.approx(v40, abs=1e-9)


def test_quadrature_needs_a_single_scalar_term():
    with pytest.raises(ValueError, match="single scalar random-effect term"):
        interlace.clmm("rating ~ temp + (1|judge) + (1|bottle)", dataset("wine"), nAGQ=5)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog", "loglog", "cauchit"])
@pytest.mark.parametrize("n", [3, 10, -7])
def test_the_quadrature_gradient_is_exact(link, n):
    """Against central differences of the quadrature value (which was the gradient before:
    1,550 evaluations for a Hessian), with the random covariate per SD and a slope-only
    term, where theta and the covariate's scale both enter."""
    df = dataset("wine").assign(x=np.sin(np.arange(72.0)) * 3.0)
    for formula in (WINE, "rating ~ temp + (0 + x|judge)"):
        model = interlace.clmm_model(formula, df, link=link, nAGQ=n)
        design = model.design
        phi = np.concatenate([np.linspace(-1.2, 1.6, design.n_psi - design.n_beta),
                              np.full(design.n_beta, 0.4), [0.8]])
        value, grad = model.loglik_and_gradient(phi)
        h = 1e-6
        central = [(model.loglik(phi + e) - model.loglik(phi - e)) / (2 * h)
                   for e in np.eye(len(phi)) * h]
        np.testing.assert_allclose(grad, central, rtol=1e-6, atol=1e-6)
        assert value == pytest.approx(model.loglik(phi), abs=1e-10)


def test_quadrature_fits_need_as_few_evaluations_as_laplace_ones():
    laplace = interlace.clmm(WINE, dataset("wine"))
    quad = interlace.clmm(WINE, dataset("wine"), nAGQ=10)
    assert quad.n_fev <= laplace.n_fev + 5  # was 420 with the differenced gradient
    assert quad.max_grad < 1e-8
