"""Benchmark harness for interlace against R's ordinal::clmm (``python -m bench``)."""
