"""BLAS threads: the fit's limit (``fit(threads=)``, one by default: most of a fit is small
dense products, where threads spin) and more threads around the Schur complement's large
dense kernels (``Control.dense_threads``), where they pay.

Measured on this project's 2-core machine, q2 = 5,000: Cholesky 0.77 -> 0.44 s and its
inverse (potri) 1.35 -> 0.70 s with 2 threads.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from functools import lru_cache

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def blas_controller() -> ThreadpoolController:
    """Scanning the loaded libraries costs milliseconds; do it once per process."""
    return ThreadpoolController()


def blas_threads(limit: int | None):
    """A context in which BLAS uses ``limit`` threads (None: as it is)."""
    if limit is None:
        return nullcontext()
    return blas_controller().limit(limits=limit, user_api="blas")


_IN_POOL = [False]  # this process is one of a pool's workers (`pool_worker`)


def pool_worker() -> None:
    """The initializer of a pool of processes that fit in parallel (bootstrap, profiles):
    they share the cores already, so no fit of theirs takes more than its own."""
    _IN_POOL[0] = True


def dense_kernel_threads(control, size: int) -> int | None:
    """Threads for a factorisation or inverse of a ``size`` x ``size`` matrix: the control's
    ``dense_threads`` (0: every core) from ``dense_threads_from``, else None (the fit's
    limit; always in a pool's worker)."""
    if control is None or size < control.dense_threads_from or _IN_POOL[0]:
        return None
    return control.dense_threads or os.cpu_count() or 1
