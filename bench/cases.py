"""The benchmark cases: R's wine and soup, and simulated designs from bench.simulate."""

from __future__ import annotations

from collections.abc import Callable

import interlace

from . import simulate
from .simulate import Case


def _wine() -> Case:
    return Case("wine", "rating ~ temp + contact + (1|judge)", interlace.load_wine(),
                "R's wine data, 72 rows, (1|judge)")


def _soup() -> Case:
    return Case("soup", "SURENESS ~ PROD + (1|RESP)", interlace.load_soup(),
                "R's soup data, 1,847 rows, (1|RESP)")


def _quadrature(case: Callable[[], Case], n_agq: int) -> Callable[[], Case]:
    def make() -> Case:
        base = case()
        return Case(f"{base.name}_agq{n_agq}", base.formula, base.data,
                    f"{base.description}, nAGQ={n_agq}", n_agq)
    return make


def _nominal_scale() -> Case:
    """#12's goal: the 100k crossed case with x2 as a nominal effect and x1 on the scale,
    in at most 2x the time of the model without them (R's clmm has neither)."""
    base = simulate.crossed(100_000, 2000, 500)
    return Case("crossed_100k_nominal_scale", "y ~ x1 + (1|subject) + (1|item)", base.data,
                f"{base.description}, nominal = ~ x2, scale = ~ x1", nominal="~ x2",
                scale="~ x1")


def _exact(case: Case) -> Case:
    """The exact path forced where auto would take the iterative one."""
    case.description += "; exact path"
    case.control = {"random_solver": "exact"}
    return case


def _iterative(case: Case) -> Case:
    """The same data fitted on the iterative path (conjugate gradients and probes)."""
    case.name += "_iterative"
    case.description += "; iterative path"
    case.control = {"random_solver": "iterative"}
    return case


CASES: dict[str, Callable[[], Case]] = {
    "wine": _wine,
    "soup": _soup,
    "wine_agq10": _quadrature(_wine, 10),
    "soup_agq7": _quadrature(_soup, 7),
    "soup_agq-7": _quadrature(_soup, -7),
    "single_20k_500": lambda: simulate.single(20_000, 500),
    "crossed_20k_300x200": lambda: simulate.crossed(20_000, 300, 200),
    "crossed_100k_2000x500": lambda: simulate.crossed(100_000, 2000, 500),
    "crossed_100k_nominal_scale": _nominal_scale,
    "nested_30k_2400_130": lambda: simulate.nested(30_000, 2400, 130),
    "slopes_50k_1000": lambda: simulate.slopes(50_000, 1000),
    "scaling_10k": lambda: simulate.single(10_000, 1000, seed=5),
    "scaling_100k": lambda: simulate.single(100_000, 1000, seed=5),
    "scaling_1M": lambda: simulate.single(1_000_000, 1000, seed=5),
    "levels_1M_300k": lambda: simulate.single(1_000_000, 300_000, seed=5),
    # #14's goal: ~1M levels on 3M rows in at most 2.5x the time of 1,000 levels
    "scaling_3M": lambda: simulate.single(3_000_000, 1000, seed=5),
    "levels_3M_1M": lambda: simulate.single(3_000_000, 1_000_000, seed=5),
    # #14: both crossed factors large; the exact path against the iterative one (auto from
    # 5,000 levels after the largest factor) on the same data, and where only it runs
    "crossed_1M_20000x5000": lambda: _exact(simulate.crossed(1_000_000, 20_000, 5_000)),
    "crossed_1M_20000x5000_iterative": lambda: _iterative(
        simulate.crossed(1_000_000, 20_000, 5_000)),
    "crossed_2M_50000x20000": lambda: simulate.crossed(2_000_000, 50_000, 20_000),
    "crossed3_1M_20000x2000x500": lambda: simulate.crossed3(1_000_000, 20_000, 2_000, 500),
    "crossed3_1M_20000x2000x500_iterative": lambda: _iterative(
        simulate.crossed3(1_000_000, 20_000, 2_000, 500)),
}

# opt-in (python -m bench --large): MovieLens-25M's shape, about an hour
LARGE_CASES: dict[str, Callable[[], Case]] = {
    "ratings_25M_162000x59000": lambda: simulate.ratings_platform(162_000, 59_000, 29_000_000),
}

# R is run where it finishes in reasonable time; beyond 100k rows the series is ours only.
R_CASES = [name for name in CASES
           if name not in ("scaling_1M", "levels_1M_300k", "scaling_3M", "levels_3M_1M",
                           "crossed_100k_nominal_scale")
           and not name.startswith(("crossed_1M", "crossed_2M", "crossed3_"))]
BUILTIN_R_DATA = {"wine": "wine", "soup": "soup", "wine_agq10": "wine", "soup_agq7": "soup",
                  "soup_agq-7": "soup"}
