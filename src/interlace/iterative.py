"""H = I + A' W D A without a factorisation: solves by preconditioned conjugate gradients and
the log-determinant by stochastic Lanczos quadrature, for designs whose Schur complement is too
large to form (both crossed factors large).

Everything is taken relative to P = diag(H) (Jacobi), because for crossed designs
M = P^-1/2 H P^-1/2 = I + E has a zero diagonal in E, and the first terms of
log det H = log det P + tr(E) - tr(E^2)/2 + tr(g(M)),  g(l) = log l - (l - 1) + (l - 1)^2/2,
are exact and cheap on H's pattern (tr(E) = 0). Only tr(g(M)), which is third order in E, is
estimated: by Lanczos quadrature started from fixed Rademacher probes z_j, so that the
objective is a deterministic smooth function of the parameters. Likewise the entries of H^-1
the gradient needs (where two columns of A meet in a row) are M0 = P^-1 - P^-1 E' P^-1
(E' = H - P, exact) plus a Hutchinson estimate of the remainder from (H^-1 - M0) z_j. The
estimates' standard errors come from the spread over the probes.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .factor import NotPositiveDefinite


class SparsePattern:
    """H's sparsity pattern: every pair of columns of A that meet in a row, in canonical CSR
    order, and where each row's pairs fall in it; built once per design."""

    def __init__(self, random, n_probes: int, seed: int):
        self.q = q = random.q
        cols = random.cols.astype(np.int64)
        m = cols.shape[1]
        # the whole diagonal too: a level no row meets (a subsample's) has H_aa = 1
        diagonal = np.arange(q, dtype=np.int64) * (q + 1)
        keys = np.concatenate([(cols[:, :, None] * q + cols[:, None, :]).ravel(), diagonal])
        unique, inverse = np.unique(keys, return_inverse=True)
        index_type = np.int32 if len(unique) < 2**31 else np.int64
        self.position = inverse[: len(keys) - q].reshape(len(cols), m, m).astype(index_type)
        self.rows = (unique // q).astype(index_type)
        self.cols = (unique % q).astype(index_type)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.rows, minlength=q))])
        self.on_diagonal = self.rows == self.cols
        self.diagonal_position = np.flatnonzero(self.on_diagonal)
        # the pairs a <= b, and for every pattern entry its place among them
        self.upper = np.flatnonzero(self.rows <= self.cols)
        lo, hi = np.minimum(self.rows, self.cols), np.maximum(self.rows, self.cols)
        upper_keys = unique[self.upper]
        self.mirror = np.searchsorted(upper_keys, lo.astype(np.int64) * q + hi)
        rng = np.random.default_rng(seed)
        self.probes = rng.choice(np.array([-1.0, 1.0]), size=(q, n_probes))

    def matrix(self, data: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((data, self.cols, self.indptr), shape=(self.q, self.q))


def conjugate_gradients(matvec, b: np.ndarray, inv_diag: np.ndarray, rtol: float,
                        max_iter: int, lanczos: bool = False):
    """Solve H X = B column by column at once, Jacobi-preconditioned; each column to
    ||residual|| <= rtol ||b||. Returns X, the iterations, and with ``lanczos`` each column's
    Lanczos tridiagonal (diagonal, off-diagonal) of P^-1/2 H P^-1/2 started at P^-1/2 b,
    which the iteration's coefficients give for free. Raises NotPositiveDefinite on a
    direction of non-positive curvature (H is not positive definite there)."""
    vector = b.ndim == 1
    b2 = b[:, None] if vector else b
    k = b2.shape[1]
    out = np.zeros_like(b2)
    target = rtol * np.linalg.norm(b2, axis=0)
    cols = np.flatnonzero(np.linalg.norm(b2, axis=0) > target)  # columns still iterating
    x = np.zeros((b2.shape[0], len(cols)))
    r = b2[:, cols].copy()
    z = inv_diag[:, None] * r
    p = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    target2 = target[cols] ** 2
    alphas, betas = np.full((max_iter, k), np.nan), np.full((max_iter, k), np.nan)
    iterations = 0
    step = np.empty_like(p)
    while len(cols) and iterations < max_iter:
        hp = matvec(p)
        curvature = np.einsum("ij,ij->j", p, hp)
        if np.any(curvature <= 0):
            raise NotPositiveDefinite("H is not positive definite (conjugate gradients)")
        alpha = rz / curvature
        # in place: these (q, columns) arrays are the iteration's memory traffic
        x += np.multiply(p, alpha, out=step)
        r -= np.multiply(hp, alpha, out=step)
        np.multiply(inv_diag[:, None], r, out=z)
        rz_new = np.einsum("ij,ij->j", r, z)
        beta = rz_new / rz
        alphas[iterations, cols], betas[iterations, cols] = alpha, beta
        iterations += 1
        rz = rz_new
        p *= beta
        p += z
        going = np.einsum("ij,ij->j", r, r) > target2
        if not np.all(going):  # finished columns leave the working set
            out[:, cols[~going]] = x[:, ~going]
            cols, x, r, p, rz = cols[going], x[:, going], r[:, going], p[:, going], rz[going]
            z, step, target2 = z[:, going], step[:, going], target2[going]
    if len(cols):
        raise NotPositiveDefinite(f"conjugate gradients did not converge in {max_iter} "
                                  "iterations")
    solution = out[:, 0] if vector else out
    if not lanczos:
        return solution, iterations
    return solution, iterations, _tridiagonals(alphas[:iterations], betas[:iterations])


def _tridiagonals(alphas: np.ndarray, betas: np.ndarray) -> list:
    """Per column, the Lanczos tridiagonal from (P)CG's step lengths and their ratios:
    T_jj = 1/alpha_j + beta_{j-1}/alpha_{j-1}, T_j,j+1 = sqrt(beta_j)/alpha_j."""
    out = []
    for a, b in zip(alphas.T, betas.T):
        n = int(np.sum(np.isfinite(a)))
        a, b = a[:n], b[:n]
        diag = 1.0 / a
        diag[1:] += b[:-1] / a[:-1]
        out.append((diag, np.sqrt(b[:-1]) / a[:-1]))
    return out


def _remainder(lam: np.ndarray) -> np.ndarray:
    """g(l) = log l - (l - 1) + (l - 1)^2 / 2, third order in l - 1, accurate near l = 1."""
    d = lam - 1.0
    small = np.abs(d) < 1e-3
    out = np.empty_like(lam)
    ds = d[small]
    out[small] = ds**3 / 3 - ds**4 / 4 + ds**5 / 5
    dl = d[~small]
    out[~small] = np.log1p(dl) - dl + 0.5 * dl * dl
    return out


def quadrature(tridiagonals: list, norms: np.ndarray) -> np.ndarray:
    """z_j' g(M) z_j for each probe by Gauss quadrature on its Lanczos tridiagonal
    (||z_j|| = ``norms[j]``)."""
    out = np.empty(len(tridiagonals))
    for j, (diag, off) in enumerate(tridiagonals):  # a few small tridiagonal eigenproblems
        if len(diag) == 0:
            out[j] = 0.0
            continue
        theta, vecs = scipy.linalg.eigh_tridiagonal(diag, off)
        if np.any(theta <= 0):
            raise NotPositiveDefinite("H is not positive definite (Lanczos)")
        out[j] = norms[j] ** 2 * float(np.dot(vecs[0] ** 2, _remainder(theta)))
    return out


class IterativeFactor:
    """The `HessianFactor` interface (solve, logdet, observation_inverse) for
    H = I + A' diag(wd) A by conjugate gradients and probes; ``logdet_se`` is the
    log-determinant estimate's standard error."""

    def __init__(self, pattern: SparsePattern, random, values: np.ndarray, wd: np.ndarray,
                 rtol: float, max_iter: int):
        self.pattern = pat = pattern
        self.random = random
        outer = wd[:, None, None] * values[:, :, None] * values[:, None, :]
        data = np.bincount(pat.position.ravel(), weights=outer.ravel(),
                           minlength=len(pat.rows))
        data[pat.diagonal_position] += 1.0
        diag = data[pat.diagonal_position]
        if not np.all(diag > 0):
            raise NotPositiveDefinite("H has a non-positive diagonal entry")
        self.h = pat.matrix(data)
        self.diag = diag
        self.inv_diag = 1.0 / diag
        self.rtol, self.max_iter = rtol, max_iter
        self._logdet = self._probes = None
        self.logdet_se = 0.0

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self.h @ x

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b by conjugate gradients."""
        return conjugate_gradients(self._matvec, b, self.inv_diag, self.rtol, self.max_iter)[0]

    @property
    def logdet(self) -> float:
        """log det H: log det P - tr(E^2)/2 exactly, and tr(g(M)) from the probes."""
        if self._logdet is None:
            pat = self.pattern
            root = np.sqrt(self.inv_diag)
            e = self.h.data * root[pat.rows] * root[pat.cols]
            e[pat.on_diagonal] = 0.0
            per_probe = self._probe_solves()[1]
            k = len(per_probe)
            self.logdet_se = float(np.std(per_probe, ddof=1) / np.sqrt(k))
            self._logdet = (float(np.sum(np.log(self.diag))) - 0.5 * float(np.dot(e, e))
                            + float(np.mean(per_probe)))
        return self._logdet

    def _probe_solves(self):
        """X = H^-1 W for the probes W = P^1/2 Z, and z_j' g(M) z_j from the same conjugate
        gradients' Lanczos coefficients (one run for the value and the gradient)."""
        if self._probes is None:
            z = self.pattern.probes
            w = np.sqrt(self.diag)[:, None] * z
            x, _, tridiagonals = conjugate_gradients(self._matvec, w, self.inv_diag,
                                                     self.rtol, self.max_iter, lanczos=True)
            self._probes = (w, x), quadrature(tridiagonals, np.linalg.norm(z, axis=0))
        return self._probes

    def _inverse_on_pattern(self) -> np.ndarray:
        """H^-1 on H's pattern: M0 = P^-1 - P^-1 (H - P) P^-1 exactly, plus the probes'
        estimate of R = H^-1 - M0: E[(R w) w'] = R P, symmetrised."""
        pat = self.pattern
        (w, x), _ = self._probe_solves()
        scaled = self.inv_diag[:, None] * w
        off_scaled = self.h @ scaled - self.diag[:, None] * scaled  # (H - P) P^-1 w
        rw = x - (scaled - self.inv_diag[:, None] * off_scaled)
        k = w.shape[1]
        # symmetric: each pair once (a <= b), then mirrored
        upper, mirror = pat.upper, pat.mirror
        half = np.empty(len(upper))
        step = max(1, 4_000_000 // k)
        for start in range(0, len(upper), step):  # bounded temporaries
            at = upper[start:start + step]
            a, b = pat.rows[at], pat.cols[at]
            half[start:start + step] = 0.5 * (
                np.einsum("ij,ij->i", rw[a], scaled[b])
                + np.einsum("ij,ij->i", rw[b], scaled[a])) / k
        estimate = half[mirror]
        m0 = -self.h.data * self.inv_diag[pat.rows] * self.inv_diag[pat.cols]
        m0[pat.on_diagonal] = self.inv_diag
        return m0 + estimate

    def observation_inverse(self, values: np.ndarray):
        """As `HessianFactor.observation_inverse`: P a_i, a_i' P a_i with P = H^-1 (here
        estimated), and H^-1's diagonal blocks per term and level."""
        inverse = self._inverse_on_pattern()
        pv = inverse[self.pattern.position]
        pa = np.einsum("ist,it->is", pv, values)
        leverage = np.einsum("is,is->i", values, pa)
        pat = self.pattern
        keys = pat.rows.astype(np.int64) * pat.q + pat.cols  # sorted: the pattern is canonical
        blocks = []
        for offset, n_levels, r in self.random.layout:
            idx = offset + np.arange(n_levels)[:, None] * r + np.arange(r)[None, :]
            wanted = idx[:, :, None].astype(np.int64) * pat.q + idx[:, None, :]
            blocks.append(inverse[np.searchsorted(keys, wanted)])
        return pa, leverage, blocks

