"""Model structures: the response, the fixed-effects design and the sparse random-effects design.

From a parsed formula and a data frame this builds what the objective needs:

- the ordered response as integer codes 0..K-1 with its level labels;
- the fixed part as ordinal's ``clm`` builds it: per observation an upper and a lower
  linear predictor ``e1 = B1 @ psi + o1`` and ``e2 = B2 @ psi + o2`` with psi = (threshold
  parameters, beta); ``o1 = +inf`` in the top category and ``o2 = -inf`` in the bottom one;
- the random part: per term, the level of each observation and its covariates, and the map
  from theta (R's ``ST`` parameters: per term the lower-triangular factor L of the
  covariance, diagonal first, then the lower triangle by columns) to the rows of A = Z Lambda.

Every observation meets exactly one level of each term, so A is stored row-wise as an
(n, m) array of column indices and values, m = sum of the terms' sizes. Z is never dense.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from formulaic import Formula

from .formula import ParsedFormula
from .frames import to_pandas
from .thresholds import ThresholdStructure, make_thresholds

_TREATMENT = re.compile(r"([^\[\]:]+)\[T\.([^\]]*)\]")


def r_style_name(name: str) -> str:
    """formulaic's ``temp[T.warm]`` is R's ``tempwarm``; ``Intercept`` is ``(Intercept)``."""
    if name == "Intercept":
        return "(Intercept)"
    return _TREATMENT.sub(lambda m: m.group(1) + m.group(2), name)


@dataclass
class Response:
    codes: np.ndarray  # 0..K-1
    levels: list[str]

    @property
    def n_levels(self) -> int:
        return len(self.levels)


@dataclass
class RandomEffectsTerm:
    """One term (expr | group): the level of each observation and its covariates."""

    name: str
    levels: list[str]
    index: np.ndarray  # (n,) level of each observation
    covariates: np.ndarray  # (n, r) the term's columns, e.g. [1, x]
    coef_names: list[str]
    factors: tuple[str, ...] = ()
    expr: str = "1"
    covariate_spec: object = None  # formulaic ModelSpec, None for a plain intercept

    @property
    def size(self) -> int:
        return self.covariates.shape[1]

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_theta(self) -> int:
        r = self.size
        return r * (r + 1) // 2

    def tril_positions(self) -> list[tuple[int, int]]:
        """(row, col) in L of each theta entry, in R's ST order: diagonal, then lower by column."""
        r = self.size
        diag = [(i, i) for i in range(r)]
        lower = [(i, j) for j in range(r) for i in range(j + 1, r)]
        return diag + lower

    def factor(self, theta: np.ndarray) -> np.ndarray:
        """The lower-triangular L with covariance L L' from this term's theta."""
        L = np.zeros((self.size, self.size))
        for value, (i, j) in zip(theta, self.tril_positions()):
            L[i, j] = value
        return L


@dataclass
class RandomDesign:
    """All random terms and the layout of u: term by term, level by level, column by column."""

    terms: list[RandomEffectsTerm]
    cols: np.ndarray = field(init=False)  # (n, m) column of u for each observation's entries
    term_of_entry: np.ndarray = field(init=False)  # (m,) which term each entry belongs to
    u_offsets: np.ndarray = field(init=False)
    theta_offsets: np.ndarray = field(init=False)

    def __post_init__(self):
        sizes = [t.n_levels * t.size for t in self.terms]
        self.u_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.theta_offsets = np.concatenate([[0], np.cumsum([t.n_theta for t in self.terms])])
        cols, owner = [], []
        for k, term in enumerate(self.terms):
            base = self.u_offsets[k] + term.index.astype(np.int64) * term.size
            for s in range(term.size):
                cols.append(base + s)
                owner.append(k)
        self.cols = np.column_stack(cols)
        self.term_of_entry = np.array(owner)

    @property
    def q(self) -> int:
        return int(self.u_offsets[-1])

    @property
    def n_theta(self) -> int:
        return int(self.theta_offsets[-1])

    def term_theta(self, theta: np.ndarray, k: int) -> np.ndarray:
        return theta[self.theta_offsets[k] : self.theta_offsets[k + 1]]

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        return [t.factor(self.term_theta(theta, k)) for k, t in enumerate(self.terms)]

    def values(self, theta: np.ndarray) -> np.ndarray:
        """The (n, m) entries of A = Z Lambda: for each term, x_i' L."""
        if self.is_single_scalar():  # every inner solve: keep it short
            return self.terms[0].covariates * theta[0]
        blocks = [t.covariates @ L for t, L in zip(self.terms, self.factors(theta))]
        return np.concatenate(blocks, axis=1)

    def theta_lower_bounds(self) -> np.ndarray:
        """0 for standard deviations (diagonal of L), -inf for the rest."""
        lower = []
        for t in self.terms:
            lower += [0.0 if i == j else -np.inf for i, j in t.tril_positions()]
        return np.array(lower)

    def theta_start(self) -> np.ndarray:
        """R's start: L = identity in every term."""
        start = []
        for t in self.terms:
            start += [1.0 if i == j else 0.0 for i, j in t.tril_positions()]
        return np.array(start)

    def theta_derivatives(self) -> list[tuple[int, int, int]]:
        """For each theta entry: (entry column of A it moves, covariate column, term).

        d a_i / d theta for L[j, l] of a term is x_ij in the entry of column l of that term.
        """
        out = []
        entry_start = np.concatenate([[0], np.cumsum([t.size for t in self.terms])])
        for k, term in enumerate(self.terms):
            for j, l in term.tril_positions():
                out.append((int(entry_start[k] + l), j, k))
        return out

    def theta_names(self) -> list[str]:
        return [f"ST{i + 1}" for i in range(self.n_theta)]

    def is_single_scalar(self) -> bool:
        return len(self.terms) == 1 and self.terms[0].size == 1

    def rows(self, index: np.ndarray) -> RandomDesign:
        """The same terms and levels (so the same u and theta) on a subset of the observations."""
        return RandomDesign([dataclasses.replace(t, index=t.index[index],
                                                 covariates=t.covariates[index])
                             for t in self.terms])


@dataclass
class ClmmDesign:
    """Everything the objective needs, and the names the result reports."""

    response: Response
    thresholds: ThresholdStructure
    X: np.ndarray  # (n, p_beta) fixed effects without intercept
    beta_names: list[str]
    # The fixed part's rows in the objective's units: thresholds' Jacobian rows, then -X with
    # each column divided by its standard deviation (x_scale), so that the coefficients the
    # optimiser sees are per SD of their column and a covariate's units cannot stall a fit.
    B1: np.ndarray  # (n, n_psi)
    B2: np.ndarray
    o1: np.ndarray  # offsets, +inf in the top category
    o2: np.ndarray  # offsets, -inf in the bottom category
    weights: np.ndarray
    random: RandomDesign
    fixed_spec: object  # formulaic ModelSpec, for predict
    beta_columns: list = None  # the model-matrix columns kept as fixed effects
    offset: np.ndarray = None  # the summed offset terms (0 without any)
    fixed_levels: dict = None  # levels seen in fitting of the fixed part's categorical columns
    fixed_values: dict = None  # per fixed-part numeric column: (mean, min, max), for plots
    n_dropped: int = 0
    x_scale: np.ndarray = None  # standard deviation of each column of X (1 where constant)

    @property
    def n_obs(self) -> int:
        return self.B1.shape[0]

    @property
    def n_psi(self) -> int:
        return self.B1.shape[1]

    @property
    def threshold_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The tables (K x n_tau) whose rows y give the threshold part of B1 and of B2."""
        return threshold_tables(self.thresholds.jacobian)

    @property
    def psi_scale(self) -> np.ndarray:
        """Objective units per data unit of each threshold parameter (1) and coefficient
        (its column's standard deviation)."""
        return np.concatenate([np.ones(self.thresholds.jacobian.shape[1]), self.x_scale])

    @property
    def psi_names(self) -> list[str]:
        return list(self.thresholds.param_names) + list(self.beta_names)

    def rows(self, index: np.ndarray) -> ClmmDesign:
        """The design of a subset of the observations, with the same parameters."""
        return dataclasses.replace(
            self, response=dataclasses.replace(self.response, codes=self.response.codes[index]),
            X=self.X[index], B1=self.B1[index], B2=self.B2[index], o1=self.o1[index],
            o2=self.o2[index], weights=self.weights[index], random=self.random.rows(index),
            offset=None if self.offset is None else self.offset[index])


def threshold_tables(jacobian: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row y of the first table is the upper threshold of category y in the threshold
    parameters, of the second the lower one. Row K-1 of the first and row 0 of the second are
    unused (the offsets o1 = +inf and o2 = -inf stand there)."""
    zero = np.zeros((1, jacobian.shape[1]))
    return np.vstack([jacobian, zero]), np.vstack([zero, jacobian])


def _used_categories(series: pd.Series) -> tuple[np.ndarray, list, np.ndarray]:
    """A categorical column's codes (-1 for missing), its categories, and which of them occur."""
    codes, categories = series.cat.codes.to_numpy(), series.cat.categories.tolist()
    return codes, categories, np.bincount(codes[codes >= 0], minlength=len(categories)) > 0


def _level_label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def code_response(series: pd.Series, name: str) -> Response:
    """Integer codes and labels for the ordered response.

    An ordered Categorical keeps its order (unused levels dropped, with a warning); other
    input takes the sorted unique values, numerically for numbers.
    """
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.ordered:
        codes, categories, used = _used_categories(series)
        unused = [c for c, u in zip(categories, used) if not u]
        if unused:
            warnings.warn(
                f"response {name!r}: dropping unused levels {list(map(str, unused))}",
                UserWarning,
                stacklevel=4,
            )
        levels = [_level_label(c) for c, u in zip(categories, used) if u]
        codes = (np.cumsum(used) - 1)[codes].astype(np.int64)
    else:
        values = series.to_numpy()
        if isinstance(series.dtype, pd.CategoricalDtype):
            values = series.astype(series.cat.categories.dtype).to_numpy()
        uniques = _sorted_levels(values)
        if values.dtype.kind == "f" and len(uniques) > 20 and np.any(uniques != np.round(uniques)):
            raise ValueError(
                f"response {name!r} looks continuous ({len(uniques)} distinct values, not all "
                "whole numbers); clmm needs an ordinal response: cut it into ordered categories"
            )
        if values.dtype.kind not in "iufb":
            warnings.warn(
                f"response {name!r} is not an ordered Categorical; its levels are taken in "
                f"sorted order {[str(u) for u in uniques]}. Pass an ordered pandas Categorical "
                "(or a polars Enum) to set the order.",
                UserWarning,
                stacklevel=4,
            )
        codes = pd.Categorical(values, categories=uniques).codes.astype(np.int64)
        levels = [_level_label(u) for u in uniques]
    if len(levels) < 2:
        raise ValueError(
            f"response {name!r} has {len(levels)} observed level(s); an ordinal model needs at least 2"
        )
    return Response(codes, levels)


def _sorted_levels(values: np.ndarray) -> np.ndarray:
    """Sorted unique values; strings that all read as numbers sort numerically."""
    uniques = np.unique(values)
    if uniques.dtype.kind in "OUS":
        try:
            as_numbers = np.array([float(u) for u in uniques])
        except (TypeError, ValueError):
            return uniques
        return uniques[np.argsort(as_numbers, kind="stable")]
    return uniques


def _factor_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of a grouping column, observed levels only, in factor order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, categories, used = _used_categories(series)  # no NA here: rows dropped
        return (np.cumsum(used) - 1)[codes].astype(np.int64), [
            _level_label(c) for c, u in zip(categories, used) if u]
    uniques, codes = np.unique(series.to_numpy(), return_inverse=True)
    return codes.astype(np.int64), [_level_label(u) for u in uniques]


def _identifiable_columns(full: np.ndarray, names: list[str]) -> list[int]:
    """Indices of the model-matrix columns to keep as fixed effects.

    The intercept always goes (the thresholds absorb it); a column in the span of the columns
    before it (intercept included) is aliased and dropped, as R's ``drop.coef`` does, with a
    warning naming it.
    """
    kept_basis = np.empty((full.shape[0], 0))
    keep, aliased = [], []
    for j, name in enumerate(names):
        col = full[:, j]
        norm = np.linalg.norm(col)
        if kept_basis.shape[1]:
            col = col - kept_basis @ (kept_basis.T @ col)
        residual = np.linalg.norm(col)
        if norm == 0 or residual <= 1e-7 * norm:
            if name != "Intercept":
                aliased.append(r_style_name(name))
            continue
        kept_basis = np.column_stack([kept_basis, col / residual])
        if name != "Intercept":
            keep.append(j)
    if aliased:
        warnings.warn(
            f"the fixed-effects design is rank deficient: dropping aliased column(s) {aliased} "
            "(a combination of the columns before them, or constant)",
            UserWarning, stacklevel=4,
        )
    return keep


def _check_term(term: RandomEffectsTerm, n_obs: int) -> None:
    """Refuse random terms the data cannot inform; warn where R warns."""
    if term.n_levels < 2:
        raise ValueError(
            f"grouping factor {term.name!r} has {term.n_levels} level; a random effect needs "
            "at least 2 (drop the term, or use the column as a fixed effect)"
        )
    if term.n_levels * term.size >= n_obs:
        warnings.warn(
            f"grouping factor {term.name!r}: {term.n_levels * term.size} random effects for "
            f"{n_obs} observations; their variance is barely identified",
            UserWarning, stacklevel=4,
        )
    has_intercept = np.any(np.all(term.covariates == 1.0, axis=0))
    if term.size > 1 and has_intercept:
        for j, name in enumerate(term.coef_names):
            x = term.covariates[:, j]
            if np.all(x == 1.0):
                continue
            high = np.full(term.n_levels, -np.inf)
            low = np.full(term.n_levels, np.inf)
            np.maximum.at(high, term.index, x)
            np.minimum.at(low, term.index, x)
            if np.all(high - low <= 1e-12 * max(1.0, np.max(np.abs(x)))):
                raise ValueError(
                    f"random slope {name!r} in ({term.expr} | {term.name}) is constant within "
                    f"every level of {term.name!r}, so it cannot be told from the intercept; "
                    "drop it from the random term"
                )


def term_covariates(expr: str, df: pd.DataFrame, spec=None):
    """A random term's covariates (n, r) and their formulaic spec (None for ``1``)."""
    if spec is None and expr.strip() == "1":  # the common random intercept needs no model matrix
        return np.ones((len(df), 1)), None
    if spec is not None:
        return np.asarray(spec.get_model_matrix(df, output="numpy"), dtype=float), spec
    mm = _model_matrix(expr, df, f"random term ({expr} | ...)")
    return np.asarray(mm, dtype=float), mm.model_spec


def group_labels(df: pd.DataFrame, factors: tuple[str, ...]) -> np.ndarray:
    """The label of each row's level of a (possibly interacted) grouping factor, as R's."""
    labels = df[factors[0]].map(_level_label).astype(str).to_numpy(dtype=object)
    for name in factors[1:]:
        labels = labels + ":" + df[name].map(_level_label).astype(str).to_numpy(dtype=object)
    return labels


def categorical_levels(df: pd.DataFrame, columns) -> dict[str, list]:
    """The levels seen in fitting of each non-numeric column, to check new data against."""
    out = {}
    for col in columns:
        series = df[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            _, categories, used = _used_categories(series)
            out[col] = [v for v, u in zip(categories, used) if u]
        elif not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            out[col] = series.dropna().unique().tolist()
    return out


def _numeric_ranges(df: pd.DataFrame, columns) -> dict[str, tuple[float, float, float]]:
    out = {}
    for col in columns:
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            x = df[col].to_numpy(dtype=float)
            out[col] = (float(x.mean()), float(x.min()), float(x.max()))
    return out


def _grouping(df: pd.DataFrame, factors: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Levels of an interaction of grouping columns, labelled ``a:b`` as R does."""
    codes, labels = _factor_codes(df[factors[0]])
    for name in factors[1:]:
        c2, l2 = _factor_codes(df[name])
        combined = codes * len(l2) + c2
        observed, codes = np.unique(combined, return_inverse=True)
        labels = [f"{labels[v // len(l2)]}:{l2[v % len(l2)]}" for v in observed]
    return codes.astype(np.int64), labels


@lru_cache(maxsize=256)
def rhs_formula(rhs: str) -> Formula:
    """formulaic's parse of a right-hand side, kept: parsing costs as much as building."""
    return Formula(rhs)


def _model_matrix(rhs: str, df: pd.DataFrame, what: str):
    try:
        return rhs_formula(rhs).get_model_matrix(df, output="numpy")  # numpy: half pandas' cost
    except Exception as exc:  # formulaic raises several types; name the part at fault
        raise ValueError(f"cannot build the {what} from {rhs!r}: {exc}") from exc


def _plain_dtypes(df: pd.DataFrame, response: str, columns) -> pd.DataFrame:
    """pandas' nullable dtypes (after the NA rows are gone) as the plain ones formulaic knows:
    Int64/Float64 as numbers, boolean as bool, strings as a Categorical of sorted levels; only
    the given columns are looked at."""
    converted = {}
    for col in columns:
        s = df[col]
        dtype = s.dtype
        if isinstance(dtype, pd.CategoricalDtype) or (
                isinstance(dtype, np.dtype) and dtype.kind in "iufb"):
            continue
        if isinstance(dtype, pd.BooleanDtype):
            converted[col] = s.astype(bool)
        elif pd.api.types.is_extension_array_dtype(dtype) and pd.api.types.is_numeric_dtype(dtype):
            converted[col] = s.astype("int64" if pd.api.types.is_integer_dtype(dtype) else "float64")
        elif col != response and (pd.api.types.is_string_dtype(dtype) or dtype == object):
            text = s.astype(str)
            converted[col] = pd.Categorical(
                text, categories=_sorted_levels(text.to_numpy(dtype=object)))
    return df.assign(**converted) if converted else df


def _weights(weights, frame: pd.DataFrame) -> np.ndarray:
    """Case weights from a column name or an array; non-negative and finite, one per row."""
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise ValueError(f"weights column {weights!r} is not in the data")
        w = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
        what = f"weights column {weights!r}"
    else:
        w = np.asarray(weights, dtype=float).ravel()
        what = "weights"
    if w.shape != (len(frame),):
        raise ValueError(f"{what} must have one value per row ({len(frame)}), got {w.size}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise ValueError(f"{what} must be finite and non-negative; row(s) "
                         f"{np.flatnonzero(bad)[:5].tolist()} are not")
    if not w.sum() > 0:
        raise ValueError(f"{what} are all zero: there is nothing to fit")
    return w


def offset_values(parsed: ParsedFormula, df: pd.DataFrame) -> np.ndarray:
    """The sum of the formula's offset(...) terms, zero without any."""
    total = np.zeros(len(df))
    for expr in parsed.offsets:
        mm = _model_matrix(f"0 + {expr}", df, f"offset({expr})")
        values = np.asarray(mm, dtype=float)
        if values.shape[1] != 1:
            raise ValueError(f"offset({expr}) must be one numeric column")
        total += values[:, 0]
    return total


def _required_columns(parsed: ParsedFormula) -> list[str]:
    cols = [parsed.response]
    cols += sorted(rhs_formula(parsed.fixed).required_variables)
    for expr in parsed.offsets:
        cols += sorted(rhs_formula(f"0 + {expr}").required_variables)
    for term in parsed.random:
        cols += sorted(rhs_formula(term.expr).required_variables)
        cols += list(term.factors)
    return list(dict.fromkeys(cols))


def build_design(parsed: ParsedFormula, data, threshold: str = "flexible",
                 weights=None, na_action: str = "drop") -> ClmmDesign:
    frame = to_pandas(data)
    needed = _required_columns(parsed)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"column(s) {missing} named in the formula are not in the data; "
            f"available: {list(map(str, frame.columns))}"
        )
    w = None if weights is None else _weights(weights, frame)
    # column by column: selecting a sub-frame of categorical columns costs more (pandas 3)
    missing_by_column = {c: frame[c].isna().to_numpy() for c in needed}
    incomplete = np.logical_or.reduce(list(missing_by_column.values()))
    n_dropped = int(incomplete.sum())
    df = frame
    if n_dropped:
        if na_action == "raise":
            bad = [c for c in needed if missing_by_column[c].any()]
            raise ValueError(f"missing values in column(s) {bad}; drop them or use na_action='drop'")
        warnings.warn(f"dropping {n_dropped} row(s) with missing values", UserWarning, stacklevel=3)
        df = frame.loc[~incomplete, needed]
        if w is not None:
            w = w[~incomplete]
    if len(df) == 0:
        raise ValueError("no complete rows to fit")
    df = _plain_dtypes(df.reset_index(drop=True), parsed.response, needed)

    response = code_response(df[parsed.response], parsed.response)
    ths = make_thresholds(threshold, response.levels)

    mm = _model_matrix(parsed.fixed, df, "fixed effects")
    names = list(mm.model_spec.column_names)
    full = np.asarray(mm, dtype=float)
    keep = _identifiable_columns(full, names)
    X = full[:, keep]
    beta_names = [r_style_name(names[j]) for j in keep]

    n = len(df)
    K = response.n_levels
    y = response.codes
    # the objective relies on B1 and B2 being these rows, then -X (ClmmDesign.threshold_rows)
    upper, lower = threshold_tables(ths.jacobian)
    x_scale = X.std(axis=0) if X.size else np.ones(0)
    x_scale = np.where(np.isfinite(x_scale) & (x_scale > 0), x_scale, 1.0)
    minus_x = X / -x_scale
    B1 = np.concatenate([upper[y], minus_x], axis=1)
    B2 = np.concatenate([lower[y], minus_x], axis=1)
    # an offset enters the linear predictor like x'beta: subtracted from the thresholds
    offset = offset_values(parsed, df)
    o1 = np.where(y == K - 1, np.inf, -offset)
    o2 = np.where(y == 0, -np.inf, -offset)

    terms = []
    for term in parsed.random:
        index, levels = _grouping(df, term.factors)
        covariates, spec = term_covariates(term.expr, df)
        coef_names = (["(Intercept)"] if spec is None
                      else [r_style_name(c) for c in spec.column_names])
        terms.append(RandomEffectsTerm(name=term.group_name, levels=levels, index=index,
                                       covariates=covariates, coef_names=coef_names,
                                       factors=term.factors, expr=term.expr,
                                       covariate_spec=spec))
    for term in terms:
        _check_term(term, len(df))
    # R orders the terms by their number of levels, largest first
    terms.sort(key=lambda t: -t.n_levels)
    random = RandomDesign(terms)

    return ClmmDesign(
        response=response, thresholds=ths, X=X, beta_names=beta_names, B1=B1, B2=B2,
        o1=o1, o2=o2, weights=np.ones(n) if w is None else w, random=random, x_scale=x_scale,
        fixed_spec=mm.model_spec, beta_columns=keep, offset=offset, n_dropped=n_dropped,
        fixed_levels=categorical_levels(df, sorted(rhs_formula(parsed.fixed).required_variables)),
        fixed_values=_numeric_ranges(df, sorted(rhs_formula(parsed.fixed).required_variables)),
    )
