"""The exact gradient of the Laplace objective against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import dataset
from interlace.design import build_design
from interlace.formula import parse_formula
from interlace.laplace import LaplaceObjective
from interlace.links import LINKS, get_link


def check_gradient(formula, data, link, phi_fn, rtol=1e-5):
    design = build_design(parse_formula(formula), dataset(data))
    objective = LaplaceObjective(design, get_link(link))
    phi = phi_fn(design)
    _, grad = objective.value_and_grad(phi)
    h = 1e-6
    fd = np.array([
        (objective.value(phi + h * e) - objective.value(phi - h * e)) / (2 * h)
        for e in np.eye(len(phi))
    ])
    scale = max(1.0, np.max(np.abs(fd)))
    np.testing.assert_allclose(grad, fd, rtol=rtol, atol=rtol * scale)


def start(design, theta):
    """Thresholds spread over the response, some non-zero coefficients, the given theta."""
    K = design.response.n_levels
    alpha = np.linspace(-1.5, 1.5, K - 1)
    beta = 0.3 * np.ones(design.X.shape[1])
    return np.concatenate([alpha, beta, theta])


@pytest.mark.parametrize("link", list(LINKS))
def test_single_intercept_all_links(link):
    check_gradient("rating ~ temp + contact + (1|judge)", "wine", link,
                   lambda d: start(d, [0.9]))


def test_crossed_intercepts():
    check_gradient("rating ~ temp + contact + (1|judge) + (1|bottle)", "wine", "logit",
                   lambda d: start(d, [1.1, 0.6]))


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_correlated_random_slope(link):
    # L = [[0.6, 0], [-0.3, 0.8]]: theta = (0.6, 0.8, -0.3)
    check_gradient("SURENESS ~ PROD + (1 + PROD|RESP)", "soup", link,
                   lambda d: start(d, [0.6, 0.8, -0.3]))


def test_nested_intercepts():
    check_gradient("SURENESS ~ PROD + (1|RESP/DAY)", "soup", "cloglog",
                   lambda d: start(d, [0.4, 0.5]))


def test_crossed_slope_and_intercept():
    # a vector-valued term eliminated first and a scalar term in the Schur complement
    check_gradient("SURENESS ~ PROD + (1 + PROD|RESP) + (1|PRODID)", "soup", "logit",
                   lambda d: start(d, [0.6, 0.8, -0.3, 0.5]))


def test_vector_term_in_the_schur_complement():
    # a scalar term eliminated first, a correlated vector term in the dense remainder
    check_gradient("SURENESS ~ PROD + (1|RESP) + (1 + PROD|SOUPTYPE)", "soup", "logit",
                   lambda d: start(d, [0.7, 0.5, 0.4, 0.2]))


@pytest.mark.parametrize("formula, data", [
    ("rating ~ temp + contact + (1|judge)", "wine"),
    ("SURENESS ~ PROD + (1 + PROD|RESP)", "soup"),
])
def test_forward_difference_hessian_matches_central(formula, data):
    """The fit's Hessian (forward differences of the exact gradient, p evaluations) against
    central differences (2p), at the optimum: standard errors agree to 1e-5 relative."""
    import interlace
    from interlace.fit import r_hessian

    fit = interlace.clmm(formula, dataset(data))
    objective, phi, param = fit.refitter.objective, fit.refitter.phi, fit.refitter.param
    assert objective.exact_gradient
    forward = r_hessian(objective, param, phi)
    objective.exact_gradient, objective.hessian_step = False, 1e-4
    central = r_hessian(objective, param, phi)
    se = [np.sqrt(np.diag(np.linalg.inv(h))) for h in (forward, central)]
    np.testing.assert_allclose(se[0], se[1], rtol=1e-5)


def test_gradient_in_row_blocks_equals_one_pass(monkeypatch):
    """Large data go through the gradient a block of rows at a time; with blocks of 16 rows
    (crossed terms, a random slope) the gradient and the warm-start tangent must not change."""
    from interlace import laplace

    design = build_design(parse_formula("SURENESS ~ PROD + (1 + PROD|RESP) + (1|DAY)"),
                          dataset("soup"))
    phi = start(design, [0.9, 0.4, 0.2, 0.5])
    results = []
    for block in (1 << 15, 16):
        monkeypatch.setattr(laplace, "_GRADIENT_BLOCK", block)
        objective = LaplaceObjective(design, get_link("logit"))
        assert len(laplace.row_blocks(design.n_obs)) == (1 if block > 16 else 116)
        _, grad = objective.value_and_grad(phi)
        results.append((grad, objective._tangent[2]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)
