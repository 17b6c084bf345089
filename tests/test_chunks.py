"""Designs built a chunk of rows at a time (`chunks`) against the design of the whole frame:
the same decisions (categories, response levels, kept columns, scales, grouping levels) and
each chunk's rows as the whole design's."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import dataset
from interlace.chunks import categories_of, decide, merge_categories, skeleton, summarise_chunk
from interlace.design import build_design
from interlace.formula import parse_formula

CASES = [
    ("rating ~ temp + contact + (1|judge)", "wine", {}),
    ("rating ~ temp * contact + (1 + contact|judge) + (1|bottle)", "wine",
     {"nominal": "~ contact", "scale": "~ temp"}),
    ("SURENESS ~ PROD + factor(as.numeric(DAY)) + (1|RESP) + (1|RESP:DAY)", "soup", {}),
    ("SURENESS ~ PROD + SOUPFREQ + (1 + PROD|RESP)", "soup", {"scale": "~ COLD"}),
]


def chunked(formula, data, pieces, kwargs):
    parsed = parse_formula(formula, nominal=kwargs.get("nominal"), scale=kwargs.get("scale"))
    shuffled = data.sample(frac=1.0, random_state=3)
    chunks = [shuffled.iloc[i] for i in np.array_split(np.arange(len(data)), pieces)]
    categories = merge_categories([categories_of(parsed, c) for c in chunks])
    meta = decide(parsed, [summarise_chunk(parsed, c, categories) for c in chunks],
                  categories, False)
    return parsed, chunks, meta


@pytest.mark.parametrize(("formula", "data", "kwargs"), CASES)
def test_each_chunk_s_design_is_the_whole_design_s_rows(formula, data, kwargs):
    frame = dataset(data)
    parsed, chunks, meta = chunked(formula, frame, 4, kwargs)
    whole = build_design(parsed, frame)
    assert meta.response_levels == list(whole.response.levels)
    assert meta.beta_columns == whole.beta_columns
    np.testing.assert_allclose(meta.x_scale, whole.fixed.x_scale, rtol=1e-12)
    assert meta.n_obs == whole.n_obs and meta.total_weight == whole.weights.sum()
    for k, term in enumerate(parsed.random):
        mine = next(t for t in whole.random.terms if t.factors == term.factors
                    and t.expr == term.expr)
        assert meta.term_levels[k] == mine.levels
    for chunk in chunks:
        part = build_design(parsed, chunk, meta=meta)
        rows = whole.row_labels.get_indexer(chunk.index)
        assert part.psi_names == whole.psi_names
        np.testing.assert_array_equal(part.response.codes, whole.response.codes[rows])
        np.testing.assert_allclose(part.fixed.X, whole.fixed.X[rows], rtol=1e-12, atol=1e-15)
        for which in ("N", "W"):
            ours, theirs = getattr(part.fixed, which), getattr(whole.fixed, which)
            if theirs is not None:
                np.testing.assert_allclose(ours, theirs[rows], rtol=1e-12, atol=1e-15)
        for t_part, t_whole in zip(part.random.terms, whole.random.terms):
            assert t_part.levels == t_whole.levels
            np.testing.assert_array_equal(t_part.index, t_whole.index[rows])
            np.testing.assert_allclose(t_part.covariates, t_whole.covariates[rows], rtol=1e-12)
    shell = skeleton(build_design(parsed, chunks[0], meta=meta), meta)
    assert shell.n_obs == 0 and shell.total_weight == whole.weights.sum()
    np.testing.assert_allclose(shell.phi_scale, whole.phi_scale, rtol=1e-12)
    assert shell.column_levels == whole.column_levels


def test_transforms_that_need_the_whole_column_are_refused_in_chunks():
    parsed = parse_formula("SURENESS ~ poly(as.numeric(DAY), 2) + (1|RESP)")
    soup = dataset("soup")
    with pytest.raises(ValueError, match="whole column"):
        summarise_chunk(parsed, soup, merge_categories([categories_of(parsed, soup)]))
    assert interlace  # the package imports with chunks


def test_summaries_merge_as_they_come_and_a_chunk_of_dropped_rows_counts():
    """`decide` takes the summaries one at a time (a generator: the driver holds one merged
    summary); a chunk whose every row is dropped (missing values) adds to n_dropped as
    `build_design` on the whole frame counts it."""
    frame = dataset("wine").copy()
    frame.loc[frame.index[:5], "temp"] = None
    parsed = parse_formula("rating ~ temp + contact + (1|judge)")
    chunks = [frame.iloc[:5], frame.iloc[5:40], frame.iloc[40:]]
    categories = merge_categories(categories_of(parsed, c) for c in chunks)
    meta = decide(parsed, (summarise_chunk(parsed, c, categories) for c in chunks),
                  categories, False)
    whole = build_design(parsed, frame)
    assert whole.n_dropped == 5 and meta.n_dropped == whole.n_dropped
    assert meta.n_obs == whole.n_obs == len(frame) - 5
    np.testing.assert_allclose(meta.x_scale, whole.fixed.x_scale, rtol=1e-12)
