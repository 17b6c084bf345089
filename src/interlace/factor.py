"""Factorisation of the random-effects Hessian H = I + A' W D A, and what the gradient needs of it.

The first random term (the one with most levels) touches one level per observation, so its
block H11 is block-diagonal with r x r blocks and is inverted block by block. The other terms
are eliminated through a dense Schur complement S = H22 - H21 H11^-1 H12 of size
q2 = q - q1, which is small for crossed and nested designs once the largest factor is gone;
with a single term q2 = 0 and every operation is O(n).

`BlockParts` holds what some rows owning whole levels of the first term contribute (their
H11 blocks, H12, their share of S): all the rows in `HessianFactor`, one partition's in
`partitioned`. The sparsity pattern is fixed by the design (`HessianPattern`, built once); each
factorisation only scatters new values into it with ``np.bincount``. The gradient of the
Laplace objective needs H^-1 only where two columns of A meet in one observation; those
entries are produced by `HessianFactor.observation_inverse`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .design import RandomDesign
from .rows import index_dtype, row_blocks
from .threads import blas_threads

_BATCH_ENTRIES = 20_000_000  # padded w x w entries of S^-1 a batch of levels gathers at once
# a level meeting more than q2 / 25 columns: rows of M S^-1 are cheaper than a w x w gather
# (measured at q2 = 2,000, w = 100: 1.6 s against 2.0 s; w^2 random reads cost about 25
# times a streamed multiply-add)
_WIDE_LEVEL = 25


class NotPositiveDefinite(np.linalg.LinAlgError):
    """H is not positive definite at these parameters."""


def inverse_from_cholesky(factor: tuple) -> np.ndarray:
    """A^-1 from A's Cholesky factor ``(c, lower)`` as `schur_cholesky` and scipy's
    cho_factor give it (LAPACK potri: half the work of a solve with I)."""
    c, lower = factor
    inv, info = scipy.linalg.lapack.dpotri(c, lower=int(lower), overwrite_c=0)
    if info != 0:
        raise NotPositiveDefinite("cannot invert the Schur complement")
    # potri fills one triangle; the other is copied over tile by tile (a whole-matrix
    # transpose would walk memory across the cache and allocate a q2 x q2 temporary)
    filled = inv if lower else inv.T  # filled[i, j] holds A^-1 for i >= j
    n, tile = len(inv), 512
    for i in range(0, n, tile):
        for j in range(0, i + tile, tile):
            block = filled[i:i + tile, j:j + tile]
            if j < i:
                filled[j:j + tile, i:i + tile] = block.T
            elif j == i:
                upper = np.triu_indices(len(block), 1)
                block[upper] = block.T[upper]
    return inv if inv.flags.c_contiguous else inv.T  # symmetric: C order for the gathers


def schur_cholesky(schur_part: np.ndarray) -> tuple:
    """The Cholesky factor of S = I + ``schur_part`` as ``(c, lower)`` (scipy's cho_factor
    convention), formed in ``schur_part``'s memory, which it consumes: a q2 x q2 copy costs
    a quarter of a second of page faults at q2 = 5,000."""
    schur_part.flat[:: len(schur_part) + 1] += 1.0
    try:
        # S is symmetric and its transpose Fortran-ordered: LAPACK works in place, and the
        # factor stays Fortran-ordered for potrs and potri (no copy per solve)
        c, info = scipy.linalg.lapack.dpotrf(schur_part.T, lower=0, overwrite_a=1, clean=1)
    except ValueError as exc:
        raise NotPositiveDefinite("the Schur complement is not finite") from exc
    if info != 0:
        raise NotPositiveDefinite("the Schur complement is not positive definite")
    return c, False


def cholesky_logdet(factor: tuple) -> float:
    """log det A from its Cholesky factor ``(c, lower)``."""
    return 2.0 * float(np.sum(np.log(np.diag(factor[0]))))


class HessianPattern:
    """Index maps from observation entries to the blocks of H, computed once per design."""

    def __init__(self, random: RandomDesign, index_maps: bool = True):
        first = random.terms[0]
        self.r0 = r0 = first.size
        self.n_levels0 = first.n_levels
        self.q1 = q1 = first.n_levels * r0
        self.q = random.q
        self.q2 = q2 = self.q - q1
        self.cols = random.cols
        self.level0 = first.index
        self.layout = random.layout
        self.block_index = None  # where each row's r0 x r0 outer product goes (r0 > 1)
        if r0 > 1:
            s, t = np.meshgrid(np.arange(r0), np.arange(r0), indexing="ij")
            self.block_index = (first.index.astype(np.int64)[:, None, None] * r0 * r0
                                + (s * r0 + t)[None]).ravel()
        if q2 == 0 or not index_maps:  # without them: the sizes only
            return
        cols0 = random.cols[:, :r0].astype(np.int64)
        cols_rest = random.cols[:, r0:].astype(np.int64) - q1
        keys = cols0[:, :, None] * q2 + cols_rest[:, None, :]
        del cols0
        unique_keys, inverse = np.unique(keys.ravel(), return_inverse=True)
        # positions 32-bit where they fit (`rows.index_dtype`): a partition holds tens of
        # millions of rows of them
        small = index_dtype(len(unique_keys))
        self.h12_pos = inverse.reshape(keys.shape).astype(small)  # (n, r0, m2) in H12's data
        del keys, inverse
        self.h12_rows = (unique_keys // q2).astype(index_dtype(q1))
        self.h12_cols = (unique_keys % q2).astype(index_dtype(q2))
        del unique_keys
        self.h12_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(self.h12_rows, minlength=q1))]
        )
        # H22's entries (for crossed factors only its diagonal): positions in S, flat
        self.h22_flat, h22_pos = np.unique(
            (cols_rest[:, :, None] * q2 + cols_rest[:, None, :]).ravel(), return_inverse=True)
        self.h22_pos = h22_pos.astype(index_dtype(len(self.h22_flat)))
        self.cols_rest = cols_rest.astype(index_dtype(q2))
        self.level_batches = _level_batches(self)


@dataclass
class LevelBatch:
    """Levels of the first term whose rows meet about w columns of the other terms, padded
    to w: H12's data positions ``pos`` (L, r0, w; 0 on the padding), whether each is
    padding (``pad``, L x w) and the columns met (``cols``, L x w, ascending)."""

    levels: np.ndarray
    pos: np.ndarray
    pad: np.ndarray
    cols: np.ndarray


def _level_batches(pat: HessianPattern) -> list[LevelBatch]:
    """The first term's levels in batches of similar width w (the other terms' columns a
    level meets), each batch's padded w x w blocks bounded in size, so that work on S's
    entries a level meets is one gather and one batched product per batch (w^2 per level,
    not w q2). Levels meeting no other column are left out."""
    r0 = pat.r0
    width = pat.h12_indptr[1::r0] - pat.h12_indptr[0:-1:r0]  # a level's rows share columns
    order = np.argsort(width, kind="stable")
    sorted_width = width[order]
    batches = []
    start = np.searchsorted(sorted_width, 1)
    while start < len(order):
        w_lo = sorted_width[start]
        # widths within a quarter of the batch's narrowest, and its padded blocks bounded
        stop = np.searchsorted(sorted_width, w_lo + max(4, w_lo // 4), side="right")
        w = int(sorted_width[stop - 1])
        stop = min(stop, start + max(1, _BATCH_ENTRIES // (w * w)))
        w = int(sorted_width[stop - 1])
        levels = order[start:stop]
        col = np.arange(w)
        pad = col[None, :] >= width[levels][:, None]
        rows = levels[:, None] * r0 + np.arange(r0)[None, :]
        pos = pat.h12_indptr[rows][:, :, None] + col[None, None, :]
        pos[np.broadcast_to(pad[:, None, :], pos.shape)] = 0
        pos = pos.astype(pat.h12_pos.dtype)
        batches.append(LevelBatch(levels, pos, pad, pat.h12_cols[pos[:, 0, :]]))
        start = stop
    return batches


def _block_apply(blocks: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Apply block-diagonal (nlev, r, r) blocks to x laid out level by level."""
    nlev, r, _ = blocks.shape
    if r == 1:
        return blocks[:, 0, 0].reshape((nlev,) + (1,) * (x.ndim - 1)) * x
    xs = x.reshape((nlev, r) + x.shape[1:])
    return np.einsum("jst,jt...->js...", blocks, xs).reshape(x.shape)


class BlockParts:
    """What rows that own whole levels of the first term add to H: the inverse of their
    H11 blocks and its log-determinant, H12 and M = H11^-1 H12 on their levels, and their
    share of H22 - H12' M (without H22's identity, which the whole S takes once). With
    all the rows, S = I + ``schur``."""

    def __init__(self, pattern: HessianPattern, values: np.ndarray, wd: np.ndarray):
        self.pattern = pat = pattern
        r0 = pat.r0
        v0 = values[:, :r0]
        if r0 == 1:
            h = np.bincount(pat.level0, weights=wd * v0[:, 0] ** 2, minlength=pat.n_levels0)
            h += 1.0
            if not np.all(h > 0):
                raise NotPositiveDefinite("H11 is not positive definite")
            self.inv11 = (1.0 / h)[:, None, None]
            self.logdet11 = float(np.sum(np.log(h)))
        else:
            outer = wd[:, None, None] * v0[:, :, None] * v0[:, None, :]
            blocks = np.bincount(pat.block_index, weights=outer.ravel(),
                                 minlength=pat.n_levels0 * r0 * r0).reshape(pat.n_levels0, r0, r0)
            blocks += np.eye(r0)
            try:
                chol = np.linalg.cholesky(blocks)
            except np.linalg.LinAlgError as exc:
                raise NotPositiveDefinite("H11 is not positive definite") from exc
            inv_chol = np.linalg.inv(chol)
            self.inv11 = np.einsum("jts,jtu->jsu", inv_chol, inv_chol)
            self.logdet11 = 2.0 * float(np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2))))
        self.h12 = self.m = self.schur = None
        if pat.q2 == 0:
            return
        vr = values[:, r0:]
        cross = wd[:, None, None] * v0[:, :, None] * vr[:, None, :]
        h12_data = np.bincount(pat.h12_pos.ravel(), weights=cross.ravel(),
                               minlength=len(pat.h12_rows))
        self.h12 = sp.csr_matrix((h12_data, pat.h12_cols, pat.h12_indptr), shape=(pat.q1, pat.q2))
        rest = wd[:, None, None] * vr[:, :, None] * vr[:, None, :]
        h22 = np.bincount(pat.h22_pos, weights=rest.ravel(), minlength=len(pat.h22_flat))
        self.m = self._apply_inv11_sparse(self.h12)  # H11^-1 H12
        # (a scatter of each level's pairs of columns measured no faster than this product)
        self.schur = (self.h12.T @ self.m).toarray()
        np.negative(self.schur, out=self.schur)
        self.schur.flat[pat.h22_flat] += h22

    def _apply_inv11_sparse(self, mat: sp.csr_matrix) -> sp.csr_matrix:
        pat = self.pattern
        if pat.r0 == 1:
            out = mat.copy()
            out.data = out.data * self.inv11[:, 0, 0][pat.h12_rows]
            return out
        nlev, r, _ = self.inv11.shape
        rows = np.repeat(np.arange(nlev * r), r)
        cols = (np.arange(nlev)[:, None, None] * r + np.arange(r)[None, None, :]
                + 0 * np.arange(r)[None, :, None]).ravel()
        binv = sp.csr_matrix((self.inv11.ravel(), (rows, cols)), shape=(pat.q1, pat.q1))
        return (binv @ mat).tocsr()


def _selected_cross(pat: HessianPattern, h12_data, inv11, s_inv) -> tuple:
    """(H^-1)_12 = -M S^-1 on H12's pattern and the diagonal blocks of M S^-1 M', with
    M = H11^-1 H12, batch by batch of the first term's levels (`LevelBatch`): a level
    whose rows meet w columns of the other terms needs S^-1 on those w x w entries only."""
    correction = np.zeros_like(inv11)
    p12 = np.empty(len(h12_data))
    for batch in pat.level_batches:
        # numpy gathers and scatters through 32-bit indices slowly: widened per batch
        pos, cols = batch.pos.astype(np.intp), batch.cols.astype(np.intp)
        m = _batch_m(batch, pos, h12_data, inv11)
        if cols.shape[1] * _WIDE_LEVEL > pat.q2:
            ms = _rows_times_s_inv(m, cols, s_inv)
        else:
            ms = np.einsum("ltw,lwv->ltv", m, s_inv[cols[:, :, None], cols[:, None, :]])
        keep = ~np.broadcast_to(batch.pad[:, None, :], pos.shape)
        p12[pos[keep]] = -ms[keep]  # ms: rows of M S^-1
        correction[batch.levels] = np.einsum("lsv,ltv->lst", ms, m)
    return correction, p12


def _rows_times_s_inv(m: np.ndarray, cols: np.ndarray, s_inv: np.ndarray) -> np.ndarray:
    """(M S^-1) on the columns each level meets, through whole rows of M S^-1 (a sparse x
    dense product, a few levels at a time): for levels wider than q2 / `_WIDE_LEVEL` the
    product streams through S^-1 faster than w^2 scattered reads of it."""
    n_levels, r0, w = m.shape
    out = np.empty_like(m)
    step = max(1, _BATCH_ENTRIES // (r0 * len(s_inv)))
    for lo in range(0, n_levels, step):
        part = m[lo:lo + step].reshape(-1, w)  # one row per (level, coefficient)
        where = np.repeat(cols[lo:lo + step], r0, axis=0)
        rows = sp.csr_matrix((part.ravel(), (np.repeat(np.arange(len(part)), w), where.ravel())),
                             shape=(len(part), len(s_inv)))
        out[lo:lo + step] = np.take_along_axis(rows @ s_inv, where, axis=1).reshape(-1, r0, w)
    return out


def _batch_m(batch: LevelBatch, pos, h12_data, inv11) -> np.ndarray:
    """A batch's rows of M = H11^-1 H12, (L, r0, w), zero on the padding (``pos``: the
    batch's positions in H12's data)."""
    h12 = np.where(batch.pad[:, None, :], 0.0, h12_data[pos])
    # einsum, not matmul: numpy's batched matmul of many small matrices is 20x slower
    return np.einsum("lst,ltw->lsw", inv11[batch.levels], h12)


def term_inverse_blocks(layout, p11: np.ndarray, s_inv) -> list[np.ndarray]:
    """H^-1's diagonal blocks, (levels, r, r) per term, from the first term's blocks and S^-1
    (``layout``: each term's offset in u, levels and size)."""
    blocks = [p11]
    q1 = layout[0][1] * layout[0][2]
    for offset, n_levels, r in layout[1:]:
        idx = offset - q1 + np.arange(n_levels)[:, None] * r + np.arange(r)[None, :]
        blocks.append(s_inv[idx[:, :, None], idx[:, None, :]])
    return blocks


class HessianFactor:
    """H = I + A' diag(wd) A for the entries ``values`` (n, m) of A, factorised; S's
    factorisation and inverse with ``threads`` BLAS threads (None: the fit's)."""

    def __init__(self, pattern: HessianPattern, values: np.ndarray, wd: np.ndarray,
                 threads: int | None = None):
        parts = BlockParts(pattern, values, wd)
        self._take(parts)
        self.threads = threads
        self.logdet = parts.logdet11
        if pattern.q2 == 0:
            return
        with blas_threads(threads):
            self.chol_s = schur_cholesky(parts.schur)
        self.logdet += cholesky_logdet(self.chol_s)

    def _take(self, parts: BlockParts) -> None:
        self.pattern, self.inv11, self.h12, self.m = parts.pattern, parts.inv11, parts.h12, parts.m
        self.s_inv = None

    @classmethod
    def of_rows(cls, parts: BlockParts, s_inv, logdet: float) -> HessianFactor:
        """The factor as seen from some rows owning whole levels of the first term (a
        partition), for the selected inverse: their blocks, with the inverse of the whole S
        (``s_inv``, formed once by whoever holds S) and the whole log-determinant."""
        factor = cls.__new__(cls)
        factor._take(parts)
        factor.threads = None  # S^-1 is given
        factor.s_inv, factor.logdet = s_inv, logdet
        return factor

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b."""
        pat = self.pattern
        if pat.q2 == 0:
            return _block_apply(self.inv11, b)
        b1, b2 = b[: pat.q1], b[pat.q1:]
        x2 = scipy.linalg.cho_solve(self.chol_s, b2 - self.m.T @ b1, check_finite=False)
        x1 = _block_apply(self.inv11, b1) - self.m @ x2
        return np.concatenate([x1, x2])

    def _inverse_parts(self):
        """Diagonal blocks of (H^-1)_11, (H^-1)_12 on H12's pattern, and (H^-1)_22."""
        pat = self.pattern
        if pat.q2 == 0:
            return self.inv11, None, None
        s_inv = self.s_inv
        if s_inv is None:
            with blas_threads(self.threads):
                s_inv = inverse_from_cholesky(self.chol_s)
        correction, p12 = _selected_cross(pat, self.h12.data, self.inv11, s_inv)
        return self.inv11 + correction, p12, s_inv

    def observation_inverse(self, values: np.ndarray):
        """For each observation i: P a_i (n, m) and a_i' P a_i (n,), with P = H^-1.

        Also returns the diagonal blocks of H^-1 per term and level, for conditional variances.
        """
        pat = self.pattern
        p11, p12, s_inv = self._inverse_parts()
        r0 = pat.r0
        n, m = values.shape
        pa, leverage = np.empty((n, m)), np.empty(n)
        # a block of rows at a time: the (rows, m, m) blocks of P are the largest temporary
        for rows in row_blocks(n):
            pv = np.empty((len(leverage[rows]), m, m))
            pv[:, :r0, :r0] = p11[pat.level0[rows]]
            if pat.q2:
                cross = p12[pat.h12_pos[rows]]
                pv[:, :r0, r0:] = cross
                pv[:, r0:, :r0] = np.swapaxes(cross, 1, 2)
                cr = pat.cols_rest[rows]
                pv[:, r0:, r0:] = s_inv[cr[:, :, None], cr[:, None, :]]
            pa[rows] = np.einsum("ist,it->is", pv, values[rows])
            leverage[rows] = np.einsum("is,is->i", values[rows], pa[rows])
        return pa, leverage, term_inverse_blocks(pat.layout, p11, s_inv)
