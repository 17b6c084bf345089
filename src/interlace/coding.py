"""Level codes: the ordered response, grouping factors, and the levels seen in fitting.

Columns arrive here as `frames.plain_column` leaves them (numbers, bools, Categoricals).
Labels are written as R writes them: whole-number floats without ``.0``, bools as TRUE/FALSE.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .frames import sorted_levels


@dataclass
class Response:
    codes: np.ndarray  # 0..K-1
    levels: list[str]

    def __post_init__(self):
        # a byte per row where the categories allow (a few rows are tens of millions)
        small = np.int8 if len(self.levels) <= 127 else np.int32
        self.codes = np.asarray(self.codes).astype(small, copy=False)

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def used_categories(series: pd.Series) -> tuple[np.ndarray, list, np.ndarray]:
    """A categorical column's codes (-1 for missing), its categories, and which of them occur."""
    codes, categories = series.cat.codes.to_numpy(), series.cat.categories.tolist()
    return codes, categories, np.bincount(codes[codes >= 0], minlength=len(categories)) > 0


def level_label(value) -> str:
    """A level as R prints it: TRUE / FALSE, whole numbers without a decimal point."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def level_labels(values) -> list[str]:
    """`level_label` of each value, without a Python loop where the dtype allows (a grouping
    factor may have a million levels)."""
    values = np.asarray(values)
    kind = values.dtype.kind
    if kind == "b":
        return np.where(values, "TRUE", "FALSE").tolist()
    if kind in "iu":
        return values.astype(str).tolist()
    if kind == "f":
        out = values.astype(str).astype(object)
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
        out[whole] = values[whole].astype(np.int64).astype(str)
        huge = np.isfinite(values) & (values == np.round(values)) & ~whole
        out[huge] = [level_label(v) for v in values[huge]]  # beyond int64's exact range
        return out.tolist()
    if kind in "OU" and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values.astype(object).tolist()
    return [level_label(v) for v in values]  # mixed objects


def code_response(series: pd.Series, name: str, order_asked: bool = False) -> Response:
    """Integer codes and labels for the ordered response.

    An ordered Categorical keeps its order (unused levels dropped, with a warning); other
    input takes the sorted unique values, numerically for numbers, with a warning for text
    unless R's order was asked for (``ordered(y)`` in the formula).
    """
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.ordered:
        codes, categories, used = used_categories(series)
        unused = [c for c, u in zip(categories, used) if not u]
        if unused:
            warnings.warn(
                f"response {name!r}: dropping unused levels {list(map(str, unused))}",
                UserWarning,
                stacklevel=5,
            )
        levels = [level_label(c) for c, u in zip(categories, used) if u]
        codes = (np.cumsum(used) - 1)[codes].astype(np.int64)
    else:
        values = series.to_numpy()
        if isinstance(series.dtype, pd.CategoricalDtype):
            values = series.astype(series.cat.categories.dtype).to_numpy()
        uniques = sorted_levels(values)
        if values.dtype.kind == "f" and len(uniques) > 20 and np.any(uniques != np.round(uniques)):
            raise ValueError(
                f"response {name!r} looks continuous ({len(uniques)} distinct values, not all "
                "whole numbers); clmm needs an ordinal response: cut it into ordered categories"
            )
        if values.dtype.kind not in "iufb" and not order_asked:
            warnings.warn(
                f"response {name!r} is not an ordered Categorical; its levels are taken in "
                f"sorted order {[str(u) for u in uniques]}. Pass an ordered pandas Categorical "
                "(or a polars Enum) to set the order, or write ordered(y) to accept this one.",
                UserWarning,
                stacklevel=5,
            )
        codes = pd.Categorical(values, categories=uniques).codes.astype(np.int64)
        levels = [level_label(u) for u in uniques]
    if len(levels) < 2:
        raise ValueError(
            f"response {name!r} has {len(levels)} observed level(s); an ordinal model needs at least 2"
        )
    return Response(codes, levels)


def factor_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of a grouping column, observed levels only, in factor order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, _, used = used_categories(series)  # no NA here: rows dropped
        return (np.cumsum(used) - 1)[codes].astype(np.int64), level_labels(
            np.asarray(series.cat.categories)[used])
    uniques, codes = np.unique(series.to_numpy(), return_inverse=True)
    return codes.astype(np.int64), level_labels(uniques)


def grouping(df: pd.DataFrame, factors: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Levels of an interaction of grouping columns, labelled ``a:b`` as R does."""
    codes, labels = factor_codes(df[factors[0]])
    for name in factors[1:]:
        c2, l2 = factor_codes(df[name])
        combined = codes * len(l2) + c2
        observed, codes = np.unique(combined, return_inverse=True)
        labels = (pd.Series(labels, dtype=object)[observed // len(l2)].to_numpy() + ":"
                  + np.asarray(l2, dtype=object)[observed % len(l2)]).tolist()
    return codes.astype(np.int64), labels


def group_labels(df: pd.DataFrame, factors: tuple[str, ...]) -> np.ndarray:
    """The label of each row's level of a (possibly interacted) grouping factor, as R's."""
    labels = _row_labels(df[factors[0]])
    for name in factors[1:]:
        labels = labels + ":" + _row_labels(df[name])
    return labels


def _row_labels(series: pd.Series) -> np.ndarray:
    """Each row's `level_label`, computed once per distinct value."""
    codes, uniques = pd.factorize(series)
    labels = np.array(level_labels(np.asarray(uniques)) + ["NA"], dtype=object)
    return labels[codes]  # a missing value (code -1) reads "NA"


def seen_levels(df: pd.DataFrame, columns, coded: set) -> dict[str, list]:
    """The levels seen in fitting of each categorical column, and of each numeric column in
    ``coded`` (given to factor() or C()), to check new data against."""
    out = {}
    for col in columns:
        series = df[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            _, categories, used = used_categories(series)
            out[col] = [v for v, u in zip(categories, used) if u]
        elif (col in coded or not pd.api.types.is_numeric_dtype(series)
              or pd.api.types.is_bool_dtype(series)):
            out[col] = sorted(series.dropna().unique().tolist(), key=str)
    return out


def numeric_ranges(df: pd.DataFrame, columns) -> dict[str, tuple[float, float, float]]:
    """(mean, min, max) of each numeric column, for plots and typical values."""
    out = {}
    for col in columns:
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            x = df[col].to_numpy(dtype=float)
            out[col] = (float(x.mean()), float(x.min()), float(x.max()))
    return out
