"""Accept pandas, polars or pyarrow tables (through narwhals) and hand the model a pandas copy.

The caller's table is never modified: every path returns a new pandas DataFrame.
"""

from __future__ import annotations

import narwhals as nw
import pandas as pd


def to_pandas(data) -> pd.DataFrame:
    """A pandas copy of ``data`` (pandas, polars or pyarrow, or a dict of columns)."""
    if isinstance(data, pd.DataFrame):
        return data.copy(deep=False)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    try:
        frame = nw.from_native(data, eager_only=True)
    except TypeError:
        raise TypeError(
            f"data must be a pandas, polars or pyarrow table, not {type(data).__name__}"
        ) from None
    return frame.to_pandas()
