"""The results as tables and plain data: the summary in Markdown, LaTeX and HTML (written here
so that no optional package, tabulate or jinja2, is needed; numbers as the text summary prints
them, R's digits), ``tidy()``'s one row per estimate, and ``to_dict()``'s plain Python values
for JSON."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from .inference import wald
from .rformat import coef_columns

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}", "|": r"$|$"}


def _loglik_cell(result) -> str:
    """The log-likelihood, with its standard error where it is estimated (iterative path)."""
    se = getattr(result.optinfo, "loglik_se", 0.0) if result.optinfo is not None else 0.0
    return f"{result.llf:.2f} ± {se:.2g}" if se > 0 else f"{result.llf:.2f}"


def summary_tables(result) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for the fit, the random effects, coefficients, scale
    coefficients and thresholds."""
    fit = ("Model", ["formula", "link", "threshold", "nobs", "logLik", "AIC"],
           [[result.formula, result.link, result.threshold, f"{result.nobs:g}",
             _loglik_cell(result), f"{result.aic:.2f}"]])
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
    if len(result.scale_params):
        header, rows = coef_rows(list(result.scale_params.index),
                                 result.scale_params.to_numpy(), result.scale_bse.to_numpy(), True)
        tables.append(("log-scale coefficients", header, rows))
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


def tidy_table(result, level: float, exponentiate: bool,
               conf_method: str = "wald") -> pd.DataFrame:
    """See `CLMMResult.tidy`; ``conf_method="profile"`` takes every interval from the profile
    likelihood, the standard deviations of scalar random terms included."""
    from .summary import z_table

    if conf_method not in ("wald", "profile"):
        raise ValueError(f"conf_method must be 'wald' or 'profile', not {conf_method!r}")
    est, se, z, p = z_table(result)
    if conf_method == "wald":
        ci = wald(result, level)
    else:  # every estimate with a profile: thresholds, coefficients, SDs, correlations
        from .polar import vector_quantities

        fitter = result.refitter
        profiled = [n for n in fitter.names if n.startswith("sd(")] + list(
            vector_quantities(fitter.objective))
        ci = result.confint(level, "profile", params=list(est.index) + profiled)
    own = ci.reindex(est.index)  # the thresholds' and coefficients' rows
    n_tau = len(result.threshold_params)
    rows = pd.DataFrame({
        "term": est.index, "kind": (["threshold"] * n_tau + ["fixed"] * len(result.fe_params)
                                    + ["scale"] * len(result.scale_params)),
        "estimate": est.to_numpy(), "std_error": se.to_numpy(), "statistic": z.to_numpy(),
        "p_value": np.asarray(p),
        "conf_low": own["lower"].to_numpy(), "conf_high": own["upper"].to_numpy(),
    })
    if not isinstance(exponentiate, bool):
        raise TypeError(f"exponentiate must be True or False, not {exponentiate!r}")
    if exponentiate:
        fixed = rows["kind"] == "fixed"
        for col in ("estimate", "conf_low", "conf_high"):
            rows.loc[fixed, col] = np.exp(rows.loc[fixed, col])
    random = []
    for g, vc in result.variance_components.items():
        cov = np.atleast_2d(np.asarray(vc, dtype=float))
        sd = np.sqrt(np.diag(cov))
        names = result.term_names[g]
        for j, nm in enumerate(names):
            term = f"sd({nm}|{g})"
            row = {"term": term, "kind": "random", "estimate": sd[j]}
            random.append(row)
        for j in range(len(names)):
            for k in range(j):
                random.append({"term": f"cor({names[k]},{names[j]}|{g})", "kind": "random",
                               "estimate": cov[j, k] / (sd[j] * sd[k])})
    for row in random:
        if row["term"] in ci.index:  # profiled
            row.update(conf_low=ci.loc[row["term"], "lower"],
                       conf_high=ci.loc[row["term"], "upper"])
    return pd.concat([rows, pd.DataFrame(random)], ignore_index=True)


def plain_values(result) -> dict:
    """See `CLMMResult.to_dict`."""
    def vc_out(vc):
        return float(vc) if np.ndim(vc) == 0 else np.asarray(vc, dtype=float).tolist()

    return json_values({
        "formula": result.formula, "link": result.link, "threshold": result.threshold,
        "nAGQ": result.n_agq, "nobs": result.nobs, "logLik": result.llf,
        # 0 when exact; the iterative path's estimate's standard error otherwise
        "logLik_se": (result.optinfo.loglik_se if result.optinfo is not None else 0.0),
        "AIC": result.aic,
        "BIC": result.bic, "converged": result.converged, "messages": list(result.messages),
        "max_grad": result.max_grad, "cond_H": result.cond_hessian,
        "thresholds": (result.thresholds.to_dict(orient="list")
                       if isinstance(result.thresholds, pd.DataFrame)
                       else dict(result.thresholds)),
        "threshold_bse": dict(result.threshold_bse),
        "threshold_params": dict(result.threshold_params),
        "threshold_params_bse": dict(result.threshold_params_bse),
        "fixed_effects": result.fe_params.to_dict(), "fixed_effects_bse": result.fe_bse.to_dict(),
        "scale_effects": result.scale_params.to_dict(),
        "scale_effects_bse": result.scale_bse.to_dict(),
        "nominal": result.nominal_formula, "scale": result.scale_formula,
        "variance_components": {g: vc_out(v) for g, v in result.variance_components.items()},
        "theta": result.theta.tolist(), "ngroups": dict(result.ngroups),
        "random_effects": {g: {"levels": list(df.index), "terms": list(df.columns),
                               "modes": df.to_numpy().tolist()}
                           for g, df in result.random_effects.items()},
        "vcov": {"names": list(result.vcov.index), "values": result.vcov.to_numpy().tolist()},
    })


def json_values(value):
    """NaN and infinities (an unavailable standard error) as None: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: json_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_values(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
