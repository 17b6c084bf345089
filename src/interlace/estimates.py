"""From the optimum to the reported estimates: thresholds and threshold parameters with
their standard errors, coefficients, the covariance in R's coordinates, R's ``cond.H``, and
the random effects' tables (R's ``ranef``, ``condVar``, ``VarCorr``), in the data's units."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd


def estimates(model, phi, modes, param, hessian, vcov_free) -> dict:
    """The fields of a `CLMMResult` that describe the estimates, at ``phi`` (objective
    units) with the Hessian and its inverse in R's coordinates and the data's units."""
    design = model.design
    n_psi, random, ths = design.n_psi, design.random, design.thresholds
    phi_data = param.to_data(phi)
    psi, theta = phi_data[:n_psi], phi_data[n_psi:]
    fixed = design.fixed
    n_alpha, n_tau, n_beta = fixed.n_alpha, fixed.n_tau, fixed.n_beta
    alpha = ths.jacobian @ psi[:n_alpha]
    names = design.psi_names + random.theta_names()
    free_names = [nm for nm, f in zip(names, param.free) if f]
    if vcov_free is None:
        vcov_free = np.full((len(free_names),) * 2, np.nan)
    se_psi = np.sqrt(np.diag(vcov_free)[:n_psi])
    tau_cov = vcov_free[:n_alpha, :n_alpha]
    alpha_se = np.sqrt(np.einsum("ij,jk,ik->i", ths.jacobian, tau_cov, ths.jacobian))
    boundary = random.boundary(phi[n_psi:])
    cond_h = float("nan")
    if hessian.size and np.all(np.isfinite(hessian)):
        eig = np.linalg.eigvalsh(hessian)
        cond_h = float(abs(eig.max() / eig.min()))
    thresholds = dict(zip(ths.cut_names, alpha.tolist()))
    if design.nominal is not None:
        thresholds = nominal_thresholds(design, psi[:n_tau])
    zeta = slice(n_tau + n_beta, n_psi)
    return dict(
        formula=model.parsed.text, link=model.link, threshold=ths.name,
        response_levels=list(design.response.levels),
        thresholds=thresholds,
        threshold_bse=dict(zip(ths.cut_names, alpha_se.tolist())),
        threshold_params=dict(zip(design.threshold_param_names, psi[:n_tau].tolist())),
        threshold_params_bse=dict(zip(design.threshold_param_names, se_psi[:n_tau].tolist())),
        fe_params=pd.Series(psi[n_tau: n_tau + n_beta], index=design.beta_names, dtype=float),
        fe_bse=pd.Series(se_psi[n_tau: n_tau + n_beta], index=design.beta_names, dtype=float),
        scale_params=pd.Series(psi[zeta], index=design.scale_names, dtype=float, name="zeta"),
        scale_bse=pd.Series(se_psi[zeta], index=design.scale_names, dtype=float, name="zeta"),
        nominal_formula=model.parsed.nominal, scale_formula=model.parsed.scale,
        **random_tables(random, theta, modes),
        theta=theta.copy(), vcov=pd.DataFrame(vcov_free, index=free_names,
                                              columns=free_names),
        nobs=float(design.weights.sum() if design.total_weight is None
                   else design.total_weight),
        llf=-float(modes.value), edf=len(phi), cond_hessian=cond_h, n_agq=model.n_agq,
        boundary_terms=[t.key for k, t in enumerate(random.terms)
                        if random.term_theta(boundary, k).any()],
        term_groups={t.key: t.name for t in random.terms},
        data_key=hashlib.sha1(design.response.codes.tobytes() + design.weights.tobytes()
                              + repr(design.total_weight).encode()).hexdigest(),
    )


def nominal_thresholds(design, tau: np.ndarray) -> pd.DataFrame:
    """R's ``Theta``: the thresholds for each combination of the levels of the nominal
    factors (the first varying fastest, as ``expand.grid``), numeric nominal covariates at
    0, as R."""
    from .nominal_scale import side_design

    parts, ths = design.parts, design.thresholds
    # the columns the nominal formula codes by level (contact, factor(n); not as.numeric(d)),
    # with the levels formulaic coded them by
    coded = {str(k): state.get("categories") for k, (kind, state)
             in design.nominal.spec.encoder_state.items() if kind.value == "categorical"}
    levels = {}
    for c in parts.nominal_columns:
        placeholder = parts.columns.placeholders[c]
        for key, categories in coded.items():
            if re.search(rf"\b{placeholder}(?!\w)", key) and categories is not None:
                levels[c] = list(categories)
    factors = [c for c in parts.nominal_columns if c in levels]
    if factors:
        grid = pd.MultiIndex.from_product([levels[c] for c in reversed(factors)])
        frame = grid.to_frame(index=False, name=list(reversed(factors)))[factors]
    else:
        frame = pd.DataFrame(index=range(1))
    seen = design.column_levels or {}
    for c in parts.nominal_columns:
        frame[c] = (pd.Categorical(frame[c], categories=list(seen[c]))
                    if c in levels and c in seen else frame[c] if c in levels else 0.0)
    matrix = side_design(parts, "nominal", parts.columns.rename(frame), frame.index,
                         fitted=design.nominal).matrix
    theta = matrix @ (tau.reshape(len(design.nominal.names), -1) @ ths.jacobian.T)
    return pd.concat([frame[factors].reset_index(drop=True).astype(object),
                      pd.DataFrame(theta, columns=ths.cut_names)], axis=1)


def random_tables(random, theta, modes) -> dict:
    """Per term: the conditional modes b = L u and their conditional variances (R's ranef
    and condVar; terms on one grouping factor share its tables), the covariance L L', the
    number of levels and the terms' names; theta in the data's units. Empty without random
    effects."""
    out = {"random_effects": {}, "cond_var": {}, "variance_components": {}, "ngroups": {},
           "term_names": {}}
    if not random.terms:
        return out
    _, _, inverse_blocks = modes.factor.observation_inverse(modes.values)
    for k, (term, L) in enumerate(zip(random.terms, random.factors(theta))):
        r = term.size
        u = modes.u[random.u_offsets[k]: random.u_offsets[k + 1]].reshape(term.n_levels, r)
        blocks = inverse_blocks[k]
        cov_b = np.einsum("st,jtu,vu->jsv", L, blocks, L)
        for table, values in (("random_effects", u @ L.T),
                              ("cond_var", np.diagonal(cov_b, axis1=1, axis2=2))):
            part = pd.DataFrame(values.copy(), index=term.levels, columns=term.coef_names)
            tables = out[table]
            tables[term.name] = (part if term.name not in tables
                                 else pd.concat([tables[term.name], part], axis=1))
        sigma = L @ L.T
        out["variance_components"][term.key] = (
            float(sigma[0, 0]) if r == 1
            else pd.DataFrame(sigma, index=term.coef_names, columns=term.coef_names))
        out["ngroups"][term.name] = term.n_levels
        out["term_names"][term.key] = term.coef_names
    return out
