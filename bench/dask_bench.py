"""``python -m bench --dask``: fits on a Dask LocalCluster from Parquet shards the workers
write themselves, so that the driver never holds the data.

    python -m bench --dask                       # the default sizes
    python -m bench --dask --rows 1e6 1e7 --users 1e5 1e6 --items 2000

Per size: the data are simulated shard by shard on the workers ((1|user) + (1|item), two
covariates, five categories, latent logistic, as `bench.simulate.crossed`), written to
Parquet, read with ``dd.read_parquet`` and fitted with ``interlace.clmm``. Reported: wall
time (setup: the two passes, the shuffle and the partitions' designs; fit), outer
evaluations, calls to the partitions (round trips) and seconds per call, the peak resident
memory of the driver (after the setup, and over the whole run) and of the largest
worker, the log-likelihood. Shards are the Parquet files (and the shuffle's partitions;
``--rows-per-shard``); actors, one per worker, hold them.
``--memory-limit`` is each worker's (LocalCluster's "auto": the machine's memory over the
workers; 0: none). Writes bench/dask_results.md and .json; ``--merge JSON`` keeps an
earlier run's rows before the new ones.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
THRESHOLDS = np.array([-2.0, -0.7, 0.5, 1.8])


def write_shard(path: str, seed: int, rows: int, n_users: int, n_items: int) -> int:
    """One shard of the ratings: users and items drawn uniformly, effects from fixed seeds
    (the same for every shard), the response from the latent model."""
    effects = np.random.default_rng(12345)
    user_effect = effects.normal(0, 0.8, n_users)
    item_effect = effects.normal(0, 0.5, n_items)
    rng = np.random.default_rng(seed)
    user = rng.integers(0, n_users, rows)
    item = rng.integers(0, n_items, rows)
    x1 = rng.standard_normal(rows)
    x2 = rng.binomial(1, 0.5, rows).astype(float)
    latent = (0.8 * x1 - 0.5 * x2 + user_effect[user] + item_effect[item]
              + rng.logistic(size=rows))
    y = np.searchsorted(THRESHOLDS, latent) + 1
    pd.DataFrame({"y": pd.Categorical(y, categories=[1, 2, 3, 4, 5], ordered=True),
                  "x1": x1, "x2": x2, "user": user, "item": item}).to_parquet(path)
    return rows


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(rows: int, n_users: int, n_items: int, client, directory: Path,
        rows_per_shard: int = 500_000) -> dict:
    import dask.dataframe as dd

    import interlace

    shards = max(4, rows // rows_per_shard)
    per = rows // shards
    paths = [str(directory / f"shard{k:04d}.parquet") for k in range(shards)]
    for path in paths:
        Path(path).unlink(missing_ok=True)
    client.gather(client.map(write_shard, paths, range(shards), [per] * shards,
                             [n_users] * shards, [n_items] * shards))
    ddf = dd.read_parquet(paths)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = interlace.clmm_model("y ~ x1 + x2 + (1|user) + (1|item)", ddf, client=client)
        setup = time.perf_counter() - start
        driver_setup_mb = peak_mb()
        backend = model.objective.backend
        calls, spent = [0], [0.0]

        def timed(real):
            def call(method, *args):
                t = time.perf_counter()
                try:
                    return real(method, *args)
                finally:
                    calls[0] += 1
                    spent[0] += time.perf_counter() - t
            return call

        backend.map, backend.reduce = timed(backend.map), timed(backend.reduce)
        fit_start = time.perf_counter()
        fit = model.fit()
        fit_time = time.perf_counter() - fit_start
    return {"rows": per * shards, "users": n_users, "items": n_items, "shards": shards,
            "partitions": len(backend.actors), "setup_s": setup, "fit_s": fit_time,
            "worker_peak_mb": max(client.run(peak_mb).values()),
            "evaluations": fit.n_fev, "inner_steps": fit.n_inner, "calls": calls[0],
            "s_per_call": spent[0] / max(1, calls[0]),
            "s_per_evaluation": fit_time / max(1, fit.n_fev),
            "driver_setup_peak_mb": driver_setup_mb, "driver_peak_mb": peak_mb(),
            "logLik": fit.llf, "converged": fit.converged,
            "sd_user": float(np.sqrt(fit.variance_components["user"])),
            "sd_item": float(np.sqrt(fit.variance_components["item"]))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench --dask")
    parser.add_argument("--dask", action="store_true")
    parser.add_argument("--rows", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--users", nargs="+", type=float, default=[1e5, 1e6])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows-per-shard", type=float, default=5e5,
                        help="rows in each Parquet file (at least 4 files)")
    parser.add_argument("--memory-limit", default="auto",
                        help="each worker's, as LocalCluster takes it (0: none)")
    parser.add_argument("--out", default=str(HERE / "dask_results.md"))
    parser.add_argument("--merge", metavar="JSON",
                        help="an earlier run's results, kept before this run's rows")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    from .run import machine

    results = []
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                         dashboard_address=None,
                         memory_limit=0 if args.memory_limit == "0" else args.memory_limit
                         ) as cluster, Client(cluster) as client:
        for rows, users in zip(args.rows, args.users):
            print(f"{int(rows):,} rows, {int(users):,} users x {args.items:,} items", flush=True)
            row = run(int(rows), int(users), args.items, client, Path(tmp),
                      int(args.rows_per_shard))
            print("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in row.items()), flush=True)
            results.append(row)
    kept = json.loads(Path(args.merge).read_text())["rows"] if args.merge else []
    write_results(Path(args.out), machine(), args.workers, kept + results)


def write_results(out: Path, machine: str, workers: int, results: list) -> None:
    """The runs as JSON and as a Markdown table (a run's ``note``, if any, under it)."""
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": results},
                                                   indent=1))
    lines = [(f"# Dask benchmark\n\n{machine}; LocalCluster, {workers} workers x 1 "
             "thread, Parquet shards written by the workers; the driver's process also runs "
             "the scheduler.\n"),
             ("| rows | users | items | shards | actors | setup s | fit s | evaluations | "
              "calls | s/call | s/evaluation | driver MB after setup | driver peak MB | "
              "worker peak MB | logLik |"),
             "|" + "---|" * 15]
    lines += [f"| {r['rows']:,} | {r['users']:,} | {r['items']:,} | {r['shards']} | "
              f"{r['partitions']} | "
              f"{r['setup_s']:.1f} | {r['fit_s']:.1f} | {r['evaluations']} | {r['calls']} | "
              f"{r['s_per_call']:.3f} | {r['s_per_evaluation']:.2f} | "
              + (f"{r['driver_setup_peak_mb']:.0f}" if "driver_setup_peak_mb" in r else "")
              + f" | {r['driver_peak_mb']:.0f} | {r.get('worker_peak_mb', 0):.0f} | "
              f"{r['logLik']:.4f} |" for r in results]
    notes = [f"- {r['rows']:,} rows, {r['users']:,} users, {r['shards']} shards: {r['note']}"
             for r in results if r.get("note")]
    out.write_text("\n".join(lines + ([""] + notes if notes else [])) + "\n")
    print(f"wrote {out}")
