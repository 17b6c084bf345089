"""Simulated ordinal data from a latent logistic model with known truth, from a fixed seed.

y* = x1 * 0.8 - x2 * 0.5 + sum of random effects + logistic noise, cut at fixed thresholds
into five categories. Each generator returns a pandas DataFrame and the formula to fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

THRESHOLDS = np.array([-2.0, -0.7, 0.5, 1.8])
BETA = {"x1": 0.8, "x2": -0.5}


@dataclass
class Case:
    name: str
    formula: str
    data: pd.DataFrame
    description: str
    nagq: int = 1  # 1: Laplace; else the quadrature rule, as clmm(nAGQ=)
    nominal: str | None = None  # clmm(nominal=, scale=)
    scale: str | None = None
    control: dict | None = None  # interlace.Control's fields, e.g. the random solver


def _response(latent: np.ndarray) -> pd.Categorical:
    codes = np.searchsorted(THRESHOLDS, latent)
    levels = [str(k + 1) for k in range(len(THRESHOLDS) + 1)]
    return pd.Categorical.from_codes(codes, categories=levels, ordered=True)


def _covariates(rng, n):
    x1 = rng.standard_normal(n)
    x2 = rng.binomial(1, 0.5, n).astype(float)
    return x1, x2, BETA["x1"] * x1 + BETA["x2"] * x2


def _factor(codes: np.ndarray, prefix: str) -> pd.Categorical:
    n_levels = int(codes.max()) + 1
    return pd.Categorical.from_codes(codes, categories=[f"{prefix}{i}" for i in range(n_levels)])


def single(n: int, n_groups: int, seed: int = 1, sd: float = 0.8) -> Case:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    x1, x2, eta = _covariates(rng, n)
    b = rng.normal(0, sd, n_groups)
    latent = eta + b[g] + rng.logistic(size=n)
    df = pd.DataFrame({"y": _response(latent), "x1": x1, "x2": x2, "g": _factor(g, "g")})
    return Case(f"single_{n}_{n_groups}", "y ~ x1 + x2 + (1|g)", df,
                f"{n:,} rows, (1|g) with {n_groups:,} levels")


def crossed(n: int, n_a: int, n_b: int, seed: int = 2, sd_a: float = 0.8, sd_b: float = 0.5) -> Case:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_a, n)
    b = rng.integers(0, n_b, n)
    x1, x2, eta = _covariates(rng, n)
    latent = eta + rng.normal(0, sd_a, n_a)[a] + rng.normal(0, sd_b, n_b)[b] + rng.logistic(size=n)
    df = pd.DataFrame({"y": _response(latent), "x1": x1, "x2": x2,
                       "subject": _factor(a, "s"), "item": _factor(b, "i")})
    return Case(f"crossed_{n}_{n_a}x{n_b}", "y ~ x1 + x2 + (1|subject) + (1|item)", df,
                f"{n:,} rows, crossed (1|subject) {n_a:,} x (1|item) {n_b:,}")


def nested(n: int, n_schools: int, n_districts: int, seed: int = 3) -> Case:
    rng = np.random.default_rng(seed)
    school_district = rng.integers(0, n_districts, n_schools)
    school = rng.integers(0, n_schools, n)
    district = school_district[school]
    x1, x2, eta = _covariates(rng, n)
    latent = (eta + rng.normal(0, 0.5, n_districts)[district]
              + rng.normal(0, 0.7, n_schools)[school] + rng.logistic(size=n))
    df = pd.DataFrame({"y": _response(latent), "x1": x1, "x2": x2,
                       "district": _factor(district, "d"), "school": _factor(school, "s")})
    return Case(f"nested_{n}_{n_schools}_{n_districts}", "y ~ x1 + x2 + (1|district/school)", df,
                f"{n:,} pupils, {n_schools:,} schools in {n_districts} districts, (1|district/school)")


def slopes(n: int, n_groups: int, seed: int = 4) -> Case:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    x1, x2, eta = _covariates(rng, n)
    cov = np.array([[0.64, 0.1], [0.1, 0.25]])
    b = rng.multivariate_normal(np.zeros(2), cov, n_groups)
    latent = eta + b[g, 0] + b[g, 1] * x1 + rng.logistic(size=n)
    df = pd.DataFrame({"y": _response(latent), "x1": x1, "x2": x2, "g": _factor(g, "g")})
    return Case(f"slopes_{n}_{n_groups}", "y ~ x1 + x2 + (1 + x1|g)", df,
                f"{n:,} rows, (1 + x1|g) with {n_groups:,} groups")


def crossed3(n: int, n_a: int, n_b: int, n_c: int, seed: int = 6) -> Case:
    """Three crossed factors: subject, item and rater."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.integers(0, n_a, n), rng.integers(0, n_b, n), rng.integers(0, n_c, n)
    x1, x2, eta = _covariates(rng, n)
    latent = (eta + rng.normal(0, 0.8, n_a)[a] + rng.normal(0, 0.5, n_b)[b]
              + rng.normal(0, 0.3, n_c)[c] + rng.logistic(size=n))
    df = pd.DataFrame({"y": _response(latent), "x1": x1, "x2": x2, "subject": _factor(a, "s"),
                       "item": _factor(b, "i"), "rater": _factor(c, "r")})
    return Case(f"crossed3_{n}_{n_a}x{n_b}x{n_c}",
                "y ~ x1 + x2 + (1|subject) + (1|item) + (1|rater)", df,
                f"{n:,} rows, three crossed: {n_a:,} x {n_b:,} x {n_c:,}")


RATING_THRESHOLDS = np.linspace(-2.5, 2.5, 9)  # ten categories, as 0.5 to 5 stars


def ratings_platform(n_users: int, n_items: int, n_ratings: int, seed: int = 7) -> Case:
    """MovieLens-25M's shape: user activity lognormal (median 70 ratings, mean n/users) with
    a floor of 20; item popularity a power law by rank, p_j ~ (j + 50)^-0.9; a user's repeated
    draw of an item is dropped (so slightly fewer rows than asked); K = 10; (1|user) +
    (1|item) and two covariates."""
    rng = np.random.default_rng(seed)
    mean = n_ratings / n_users
    sigma = np.sqrt(2 * np.log(max(mean / 70.0, 1.01)))
    activity = np.maximum(20, np.exp(rng.normal(np.log(70.0), sigma, n_users)))
    counts = np.minimum(np.round(activity * n_ratings / activity.sum()).astype(np.int64),
                        n_items // 2)
    users = np.repeat(np.arange(n_users), counts)
    popularity = (np.arange(n_items) + 50.0) ** -0.9
    items = rng.choice(n_items, size=len(users), p=popularity / popularity.sum())
    keep = np.ones(len(users), bool)
    order = np.lexsort((items, users))
    sorted_pairs = users[order] * n_items + items[order]
    keep[order[1:]] = sorted_pairs[1:] != sorted_pairs[:-1]  # a repeated (user, item) dropped
    users, items = users[keep], items[keep]
    n = len(users)
    x1, x2, eta = _covariates(rng, n)
    latent = (eta + rng.normal(0, 0.8, n_users)[users] + rng.normal(0, 0.5, n_items)[items]
              + rng.logistic(size=n))
    codes = np.searchsorted(RATING_THRESHOLDS, latent)
    y = pd.Categorical.from_codes(codes, categories=[str(k + 1) for k in range(10)],
                                  ordered=True)
    df = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "user": _factor(users, "u"),
                       "item": _factor(items, "m")})
    return Case(f"ratings_{n}_{n_users}x{n_items}", "y ~ x1 + x2 + (1|user) + (1|item)", df,
                f"{n:,} ratings, {n_users:,} users x {n_items:,} items (MovieLens-25M's "
                "shape), K = 10")
