"""Parse a clmm formula: the response, the fixed-effects part and lme4-style random terms.

``"rating ~ temp + contact + (1|judge)"`` is split into the response ``rating``, the fixed
right-hand side ``temp + contact`` (handed to formulaic) and the random term ``(1|judge)``.
Random terms may instead come from the ``random=`` list or the ``groups=`` shorthand for
random intercepts (one source only: giving two is an error). Nested grouping ``(1|a/b)``
expands, as lme4 does, to ``(1|a) + (1|b:a)``; several terms may share a grouping factor
(``(1|g) + (0 + x|g)``: a block-diagonal covariance). The parts stay R text here;
`rformula` reads them against the data's columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rformula import CALL, unknown_function


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | g1:g2:...)``."""

    expr: str  # the left of the bar, e.g. "1" or "1 + PROD"
    factors: tuple[str, ...]  # the grouping columns, interacted

    @property
    def group_name(self) -> str:
        """The grouping factor's name as R prints it, e.g. ``DAY:RESP``."""
        return ":".join(self.factors)

    def __str__(self) -> str:
        return f"({self.expr} | {self.group_name})"


@dataclass(frozen=True)
class ParsedFormula:
    response: str
    fixed: str  # right-hand side for formulaic ("1" when there are no fixed effects)
    random: tuple[RandomTerm, ...]
    offsets: tuple[str, ...]  # the expressions inside offset(...) terms
    text: str  # the formula as R would print it
    nominal: str | None = None  # right-hand side of nominal=, R's one-sided formula
    scale: str | None = None  # right-hand side of scale=


def one_sided(formula, argument: str) -> str | None:
    """The right-hand side of ``nominal=`` or ``scale=`` (``"~ contact"``, as R writes
    it; the ``~`` may be left out); None when not given."""
    if formula is None:
        return None
    if not isinstance(formula, str):
        raise TypeError(f"{argument}= takes a one-sided formula such as '~ contact', not "
                        f"{type(formula).__name__}")
    sides = _split_top_level(formula, "~")
    if len(sides) > 2 or (len(sides) == 2 and sides[0].strip()):
        raise ValueError(f"{argument}={formula!r} must be one-sided, such as '~ contact'")
    rhs = sides[-1].strip()
    if not rhs:
        raise ValueError(f"{argument}={formula!r} has nothing right of '~'")
    pieces = [p.strip() for p in _split_top_level(rhs, "+")]
    bad = [p for p in pieces if _is_random_term(p) or _is_offset(p)]
    if bad:
        raise ValueError(f"{argument}={formula!r}: {bad[0]} is not allowed there; random "
                         "terms and offsets belong in the model formula")
    return rhs


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not inside parentheses."""
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "`":  # a quoted name may hold any character
            close = text.find("`", i + 1)
            i = len(text) if close < 0 else close + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in {text!r}")
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i += len(sep)
            continue
        i += 1
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    parts.append(text[start:])
    return parts


def _strip_outer_parens(text: str) -> str | None:
    """``"(a|b)"`` -> ``"a|b"`` when the parentheses enclose the whole string, else None."""
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        return None
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(text) - 1:
            return None
    return text[1:-1]


def parse_random_term(text: str) -> list[RandomTerm]:
    """Parse one lme4-style term such as ``"(1 + x | g)"`` or ``"(1|a/b)"``.

    Returns one RandomTerm per grouping factor after expanding ``/``.
    """
    original = text
    inner = _innermost(text)
    body = inner if inner is not None else text.strip()
    if "||" in body:
        raise ValueError(
            f"random term {original!r}: '||' (uncorrelated terms) is not supported; "
            "write the terms separately, e.g. (1|g) + (0 + x|g)"
        )
    pieces = _split_top_level(body, "|")
    if len(pieces) != 2:
        raise ValueError(
            f"random term {original!r} must have the form (expr | group), e.g. (1|judge)"
        )
    expr, group = (p.strip() for p in pieces)
    if not expr:
        raise ValueError(f"random term {original!r} has nothing left of '|'; use (1|{group or 'g'})")
    if not group:
        raise ValueError(f"random term {original!r} has no grouping factor right of '|'")
    nested = [g.strip() for g in group.split("/")]
    if any(not g for g in nested):
        raise ValueError(f"random term {original!r} has an empty name in its grouping factor")
    terms = []
    for depth in range(1, len(nested) + 1):
        # lme4 names a/b as b:a, innermost first
        chain = nested[:depth][::-1]
        for part in chain:
            call = CALL.match(part.strip())
            if call:  # a grouping factor is columns, never a call
                raise unknown_function(call.group(1), "grouping factor", original,
                                       "a grouping factor is columns joined by ':' or '/'")
        factors = tuple(_unquote(f.strip()) for part in chain for f in part.split(":"))
        if any(not f for f in factors):
            raise ValueError(f"random term {original!r} has an empty name in its grouping factor")
        terms.append(RandomTerm(expr, factors))
    return terms


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == "`" else name


def _is_offset(piece: str) -> bool:
    """``offset(x)``: a known part of the linear predictor, as in R's formulas."""
    return piece.startswith("offset(") and _strip_outer_parens(piece[len("offset"):]) is not None


def _innermost(piece: str) -> str | None:
    """``((1|g))`` -> ``1|g``: the text inside all enclosing parentheses (None if none)."""
    inner = _strip_outer_parens(piece)
    while inner is not None and _strip_outer_parens(inner) is not None:
        inner = _strip_outer_parens(inner)
    return inner


def _is_random_term(piece: str) -> bool:
    inner = _innermost(piece)
    return inner is not None and len(_split_top_level(inner, "|")) > 1


def parse_formula(formula: str, groups=None, random=None,
                  random_effects: bool = True, nominal=None, scale=None) -> ParsedFormula:
    """Split ``formula`` and gather its random terms.

    ``random`` (a string or list of lme4 terms) or ``groups`` (a column name or list: one
    random intercept per column) replace inline terms; only one of the three may be given.
    ``random_effects=False`` (``clm()``): a model without random effects, and none allowed.
    ``nominal`` and ``scale``: one-sided formulas of the nominal and scale effects.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string such as 'rating ~ temp', not {type(formula).__name__}")
    sides = _split_top_level(formula, "~")
    if len(sides) != 2 or not sides[0].strip():
        raise ValueError(f"formula {formula!r} must have the form 'response ~ terms'")
    response = sides[0].strip()
    if not sides[1].strip():
        raise ValueError(f"formula {formula!r} has nothing right of '~'; write 'y ~ 1' for "
                         "thresholds only")
    pieces = [p.strip() for p in _split_top_level(sides[1], "+")]
    inline = [p for p in pieces if p and _is_random_term(p)]
    fixed_pieces = [p for p in pieces if p and not _is_random_term(p)]
    offsets = tuple(p[len("offset("):-1].strip() for p in fixed_pieces if _is_offset(p))
    model_pieces = [p for p in fixed_pieces if not _is_offset(p)]
    if any(not p for p in pieces[1:]) or (pieces and not pieces[0] and len(pieces) > 1):
        raise ValueError(f"formula {formula!r} has an empty term between '+' signs")
    fixed = " + ".join(model_pieces) if model_pieces else "1"

    sources = [name for name, given in (("random terms in the formula", inline),
                                        ("random=", random is not None),
                                        ("groups=", groups is not None)) if given]
    if len(sources) > 1:
        raise ValueError(
            f"random effects are given twice ({' and '.join(sources)}); give them one way: "
            "in the formula, or with random=, or with groups=")
    if random is not None:
        specs = _string_list(random, "random", "'(1|judge)'")
    elif groups is not None:
        specs = [f"(1|{g})" for g in _string_list(groups, "groups", "'judge'")]
    else:
        specs = inline
    terms: list[RandomTerm] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise TypeError(f"random terms must be strings such as '(1|judge)', got {spec!r}")
        terms.extend(parse_random_term(spec))
    if terms and not random_effects:
        raise ValueError(f"clm() fits models without random effects; the formula has "
                         f"{', '.join(map(str, terms))}: use clmm() for them")
    if not terms and random_effects:
        raise ValueError(
            "the model has no random effects: add a term such as (1|judge) to the formula, "
            "or pass groups= or random= (or use clm() for a model without them)"
        )
    shown = [_tidy_term(p) for p in fixed_pieces] + [_tidy_term(s) for s in specs]
    text = f"{response} ~ " + (" + ".join(shown) if shown else "1")
    return ParsedFormula(response, fixed, tuple(terms), offsets, text,
                         one_sided(nominal, "nominal"), one_sided(scale, "scale"))


def _string_list(value, argument: str, example: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(
            isinstance(v, str) for v in values):
        raise TypeError(f"{argument}= takes a string or a list of strings such as {example}, "
                        f"not {value!r}")
    return list(values)


def _tidy_term(term: str) -> str:
    """Print a term as R deparses it: ``(1|judge)`` -> ``(1 | judge)``."""
    if not _is_random_term(term):
        return term.strip()
    left, right = _split_top_level(_innermost(term), "|")
    return f"({left.strip()} | {right.strip()})"
