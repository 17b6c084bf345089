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
    check_against_dense(interlace.clmm_model(formula, dataset("soup")).design, theta)


def test_selected_inverse_for_narrow_and_wide_levels():
    """Levels meeting few of the other factor's columns take S^-1's w x w entries, levels
    meeting many take whole rows of M S^-1: both in one design, against dense algebra."""
    import pandas as pd

    from interlace.factor import _WIDE_LEVEL

    rng = np.random.default_rng(4)
    busy = np.repeat(np.arange(10), 60)  # 10 users with 60 ratings of 100 items
    light = np.repeat(np.arange(10, 210), 2)  # 200 users with 2
    user = np.concatenate([busy, light])
    data = pd.DataFrame({"y": pd.Categorical(rng.integers(1, 4, len(user)), ordered=True),
                         "x": rng.standard_normal(len(user)), "user": user.astype(str),
                         "item": rng.integers(0, 100, len(user)).astype(str)})
    design = interlace.clmm_model("y ~ x + (1|user) + (1|item)", data).design
    pattern = HessianPattern(design.random)
    widths = [b.cols.shape[1] for b in pattern.level_batches]
    assert min(widths) * _WIDE_LEVEL <= pattern.q2 < max(widths) * _WIDE_LEVEL
    check_against_dense(design, [0.8, 0.6])


def check_against_dense(design, theta):
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


def test_dense_kernel_threads_from_a_size():
    """S's factorisation and inverse take Control.dense_threads BLAS threads from
    dense_threads_from (0: every core); below it, the fit's limit; the fit is the same."""
    import os

    from interlace import Control
    from interlace.threads import blas_controller, blas_threads, dense_kernel_threads

    control = Control(dense_threads=2, dense_threads_from=100)
    assert dense_kernel_threads(control, 99) is None
    assert dense_kernel_threads(control, 100) == 2
    assert dense_kernel_threads(Control(), 5000) == (os.cpu_count() or 1)
    with blas_threads(1), blas_threads(2):
        assert {i["num_threads"] for i in blas_controller().info()
                if i["user_api"] == "blas"} == {2}
    data = dataset("soup")
    formula = "SURENESS ~ PROD + (1|RESP) + (1|PRODID)"
    one = interlace.clmm(formula, data, control=Control(dense_threads=1, dense_threads_from=1))
    two = interlace.clmm(formula, data, control=Control(dense_threads=2, dense_threads_from=1))
    assert two.llf == pytest.approx(one.llf, abs=1e-9)
    np.testing.assert_allclose(two.params, one.params, rtol=1e-7)


def _threads_in_a_worker(size):
    from interlace import Control
    from interlace.threads import dense_kernel_threads

    return dense_kernel_threads(Control(dense_threads=2, dense_threads_from=10), size)


def test_a_pool_worker_keeps_the_fit_s_thread_limit():
    """Processes fitting in parallel (bootstrap, profiles) share the cores already: their
    dense kernels do not take more (`threads.pool_worker` as the pool's initializer)."""
    from concurrent.futures import ProcessPoolExecutor

    from interlace.threads import pool_worker

    assert _threads_in_a_worker(100) == 2
    with ProcessPoolExecutor(1, initializer=pool_worker) as pool:
        assert pool.submit(_threads_in_a_worker, 100).result() is None
