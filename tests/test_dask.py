"""Fitting a Dask DataFrame on a LocalCluster started here (2 workers, 1 thread each): the
same fit as in memory, from partitions and from Parquet files, predictions as a Dask
DataFrame, a worker lost between evaluations, a partition that cannot be read."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

MODELS = [
    ("rating ~ relevel(temp, 'warm') + contact + (1|judge)", "wine", {}),
    ("rating ~ temp + contact + (1|judge) + (1|bottle)", "wine", {}),
    ("SURENESS ~ PROD + (1|RESP/DAY)", "soup", {}),
    ("SURENESS ~ PROD + (1 + PROD|RESP)", "soup", {}),
    ("rating ~ temp + (1|judge)", "wine", {"nominal": "~ contact", "scale": "~ temp"}),
]


@pytest.fixture(scope="module")
def client():
    import dask

    # a lost worker is noticed in seconds, not after the default 30 s connect timeout
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        with distributed.Client(cluster) as c:
            yield c
        cluster.close()


def assert_same_fit(ours, theirs):
    """The log-likelihood within 1e-6 and every estimate within 1e-5 (sums in another
    order); the random effects' tables too."""
    assert ours.converged
    assert ours.llf == pytest.approx(theirs.llf, abs=1e-6)
    np.testing.assert_allclose(ours.params.to_numpy(), theirs.params.to_numpy(), atol=1e-5)
    assert list(ours.params.index) == list(theirs.params.index)
    assert ours.nobs == theirs.nobs and ours.ngroups == theirs.ngroups
    for table in ("random_effects", "cond_var"):
        for name, frame in getattr(theirs, table).items():
            np.testing.assert_allclose(getattr(ours, table)[name].to_numpy(), frame.to_numpy(),
                                       atol=1e-5)


@pytest.mark.parametrize(("formula", "data", "kwargs"), MODELS)
def test_a_dask_frame_gets_the_in_memory_fit(client, formula, data, kwargs):
    frame = dataset(data)
    assert_same_fit(interlace.clmm(formula, dd.from_pandas(frame, npartitions=3), **kwargs),
                    interlace.clmm(formula, frame, **kwargs))


def test_parquet_files_and_predictions_as_a_dask_frame(client, tmp_path):
    soup = dataset("soup").copy()  # the shared frame stays as loaded
    # an ordered covariate keeps its order, and R's polynomial coding, through Parquet
    soup["DAY"] = soup["DAY"].cat.as_ordered()
    for k, rows in enumerate(np.array_split(np.arange(len(soup)), 4)):
        soup.iloc[rows].to_parquet(tmp_path / f"part{k}.parquet")
    ddf = dd.read_parquet(str(tmp_path / "*.parquet"))
    formula = "SURENESS ~ PROD + DAY + (1|RESP) + (1|RESP:DAY)"
    ours, theirs = interlace.clmm(formula, ddf), interlace.clmm(formula, soup)
    assert_same_fit(ours, theirs)
    assert "DAY.L" in ours.params.index
    predicted = ours.predict(newdata=ddf, re_form="marginal")
    assert isinstance(predicted, dd.DataFrame)
    np.testing.assert_allclose(predicted.compute().to_numpy(),
                               theirs.predict(soup, re_form="marginal").to_numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="rows stay on the cluster"):
        ours.predict()


@pytest.mark.parametrize("after_calls", [0, 40])
def test_a_worker_lost_during_a_fit(client, after_calls):
    """Killed before the first evaluation, or in the middle of one (the 41st call to the
    partitions, inside an evaluation): its partitions are rebuilt from the data (Dask
    recomputes what it held), the evaluation runs again, and the fit ends at the same
    answer."""
    wine = dataset("wine")
    formula = "rating ~ temp + contact + (1|judge) + (1|bottle)"
    model = interlace.clmm_model(formula, dd.from_pandas(wine, npartitions=4))
    backend = model.objective.backend
    holder = backend.actors[0]._address
    calls = []
    real_map = backend.map

    def map_then_kill(method, *args):
        calls.append(method)
        if len(calls) == after_calls + 1:
            with contextlib.suppress(Exception):  # the call itself loses its worker
                client.run(lambda: __import__("os")._exit(1), workers=[holder])
        return real_map(method, *args)

    backend.map = map_then_kill  # counts the calls, and kills a worker at one of them
    fit = model.fit()
    assert holder not in {a._address for a in backend.actors}
    if after_calls:
        assert calls[after_calls] in ("start", "newton_parts", "trial", "accept",
                                      "gradient_parts", "finish_gradient")
    assert_same_fit(fit, interlace.clmm(formula, wine))


def test_a_partition_that_cannot_be_read_is_named(client):
    import dask

    good = dataset("wine")

    def unreadable():
        raise OSError("disk gone")

    parts = [dask.delayed(lambda: good.iloc[:36])(), dask.delayed(unreadable)()]
    ddf = dd.from_delayed(parts, meta=good.iloc[:0])
    with pytest.raises(ValueError, match="cannot read partition 1 of the data: OSError: disk"):
        interlace.clmm("rating ~ temp + (1|judge)", ddf)


def test_what_a_dask_fit_refuses(client):
    ddf = dd.from_pandas(dataset("wine"), npartitions=2)
    with pytest.raises(ValueError, match="Laplace"):
        interlace.clmm("rating ~ temp + (1|judge)", ddf, nAGQ=5)
    with pytest.raises(TypeError, match="name a column"):
        interlace.clmm("rating ~ temp + (1|judge)", ddf, weights=np.ones(72))


def test_the_in_memory_path_never_imports_dask():
    code = ("import sys, interlace; interlace.clmm('rating ~ temp + (1|judge)', "
            "interlace.load_wine()); print('dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    assert pd  # the frames the tests build are pandas
