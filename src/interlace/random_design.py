"""The random part of the model: its terms, the layout of u, and theta's map to A = Z Lambda.

A term ``(expr | g)`` holds the level of each observation and its covariates. Covariates
other than an intercept are held per standard deviation of their column
(``covariate_scale``), as the fixed part is, so that a slope's units cannot stall a fit;
theta (R's ``ST`` layout: per term L's diagonal, then its lower triangle by column) is in
those units inside the fit and `RandomDesign.theta_scale` takes it back to the data's.
Every observation meets exactly one level of each term, so A is stored row-wise as an (n, m)
array of column indices and values, m = sum of the terms' sizes; Z is never dense.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np

from .rows import index_dtype, is_shared, shared_rows, take_rows

BOUNDARY_TOL = 1e-3  # a standard deviation below this is on the boundary (R's paratBoundary2)

@dataclass
class RandomEffectsTerm:
    """One term (expr | group): the level of each observation and its covariates."""

    name: str  # the grouping factor as R prints it, e.g. "DAY:RESP"
    levels: list[str]
    index: np.ndarray  # (n,) level of each observation
    covariates: np.ndarray  # (n, r) the term's columns, e.g. [1, x], each per covariate_scale
    coef_names: list[str]
    factors: tuple[str, ...] = ()
    expr: str = "1"
    covariate_spec: object = None  # formulaic ModelSpec, None for a plain intercept
    covariate_scale: np.ndarray = None  # (r,) data units per column of covariates
    key: str = ""  # unique among the terms: the name, "g.1" for a second term on g

    def __post_init__(self):
        if self.covariate_scale is None:
            self.covariate_scale = np.ones(self.size)
        self.key = self.key or self.name
        self.index = np.asarray(self.index).astype(index_dtype(len(self.levels)), copy=False)
        self.covariates = shared_rows(self.covariates)

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
        # no terms: a model without random effects (clm), u empty
        self.cols = (np.column_stack(cols).astype(index_dtype(self.q)) if cols
                     else np.zeros((0, 0), np.int64))
        self.term_of_entry = np.array(owner, dtype=np.int64)

    @property
    def q(self) -> int:
        return int(self.u_offsets[-1])

    @property
    def q_after_first(self) -> int:
        """Random effects outside the first (largest) term: the size of the Schur complement
        the exact path forms densely."""
        first = self.terms[0]
        return self.q - first.n_levels * first.size

    @property
    def layout(self) -> list[tuple[int, int, int]]:
        """Per term: its offset in u, its levels and its size."""
        return [(int(self.u_offsets[k]), t.n_levels, t.size) for k, t in enumerate(self.terms)]

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
            cov = self.terms[0].covariates
            return (np.broadcast_to(cov[:1] * theta[0], cov.shape) if is_shared(cov)
                    else cov * theta[0])
        shared = all(is_shared(t.covariates) for t in self.terms)
        blocks = [(t.covariates[:1] if shared else t.covariates) @ L
                  for t, L in zip(self.terms, self.factors(theta))]
        values = np.concatenate(blocks, axis=1)
        # every row's covariates the same (intercepts only): so are A's entries
        return np.broadcast_to(values, (self.terms[0].index.shape[0], values.shape[1])) \
            if shared else values

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

    def theta_scale(self) -> np.ndarray:
        """Per theta entry, the covariate scale of its row of L: theta in the data's units is
        theta / theta_scale (b = D^-1 L u for covariates held as x / D)."""
        return np.concatenate([[t.covariate_scale[i] for i, _ in t.tril_positions()]
                               for t in self.terms]) if self.terms else np.ones(0)

    def boundary(self, theta: np.ndarray) -> np.ndarray:
        """Which theta entries are on the boundary: diagonal entries of L (standard
        deviations, per SD of their covariate) below `BOUNDARY_TOL`, as lme4 judges
        singularity. One rule for the Hessian, ``is_singular`` and the summary."""
        lower = self.theta_lower_bounds()
        return np.isfinite(lower) & (theta < BOUNDARY_TOL)

    def theta_names(self) -> list[str]:
        return [f"ST{i + 1}" for i in range(self.n_theta)]

    def is_single_scalar(self) -> bool:
        return len(self.terms) == 1 and self.terms[0].size == 1

    def rows(self, index: np.ndarray) -> RandomDesign:
        """The same terms and levels (so the same u and theta) on a subset of the observations."""
        return RandomDesign([dataclasses.replace(t, index=t.index[index],
                                                 covariates=take_rows(t.covariates, index))
                             for t in self.terms])


def check_term(term: RandomEffectsTerm, n_obs: int) -> None:
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
            UserWarning, stacklevel=5,
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


def column_scale(columns: np.ndarray) -> np.ndarray:
    """Each column's standard deviation, 1 for a constant column (the intercept): the units
    in which coefficients and random-effect covariates are held inside a fit."""
    scale = columns.std(axis=0) if len(columns) else np.ones(columns.shape[1])
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


