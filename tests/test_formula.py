"""Formula parsing: random terms inline, in random= and in groups=, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import dataset
from interlace.formula import RandomTerm, parse_formula


def test_inline_random_terms_are_split_from_the_fixed_part():
    p = parse_formula("rating ~ temp * contact + (1|judge) + (1 + temp|bottle)")
    assert p.response == "rating"
    assert p.fixed == "temp * contact"
    assert p.random == (RandomTerm("1", ("judge",)), RandomTerm("1 + temp", ("bottle",)))


def test_nesting_expands_as_lme4_names_it():
    p = parse_formula("y ~ x + (1|school/class)")
    assert [t.group_name for t in p.random] == ["school", "class:school"]
    p3 = parse_formula("y ~ x", random="(1|a/b/c)")
    assert [t.group_name for t in p3.random] == ["a", "b:a", "c:b:a"]


@pytest.mark.parametrize("kwargs", [{"groups": "h"}, {"random": ["(1|k)"]},
                                    {"groups": "h", "random": ["(1|k)"]}])
def test_random_effects_given_twice_are_refused(kwargs):
    """One source used to win silently (random= over the formula's terms over groups=)."""
    with pytest.raises(ValueError, match="given twice"):
        parse_formula("y ~ x + (1|g)", **kwargs)
    if len(kwargs) == 2:
        with pytest.raises(ValueError, match="random= and groups="):
            parse_formula("y ~ x", **kwargs)
    else:
        assert [t.group_name for t in parse_formula("y ~ x", **kwargs).random] in (["h"], ["k"])


@pytest.mark.parametrize("bad, message", [
    ("y ~ x + (1|)", "no grouping factor"),
    ("y ~ x + (|g)", "nothing left of"),
    ("y ~ x + (1||g)", "not supported"),
    ("y ~ x + (1|a/)", "empty name"),
    ("y ~ x + ((1|g)", "unbalanced"),
    ("~ x + (1|g)", "response ~ terms"),
])
def test_malformed_terms_are_refused_with_a_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_formula(bad)


def test_a_random_term_without_a_bar_is_refused():
    with pytest.raises(ValueError, match=r"\(expr \| group\)"):
        parse_formula("y ~ x", random=["(x)"])


def test_a_model_without_random_effects_is_refused():
    with pytest.raises(ValueError, match="no random effects"):
        parse_formula("y ~ x")


def test_three_spellings_give_identical_fits():
    wine = dataset("wine")
    fits = [
        interlace.clmm("rating ~ temp + contact + (1|judge)", wine),
        interlace.clmm("rating ~ temp + contact", wine, groups="judge"),
        interlace.clmm("rating ~ temp + contact", wine, random=["(1|judge)"]),
    ]
    for other in fits[1:]:
        assert other.llf == fits[0].llf
        np.testing.assert_array_equal(other.params.values, fits[0].params.values)
        np.testing.assert_array_equal(other.bse.values, fits[0].bse.values)
        assert other.formula == fits[0].formula


def test_a_missing_column_is_named():
    with pytest.raises(ValueError, match=r"\['colour'\]"):
        interlace.clmm("rating ~ temp + colour + (1|judge)", dataset("wine"))
    with pytest.raises(ValueError, match=r"\['panel'\]"):
        interlace.clmm("rating ~ temp + (1|panel)", dataset("wine"))
