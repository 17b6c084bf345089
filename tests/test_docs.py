"""The examples in README.md, docs/ and the docstrings run, so that they stay true."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MODULES = ["interlace.fit", "interlace.model", "interlace.result", "interlace.after_fit",
           "interlace.datasets",
           "interlace.inference", "interlace.effect_tests"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_markdown_examples_run(path):
    namespace: dict = {}
    for block in python_blocks(path):
        exec(compile(block, str(path), "exec"), namespace)  # noqa: S102 - our own docs


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    failures, tried = doctest.testmod(importlib.import_module(module), verbose=False)
    assert tried > 0
    assert failures == 0
