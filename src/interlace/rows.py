"""Rows in blocks: per-observation work (the link computations, the gradient's sums,
prediction) goes a block of rows at a time, so that a block's temporaries stay in the CPU
cache; at a million rows, streaming whole-length temporaries through memory doubled the cost
of the link computations. One rule, steered by ``Control.block_rows``.

Per-row arrays are also kept small: an array whose rows are all equal (unit weights, no
offset, a random intercept's covariate, A's entries over such terms) is one row broadcast
(`shared_rows`, read-only), and positions are 32-bit where they fit (`index_dtype`); on a
Dask worker holding tens of millions of rows, these are most of what a row costs."""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 1 << 15  # rows per block (a dozen temporaries of doubles: ~3 MB)
VALUES_PER_ROW = 64  # what a row's share of a block may hold where a row has many values


def row_blocks(n: int, block_rows: int = BLOCK_ROWS, values_per_row: int = 1) -> list[slice]:
    """Consecutive ranges covering n rows; a row holding ``values_per_row`` values (categories
    x quadrature nodes in prediction) counts as that many over `VALUES_PER_ROW`. One range
    for up to twice a block; one empty range for no rows."""
    size = max(1, block_rows * VALUES_PER_ROW // max(values_per_row, VALUES_PER_ROW))
    if n <= 2 * size:
        return [slice(0, n)]
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


def reduction_block_rows(block_rows: int, q: int, rows_per_level: int) -> int:
    """Rows per block of a pass whose blocks each add q-sized partial sums (the gradient):
    at least ``rows_per_level * q``, so that the O(q) work per block stays a small share."""
    return max(block_rows, rows_per_level * q)


def index_dtype(size: int):
    """The integer type for positions below ``size``: 32 bits where they fit. Arithmetic on
    them that can pass 2**31 (keys of pairs) casts to int64 first."""
    return np.int32 if size < 2**31 else np.int64


def shared_rows(a: np.ndarray) -> np.ndarray:
    """``a`` with its rows stored once where they are all equal: a read-only broadcast of
    the first row (no memory per row), else ``a`` itself."""
    a = np.asarray(a)
    if len(a) < 2 or is_shared(a) or not np.array_equal(a, np.broadcast_to(a[:1], a.shape)):
        return a
    return np.broadcast_to(a[:1], a.shape)


def is_shared(a: np.ndarray) -> bool:
    """Whether ``a``'s rows are one row broadcast (`shared_rows`)."""
    return a.ndim > 0 and len(a) > 1 and a.strides[0] == 0


def take_rows(a: np.ndarray, index) -> np.ndarray:
    """``a[index]``, a shared row staying shared."""
    if not is_shared(a):
        return a[index]
    n = int(np.count_nonzero(index)) if np.asarray(index).dtype == bool else len(index)
    return np.broadcast_to(a[:1], (n,) + a.shape[1:])
