"""Fitting where the rows live: a Dask DataFrame on a ``dask.distributed`` cluster.

The data are never collected on the driver. Two passes over the partitions give the
design's decisions (`chunks`: categories, then moments, Gram matrices and levels); the rows
are shuffled once so that each partition owns whole levels of the largest grouping factor
(`partitioned`); the partitions a worker holds become one actor there, building their
design and keeping their rows, conditional modes and blocks of H between evaluations. The
driver holds the design without rows (`chunks.skeleton`), u2 and S, and runs the same
optimiser as in memory through `DaskPartitions.map`.

A worker lost during a fit loses its actors: the partitions are rebuilt from the persisted
data (Dask recomputes what the lost worker held) and the evaluation runs again.
"""

from __future__ import annotations

import time

from .chunks import categories_of, decide, merge_categories, skeleton, summarise_chunk
from .design import build_design
from .links import get_link
from .partition import Partition, PartitionsLost, combine, own_first_levels
from .partitioned import PartitionedLaplace
from .rformula import read_formula


def is_dask_frame(data) -> bool:
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


class PartitionActor:
    """The partitions a worker holds, as one: their rows' design (from `chunks.DesignMeta`)
    and the inner solve's state (`partition.Partition`). Each partition owns whole levels of
    the largest factor, so their union does too; one share of S per worker and call, not one
    per partition (a worker runs its actors' calls one at a time anyway)."""

    def __init__(self, frames, parsed, meta, threshold, weights, na_action, link, control):
        import pandas as pd

        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        del frames
        design = build_design(parsed, frame, threshold=threshold, weights=weights,
                              na_action=na_action, meta=meta)
        self.shell = skeleton(design, meta)
        local, levels = own_first_levels(design)
        self.partition = Partition(local, get_link(link), control, levels)

    def call(self, method: str, *args):
        return getattr(self.partition, method)(*args)

    def skeleton(self):
        return self.shell


class DaskPartitions:
    """The row backend on a cluster: one actor per worker holding non-empty partitions."""

    def __init__(self, client, futures, build_args):
        self.client, self.futures, self.build_args = client, futures, build_args
        self.actors = self._start()

    def _start(self) -> list:
        """One actor per worker, over the partitions that worker holds."""
        from distributed import wait

        wait(self.futures)  # a lost worker's partitions are recomputed elsewhere first
        holders = self.client.who_has(self.futures)
        by_worker: dict = {}
        for future in self.futures:
            by_worker.setdefault(min(holders[future.key]), []).append(future)
        pending = [self.client.submit(PartitionActor, frames, *self.build_args, actor=True,
                                      workers=[worker], allow_other_workers=True)
                   for worker, frames in by_worker.items()]
        return [p.result() for p in pending]

    def map(self, method: str, *args) -> list:
        out: list = []
        self._run(method, args, out.append)
        return out

    def reduce(self, method: str, *args):
        """The workers' results added up as they arrive: the driver holds one sum and at
        most a result per worker, however many partitions."""
        total = [None]
        self._run(method, args, lambda r: total.__setitem__(0, combine(total[0], r)))
        return total[0]

    def _run(self, method, args, take) -> None:
        try:
            for call in [a.call(method, *args) for a in self.actors]:
                take(call.result())
        except Exception as exc:
            if not self._lost():
                raise
            self.actors = self._start()
            raise PartitionsLost(f"a worker was lost during {method}: {exc}") from exc

    def _lost(self, wait: float = 20.0) -> bool:
        """Whether an actor's worker is gone (the scheduler may take a moment to notice)."""
        deadline = time.monotonic() + wait
        while True:
            workers = set(self.client.scheduler_info()["workers"])
            if any(a._address not in workers for a in self.actors):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def dask_model(parsed, ddf, threshold, weights, na_action, link, control, client=None):
    """The design without rows and the objective over the cluster's partitions of ``ddf``."""
    from dask import delayed
    from distributed import default_client

    if weights is not None and not isinstance(weights, str):
        raise TypeError("with a Dask DataFrame, weights= must name a column of it")
    client = default_client() if client is None else client
    parts = read_formula(parsed, list(ddf.columns))
    needed = list(parts.columns.placeholders) + ([weights] if weights else [])
    ddf = ddf[list(dict.fromkeys(needed))]
    # each pass's results merged one by one as they are taken (in partition order, so that
    # sums are the same from run to run): the driver holds one summary, not one per chunk
    categories = merge_categories(_results(client, [delayed(categories_of)(parsed, p)
                                                    for p in ddf.to_delayed()]))
    # sent to the workers once: in each task's arguments, its levels of every grouping
    # factor (a million users) went through the driver's scheduler once per partition
    [shared] = client.scatter([categories], broadcast=True)
    summaries = _results(client, [delayed(summarise_chunk)(parsed, p, shared, weights,
                                                           na_action)
                                  for p in ddf.to_delayed()])
    meta = decide(parsed, summaries, categories, parts.response_order_asked)
    shared.release()
    # the largest grouping factor first, as build_design orders the terms
    largest = max(range(len(parsed.random)), key=lambda k: len(meta.term_levels[k]))
    on = list(parsed.random[largest].factors)
    shuffled = client.persist(ddf.dropna(subset=on).shuffle(on=on))
    sizes = client.compute(shuffled.map_partitions(len)).result()
    futures = [f for f, size in zip(client.futures_of(shuffled), sizes) if size]
    build_args = (parsed, meta, threshold, weights, na_action, link, control)
    backend = DaskPartitions(client, futures, build_args)
    design = backend.actors[0].skeleton().result()
    objective = PartitionedLaplace(design, get_link(link), control, backend)
    objective.shuffled = shuffled  # kept persisted on the workers for the whole fit
    return design, objective


def _results(client, tasks):
    """Per-partition tasks' results, one at a time in partition order, each released from
    the cluster once taken; a partition that cannot be read is named."""
    futures = client.compute(tasks)
    for k in range(len(futures)):
        future, futures[k] = futures[k], None
        try:
            result = future.result()
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{exc} (in partition {k} of the data)") from exc
        except Exception as exc:
            raise ValueError(f"cannot read partition {k} of the data: "
                             f"{type(exc).__name__}: {exc}") from exc
        future.release()
        yield result


def predict_dask(result, newdata, **kwargs):
    """`CLMMResult.predict` on a Dask DataFrame: a Dask DataFrame, partition by partition."""
    meta = result.predict(newdata._meta, **kwargs)
    return newdata.map_partitions(lambda part: result.predict(part, **kwargs), meta=meta)
