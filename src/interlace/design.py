"""Model structures: from a parsed formula and a data frame, what the objective needs.

- the rows: complete ones with positive weight (R drops both first), under their labels in
  the data, every used column in a plain dtype (`frames.plain_column`);
- the ordered response as integer codes 0..K-1 with its level labels (`coding`);
- the fixed part as ordinal's ``clm`` builds it, by its structure (`fixed_part.FixedPart`):
  per observation an upper and a lower linear predictor in psi = (threshold parameters,
  beta), from the response codes, the threshold tables and X (per SD of each column) once;
- the random part (`random_design`).

Model matrices come from formulaic on the formula as `rformula` reads it (`model_matrix`).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .coding import Response, code_response, grouping, numeric_ranges, seen_levels
from .fixed_part import FixedPart
from .formula import ParsedFormula
from .frames import declared_factors, plain_column, read_weights, to_pandas
from .model_matrix import (
    check_finite,
    column_kind,
    fixed_matrix,
    identifiable_columns,
    offset_values,
    term_matrix,
)
from .nominal_scale import SideDesign, nominal_param_names, scale_param_names, side_design
from .random_design import RandomDesign, RandomEffectsTerm, check_term, column_scale
from .rformula import FormulaParts, lower_order_columns, r_column_names, read_formula
from .rows import shared_rows, take_rows
from .thresholds import ThresholdStructure, make_thresholds


@dataclass
class ClmmDesign:
    """Everything the objective needs, and the names the result reports."""

    response: Response
    thresholds: ThresholdStructure
    beta_names: list[str]
    # in the objective's units: coefficients per SD of their column, so that a covariate's
    # units cannot stall a fit
    fixed: FixedPart
    weights: np.ndarray
    random: RandomDesign
    fixed_spec: object  # formulaic ModelSpec, for predict
    parts: FormulaParts = None  # the formula as read against the data's columns
    beta_columns: list = None  # the model-matrix columns kept as fixed effects
    row_labels: pd.Index = None  # each row's label in the data
    column_levels: dict = None  # levels seen in fitting of every categorical column used
    column_ranges: dict = None  # per numeric column used: (mean, min, max)
    column_kinds: dict = None  # per column used: "number", "category" or "bool"
    factor_values: pd.DataFrame = None  # the fixed part's factors on the fitting rows (text)
    n_dropped: int = 0
    total_weight: float | None = None  # the whole data's, where the rows are not all here
    nominal: SideDesign | None = None  # the nominal effects' design (R's names, spec)
    scale: SideDesign | None = None  # the scale effects' design

    @property
    def offset(self) -> np.ndarray:
        """The summed offset terms per row (zero without any), as the fixed part holds them."""
        return self.fixed.offset

    @property
    def n_obs(self) -> int:
        return self.fixed.n_obs

    @property
    def n_psi(self) -> int:
        return self.fixed.n_psi

    @property
    def n_beta(self) -> int:
        return self.fixed.n_beta

    @property
    def psi_scale(self) -> np.ndarray:
        """Objective units per data unit of each threshold parameter (1), nominal effect
        and coefficient (its column's standard deviation)."""
        return self.fixed.psi_scale

    @property
    def phi_scale(self) -> np.ndarray:
        """Objective units per data unit of every parameter: psi's, then theta's."""
        return np.concatenate([self.psi_scale, self.random.theta_scale()])

    @property
    def threshold_param_names(self) -> list[str]:
        """The threshold and nominal parameters, by R's names."""
        return nominal_param_names(self.thresholds.param_names, self.nominal)

    @property
    def scale_names(self) -> list[str]:
        """The scale coefficients, by R's names (``zeta``)."""
        return [] if self.scale is None or self.fixed.W is None else list(self.scale.names)

    @property
    def psi_names(self) -> list[str]:
        return (self.threshold_param_names + list(self.beta_names)
                + scale_param_names(self.scale_names, self.beta_names))

    def rows(self, index: np.ndarray) -> ClmmDesign:
        """The design of a subset of the observations, with the same parameters."""
        return dataclasses.replace(
            self, response=dataclasses.replace(self.response, codes=self.response.codes[index]),
            fixed=self.fixed.rows(index), weights=take_rows(self.weights, index),
            random=self.random.rows(index),
            row_labels=None if self.row_labels is None else self.row_labels[index])


def with_response(design: ClmmDesign, codes: np.ndarray) -> ClmmDesign:
    """The same design with another response (codes 0..K-1 for the same rows and levels):
    a simulated one, for the bootstrap."""
    fixed = dataclasses.replace(design.fixed, codes=codes)
    return dataclasses.replace(design, response=dataclasses.replace(design.response,
                                                                     codes=codes), fixed=fixed)


def threshold_tables(jacobian: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row y of the first table is the upper threshold of category y in the threshold
    parameters, of the second the lower one. Row K-1 of the first and row 0 of the second are
    unused (`FixedPart.ends`, +inf and -inf, stand there)."""
    zero = np.zeros((1, jacobian.shape[1]))
    return np.vstack([jacobian, zero]), np.vstack([zero, jacobian])


def usable_rows(frame: pd.DataFrame, needed, weights, na_action: str, allow_none=False):
    """Which rows to fit (complete, positive weight), their weights, and how many rows had
    missing values; none is an error unless ``allow_none`` (a chunk of a larger frame)."""
    missing_by_column = {c: frame[c].isna().to_numpy() for c in needed}
    incomplete = np.logical_or.reduce(list(missing_by_column.values()))
    n_dropped = int(incomplete.sum())
    if n_dropped:
        if na_action == "raise":
            bad = [c for c in needed if missing_by_column[c].any()]
            raise ValueError(f"missing values in column(s) {bad}; drop them or use na_action='drop'")
        warnings.warn(f"dropping {n_dropped} row(s) with missing values", UserWarning, stacklevel=5)
    keep = ~incomplete
    if weights is not None:
        keep &= weights > 0  # as R, rows of weight 0 are not part of the model
    if not keep.any() and not allow_none:
        raise ValueError("no complete rows with a positive weight to fit")
    return keep, None if weights is None else weights[keep], n_dropped


def build_design(parsed: ParsedFormula, data, threshold: str = "flexible",
                 weights=None, na_action: str = "drop", meta=None) -> ClmmDesign:
    """The design of ``data``; with ``meta`` (`chunks.DesignMeta`) that of a chunk of a
    larger data set, every decision taken from the whole (categories, response levels,
    kept columns, scales, grouping levels)."""
    frame = to_pandas(data)
    parts = read_formula(parsed, frame.columns, declared_factors(frame))
    needed = list(parts.columns.placeholders)
    w = None if weights is None else read_weights(weights, frame)
    keep, w, n_dropped = usable_rows(frame, needed, w, na_action)
    everything = keep.all()
    row_labels = frame.index if everything else frame.index[keep]
    df = pd.DataFrame({c: plain_column(frame[c] if everything else frame[c][keep],
                                       drop_unused=c != parts.response and meta is None)
                       for c in needed}).reset_index(drop=True)
    for c in needed:
        if column_kind(df[c]) == "number":
            check_finite(df[c].to_numpy(dtype=float)[:, None], [c], "column", row_labels)
    if meta is not None:
        df = meta.cast(df)
    response = (code_response(df[parts.response], parts.response, parts.response_order_asked)
                if meta is None else meta.response(df[parts.response]))
    ths = make_thresholds(threshold, response.levels)
    renamed = parts.columns.rename(df)

    full, names, fixed_spec, assumed = fixed_matrix(parts, renamed)
    folded = lower_order_columns(fixed_spec)
    if folded:
        shown = r_column_names([t.replace(" ", "") for t in folded], parts.columns)
        warnings.warn(f"interaction(s) {shown} without their main effects: formulaic codes "
                      "them differently from R's model.matrix, so the coefficients are another "
                      "parameterisation of the same model than R's; add the main effects "
                      "(a * b) for R's coefficients", UserWarning, stacklevel=4)
    if assumed:
        warnings.warn("an intercept is needed and assumed (the thresholds are the intercept), "
                      "as in R", UserWarning, stacklevel=4)
    check_finite(full, names, "fixed-effect column", row_labels)
    nominal = side_design(parts, "nominal", renamed, row_labels, meta and meta.nominal)
    scale = side_design(parts, "scale", renamed, row_labels, meta and meta.scale)
    keep_cols = (meta.beta_columns if meta is not None else identifiable_columns(
        full, names, None if nominal is None else nominal.matrix))
    X = full[:, keep_cols]
    beta_names = [names[j] for j in keep_cols]

    n = len(df)
    y = response.codes
    upper, lower = threshold_tables(ths.jacobian)
    x_scale = column_scale(X) if meta is None else meta.x_scale
    # an offset enters the linear predictor like x'beta: subtracted from the thresholds
    offset = offset_values(parts, renamed, parsed.offsets)
    check_finite(offset[:, None], ["offset"], "the", row_labels)
    offset = shared_rows(offset)
    fixed = FixedPart(codes=y, upper=upper, lower=lower, X=X / x_scale, x_scale=x_scale,
                      offset=offset)
    if nominal is not None:
        fixed.n_scale = column_scale(nominal.matrix) if meta is None else meta.n_scale
        fixed.N = nominal.matrix / fixed.n_scale
    if scale is not None and scale.matrix.shape[1]:
        fixed.w_scale = column_scale(scale.matrix) if meta is None else meta.w_scale
        fixed.W = scale.matrix / fixed.w_scale
    del X, full

    terms = []
    for k, term in enumerate(parsed.random):
        index, levels = (grouping(df, term.factors) if meta is None
                         else meta.grouping(df, k, term.factors))
        covariates, coef_names, spec = term_matrix(parts, parts.random[k], str(term), renamed)
        check_finite(covariates, coef_names, f"covariate of {term}:", row_labels)
        sd = column_scale(covariates) if meta is None else meta.covariate_scales[k]
        terms.append(RandomEffectsTerm(name=term.group_name, levels=levels, index=index,
                                       covariates=covariates / sd, coef_names=coef_names,
                                       factors=term.factors, expr=term.expr,
                                       covariate_spec=spec, covariate_scale=sd))
    for term in terms if meta is None else []:  # a chunk's share says nothing
        check_term(term, len(df))
    # R orders the terms by their number of levels, largest first
    terms.sort(key=lambda t: -t.n_levels)
    _name_terms(terms)
    grouping_columns = {c for t in parsed.random for c in t.factors}
    described = [c for c in needed if c != parts.response and c not in grouping_columns]
    levels = seen_levels(df, described, parts.factor_columns)
    return ClmmDesign(
        response=response, thresholds=ths, beta_names=beta_names, fixed=fixed,
        weights=shared_rows(np.ones(n) if w is None else w), random=RandomDesign(terms),
        nominal=nominal, scale=scale,
        fixed_spec=fixed_spec, parts=parts, beta_columns=keep_cols,
        row_labels=row_labels, n_dropped=n_dropped,
        column_levels=levels,
        column_ranges=numeric_ranges(df, described),
        column_kinds={c: column_kind(df[c]) for c in needed},
        factor_values=pd.DataFrame({c: df[c].astype(str).astype("category")
                                    for c in parts.fixed_columns if c in levels}),
    )


def _name_terms(terms: list[RandomEffectsTerm]) -> None:
    """Unique keys for terms that share a grouping factor (``g``, ``g.1``, as lme4's
    VarCorr), and no coefficient twice within one grouping factor."""
    seen: dict = {}
    for term in terms:
        count = seen.get(term.name, [])
        twice = set(term.coef_names) & {c for other in count for c in other.coef_names}
        if twice:
            raise ValueError(f"random effect(s) {sorted(twice)} of {term.name!r} appear in two "
                             "random terms; give each once")
        term.key = term.name if not count else f"{term.name}.{len(count)}"
        seen[term.name] = count + [term]
