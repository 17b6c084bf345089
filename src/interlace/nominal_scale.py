"""The designs of the nominal and scale effects (R's ``clm(nominal=, scale=)``).

A nominal covariate gets one coefficient per threshold parameter: its design keeps R's
intercept first (the thresholds themselves) and its columns enter the thresholds. A scale
covariate multiplies the latent scale by exp(w'zeta): its design has no intercept. Columns
aliased with earlier ones are dropped, with a warning, as R's ``drop.coef`` does; a
fixed-effect column that the nominal design already spans is dropped from X the same way
(R reports it as NA).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model_matrix import check_finite, identifiable_columns, model_matrix
from .rformula import FormulaParts, r_column_names


@dataclass
class SideDesign:
    """A nominal or scale design: kept columns (in the data's units), their R names, and
    what rebuilds them for new data."""

    matrix: np.ndarray  # (n, columns kept)
    names: list  # R's names of the kept columns
    spec: object  # formulaic ModelSpec
    columns: list  # indices of the kept columns in the full model matrix


def side_design(parts: FormulaParts, which: str, df: pd.DataFrame, row_labels,
                fitted: SideDesign | None = None) -> SideDesign | None:
    """The nominal (``which="nominal"``) or scale design of ``df``; None when the model has
    none. With ``fitted`` (the fitting data's) the same columns for new data."""

    expr = getattr(parts, which)
    if expr is None:
        return None
    mm = model_matrix(expr, df, f"{which} effects", None if fitted is None else fitted.spec)
    names = r_column_names(mm.model_spec.column_names, parts.columns)
    full = np.asarray(mm, dtype=float)
    if "(Intercept)" not in names:  # the thresholds are the intercept, as in R
        full = np.column_stack([np.ones(len(df)), full])
        names = ["(Intercept)"] + names
    check_finite(full, names, f"{which}-effect column", row_labels)
    if fitted is not None:
        keep = fitted.columns
    else:
        keep = identifiable_columns(full, names)
        if which == "nominal":
            keep = [0] + keep
    return SideDesign(full[:, keep], [names[j] for j in keep], mm.model_spec, keep)


def nominal_param_names(threshold_names, nominal: SideDesign | None) -> list:
    """R's names of the threshold parameters: ``1|2`` without nominal effects,
    ``1|2.(Intercept)``, ..., ``1|2.contactyes``, ... with them."""
    if nominal is None:
        return list(threshold_names)
    return [f"{t}.{col}" for col in nominal.names for t in threshold_names]


def scale_param_names(names, beta_names) -> list:
    """The scale coefficients' names in ``params``: ``scale:`` in front of a name that
    would otherwise repeat a fixed effect's."""
    return [f"scale:{n}" if n in beta_names else n for n in names]


def crossing_rows(theta: pd.DataFrame, cut_names) -> list[str]:
    """The rows of R's ``Theta`` whose thresholds are not increasing, as ``column=value``
    text: there some category has a negative probability."""
    cuts = theta[list(cut_names)].to_numpy(dtype=float)
    bad = np.flatnonzero((np.diff(cuts, axis=1) <= 0).any(axis=1))
    labels = theta.drop(columns=list(cut_names))
    return [", ".join(f"{c}={labels.iloc[i][c]}" for c in labels.columns) or str(i)
            for i in bad]
