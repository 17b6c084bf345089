"""The exact gradient of the Laplace objective against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import dataset
from interlace.links import LINKS
from interlace.optimize.hessian import r_gradient, r_hessian
from interlace.rows import row_blocks


def check_gradient(formula, data, link, phi_fn, rtol=1e-5):
    """The model's exact gradient (the data's units) against central differences of its
    log-likelihood."""
    model = interlace.clmm_model(formula, dataset(data), link=link)
    phi = phi_fn(model.design)
    _, grad = model.loglik_and_gradient(phi)
    h = 1e-6
    fd = np.array([
        (model.loglik(phi + h * e) - model.loglik(phi - h * e)) / (2 * h)
        for e in np.eye(len(phi))
    ])
    scale = max(1.0, np.max(np.abs(fd)))
    np.testing.assert_allclose(grad, fd, rtol=rtol, atol=rtol * scale)


def start(design, theta):
    """Thresholds spread over the response, some non-zero coefficients, the given theta."""
    K = design.response.n_levels
    alpha = np.linspace(-1.5, 1.5, K - 1)
    beta = 0.3 * np.ones(design.n_beta)
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
    fit = interlace.clmm(formula, dataset(data))
    objective, phi, param = fit.refitter.objective, fit.refitter.phi, fit.refitter.param
    forward = r_hessian(objective, param, phi, fit.optinfo.control.hessian_step)
    x, h = param.to_r(phi), 1e-4
    central = np.column_stack([
        (r_gradient(objective, param, phi, x + h * e)[1]
         - r_gradient(objective, param, phi, x - h * e)[1]) / (2 * h)
        for e in np.eye(len(x))])
    se = [np.sqrt(np.diag(np.linalg.inv(m))) for m in (forward, 0.5 * (central + central.T))]
    np.testing.assert_allclose(se[0], se[1], rtol=1e-5)


def test_gradient_in_row_blocks_equals_one_pass():
    """Large data go through the gradient a block of rows at a time; with blocks of 16 rows
    (crossed terms, a random slope) the gradient and the warm-start tangent must not change."""
    formula = "SURENESS ~ PROD + (1 + PROD|RESP) + (1|DAY)"
    results = []
    for block in (1 << 15, 16):
        control = interlace.Control(block_rows=block, rows_per_level=0)
        model = interlace.clmm_model(formula, dataset("soup"), control=control)
        n = model.design.n_obs
        assert len(row_blocks(n, block)) == (1 if block > 16 else 116)
        phi = start(model.design, [0.9, 0.4, 0.2, 0.5]) * model.design.phi_scale
        _, grad = model.objective.value_and_grad(phi)
        results.append((grad, model.objective.warm_start.tangent[2]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)


def test_gradient_blocks_grow_with_the_number_of_random_effects():
    """Each block of the gradient's pass adds q-sized partial sums: with many levels a block
    holds at least rows_per_level * q rows (one block here), with the same gradient."""
    from interlace.rows import reduction_block_rows

    assert reduction_block_rows(1 << 15, 1000, 4) == 1 << 15
    assert reduction_block_rows(1 << 15, 300_000, 4) == 1_200_000
    assert reduction_block_rows(16, 300_000, 0) == 16
    formula = "SURENESS ~ PROD + (1|RESP)"
    grads = []
    for control in (interlace.Control(block_rows=16, rows_per_level=0),
                    interlace.Control(block_rows=16)):
        model = interlace.clmm_model(formula, dataset("soup"), control=control)
        phi = start(model.design, [0.9]) * model.design.phi_scale
        grads.append(model.objective.value_and_grad(phi)[1])
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-9)
