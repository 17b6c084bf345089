"""The parametric bootstrap: responses simulated from a fit (new random effects each time),
the model refitted to each on the same rows.

- `bootstrap_lrt(small, large)`: the likelihood-ratio statistic's null distribution from
  simulations of the smaller model, each refitted by both; p = (1 + #{LR* >= LR}) /
  (1 + successful refits). Where a variance component is tested its value under the null
  is on the boundary, and the chi-square reference is wrong (it is a mixture).
- `bootstrap(result)`: percentile intervals of every estimate from refits to simulations
  of the fit itself.

All responses are drawn first, from one generator seeded by ``seed``, so the answer does not
depend on ``n_jobs`` (processes refitting in parallel). A simulation that leaves a response
category empty, or whose refit does not converge, is counted as failed and left out.
"""

from __future__ import annotations

import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .arguments import check_level, checked_jobs
from .threads import pool_worker

_MODELS: tuple = ()  # the models this process refits (`_set_models`)


@dataclass
class BootstrapLRT:
    statistic: float  # the observed likelihood-ratio statistic
    p_value: float
    simulated: np.ndarray  # the statistics of the successful refits
    n_failed: int

    def __str__(self) -> str:
        return (f"parametric bootstrap LRT: LR = {self.statistic:.4f}, p = {self.p_value:.4g} "
                f"({len(self.simulated)} simulations, {self.n_failed} failed)")


def _models(result):
    fitter = result.refitter
    if fitter is None or fitter.model is None:
        raise ValueError("the bootstrap refits the model: it needs the fit itself (an "
                         "unpickled result has no model)")
    return fitter.model


def _set_models(models):
    global _MODELS
    _MODELS = models


def _start_worker(models):
    _set_models(models)
    pool_worker()


def _refit(codes):
    """llf and estimates of each model refitted to one simulated response (None: failed)."""
    out = []
    for model in _MODELS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = model.with_response(codes).fit()
        except (ValueError, np.linalg.LinAlgError):
            return None
        if not fit.converged:
            return None
        sds = [np.sqrt(np.diag(np.atleast_2d(np.asarray(v, dtype=float))))
               for v in fit.variance_components.values()]
        out.append((fit.llf, np.concatenate([fit.params.to_numpy()] + sds)))
    return out


def _run(models, responses, n_jobs: int, label: str):
    """Refits of every simulated response, in order, with progress on a terminal."""
    show = sys.stderr.isatty()
    results = []
    if n_jobs == 1:
        _set_models(models)
        iterator = map(_refit, responses)
    else:
        pool = ProcessPoolExecutor(n_jobs, initializer=_start_worker, initargs=(models,))
        iterator = pool.map(_refit, responses, chunksize=max(1, len(responses) // (4 * n_jobs)))
    try:
        for i, res in enumerate(iterator, 1):
            results.append(res)
            if show:
                print(f"\r{label}: {i}/{len(responses)}", end="", file=sys.stderr, flush=True)
    finally:
        if n_jobs != 1:
            pool.shutdown()
        if show:
            print(file=sys.stderr)
    return results


def _responses(result, nsim, seed):
    sims = result.simulate(nsim=nsim, seed=seed, re_form="new")
    return [sims[c].cat.codes.to_numpy().astype(np.int64) for c in sims.columns]


def bootstrap_lrt(small, large, nsim: int = 200, seed=None, n_jobs: int = 1) -> BootstrapLRT:
    """Parametric bootstrap of the likelihood-ratio test of ``small`` against ``large``
    (nested fits of the same data, e.g. ``clm`` against ``clmm`` for a variance component)."""
    n_jobs = checked_jobs(n_jobs)
    if small.data_key != large.data_key:
        raise ValueError("the fits are to different data or responses")
    if small.edf > large.edf:
        small, large = large, small
    observed = 2.0 * (large.llf - small.llf)
    runs = _run((_models(small), _models(large)), _responses(small, nsim, seed), n_jobs,
                "bootstrap LRT")
    lr = np.array([2.0 * (b[0] - a[0]) for a, b in (r for r in runs if r is not None)])
    lr = np.maximum(lr, 0.0)  # a refit's rounding below 0 is 0
    p = (1 + np.sum(lr >= observed - 1e-8)) / (1 + len(lr))
    return BootstrapLRT(observed, float(p), lr, sum(r is None for r in runs))


def bootstrap(result, nsim: int = 200, seed=None, level: float = 0.95,
              n_jobs: int = 1) -> pd.DataFrame:
    """See `CLMMResult.bootstrap`."""
    check_level(level)
    n_jobs = checked_jobs(n_jobs)
    runs = _run((_models(result),), _responses(result, nsim, seed), n_jobs, "bootstrap")
    draws = np.array([r[0][1] for r in runs if r is not None])
    if len(draws) == 0:
        raise ValueError(f"all {nsim} bootstrap refits failed (an empty response category "
                         "or no convergence in every simulation)")
    names = list(result.params.index) + [
        f"sd({n}|{g})" for g, names in result.term_names.items() for n in names]
    estimates = np.concatenate([result.params.to_numpy()] + [
        np.sqrt(np.diag(np.atleast_2d(np.asarray(v, dtype=float))))
        for v in result.variance_components.values()])
    tail = (1 - level) / 2
    table = pd.DataFrame({"estimate": estimates,
                          "lower": np.quantile(draws, tail, axis=0),
                          "upper": np.quantile(draws, 1 - tail, axis=0)}, index=names)
    table.attrs.update(n_ok=len(draws), n_failed=sum(r is None for r in runs), draws=draws)
    return table
