"""Accept pandas, polars or pyarrow tables (through narwhals) and hand the model plain columns.

The caller's table is never modified: every path returns a new pandas DataFrame. Columns
arrive in many dtypes (numpy, pandas' nullable ones, pyarrow-backed ones, dictionaries,
polars Enums); `plain_columns` turns the ones a model uses into numpy numbers, bools and
pandas Categoricals, keeping a declared order, so that the rest of the package sees one kind.
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd


def to_pandas(data) -> pd.DataFrame:
    """A pandas view of ``data`` (pandas, polars or pyarrow, or a dict of columns)."""
    if isinstance(data, pd.DataFrame):
        return data.copy(deep=False)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if type(data).__name__ == "LazyFrame":
        raise TypeError("data is a polars LazyFrame; call .collect() on it first")
    try:
        frame = nw.from_native(data, eager_only=True)
    except TypeError:
        raise TypeError(
            f"data must be a pandas, polars or pyarrow table, not {type(data).__name__}"
        ) from None
    return frame.to_pandas()


def sorted_levels(values: np.ndarray) -> np.ndarray:
    """Sorted unique values; strings that all read as numbers sort numerically."""
    uniques = np.unique(values)
    if uniques.dtype.kind in "OUS":
        try:
            as_numbers = uniques.astype(float)  # float() of each, in numpy's loop
        except (TypeError, ValueError):
            return uniques
        return uniques[np.argsort(as_numbers, kind="stable")]
    return uniques


def declared_factors(frame: pd.DataFrame) -> dict:
    """The columns that are factors by their type (a pandas Categorical or an Arrow
    dictionary, as R's factor, where text is R's character), each with whether it is
    ordered (R codes an ordered covariate by polynomial contrasts)."""
    out = {}
    for c in frame.columns:
        dtype = frame[c].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            out[str(c)] = bool(dtype.ordered)
        elif isinstance(dtype, pd.ArrowDtype) and hasattr(dtype.pyarrow_dtype, "ordered"):
            out[str(c)] = bool(dtype.pyarrow_dtype.ordered)  # a dictionary
    return out


def plain_column(series: pd.Series, drop_unused: bool = True) -> pd.Series:
    """One column (without missing values) as numpy numbers, bool, or a pandas Categorical.

    A dictionary or categorical column keeps its categories' order and ordered flag (pyarrow
    dictionaries from Parquet or ``dtype_backend="pyarrow"``, polars Enums); text becomes a
    Categorical of its sorted levels, as R's ``factor()`` does; unused categories go.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa  # present whenever a column has an Arrow dtype (not a dependency)

        arrow = dtype.pyarrow_dtype
        if pa.types.is_dictionary(arrow):
            chunks = series.array.__arrow_array__()
            chunks = chunks.combine_chunks() if hasattr(chunks, "combine_chunks") else chunks
            categories = pd.Index(chunks.dictionary.to_pylist())
            codes = chunks.indices.to_numpy(zero_copy_only=False)
            series = pd.Series(pd.Categorical.from_codes(
                codes, categories=categories, ordered=bool(arrow.ordered)),
                index=series.index, name=series.name)
        elif pa.types.is_boolean(arrow):
            series = series.astype("boolean")
        elif pa.types.is_integer(arrow) or pa.types.is_floating(arrow):
            series = series.astype("int64" if pa.types.is_integer(arrow) else "float64")
        else:
            series = series.astype(object)
        dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return series.cat.remove_unused_categories() if drop_unused else series
    if isinstance(dtype, pd.BooleanDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "b"):
        # a factor with levels FALSE, TRUE, as R codes a logical (coefficient "xTRUE")
        return series.astype(bool).astype(pd.CategoricalDtype([False, True]))
    if pd.api.types.is_extension_array_dtype(dtype) and pd.api.types.is_numeric_dtype(dtype):
        return series.astype("int64" if pd.api.types.is_integer_dtype(dtype) else "float64")
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return series
    text = series.astype(str).to_numpy(dtype=object)
    return pd.Series(pd.Categorical(text, categories=sorted_levels(text)),
                     index=series.index, name=series.name)


def read_weights(weights, frame: pd.DataFrame) -> np.ndarray:
    """Case weights from a column name, a pandas Series (matched to the rows by index, when
    the data is a pandas frame with those labels) or a 1-d array of one value per row;
    finite and non-negative."""
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise ValueError(f"weights column {weights!r} is not in the data")
        w = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
        what = f"weights column {weights!r}"
    elif isinstance(weights, pd.Series):
        what = "weights"
        if not weights.index.equals(frame.index):
            missing = frame.index.difference(weights.index)
            if len(missing):
                raise ValueError(f"weights (a Series) has no value for the data's row label(s) "
                                 f"{missing[:5].tolist()}; give one weight per row")
            weights = weights.loc[frame.index]
        w = pd.to_numeric(weights, errors="coerce").to_numpy(dtype=float)
    else:
        try:
            w = np.asarray(weights, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"weights must be a column name or numbers, not "
                            f"{type(weights).__name__}") from None
        what = "weights"
        if w.ndim != 1:
            raise ValueError(f"weights must be one-dimensional (one value per row), got an "
                             f"array of shape {w.shape}")
    if w.shape != (len(frame),):
        raise ValueError(f"{what} must have one value per row ({len(frame)}), got {w.size}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise ValueError(f"{what} must be finite and non-negative; row(s) "
                         f"{np.flatnonzero(bad)[:5].tolist()} are not")
    if not w.sum() > 0:
        raise ValueError(f"{what} are all zero: there is nothing to fit")
    return w
