"""R's functions in formulas, as formulaic evaluates them (`rformula` reads the formula).

`FUNCTIONS` maps each R function a formula may call to the callable formulaic is given for
it in `CONTEXT` (None: formulaic's own of that name); `CONTEXT` also holds what the
translation writes for R's codings that have no function of their own: an ordered factor's
polynomial contrasts (`ORDERED`) and as.numeric() of a factor (`LEVEL_NUMBERS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from formulaic.transforms import stateful_transform
from formulaic.transforms.contrasts import PolyContrasts


def _r_log(x, base=None):
    return np.log(x) if base is None else np.log(x) / np.log(base)


def _r_factor(x):
    """R's ``factor()``: a categorical of the sorted distinct values (kept by formulaic's
    encoder state, so new data is coded with the fitting levels)."""
    s = pd.Series(x)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s
    return s.astype(pd.CategoricalDtype(np.unique(s.dropna().to_numpy())))


def _in_levels(s: pd.Series, levels: list) -> pd.Categorical:
    """``s`` as a categorical over the fitting data's ``levels`` (its values by their text,
    so that text and categories of new data match alike)."""
    return pd.Categorical(s.astype(object).map(str, na_action="ignore"), categories=levels)


@stateful_transform
def _r_relevel(x, ref, _state: dict = {}):  # noqa: B006 (formulaic passes the state)
    """R's ``relevel(f, ref)``: the factor with ``ref`` as its first level (the reference);
    as in R, for an unordered factor and a level it has. The fitting data's levels are kept
    in the state, so that new data with some levels only is coded as the fit was."""
    s = pd.Series(x)
    if "levels" not in _state:
        s = _r_factor(s)
        if s.cat.ordered:
            raise ValueError("relevel() is for unordered factors, as in R; make the column "
                             "unordered, or put its levels in the order wanted")
        levels = [str(v) for v in s.cat.categories]
        if ref not in levels:
            raise ValueError(f"relevel(): {ref!r} is not a level; the levels are {levels}")
        _state["levels"] = [ref] + [v for v in levels if v != ref]
    return pd.Series(_in_levels(s, _state["levels"]), index=s.index)


def _r_numeric(x):
    return pd.Series(x).astype(float)


@stateful_transform
def _level_numbers(x, _state: dict = {}):  # noqa: B006 (formulaic passes the state)
    """R's as.numeric() of a factor: each value's level number, 1..k, among the levels of
    the fitting data (kept in the model spec's state, so that new data holding some levels
    only is numbered as the fit was; nan for a level not seen). A value given as a number
    already (the nominal thresholds' table at 0) is kept."""
    s = pd.Series(x)
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype(float).to_numpy()
    if "levels" not in _state:
        _state["levels"] = [str(v) for v in s.cat.categories]
    codes = _in_levels(s, _state["levels"]).codes
    return np.where(codes < 0, np.nan, codes + 1.0)


# R function -> the callable formulaic evaluates (None: formulaic's own of that name)
FUNCTIONS = {
    "I": None, "C": None, "scale": None, "center": None, "poly": None,
    "log": _r_log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp,
    "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "factor": _r_factor, "as.factor": _r_factor, "relevel": _r_relevel,
    "as.numeric": _r_numeric,
}
# R codes an ordered factor by orthogonal polynomials (contrasts options' second entry):
# its columns are C(x, ORDERED_), named back as R's x.L, x.Q, x.C, x^4
ORDERED = "r_ordered_"
LEVEL_NUMBERS = "r_level_numbers_"  # as.numeric(f) of a factor: R's 1..k
CONTEXT = {name.replace(".", "_"): fn for name, fn in FUNCTIONS.items() if fn is not None}
CONTEXT[ORDERED] = PolyContrasts()
CONTEXT[LEVEL_NUMBERS] = _level_numbers
# ordered(x) of a column: a factor coded as an ordered one (read only as ordered(column))
ORDERING = ("ordered", "as.ordered")
CONTEXT.update({name.replace(".", "_"): _r_factor for name in ORDERING})
