"""``python -m bench``: run the benchmark and write bench/results.md; ``python -m bench
--dask``: the Dask benchmark (bench/dask_bench.py), bench/dask_results.md."""

import sys

if "--dask" in sys.argv[1:]:
    from .dask_bench import main
else:
    from .run import main

main()
