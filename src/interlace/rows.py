"""Rows in blocks: per-observation work (the link computations, the gradient's sums,
prediction) goes a block of rows at a time, so that a block's temporaries stay in the CPU
cache; at a million rows, streaming whole-length temporaries through memory doubled the cost
of the link computations. One rule, steered by ``Control.block_rows``."""

from __future__ import annotations

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
