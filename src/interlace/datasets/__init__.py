"""The wine and soup data sets of R's ordinal package, with R's factor levels and order.

Exported from R by ``tests/fixtures/export_datasets.R``; factor columns come back as pandas
Categoricals with R's level order, ordered where R's factor is ordered (the responses).
"""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd

__all__ = ["load_soup", "load_wine"]


def _load(name: str) -> pd.DataFrame:
    base = resources.files(__name__)
    meta = json.loads((base / f"{name}_levels.json").read_text())
    with (base / f"{name}.csv").open("r") as fh:
        df = pd.read_csv(fh, dtype={col: str for col in meta})
    for col, info in meta.items():
        df[col] = pd.Categorical(df[col], categories=info["levels"], ordered=info["ordered"])
    return df


def load_wine() -> pd.DataFrame:
    """Bitterness of wine (Randall 1989): 72 ratings by 9 judges; ``rating`` is ordered 1 < ... < 5.

    >>> load_wine().shape
    (72, 6)
    """
    return _load("wine")


def load_soup() -> pd.DataFrame:
    """Sureness of discrimination of soups: 1847 ratings by 185 respondents; ``SURENESS`` 1 < ... < 6.

    >>> load_soup().shape
    (1847, 12)
    """
    return _load("soup")
