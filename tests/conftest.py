"""Shared fixtures: the R reference values and the fits they are compared with (fitted once)."""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import pytest

import interlace

FIXTURES = Path(__file__).parent / "fixtures"


@cache
def reference() -> dict:
    return json.loads((FIXTURES / "clmm_reference.json").read_text())


@cache
def dataset(name: str):
    return {"wine": interlace.load_wine, "soup": interlace.load_soup}[name]()


@cache
def fitted(formula: str, data: str, link: str = "logit", optimizer: str = "newton"):
    with warnings.catch_warnings():
        warnings.simplefilter("error", interlace.ConvergenceWarning)
        return interlace.clmm(formula, dataset(data), link=link, optimizer=optimizer)


@pytest.fixture
def ref():
    return reference()


@cache
def extras() -> dict:
    return json.loads((FIXTURES / "extras_reference.json").read_text())


def assert_matches_r(fit, ref: dict, loglik_tol: float = 1e-4):
    """The parity rules of issue #2 for a fit against one summarise_fit() record of R's."""
    import numpy as np

    assert fit.converged
    assert fit.llf >= ref["logLik"] - loglik_tol
    # AIC and BIC follow from the log-likelihood, the parameter count and nobs, as in R
    assert fit.aic == pytest.approx(-2 * fit.llf + 2 * (ref["AIC"] + 2 * ref["logLik"]) / 2)
    assert fit.aic <= ref["AIC"] + 2 * loglik_tol
    assert fit.bic <= ref["BIC"] + 2 * loglik_tol
    assert fit.bic - fit.aic == pytest.approx(ref["BIC"] - ref["AIC"], abs=1e-8)
    coefs = ref["coefficients"]
    assert list(fit.params.index) == list(coefs)
    theirs = np.array(list(coefs.values()))
    assert np.all(np.abs(fit.params.values - theirs) <= 1e-3 * np.maximum(1, np.abs(theirs)))
    np.testing.assert_allclose(fit.bse.values, [ref["se"][k] for k in coefs], rtol=0.01)
    cuts = ref["cut_points"]
    assert list(fit.thresholds) == list(cuts)
    theirs = np.array(list(cuts.values()))
    assert np.all(np.abs(np.array(list(fit.thresholds.values())) - theirs)
                  <= 1e-3 * np.maximum(1, np.abs(theirs)))
    for name, st in ref["ST"].items():
        sd = np.sqrt(np.diag(np.atleast_2d(np.asarray(fit.variance_components[name], float))))
        np.testing.assert_allclose(sd, np.diag(np.atleast_2d(st)), rtol=0.01)
