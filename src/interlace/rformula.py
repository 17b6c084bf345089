"""R's formula language, read safely and handed to formulaic.

formulaic evaluates the factors of a formula as Python, where R evaluates them as R: ``x^2``
inside ``I()`` is Python's XOR, ``my.var`` an attribute access, and a column named ``log``
shadows the function. So a formula is never passed on as written. Each part (response,
fixed terms, a random term's covariates, an offset) is cut into R's tokens and checked
against a whitelist, no Python is ever taken from the user:

- names are columns of the data (bare, dotted or in backticks) and are replaced by
  placeholders ``c0_, c1_, ...``, the only names of the frame formulaic sees;
- a name followed by ``(`` must be one of `FUNCTIONS` (R's spelling; evaluated by the
  functions in `rfunctions.CONTEXT`); ``contr.sum`` and friends, ``TRUE``/``FALSE`` and a
  few keyword names are the only other words allowed;
- inside a function call the operators are R's arithmetic (``^`` becomes ``**``, ``%%``
  ``%``, ``%/%`` ``//``); outside they are formula operators, which formulaic reads as R does;
- a quoted text is read only as relevel()'s level (written back as a Python string);
- anything else (brackets, ``$``, ``_``-names, ...) is an error naming it.

`r_column_names` maps formulaic's column names back to R's ``model.matrix`` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from .rfunctions import FUNCTIONS, LEVEL_NUMBERS, ORDERED, ORDERING

CONTRASTS = ("contr.treatment", "contr.sum", "contr.helmert", "contr.poly")
KEYWORDS = ("raw", "degree", "base", "center", "scale", "ref")  # as name=value
FACTOR_FUNCTIONS = ("factor", "as.factor", "C", "relevel")  # their first argument: by level

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<quoted>`[^`]*`)
  | (?P<text>"[^"\\]*"|'[^'\\]*')
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>(?:[^\W\d_]|\.(?!\d))[\w.]*)
  | (?P<op>%in%|%/%|%%|\*\*|[-+*/:^~|(),=])
""", re.VERBOSE)
_ARITHMETIC = {"^": "**", "%%": "%", "%/%": "//"}
_CALL_SPACE = re.compile(r"([A-Za-z_][\w]*) \(")  # formulaic reads "I (x)" as two terms


class FormulaError(ValueError):
    """A formula interlace cannot read, said in one line."""


@dataclass(frozen=True)
class Token:
    kind: str  # quoted, number, name, op
    text: str


# R functions users reach for that formulas here do not read, and what to do instead
_INSTEAD = {
    "interaction": "write the grouping as a:b",
    "cut": "cut the column beforehand (pd.cut) and use the new column",
}
CALL = re.compile(r"((?:[^\W\d_]|\.(?!\d))[\w.]*)\s*\(")  # a name called: f(


def unknown_function(name: str, where: str, text: str, allowed: str = "") -> FormulaError:
    allowed = allowed or (f"formulas may use {', '.join(FUNCTIONS)} (and offset() at the "
                          "top level)")
    instead = f"; {_INSTEAD[name]}" if name in _INSTEAD else ""
    return FormulaError(f"{where}: unknown function {name}() in {text!r}; {allowed}{instead}")


def tokenize(text: str, where: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            # a call we do not read says so before its arguments do ("relevel(x, 'b')")
            for name in CALL.findall(text[:pos]):
                if name not in FUNCTIONS and name != "offset":
                    raise unknown_function(name, where, text)
            raise FormulaError(
                f"{where}: cannot read {text[pos:pos + 12]!r} in {text!r}; formulas hold "
                "column names, numbers, R's operators and the functions "
                f"{', '.join(FUNCTIONS)}")
        if m.lastgroup != "space":
            tokens.append(Token(m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def column_of(token: Token) -> str:
    return token.text[1:-1] if token.kind == "quoted" else token.text


@dataclass
class Columns:
    """The data's columns, and the placeholder formulaic sees for each one used."""

    available: list
    placeholders: dict  # original name -> placeholder
    missing: list  # names used that the data lacks, reported together by `read_formula`

    def __init__(self, available):
        self.available = [str(c) for c in available]
        self.placeholders = {}
        self.missing = []

    def use(self, name: str, where: str) -> str:
        if name not in self.available and name not in self.missing:
            self.missing.append(name)
        return self.placeholders.setdefault(name, f"c{len(self.placeholders)}_")

    def check(self) -> None:
        if self.missing:
            raise FormulaError(f"column(s) {self.missing} named in the formula are not in the "
                               f"data; available: {self.available}")

    def rename(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The used columns present in ``frame`` under their placeholders."""
        return pd.DataFrame({p: frame[c] for c, p in self.placeholders.items()
                             if c in frame.columns}, index=frame.index)


def translate(text: str, columns: Columns, where: str, *, arithmetic: bool = False,
              response: str | None = None, factor_columns: set | None = None,
              used: list | None = None, factors=None) -> str:
    """One part of an R formula as a formulaic expression on placeholders.

    ``arithmetic``: the whole text is an R expression (an offset), not formula terms.
    ``response`` makes ``.`` stand for every other column. Columns given to factor() or
    C() are added to ``factor_columns``, and every column named to ``used``. ``factors``
    (`frames.declared_factors`: column -> ordered) are R's factors: the ordered ones coded
    by polynomial contrasts where they appear bare or as factor(x), and as.numeric(f) their
    level numbers 1..k, as R (not the labels read as numbers).
    """
    used = [] if used is None else used
    factors = factors or {}
    ordered = {c for c, is_ordered in factors.items() if is_ordered}
    tokens = tokenize(text, where)
    out: list[str] = []
    calls: list[str | None] = []  # per open parenthesis: the function it calls, or None
    skip = 0
    for i, tok in enumerate(tokens):
        if skip:
            skip -= 1
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        prev = tokens[i - 1] if i else None
        in_call = arithmetic or any(c is not None for c in calls)
        if tok.kind == "op":
            if tok.text == "(":
                calls.append(prev.text if prev is not None and prev.kind == "name"
                             and prev.text in FUNCTIONS else None)
            elif tok.text == ")":
                if calls:
                    calls.pop()
            elif tok.text in ("~", "|"):
                raise FormulaError(f"{where}: unexpected {tok.text!r} in {text!r}")
            if in_call and tok.text in _ARITHMETIC:
                out.append(_ARITHMETIC[tok.text])
            elif not in_call and tok.text in ("%%", "%/%", "**"):
                raise FormulaError(f"{where}: {tok.text!r} is arithmetic; write it inside "
                                   f"I(), e.g. I(x {tok.text} 2)")
            else:
                out.append(tok.text)
            continue
        if tok.kind == "number":
            out.append(tok.text)
            continue
        if tok.kind == "text":  # a level's name, read by relevel() alone
            if not calls or calls[-1] != "relevel":
                raise FormulaError(f"{where}: quoted text {tok.text} in {text!r} is read only "
                                   "as relevel()'s reference level")
            out.append(repr(tok.text[1:-1]))
            continue
        name = column_of(tok)
        # f(column) that R codes otherwise than formulaic would: written out whole
        if tok.kind != "name":
            coded = None
        elif not in_call and (
                (name in ("factor", "as.factor") and _bare_call_of(tokens, i, ordered))
                or (name in ORDERING and _bare_call_of(tokens, i, columns.available))):
            coded = f"C({name.replace('.', '_')}({{}}), {ORDERED})"  # R's polynomials
        elif name == "as.numeric" and _bare_call_of(tokens, i, factors):
            coded = f"{LEVEL_NUMBERS}({{}})"  # a factor's level numbers
        else:
            coded = None
        if coded is not None:
            column = column_of(tokens[i + 2])
            used.append(column)
            if factor_columns is not None and name != "as.numeric":
                factor_columns.add(column)
            out.append(coded.format(columns.use(column, where)))
            skip = 3
            continue
        if tok.kind == "name" and nxt is not None and nxt.text == "(":
            if name not in FUNCTIONS:
                raise unknown_function(name, where, text)
            out.append(name.replace(".", "_"))
            continue
        if tok.kind == "name" and in_call and nxt is not None and nxt.text == "=":
            if name not in KEYWORDS:
                raise FormulaError(f"{where}: unknown argument {name}= in {text!r}")
            out.append(name)
            continue
        if tok.kind == "name" and in_call and name in CONTRASTS:
            out.append(name)
            continue
        if tok.kind == "name" and in_call and name in ("TRUE", "FALSE") \
                and name not in columns.available:
            out.append("True" if name == "TRUE" else "False")
            continue
        if tok.kind == "name" and name == "." and response is not None and not in_call:
            rest = [c for c in columns.available if c != response]
            used.extend(rest)
            out.append("(" + " + ".join(columns.use(c, where) for c in rest) + ")")
            continue
        placeholder = columns.use(name, where)
        used.append(name)
        if factor_columns is not None and calls and calls[-1] in FACTOR_FUNCTIONS:
            factor_columns.add(name)
        out.append(f"C({placeholder}, {ORDERED})" if name in ordered and not in_call
                   else placeholder)
    if calls:
        raise FormulaError(f"{where}: unbalanced parentheses in {text!r}")
    return _CALL_SPACE.sub(r"\1(", " ".join(out))


def _bare_call_of(tokens: list, i: int, columns) -> bool:
    """Whether tokens[i:i + 4] are ``f ( x )`` for a column x in ``columns``."""
    return (i + 3 < len(tokens) and tokens[i + 1].text == "(" and tokens[i + 3].text == ")"
            and tokens[i + 2].kind in ("name", "quoted") and column_of(tokens[i + 2]) in columns)


def response_column(text: str, columns: Columns) -> tuple[str, bool]:
    """The response's column, and whether R's default order was asked for
    (``ordered(y)``, ``factor(y)``, ``as.ordered(y)``, ``as.factor(y)``)."""
    tokens = tokenize(text, "response")
    wrappers = ("ordered", "factor", "as.ordered", "as.factor")
    if len(tokens) == 1 and tokens[0].kind in ("name", "quoted"):
        name, asked = column_of(tokens[0]), False
    elif (len(tokens) == 4 and tokens[0].text in wrappers and tokens[1].text == "("
          and tokens[2].kind in ("name", "quoted") and tokens[3].text == ")"):
        name, asked = column_of(tokens[2]), True
    else:
        raise FormulaError(f"the response {text!r} must be a column, or ordered(column)")
    columns.use(name, "response")
    return name, asked


_SYNTACTIC = re.compile(r"^(?:[^\W\d_]|\.(?!\d))[\w.]*$")
_BRACKET = re.compile(r"\[(?:([TSH])\.)?([^\]]*)\]")
_WORD = re.compile(r"[A-Za-z_][\w]*")


_PLACEHOLDER = re.compile(r"\bc(\d+)_")
_ORDERED_CALL = re.compile(rf"\bC\((.+?), {ORDERED}\)")
_TEXT = re.compile(r"'([^']*)'")
_KEYWORD = re.compile(r"(?<=[\w.])=(?![=\s])")


def _r_interaction_order(name: str) -> str:
    """R names an interaction's columns with its variables in the order they first appear
    in the formula (``contact + temp:contact`` gives ``contactno:tempwarm``); placeholders
    are numbered in that order."""
    parts = re.split(r":(?![^\[]*\])", name)  # colons outside brackets
    if len(parts) < 2:
        return name

    def first(part):
        found = [int(m) for m in _PLACEHOLDER.findall(re.sub(r"\[[^\]]*\]", "", part))]
        return min(found) if found else -1

    return ":".join(sorted(parts, key=first))


def lower_order_columns(spec) -> list[str]:
    """Interaction terms for which formulaic made a column lacking one of the term's
    variables (``temp:contact`` without main effects gets a ``contact`` column): there R's
    coding, and so its coefficients, differ (the same model in another parameterisation)."""
    out = []
    for entry in spec.structure:
        factors = [str(f) for f in entry.term.factors]
        if len(factors) > 1 and any(
                any(f not in re.sub(r"\[[^\]]*\]", "", c).split(":") for f in factors)
                for c in entry.columns):
            out.append(str(entry.term))
    return out


def r_column_names(names, columns: Columns) -> list[str]:
    """formulaic's column names as R's model.matrix writes them: ``c0_[T.warm]`` is
    ``tempwarm``, ``I(c1_ ** 2)`` is ``I(x^2)``, sum and Helmert contrasts are numbered."""
    back = {p: (c if _SYNTACTIC.match(c) else f"`{c}`") for c, p in columns.placeholders.items()}
    back.update({alias: r for r, alias in ((r, r.replace(".", "_")) for r in FUNCTIONS)})
    back.update({"True": "TRUE", "False": "FALSE", LEVEL_NUMBERS: "as.numeric"})
    back.update({r.replace(".", "_"): r for r in ORDERING})
    out = []
    position: dict = {}
    for name in names:
        if name == "Intercept":
            out.append("(Intercept)")
            continue
        name = _r_interaction_order(name)
        pieces = re.split(r"(\[[^\]]*\])", name)  # levels in brackets stay as they are
        text = ""
        for piece in pieces:
            m = _BRACKET.fullmatch(piece)
            if m is None:
                # as R deparses a call: x^2, ref = "b", raw = TRUE (on formulaic's text,
                # before the columns' own names, which may hold any character, come back)
                piece = _TEXT.sub(r'"\1"', _KEYWORD.sub(" = ", piece.replace(" ** ", "^")))
                piece = _WORD.sub(lambda w: back.get(w.group(), w.group()), piece)
                text += _ORDERED_CALL.sub(r"\1", piece)
                continue
            kind, label = m.group(1), m.group(2)
            if kind is None and label.isdigit() and text.endswith("raw = TRUE)"):
                label = str(int(label) + 1)  # formulaic counts raw powers from 0, R from 1
            if kind in ("S", "H") or (kind == "T" and text.endswith("contr.treatment)")):
                # R numbers these contrasts' columns: C() hands the contrast function the
                # number of levels, not their names (treatment's from 2, the reference 1)
                position[text] = position.get(text, 0) + 1
                label = str(position[text] + (kind == "T"))
            text += {"True": "TRUE", "False": "FALSE"}.get(label, label)
        out.append(text)
    return out


@dataclass
class FormulaParts:
    """A parsed formula read against the data's columns: formulaic text on placeholders."""

    columns: Columns
    response: str  # the response's column
    response_order_asked: bool  # ordered(y): R's sorted order, no warning
    fixed: str
    offsets: list  # formulaic expressions, one numeric column each
    random: list  # per random term: formulaic expression of its covariates, None for "1"
    factor_columns: set  # columns coded by level through factor() or C()
    fixed_columns: list  # the columns the fixed part and the offsets use
    random_columns: list  # the columns the random terms use, covariates and grouping
    terms: tuple  # formula.RandomTerm, in the order of ``random``
    nominal: str | None = None  # formulaic expression of the nominal effects
    scale: str | None = None  # formulaic expression of the scale effects
    nominal_columns: list = None  # the columns the nominal effects use

    @property
    def grouping_columns(self) -> list:
        return [c for t in self.terms for c in t.factors]


def read_formula(parsed, available, factors=None) -> FormulaParts:
    """Check every part of ``parsed`` against the columns and translate it for formulaic
    (``factors``: the columns that are R's factors, `frames.declared_factors`)."""
    columns = Columns(available)
    response, asked = response_column(parsed.response, columns)
    factor_columns: set = set()
    fixed_columns: list = []
    fixed = translate(parsed.fixed, columns, "fixed effects", response=response,
                      factor_columns=factor_columns, used=fixed_columns, factors=factors)
    offsets = [f"0 + I({translate(e, columns, f'offset({e})', arithmetic=True, used=fixed_columns)})"
               for e in parsed.offsets]
    nominal_columns: list = []
    nominal = None if parsed.nominal is None else translate(
        parsed.nominal, columns, "nominal effects", factor_columns=factor_columns,
        used=nominal_columns, factors=factors)
    scale = None if parsed.scale is None else translate(
        parsed.scale, columns, "scale effects", factor_columns=factor_columns,
        used=fixed_columns, factors=factors)
    fixed_columns += nominal_columns
    random, random_columns = [], []
    for term in parsed.random:
        expr = term.expr.strip()
        random.append(None if expr == "1" else translate(
            expr, columns, f"random term {term}", factor_columns=factor_columns,
            used=random_columns, factors=factors))
        for name in term.factors:
            columns.use(name, f"grouping factor of {term}")
            random_columns.append(name)
    columns.check()
    return FormulaParts(columns, response, asked, fixed, offsets, random, factor_columns,
                        list(dict.fromkeys(fixed_columns)), list(dict.fromkeys(random_columns)),
                        tuple(parsed.random), nominal, scale,
                        list(dict.fromkeys(nominal_columns)))
