"""R's ``summary.clmm`` as text: the fit statistics line, the random-effects table (R's
formatVC), the coefficient tables (R's printCoefmat), notes; with ``verbose=True`` the
record of the optimisation (``result.optinfo``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .rformat import coef_table, format_real, format_sci, left_table


def z_table(result):
    est = result.params
    se = result.bse
    z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    return est, se, z, p


class Summary:
    """R's summary.clmm, as text (``print(result.summary())``) and as tables."""

    def __init__(self, result, verbose: bool = False):
        self.result = result
        self.verbose = verbose
        est, se, z, p = z_table(result)
        self.coefficients = pd.DataFrame(
            {"Estimate": est, "Std. Error": se, "z value": z, "Pr(>|z|)": p})

    def info_line(self) -> str:
        r = self.result
        header = ["link", "threshold", "nobs", "logLik", "AIC", "niter", "max.grad", "cond.H"]
        row = [r.link, r.threshold, f"{r.nobs:g}", f"{r.llf:.2f}", f"{r.aic:.2f}",
               f"{r.n_fev}({r.n_inner})", format_sci(r.max_grad, 2), format_sci(r.cond_hessian, 1)]
        return left_table(header, [row])

    def random_table(self) -> str:
        r = self.result
        return random_effects_table(r.variance_components, r.term_names, r.term_groups)

    def __str__(self) -> str:
        r = self.result
        mixed = bool(r.variance_components)
        if not mixed:  # R's summary.clm has no title
            lines = []
        elif r.n_agq > 1:
            lines = ["Cumulative Link Mixed Model fitted with the adaptive Gauss-Hermite ",
                     f"quadrature approximation with {r.n_agq} quadrature points ", ""]
        elif r.n_agq < -1:
            lines = ["Cumulative Link Mixed Model fitted with the Gauss-Hermite ",
                     f"quadrature approximation with {-r.n_agq} quadrature points ", ""]
        else:
            lines = ["Cumulative Link Mixed Model fitted with the Laplace approximation", ""]
            note = r.optinfo.estimate_note() if r.optinfo is not None else ""
            if note:
                lines.insert(1, f"({note})")
        lines.append(f"formula: {r.formula}")
        if r.scale_formula is not None:
            lines.append(f"scale:   ~{r.scale_formula}")
        if r.nominal_formula is not None:
            lines.append(f"nominal: ~{r.nominal_formula}")
        if r.data_name:
            lines.append(f"data:    {r.data_name}")
        lines += ["", self.info_line(), ""]
        if mixed:
            lines += ["Random effects:", self.random_table()]
            groups = ",  ".join(f"{g} {n}" for g, n in r.ngroups.items())
            lines += [f"Number of groups:  {groups} ", ""]
        if len(r.fe_params):
            lines.append("Coefficients:")
            lines.append(coef_table(list(r.fe_params.index), r.fe_params.values, r.fe_bse.values))
        else:
            lines.append("No Coefficients")
        if len(r.scale_params):
            lines += ["", "log-scale coefficients:"]
            lines.append(coef_table(list(r.scale_params.index), r.scale_params.values,
                                    r.scale_bse.values))
        lines += ["", "Threshold coefficients:"]
        lines.append(coef_table(list(r.threshold_params), list(r.threshold_params.values()),
                                list(r.threshold_params_bse.values()), pvalues=False))
        if r.is_singular:
            zero = [r.term_groups.get(k, k) for k in r.boundary_terms]
            lines += ["", (f"Note: singular fit: the covariance of {', '.join(zero)} is on its "
                          "boundary (a variance at zero, or a correlation of +-1).")]
        if not r.converged:
            lines += ["", "Warning: the fit did not converge: " + "; ".join(r.messages)]
        if self.verbose and r.optinfo is not None:
            lines += ["", "Optimisation:"] + r.optinfo.lines()
        return "\n".join(lines)

    def as_markdown(self) -> str:
        """The fit, random effects, coefficients and thresholds as Markdown tables."""
        from .tables import as_markdown

        return as_markdown(self.result)

    def as_latex(self) -> str:
        """The same tables as LaTeX tabulars (no package needed beyond LaTeX itself)."""
        from .tables import as_latex

        return as_latex(self.result)

    def as_html(self) -> str:
        from .tables import as_html

        return as_html(self.result)

    def _repr_html_(self) -> str:  # Jupyter
        return self.as_html()

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))


def random_effects_table(variance_components: dict, term_names: dict,
                         term_groups: dict | None = None) -> str:
    """R's formatVC: Groups, Name, Variance, Std.Dev. and the correlations below the diagonal."""
    header, rows = random_effects_rows(variance_components, term_names, term_groups)
    return left_table(header, rows, lead=" ")


def random_effects_rows(variance_components: dict, term_names: dict,
                        term_groups: dict | None = None) -> tuple[list[str], list[list[str]]]:
    """The header and cells of R's formatVC."""
    groups, names, sds, corr_rows = [], [], [], []
    for g, vc in variance_components.items():
        cov = np.atleast_2d(np.asarray(vc, dtype=float))
        sd = np.sqrt(np.diag(cov))
        for j, nm in enumerate(term_names[g]):
            groups.append((term_groups or {}).get(g, g) if j == 0 else "")
            names.append(nm)
            sds.append(sd[j])
            corr = cov[j] / (sd[j] * sd) if cov.shape[0] > 1 else np.empty(0)
            corr_rows.append([f"{c:.3f}" for c in corr[:j]])
    sds = np.array(sds)
    var_txt = [s.strip() for s in format_real(sds**2, 4)]
    sd_txt = [s.strip() for s in format_real(sds, 4)]
    header = ["Groups", "Name", "Variance", "Std.Dev."]
    # as R's formatVC: one correlation column per term of the largest vector-valued term
    sizes = [np.atleast_2d(np.asarray(vc, dtype=float)).shape[0]
             for vc in variance_components.values()]
    ncorr = max(sizes) if max(sizes) > 1 else 0
    if ncorr:
        header += ["Corr"] + [""] * (ncorr - 1)
    rows = []
    for i in range(len(groups)):
        row = [groups[i], names[i], var_txt[i], sd_txt[i]]
        if ncorr:
            row += corr_rows[i] + [""] * (ncorr - len(corr_rows[i]))
        rows.append(row)
    return header, rows
