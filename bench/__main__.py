"""``python -m bench``: run the benchmark and write bench/results.md."""

from .run import main

main()
