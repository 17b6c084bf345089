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
def fitted(formula: str, data: str, link: str = "logit", optimizer: str = "lbfgsb"):
    with warnings.catch_warnings():
        warnings.simplefilter("error", interlace.ConvergenceWarning)
        return interlace.clmm(formula, dataset(data), link=link, optimizer=optimizer)


@pytest.fixture
def ref():
    return reference()
