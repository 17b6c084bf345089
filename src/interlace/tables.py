"""The summary as tables for papers and notebooks: Markdown, LaTeX and HTML, written here so
that no optional package (tabulate, jinja2) is needed. Numbers are printed as the text
summary prints them (R's digits)."""

from __future__ import annotations

import html

from .rformat import coef_columns

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}", "|": r"$|$"}


def summary_tables(result) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for the fit, the random effects, coefficients and thresholds."""
    fit = ("Model", ["formula", "link", "threshold", "nobs", "logLik", "AIC"],
           [[result.formula, result.link, result.threshold, f"{result.nobs:g}",
             f"{result.llf:.2f}", f"{result.aic:.2f}"]])
    tables = [fit]
    if result.variance_components:
        from .summary import random_effects_rows

        header, rows = random_effects_rows(result.variance_components, result.term_names,
                                           result.term_groups)
        tables.append(("Random effects", header, rows))

    def coef_rows(names, estimate, std_error, with_p):
        # the cells the text summary prints (R's printCoefmat), per table as R formats them
        columns, _ = coef_columns(estimate, std_error, pvalues=with_p)
        return ([""] + list(columns),
                [[name] + [columns[c][i].strip() for c in columns]
                 for i, name in enumerate(names)])

    if len(result.fe_params):
        header, rows = coef_rows(list(result.fe_params.index), result.fe_params.to_numpy(),
                                 result.fe_bse.to_numpy(), True)
        tables.append(("Coefficients", header, rows))
    header, rows = coef_rows(list(result.threshold_params),
                             list(result.threshold_params.values()),
                             list(result.threshold_params_bse.values()), False)
    tables.append(("Threshold coefficients", header, rows))
    return tables


def as_markdown(result) -> str:
    out = []
    for title, header, rows in summary_tables(result):
        out += [f"**{title}**", "", "| " + " | ".join(h.replace("|", "\\|") for h in header) + " |",
                "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def as_latex(result) -> str:
    def esc(text):
        return "".join(_LATEX.get(ch, ch) for ch in text)

    out = []
    for title, header, rows in summary_tables(result):
        out += [f"% {title}", r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\hline",
                " & ".join(esc(h) for h in header) + r" \\", r"\hline"]
        out += [" & ".join(esc(c) for c in row) + r" \\" for row in rows]
        out += [r"\hline", r"\end{tabular}", ""]
    return "\n".join(out)


def as_html(result) -> str:
    out = []
    for title, header, rows in summary_tables(result):
        out.append(f"<table><caption>{html.escape(title)}</caption><thead><tr>"
                   + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in rows]
        out.append("</tbody></table>")
    return "\n".join(out)
