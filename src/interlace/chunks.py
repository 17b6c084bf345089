"""Designs built a chunk of rows at a time, for data that never sit in one process.

A design takes decisions from the whole data: the categories of every factor, the response's
levels, which fixed-effect columns are aliased, the standard deviations the coefficients are
held in, the levels of each grouping factor. `summarise_chunk` reads one chunk for those
(counts, moments, Gram matrices, levels seen); `decide` combines the summaries into a
`DesignMeta` with the rules `design.build_design` applies to a single frame; then
``build_design(parsed, chunk, meta=meta)`` builds each chunk's design consistent with the
whole, and `skeleton` the design without rows that the driver of a fit holds.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .coding import Response, group_labels, level_labels, numeric_ranges, seen_levels
from .frames import declared_factors, plain_column, read_weights, sorted_levels, to_pandas
from .model_matrix import check_finite, column_kind, fixed_matrix, model_matrix, term_matrix
from .nominal_scale import SideDesign
from .rformula import r_column_names, read_formula

# data-dependent transforms: their result on a chunk is not their result on the whole column
CHUNK_UNSAFE = ("poly(", "scale(", "center(")


@dataclass
class Moments:
    """Count, mean and centred cross-products of some columns, merged exactly across chunks
    (Chan, Golub and LeVeque's update), so that a standard deviation never cancels."""

    n: float
    mean: np.ndarray
    m2: np.ndarray  # centred cross-products

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
        centred = x - mean
        return cls(float(len(x)), mean, centred.T @ centred)

    def __add__(self, other: Moments) -> Moments:
        n = self.n + other.n
        if n == 0:
            return self
        delta = other.mean - self.mean
        return Moments(n, self.mean + delta * other.n / n,
                       self.m2 + other.m2 + np.outer(delta, delta) * self.n * other.n / n)

    def sd(self) -> np.ndarray:
        """Each column's standard deviation (ddof 0), 1 where constant, as `column_scale`."""
        sd = np.sqrt(np.maximum(np.diag(self.m2), 0.0) / max(self.n, 1.0))
        return np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)

    def gram(self) -> np.ndarray:
        """The uncentred cross-products X'X."""
        return self.m2 + self.n * np.outer(self.mean, self.mean)


@dataclass
class DesignMeta:
    """What a design decides from the whole data, for building it a chunk at a time."""

    categories: dict  # column -> (categories, ordered, declared): every factor's, whole data
    response_levels: list
    beta_columns: list  # kept model-matrix columns of the fixed part
    x_scale: np.ndarray
    nominal: SideDesign | None
    n_scale: np.ndarray | None
    scale: SideDesign | None
    w_scale: np.ndarray | None
    term_levels: list  # per random term of the formula: its level labels
    covariate_scales: list  # per random term of the formula: its covariates' SDs
    column_levels: dict = field(default_factory=dict)
    column_ranges: dict = field(default_factory=dict)
    column_kinds: dict = field(default_factory=dict)
    n_obs: int = 0
    total_weight: float = 0.0
    n_dropped: int = 0

    def cast(self, df: pd.DataFrame) -> pd.DataFrame:
        """A chunk's factor columns with the whole data's categories."""
        for c, (categories, ordered, _) in self.categories.items():
            if c in df.columns:
                values = df[c].astype(object) if isinstance(
                    df[c].dtype, pd.CategoricalDtype) else df[c]
                df[c] = pd.Categorical(values, categories=categories, ordered=ordered)
        return df

    def response(self, series: pd.Series) -> Response:
        labels = level_labels(np.asarray(series.cat.categories))
        index = pd.Index(self.response_levels).get_indexer(labels)
        return Response(index[series.cat.codes.to_numpy()].astype(np.int64),
                        list(self.response_levels))

    def grouping(self, df: pd.DataFrame, k: int, factors) -> tuple[np.ndarray, list]:
        """Each row's index among the whole data's levels of term k."""
        levels = self.term_levels[k]
        return pd.Index(levels).get_indexer(group_labels(df, factors)).astype(np.int64), levels


def categories_of(parsed, frame: pd.DataFrame) -> dict:
    """The columns a chunk's design codes by level (text, bool, categorical; numbers given to
    factor() and grouping columns), each with the values one chunk holds, sorted as
    `frames.plain_column` sorts them; ordered categoricals keep their order."""
    parts = read_formula(parsed, frame.columns, declared_factors(frame))
    coded = set(parts.factor_columns) | set(parts.grouping_columns) | {parts.response}
    out = {}
    for c in parts.columns.placeholders:
        series = frame[c].dropna()
        plain = plain_column(series, drop_unused=False)
        # a categorical column (pandas, a pyarrow dictionary) declares its order
        declared = isinstance(series.dtype, pd.CategoricalDtype) or "dictionary" in str(
            series.dtype)
        if isinstance(plain.dtype, pd.CategoricalDtype):
            out[c] = (list(plain.cat.categories), bool(plain.cat.ordered), declared)
        elif c in coded:
            out[c] = (list(sorted_levels(plain.to_numpy())), c == parts.response, False)
    return out


def merge_categories(pieces: list) -> dict:
    """The whole data's categories from each chunk's: a declared order is kept (the same in
    every chunk), other values sorted."""
    out: dict = {}
    for piece in pieces:
        for c, (categories, ordered, declared) in piece.items():
            seen = out.get(c, ([], ordered, declared))[0]
            known = set(seen)
            out[c] = (seen + [v for v in categories if v not in known], ordered, declared)
    return {c: (v if declared else list(sorted_levels(np.array(v, dtype=object)
                                                       if _texts(v) else np.array(v))),
                ordered, declared)
            for c, (v, ordered, declared) in out.items()}


def _texts(values) -> bool:
    return any(isinstance(v, str) for v in values)


def summarise_chunk(parsed, frame, categories: dict, weights=None,
                    na_action: str = "drop") -> dict:
    """One chunk's share of what `decide` needs."""
    from .design import usable_rows

    frame = to_pandas(frame)
    parts = read_formula(parsed, frame.columns, declared_factors(frame))
    if any(f in text for text in [parts.fixed, parts.nominal or "", parts.scale or ""]
           + [r or "" for r in parts.random] for f in CHUNK_UNSAFE):
        raise ValueError("poly(), scale() and center() depend on the whole column; with data "
                         "in chunks, compute them beforehand and use the new column")
    needed = list(parts.columns.placeholders)
    w = None if weights is None else read_weights(weights, frame)
    keep, w, n_dropped = usable_rows(frame, needed, w, na_action, allow_none=True)
    if not keep.any():  # the other chunks may have rows: only the dropped ones count here
        return {"n": 0, "n_dropped": n_dropped}
    plain = pd.DataFrame({c: plain_column(frame[c][keep], drop_unused=False)
                          for c in needed}).reset_index(drop=True)
    described = [c for c in needed if c != parts.response and c not in parts.grouping_columns]
    meta = DesignMeta(categories, [], [], np.ones(0), None, None, None, None, [], [])
    df = meta.cast(plain.copy())
    renamed = parts.columns.rename(df)
    full, names, _, _ = fixed_matrix(parts, renamed)
    check_finite(full, names, "fixed-effect column", frame.index[keep])
    sides, side_names = [], {}
    for which in ("nominal", "scale"):
        expr = getattr(parts, which)
        if expr is None:
            continue
        mm = model_matrix(expr, renamed, f"{which} effects")
        labels = r_column_names(mm.model_spec.column_names, parts.columns)
        x = np.asarray(mm, dtype=float)
        if "(Intercept)" not in labels:  # as `nominal_scale.side_design`
            x, labels = np.column_stack([np.ones(len(x)), x]), ["(Intercept)"] + labels
        side_names[which] = (labels, mm.model_spec)
        sides.append((which, x))
    terms = []
    for k, term in enumerate(parsed.random):
        cov = term_matrix(parts, parts.random[k], str(term), renamed)[0]
        terms.append((Moments.of(cov), set(group_labels(df, term.factors).tolist())))
    response = df[parts.response]
    return {
        "n": int(keep.sum()), "n_dropped": n_dropped, "response": parts.response,
        "weight": float(len(df) if w is None else w.sum()),
        "response_counts": np.bincount(response.cat.codes, minlength=len(
            response.cat.categories)),
        "fixed": Moments.of(full), "fixed_names": names,
        "sides": {which: Moments.of(x) for which, x in sides}, "side_names": side_names,
        "joint": Moments.of(np.column_stack([x for which, x in sides if which == "nominal"]
                                            + [full])),
        "terms": terms,
        "ranges": numeric_ranges(plain, described),
        "seen": seen_levels(plain, described, parts.factor_columns),
        "kinds": {c: column_kind(plain[c]) for c in needed},
    }


def _identifiable_from_gram(gram: np.ndarray, names: list, n_basis: int) -> list:
    """`model_matrix.identifiable_columns` on a Gram matrix: indices (after the first
    ``n_basis`` columns, which span the basis) of the columns outside the span of the
    ones before them, the intercept never kept; the others named in a warning."""
    kept = list(range(n_basis))
    keep, aliased = [], []
    for j in range(n_basis, gram.shape[0]):
        norm2 = gram[j, j]
        residual2 = norm2
        if kept:
            g = gram[np.ix_(kept, [j])][:, 0]
            residual2 = norm2 - g @ np.linalg.lstsq(gram[np.ix_(kept, kept)], g, rcond=None)[0]
        if norm2 == 0 or residual2 <= 1e-14 * norm2:
            if names[j - n_basis] != "(Intercept)":
                aliased.append(names[j - n_basis])
            continue
        kept.append(j)
        if names[j - n_basis] != "(Intercept)":
            keep.append(j - n_basis)
    if aliased:
        warnings.warn(f"the fixed-effects design is rank deficient: dropping aliased column(s) "
                      f"{aliased} (a combination of the columns before them, or constant)",
                      UserWarning, stacklevel=4)
    return keep


def merge_summaries(total: dict | None, part: dict) -> dict:
    """Two chunks' summaries as one (sums, unions, the row-weighted mean), so that a driver
    holds one summary however many chunks (a chunk with no usable rows adds its dropped
    rows only)."""
    if total is None or not total["n"]:
        if total is not None:
            part = {**part, "n_dropped": part["n_dropped"] + total["n_dropped"]}
        return part
    if not part["n"]:
        return {**total, "n_dropped": total["n_dropped"] + part["n_dropped"]}
    n = total["n"] + part["n"]
    return {
        **total, "n": n, "n_dropped": total["n_dropped"] + part["n_dropped"],
        "weight": total["weight"] + part["weight"],
        "response_counts": total["response_counts"] + part["response_counts"],
        "fixed": total["fixed"] + part["fixed"],
        "sides": {w: total["sides"][w] + part["sides"][w] for w in total["sides"]},
        "joint": total["joint"] + part["joint"],
        "terms": [(mt + mp, st | sp) for (mt, st), (mp, sp) in zip(total["terms"],
                                                                   part["terms"])],
        "ranges": {c: ((total["n"] * mean + part["n"] * part["ranges"][c][0]) / n,
                       min(lo, part["ranges"][c][1]), max(hi, part["ranges"][c][2]))
                   for c, (mean, lo, hi) in total["ranges"].items()},
        "seen": {c: set(total["seen"][c]) | set(part["seen"][c]) for c in total["seen"]},
    }


def decide(parsed, summaries, categories: dict, order_asked: bool) -> DesignMeta:
    """The whole data's decisions from the chunks' summaries (any iterable: they are merged
    as they come, `merge_summaries`), by `build_design`'s rules."""
    total = None
    for summary in summaries:
        total = merge_summaries(total, summary)
    if total is None or not total["n"]:
        raise ValueError("no complete rows with a positive weight to fit")
    parts_response = total["response"]
    cats, ordered, _ = categories[parts_response]
    counts = total["response_counts"]
    used = {v for v, n in zip(cats, counts) if n > 0}
    # as `coding.code_response`: an ordered categorical keeps its order, the rest is sorted
    order = cats if ordered else list(sorted_levels(
        np.array(cats, dtype=object) if _texts(cats) else np.array(cats)))
    levels = level_labels(np.array([v for v in order if v in used], dtype=object))
    if ordered and len(used) < len(cats):
        warnings.warn(f"response {parts_response!r}: dropping unused levels "
                      f"{[str(v) for v in cats if v not in used]}", UserWarning, stacklevel=3)
    if not ordered and _texts(cats) and not order_asked:
        warnings.warn(f"response {parts_response!r} is not an ordered Categorical; its levels "
                      f"are taken in sorted order {levels}. Pass an ordered pandas Categorical "
                      "(or a polars Enum) to set the order, or write ordered(y) to accept "
                      "this one.", UserWarning, stacklevel=3)
    if len(levels) < 2:
        raise ValueError(f"response {parts_response!r} has {len(levels)} observed level(s); an "
                         "ordinal model needs at least 2")
    fixed, names, sides, joint = total["fixed"], total["fixed_names"], total["sides"], total["joint"]
    nominal = scale = n_scale = w_scale = None
    n_basis = 0
    for which, moments in sides.items():
        side_names, spec = total["side_names"][which]
        keep = _identifiable_from_gram(moments.gram(), side_names, 0)
        if which == "nominal":
            keep = [0] + keep
            n_basis = len(side_names)
            nominal, n_scale = SideDesign(None, [side_names[j] for j in keep], spec, keep), \
                moments.sd()[keep]
        else:
            scale, w_scale = SideDesign(None, [side_names[j] for j in keep], spec, keep), \
                moments.sd()[keep]
    gram = joint.gram()
    if nominal is not None:  # the nominal basis: its kept columns only
        basis = nominal.columns
        idx = list(basis) + list(range(n_basis, gram.shape[0]))
        gram, n_basis = gram[np.ix_(idx, idx)], len(basis)
    beta_columns = _identifiable_from_gram(gram, names, n_basis)
    term_levels, covariate_scales = [], []
    for k, term in enumerate(parsed.random):
        moments, seen = total["terms"][k]
        covariate_scales.append(moments.sd())
        term_levels.append(_ordered_levels(seen, term.factors, categories))
    n, ranges = total["n"], total["ranges"]
    column_levels = {}
    for c, values in total["seen"].items():
        seen = set(values)
        column_levels[c] = ([v for v in categories[c][0] if v in seen]
                            if total["kinds"][c] != "number" and c in categories
                            else sorted(seen, key=str))
    return DesignMeta(
        categories=categories, response_levels=levels, beta_columns=beta_columns,
        x_scale=fixed.sd()[beta_columns], nominal=nominal, n_scale=n_scale, scale=scale,
        w_scale=w_scale, term_levels=term_levels, covariate_scales=covariate_scales,
        column_levels=column_levels, column_ranges=ranges, column_kinds=total["kinds"], n_obs=n,
        total_weight=total["weight"], n_dropped=total["n_dropped"])


def _ordered_levels(seen: set, factors, categories: dict) -> list:
    """The levels of a grouping factor in `coding.grouping`'s order: by the first column's
    categories, then the next's."""
    positions = [{lab: i for i, lab in enumerate(level_labels(np.asarray(categories[c][0])))}
                 for c in factors]

    def key(label):
        return tuple(pos[part] for pos, part in zip(positions, label.split(":")))

    return sorted(seen, key=key)


def skeleton(design_of_chunk, meta: DesignMeta):
    """The design without rows, with the whole data's decisions (a chunk's design, which
    has them, emptied): what the driver of a fit holds."""
    empty = design_of_chunk.rows(np.zeros(0, dtype=np.int64))
    return dataclasses.replace(empty, total_weight=meta.total_weight,
                               n_dropped=meta.n_dropped, column_levels=meta.column_levels,
                               column_ranges=meta.column_ranges,
                               column_kinds=meta.column_kinds, factor_values=None)
