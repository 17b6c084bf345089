"""Model matrices from R formulas, for fitting and for new data alike: formulaic's matrix of
a formula part as `rformula` reads it (`model_matrix`, `fixed_matrix`, `offset_values`,
`term_matrix`), infinite values named (`check_finite`), aliased fixed-effect columns dropped
as R's ``drop.coef`` does (`identifiable_columns`)."""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from formulaic import Formula
from formulaic.errors import FormulaicError

from .rformula import FormulaParts, r_column_names
from .rfunctions import CONTEXT


def identifiable_columns(full: np.ndarray, names: list[str], basis=None) -> list[int]:
    """Indices of the model-matrix columns to keep as fixed effects.

    The intercept always goes (the thresholds absorb it); a column in the span of the columns
    before it (intercept included, and the columns of ``basis``: the nominal design) is
    aliased and dropped, as R's ``drop.coef`` does, with a warning naming it.
    """
    kept_basis = (np.empty((full.shape[0], 0)) if basis is None
                  else np.linalg.qr(basis)[0])
    keep, aliased = [], []
    for j, name in enumerate(names):
        col = full[:, j]
        norm = np.linalg.norm(col)
        if kept_basis.shape[1]:
            col = col - kept_basis @ (kept_basis.T @ col)
        residual = np.linalg.norm(col)
        if norm == 0 or residual <= 1e-7 * norm:
            if name != "(Intercept)":
                aliased.append(name)
            continue
        kept_basis = np.column_stack([kept_basis, col / residual])
        if name != "(Intercept)":
            keep.append(j)
    if aliased:
        warnings.warn(
            f"the fixed-effects design is rank deficient: dropping aliased column(s) {aliased} "
            "(a combination of the columns before them, or constant)",
            UserWarning, stacklevel=5,
        )
    return keep


@lru_cache(maxsize=256)
def rhs_formula(rhs: str) -> Formula:
    """formulaic's parse of a right-hand side, kept: parsing costs as much as building."""
    return Formula(rhs)


_ESCAPES = re.compile(r"\x1b\[[0-9;]*m|[\u29da\u29db]")


def one_line(exc: Exception) -> str:
    """formulaic's messages span lines and carry terminal colour codes: one plain line."""
    return " ".join(_ESCAPES.sub("", str(exc)).split())


def model_matrix(rhs: str, df: pd.DataFrame, what: str, spec=None):
    """formulaic's model matrix of ``rhs`` (or of a fitted ``spec``, for new data), in
    numpy; an error names the part of the formula at fault in one line."""
    try:
        # log(0), sqrt(-1): numpy's own warning would come before `check_finite`'s error,
        # which names the column and the rows
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            # a level formulaic has not seen would be coded as the reference level
            warnings.filterwarnings("error", message=".*categories outside of the nominated")
            # formulaic would drop rows where a factor evaluates to NaN (log of a negative):
            # keep them, so that `check_finite` names the column instead
            if spec is not None:
                return spec.get_model_matrix(df, output="numpy", context=CONTEXT)
            return rhs_formula(rhs).get_model_matrix(df, output="numpy", context=CONTEXT,
                                                     na_action="ignore")
    except (FormulaicError, ValueError, TypeError, NameError, KeyError, Warning) as exc:
        raise ValueError(f"cannot build the {what}: {one_line(exc)}") from None


def check_finite(values: np.ndarray, names, what: str, row_labels) -> None:
    """Refuse infinite or undefined values, naming the column and rows."""
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])
        raise ValueError(f"{what} {names[j]!r} is infinite or undefined in row(s) "
                         f"{list(row_labels[rows[:5]])}; remove those rows or transform it")


def fixed_matrix(parts: FormulaParts, df: pd.DataFrame, spec=None):
    """The fixed part's full model matrix with an intercept first, its R names, formulaic's
    spec, and whether the formula had removed the intercept (R then assumes one: the
    thresholds are the intercept)."""
    mm = model_matrix(parts.fixed, df, "fixed effects", spec)
    names = r_column_names(mm.model_spec.column_names, parts.columns)
    full = np.asarray(mm, dtype=float)
    assumed = "(Intercept)" not in names
    if assumed:
        full = np.column_stack([np.ones(len(df)), full])
        names = ["(Intercept)"] + names
    return full, names, mm.model_spec, assumed


def offset_values(parts: FormulaParts, df: pd.DataFrame, parsed_offsets) -> np.ndarray:
    """The sum of the formula's offset(...) terms, zero without any."""
    total = np.zeros(len(df))
    for expr, text in zip(parts.offsets, parsed_offsets):
        values = np.asarray(model_matrix(expr, df, f"offset({text})"), dtype=float)
        if values.shape[1] != 1:
            raise ValueError(f"offset({text}) must be one numeric column")
        total += values[:, 0]
    return total


def term_matrix(parts: FormulaParts, expr, what: str, df: pd.DataFrame, spec=None):
    """A random term's covariates in the data's units, their R names and formulaic's spec
    (``expr`` and ``spec`` None: a plain intercept, which needs no model matrix)."""
    if expr is None and spec is None:
        return np.ones((len(df), 1)), ["(Intercept)"], None
    mm = model_matrix(expr, df, f"random term {what}", spec)
    return (np.asarray(mm, dtype=float), r_column_names(mm.model_spec.column_names, parts.columns),
            mm.model_spec)


def column_kind(series: pd.Series) -> str:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "category"
    return "bool" if pd.api.types.is_bool_dtype(series) else "number"
