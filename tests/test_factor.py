"""The sparse factorisation of H = I + A' W D A against dense linear algebra."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import dataset
from interlace.factor import (
    HessianFactor,
    HessianPattern,
    inverse_from_cholesky,
    schur_cholesky,
)


def dense_a(design, values):
    n, q = values.shape[0], design.random.q
    a = np.zeros((n, q))
    np.add.at(a, (np.repeat(np.arange(n), values.shape[1]), design.random.cols.ravel()),
              values.ravel())
    return a


@pytest.mark.parametrize("formula, theta", [
    ("SURENESS ~ PROD + (1|RESP)", [0.7]),
    ("SURENESS ~ PROD + (1 + PROD|RESP)", [0.6, 0.8, -0.3]),
    ("SURENESS ~ PROD + (1|RESP/DAY)", [0.4, 0.5]),
    ("SURENESS ~ PROD + (1|RESP) + (1 + PROD|SOUPTYPE)", [0.7, 0.5, 0.4, 0.2]),
    ("SURENESS ~ PROD + (1 + PROD|RESP) + (1 + PROD|SOUPTYPE) + (1|DAY)",
     [0.6, 0.8, -0.3, 0.5, 0.4, 0.2, 0.3]),
])
def test_logdet_solve_and_selected_inverse(formula, theta):
    design = interlace.clmm_model(formula, dataset("soup")).design
    values = design.random.values(np.array(theta))
    rng = np.random.default_rng(0)
    wd = rng.uniform(0.05, 1.0, len(values))
    factor = HessianFactor(HessianPattern(design.random), values, wd)
    a = dense_a(design, values)
    h = np.eye(a.shape[1]) + a.T @ (wd[:, None] * a)
    sign, logdet = np.linalg.slogdet(h)
    assert sign > 0 and factor.logdet == pytest.approx(logdet, rel=1e-12)
    b = rng.standard_normal(a.shape[1])
    np.testing.assert_allclose(factor.solve(b), np.linalg.solve(h, b), rtol=1e-9, atol=1e-12)
    h_inv = np.linalg.inv(h)
    pa, lev, term_blocks = factor.observation_inverse(values)
    np.testing.assert_allclose(pa, (a @ h_inv)[np.arange(len(a))[:, None], design.random.cols],
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(lev, np.einsum("ij,jk,ik->i", a, h_inv, a), rtol=1e-8)
    # each term's diagonal blocks of H^-1, level by level (the conditional variances)
    assert len(term_blocks) == len(design.random.terms)
    for k, term in enumerate(design.random.terms):
        r, start = term.size, design.random.u_offsets[k]
        want = np.stack([h_inv[start + j * r: start + (j + 1) * r,
                               start + j * r: start + (j + 1) * r]
                         for j in range(term.n_levels)])
        np.testing.assert_allclose(term_blocks[k], want, rtol=1e-8, atol=1e-14)


def test_schur_cholesky_and_inverse_past_one_tile():
    """S = I + part factorised in part's memory, and S^-1 symmetrised tile by tile (sizes
    that are not a multiple of the tile), against dense linear algebra."""
    rng = np.random.default_rng(1)
    for n in (3, 512, 1100):
        b = rng.standard_normal((n, n // 2 + 1))
        part = b @ b.T
        s = np.eye(n) + part
        factor = schur_cholesky(part.copy())
        c, lower = factor
        np.testing.assert_allclose(c if lower else c.T, np.linalg.cholesky(s), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(inverse_from_cholesky(factor), np.linalg.inv(s),
                                   rtol=1e-8, atol=1e-12)
        lower_factor = (np.linalg.cholesky(s), True)  # scipy's other convention
        np.testing.assert_allclose(inverse_from_cholesky(lower_factor), np.linalg.inv(s),
                                   rtol=1e-8, atol=1e-12)
