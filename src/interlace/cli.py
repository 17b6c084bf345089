"""The ``interlace`` command line: ``interlace clmm`` fits a model and prints its summary.

With no ``--data`` it fits the bundled wine example. Errors are one line on stderr with
exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from .links import LINKS
from .optimize.control import OPTIMIZERS, RANDOM_SOLVERS
from .prediction import RE_FORMS, TYPES
from .thresholds import THRESHOLD_STRUCTURES

WINE_FORMULA = "rating ~ temp + contact + (1|judge)"
SUMMARY_FORMATS = {"text": str, "markdown": lambda s: s.as_markdown(),
                   "latex": lambda s: s.as_latex(), "html": lambda s: s.as_html()}
_EXAMPLES = """examples:
  interlace clmm                                   # the bundled wine example
  interlace clmm --data r.csv --formula "y ~ x + (1|rater)"
  interlace clmm --data r.csv --formula "y ~ x" --groups rater --groups item
  interlace clmm --data r.csv --formula "y ~ x" --random "(1 + x|rater)"
  interlace clmm ... --link probit --threshold equidistant --nagq 10 --optimizer lbfgsb
  interlace clmm ... --levels "y=low,mid,high" --levels "x=control,treated"
  interlace clmm ... --format markdown                # the summary as a markdown table
  interlace clmm ... --json fit.json --tidy estimates.csv --exponentiate
  interlace clmm ... --tidy estimates.csv --conf-method profile --level 0.9
  interlace clmm ... --predict new.csv --out p.csv --type cum.prob --re-form marginal --se
  interlace clmm ... --plot fit.png --threads 1 --verbose
  interlace clmm ... --random-solver exact           # never estimate the logLik
"""


def _read_table(path: str, option: str = "--data"):
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ValueError(f"{option}: no such file {path!r}")
    if p.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(p)
    return pd.read_csv(p)


def _save_plots(result, path: str) -> None:
    """The first grouping factor's caterpillar plot (a panel per term) beside the first
    fixed variable's effects."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'interlace[plot]'") from None
    from .plots import effect_variables

    variables = effect_variables(result)
    terms = (len(next(iter(result.random_effects.values())).columns)
             if result.random_effects else 0)
    panels = terms + (1 if variables else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 5), squeeze=False)
    if terms:
        result.plot_ranef(ax=list(axes[0][:terms]))
    if variables:
        result.plot_effects(variables[0], re_form="marginal", ax=axes[0][terms])
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _predictions(result, newdata, args):
    """A table of predictions for --predict: --type, --re-form, and se_ columns with --se."""
    import pandas as pd

    out = result.predict(newdata, type=args.type, re_form=args.re_form, se_fit=args.se)
    if not args.se:
        return out
    fit, se = out
    fit, se = (x.to_frame() if isinstance(x, pd.Series) else x for x in (fit, se))
    return pd.concat([fit, se.add_prefix("se_")], axis=1)


def _apply_levels(data, specs, formula: str, every_column: bool = True):
    """``--levels rating=1,2,3``: a column as a Categorical with these levels in this order
    (the response ordered; a covariate unordered, its first level the reference, since R
    codes an ordered covariate by polynomial contrasts); values outside them are an error
    naming them."""
    import pandas as pd

    from .rformula import Columns, response_column

    if not specs:
        return data
    response = response_column(formula.partition("~")[0].strip(), Columns(data.columns))[0]
    data = data.copy()
    for spec in specs:
        column, sep, values = spec.partition("=")
        column = column.strip()
        levels = [v.strip() for v in values.split(",")]
        if not sep or not column or not all(levels):
            raise ValueError(f"--levels {spec!r}: write COLUMN=A,B,... (e.g. rating=1,2,3,4,5)")
        if column not in data.columns:
            if not every_column:  # new data for prediction has no response
                continue
            raise ValueError(f"--levels: no column {column!r} in the data")
        text = data[column].astype("string")
        other = sorted(set(text.dropna()) - set(levels))
        if other:
            raise ValueError(f"--levels: column {column!r} has value(s) {other} not in "
                             f"{levels}")
        data[column] = pd.Categorical(text, categories=levels, ordered=column == response)
    return data


def _check_combinations(args) -> None:
    """Options that only mean something beside another, refused before the fit."""
    from .arguments import check_level

    if args.predict and not args.out:
        raise ValueError("--predict needs --out FILE for the probabilities")
    for flag, given, partner, partner_given in (
            ("--out", args.out, "--predict NEWDATA", args.predict),
            ("--exponentiate", args.exponentiate, "--tidy FILE", args.tidy),
            ("--level", args.level != 0.95, "--tidy FILE", args.tidy),
            ("--conf-method", args.conf_method != "wald", "--tidy FILE", args.tidy)):
        if given and not partner_given:
            raise ValueError(f"{flag} goes with {partner}")
    check_level(args.level)


class _OneLineErrors(argparse.ArgumentParser):
    """argparse's errors as one line, like every other error of the command."""

    def error(self, message):
        self.exit(2, f"interlace: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="interlace", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineErrors)
    fit = sub.add_parser(
        "clmm", help="fit a cumulative link mixed model and print its summary",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EXAMPLES)
    fit.add_argument("--data", help="CSV or Parquet file (default: the bundled wine data)")
    fit.add_argument("--formula", help=f"model formula (default for wine: {WINE_FORMULA!r})")
    fit.add_argument("--groups", action="append", help="grouping column for a random intercept")
    fit.add_argument("--random", action="append", help="lme4-style random term, e.g. '(1|judge)'")
    fit.add_argument("--link", default="logit", choices=list(LINKS))
    fit.add_argument("--threshold", default="flexible", choices=list(THRESHOLD_STRUCTURES))
    fit.add_argument("--nominal", metavar="'~ TERMS'",
                     help="nominal effects, one per threshold, e.g. '~ contact'")
    fit.add_argument("--scale", metavar="'~ TERMS'",
                     help="scale effects on the latent variable, e.g. '~ temp'")
    fit.add_argument("--nagq", type=int, default=1)
    fit.add_argument("--optimizer", default="auto", choices=list(OPTIMIZERS))
    fit.add_argument("--levels", action="append", metavar="COLUMN=A,B,...",
                     help="the order of a column's levels (CSV files carry none): the "
                          "response's order, or a factor's levels with its reference first; "
                          "repeat for several columns")
    fit.add_argument("--random-solver", default="auto", choices=list(RANDOM_SOLVERS),
                     help="exact: factorise H (dense in the random effects after the largest "
                          "factor); iterative: conjugate gradients, the logLik estimated from "
                          "probes (said in the output); auto: iterative from 5,000 of them")
    fit.add_argument("--threads", type=int, default=1,
                     help="BLAS threads for the fit (default 1, measured fastest; the Schur "
                     "complement's large kernels use every core)")
    fit.add_argument("--verbose", action="store_true", help="show the optimiser's progress")
    fit.add_argument("--json", metavar="FILE", help="write estimates and fit statistics as JSON")
    fit.add_argument("--predict", metavar="NEWDATA", help="CSV or Parquet rows to predict")
    fit.add_argument("--out", metavar="FILE", help="where --predict writes probabilities (CSV)")
    fit.add_argument("--type", default="prob", choices=list(TYPES),
                     help="what --predict writes (default: category probabilities)")
    fit.add_argument("--re-form", default="conditional", choices=list(RE_FORMS),
                     help="random effects in --predict: the modes, zero, or averaged over them")
    fit.add_argument("--se", action="store_true",
                     help="--predict also writes delta-method standard errors (se_ columns)")
    fit.add_argument("--tidy", metavar="FILE", help="write one row per estimate (CSV)")
    fit.add_argument("--exponentiate", action="store_true",
                     help="--tidy gives exp(coefficients): odds ratios for logit")
    fit.add_argument("--format", default="text", choices=list(SUMMARY_FORMATS),
                     help="how the summary prints: R's text, or tables for a paper")
    fit.add_argument("--level", type=float, default=0.95,
                     help="coverage of --tidy's intervals (default 0.95)")
    fit.add_argument("--conf-method", default="wald", choices=["wald", "profile"],
                     help="--tidy's intervals: Wald, or profile likelihood (also for the "
                          "random-effect SDs and correlations)")
    fit.add_argument("--plot", metavar="FILE.png",
                     help="save the random-effects and effects plots (needs matplotlib)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import interlace

    try:
        _check_combinations(args)
        if args.data is None:
            data = interlace.load_wine()
            # random effects given as options replace the example's (1|judge)
            formula = args.formula or (WINE_FORMULA.split(" + (")[0]
                                       if args.random or args.groups else WINE_FORMULA)
            data_name = "wine"
            print(f"No --data given: fitting the bundled wine example, {formula}\n")
        else:
            if not args.formula:
                raise ValueError("--formula is required with --data")
            data = _read_table(args.data)
            formula = args.formula
            data_name = Path(args.data).name
        data = _apply_levels(data, args.levels, formula)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = interlace.clmm(
                formula, data, groups=args.groups, random=args.random, link=args.link,
                threshold=args.threshold, nAGQ=args.nagq, optimizer=args.optimizer,
                verbose=args.verbose, threads=args.threads, nominal=args.nominal,
                scale=args.scale,
                # the process is ours: its allocator may keep large blocks (memory.py)
                control=interlace.Control(reuse_large_blocks=True,
                                          random_solver=args.random_solver),
            )
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        result.data_name = data_name
        print(SUMMARY_FORMATS[args.format](result.summary()))
        if args.json:
            Path(args.json).write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        if args.predict:
            newdata = _apply_levels(_read_table(args.predict, "--predict"), args.levels, formula,
                                    every_column=False)
            _predictions(result, newdata, args).to_csv(args.out)
        if args.tidy:
            result.tidy(level=args.level, exponentiate=args.exponentiate,
                        conf_method=args.conf_method).to_csv(args.tidy, index=False)
        if args.plot:
            _save_plots(result, args.plot)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`interlace clmm | head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, NotImplementedError, OSError, KeyError) as exc:
        print(f"interlace: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
