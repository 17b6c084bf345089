"""The Laplace objective over partitions of the rows (`partitioned`, the row backend a cluster
runs) against the single-block objective: the same values, gradients and fits."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import dataset
from interlace.links import get_link
from interlace.partition import InMemoryPartitions, split_by_first_term
from interlace.partitioned import PartitionedLaplace

CASES = [
    ("rating ~ temp + contact + (1|judge)", "wine", {}),
    ("rating ~ temp + (1|judge) + (1|bottle)", "wine", {}),
    ("rating ~ temp + (1 + contact|judge) + (1|bottle)", "wine",
     {"nominal": "~ contact", "scale": "~ temp", "link": "probit"}),
    ("SURENESS ~ PROD + (1|RESP) + (1|DAY:RESP)", "soup", {}),
    ("SURENESS ~ PROD + (1 + PROD|RESP)", "soup", {"link": "cloglog"}),
]


@pytest.mark.parametrize(("formula", "data", "kwargs"), CASES)
@pytest.mark.parametrize("n_partitions", [1, 4])
def test_value_and_gradient_are_the_single_block_ones(formula, data, kwargs, n_partitions):
    """At a point away from the optimum and at a second one reached from it (the warm start
    and its tangent), to rounding: the inner solve stops where the single-block one does."""
    model = interlace.clmm_model(formula, dataset(data), **kwargs)
    design = model.design
    link = get_link(kwargs.get("link", "logit"))
    parts = split_by_first_term(design, n_partitions)
    assert len(parts) == n_partitions
    assert sum(p.n_obs for p, _ in parts) == design.n_obs
    objective = PartitionedLaplace(design, link, model.control,
                                   InMemoryPartitions(parts, link, model.control))
    x = model.start() * design.phi_scale
    x = x + 0.05 * np.random.default_rng(1).normal(size=len(x))
    for point in (x, x + 0.01):
        v0, g0 = model.objective.value_and_grad(point)
        v1, g1 = objective.value_and_grad(point)
        assert v1 == pytest.approx(v0, abs=1e-9)
        np.testing.assert_allclose(g1, g0, atol=1e-8)


@pytest.mark.parametrize(("formula", "data", "kwargs"), CASES[1:2] + CASES[3:])
def test_a_fit_over_partitions_is_the_fit(formula, data, kwargs):
    """Control(partitions=3) through the whole fit (the subsample start included, which
    hands its modes to the partitions): log-likelihood, estimates, modes and conditional
    variances as the single-block fit's."""
    ours = interlace.clmm(formula, dataset(data), **kwargs)
    control = interlace.Control(partitions=3, subsample_from=500)
    split = interlace.clmm(formula, dataset(data), control=control, **kwargs)
    assert split.converged
    assert split.llf == pytest.approx(ours.llf, abs=1e-7)
    np.testing.assert_allclose(split.params.to_numpy(), ours.params.to_numpy(), atol=1e-5)
    for table in ("random_effects", "cond_var"):
        for name, frame in getattr(ours, table).items():
            np.testing.assert_allclose(getattr(split, table)[name].to_numpy(), frame.to_numpy(),
                                       atol=1e-5)


def test_profile_intervals_over_partitions():
    formula = "rating ~ temp + contact + (1|judge) + (1|bottle)"
    ours = interlace.clmm(formula, dataset("wine"))
    split = interlace.clmm(formula, dataset("wine"), control=interlace.Control(partitions=2))
    names = ["tempwarm", "sd((Intercept)|judge)"]
    np.testing.assert_allclose(split.confint(method="profile", params=names).to_numpy(),
                               ours.confint(method="profile", params=names).to_numpy(),
                               atol=1e-5)


def test_a_start_handed_to_the_partitions_comes_back_and_gives_the_same_value():
    """The subsample start and the profiles set the inner solve's start from outside: each
    partition takes its own levels' share of u, and the value does not depend on it."""
    from interlace.laplace import WarmStart

    formula = "SURENESS ~ PROD + (1|RESP) + (1|DAY:RESP)"
    single = interlace.clmm_model(formula, dataset("soup"))
    split = interlace.clmm_model(formula, dataset("soup"),
                                 control=interlace.Control(partitions=3))
    u = np.random.default_rng(5).normal(size=single.design.random.q)
    split.objective.warm_start = WarmStart(u)
    np.testing.assert_array_equal(split.objective.warm_start.u, u)
    x = single.start()
    assert split.loglik(x) == pytest.approx(single.loglik(x), abs=1e-9)


@pytest.mark.parametrize(("formula", "kwargs", "shared_terms"), [
    ("rating ~ temp + contact + (1|judge) + (1|bottle)", {}, [True, True]),
    ("rating ~ temp + (1 + contact|judge) + (1|bottle)", {"scale": "~ temp"}, [False, True]),
])
def test_rows_stored_once_give_the_values_of_rows_stored_each(formula, kwargs, shared_terms):
    """Unit weights, no offset and intercept-only terms are one row broadcast (what a Dask
    worker holds per row); the objective and its gradient are those of the same design with
    every row stored, here and on a subset of the rows."""
    import dataclasses

    from interlace.laplace import LaplaceObjective
    from interlace.rows import is_shared

    model = interlace.clmm_model(formula, dataset("wine"), **kwargs)
    design = model.design
    assert is_shared(design.weights) and is_shared(design.fixed.offset)
    by_name = {t.name: is_shared(t.covariates) for t in design.random.terms}
    assert [by_name["judge"], by_name["bottle"]] == shared_terms
    theta = design.random.theta_start()
    assert is_shared(design.random.values(theta)) is all(shared_terms)
    assert design.random.cols.dtype == np.int32 and design.response.codes.dtype == np.int8

    def stored(d):
        random = type(d.random)([dataclasses.replace(t) for t in d.random.terms])
        for t in random.terms:  # after __post_init__, which would share them again
            t.covariates = np.array(t.covariates)
        return dataclasses.replace(
            d, weights=np.array(d.weights), random=random,
            fixed=dataclasses.replace(d.fixed, offset=np.array(d.fixed.offset)))

    link = get_link("logit")
    x = model.start() * design.phi_scale + 0.05
    subset = np.flatnonzero(np.arange(design.n_obs) % 3 != 1)
    for d in (design, design.rows(subset)):
        assert is_shared(d.weights) and is_shared(d.random.terms[-1].covariates)
        full = stored(d)
        assert not any(is_shared(a) for a in [full.weights, full.fixed.offset]
                       + [t.covariates for t in full.random.terms])
        v0, g0 = LaplaceObjective(d, link, model.control).value_and_grad(x)
        v1, g1 = LaplaceObjective(full, link, model.control).value_and_grad(x)
        assert v0 == pytest.approx(v1, abs=1e-10)
        np.testing.assert_allclose(g0, g1, atol=1e-9)
