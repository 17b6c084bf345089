"""Printed tables against R's own printout, fed with R's own numbers (tests/fixtures)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES, reference
from interlace.rformat import coef_table, format_pval, format_real
from interlace.summary import random_effects_table

CASES = list(reference()["cases"])


def block(text: str, title: str) -> str:
    """The lines of a printed summary from ``title`` to the next blank line."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("case_id", CASES)
def test_coefficient_tables_print_as_in_r(case_id):
    case = reference()["cases"][case_id]
    se = case["se"]
    alpha, beta = case["alpha"], case["beta"]
    text = case["summary_text"]
    thresholds = coef_table(list(alpha), list(alpha.values()), [se[k] for k in alpha],
                            pvalues=False)
    assert thresholds == block(text, "Threshold coefficients:")
    coefs = coef_table(list(beta), list(beta.values()), [se[k] for k in beta])
    assert coefs == block(text, "Coefficients:")


@pytest.mark.parametrize("case_id", CASES)
def test_random_effects_table_prints_as_in_r(case_id):
    case = reference()["cases"][case_id]
    vcs, names = {}, {}
    for g, vc in case["varcorr"].items():
        cov = np.atleast_2d(np.array(vc["covariance"], dtype=float))
        term = vc["names"] if isinstance(vc["names"], list) else [vc["names"]]
        vcs[g] = float(cov[0, 0]) if cov.shape[0] == 1 else pd.DataFrame(cov)
        names[g] = term
    r_table = block(case["summary_text"], "Random effects:").rsplit("\n", 1)[0]
    assert random_effects_table(vcs, names) == r_table


def test_format_and_format_pval_follow_r():
    for item in json.loads((FIXTURES / "format_reference.json").read_text()):
        values = item["x"] if isinstance(item["x"], list) else [item["x"]]
        expected = item["out"] if isinstance(item["out"], list) else [item["out"]]
        if item["fun"] == "format":
            assert format_real(values, item["digits"]) == expected, item
        else:
            assert format_pval(values, item["digits"]) == expected, item


@pytest.mark.parametrize("values", [
    np.array([True, False]), np.arange(-2, 3), np.array([1.0, 2.5, 1e-7, 3e20, -0.0, np.nan]),
    np.array(["a", "b"], dtype=object), np.array([1, "a", 2.0], dtype=object),
    np.asarray(pd.array([1, 2], dtype="Int64")), np.array(["2020-01-01"], dtype="datetime64[D]"),
])
def test_level_labels_at_once_are_the_labels_one_at_a_time(values):
    """The vectorised labels (a grouping factor may have a million levels) are R's labels as
    `level_label` writes each value: TRUE/FALSE, whole numbers without a decimal point."""
    from interlace.coding import level_label, level_labels

    assert level_labels(values) == [level_label(v) for v in values]


def test_row_labels_of_an_interaction_of_grouping_columns():
    from interlace.coding import group_labels, grouping

    df = pd.DataFrame({"a": [1.0, 2.0, 1.0, 2.0], "b": pd.Categorical(["x", "y", "y", "x"]),
                       "c": [True, True, False, True]})
    codes, levels = grouping(df, ("a", "b", "c"))
    assert levels == ["1:x:TRUE", "1:y:FALSE", "2:x:TRUE", "2:y:TRUE"]
    assert list(np.asarray(levels)[codes]) == list(group_labels(df, ("a", "b", "c")))
    assert list(group_labels(df, ("a", "b", "c"))) == ["1:x:TRUE", "2:y:TRUE", "1:y:FALSE",
                                                       "2:x:TRUE"]
