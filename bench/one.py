"""Fit one benchmark case in this process and print its figures as JSON (run by bench.run).

A fresh process per case makes the peak resident memory that case's own.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
import warnings

import numpy as np

import interlace

from .cases import CASES, LARGE_CASES


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def main(name: str, repeats: int) -> None:
    case = {**CASES, **LARGE_CASES}[name]()
    control = interlace.Control(**(case.control or {}))
    times, fit = [], None
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fit = interlace.clmm(case.formula, case.data, nAGQ=case.nagq,
                                 nominal=case.nominal, scale=case.scale, control=control)
            times.append(time.perf_counter() - start)
        if times[0] > 10.0:
            break
    print(json.dumps({
        "seconds": statistics.median(times),
        "runs": len(times),
        "peak_mb": peak_rss_mb(),
        "logLik": fit.llf,
        "n_fev": fit.n_fev,
        "n_inner": fit.n_inner,
        "max_grad": fit.max_grad,
        "converged": fit.converged,
        "nobs": fit.nobs,
        "solver": fit.optinfo.random_solver,
        "loglik_se": fit.optinfo.loglik_se,
        # for the distance between the iterative and the exact path on the same data
        "estimates": {**{f"threshold {k}": v for k, v in fit.threshold_params.items()},
                      **fit.fe_params.to_dict(),
                      **{f"sd {k}": float(np.sqrt(v)) for k, v in
                         fit.variance_components.items() if np.ndim(v) == 0}},
    }))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
