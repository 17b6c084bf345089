"""Pictures of a fit (matplotlib, the optional extra ``interlace[plot]``).

- `plot_ranef`: caterpillar plot of the conditional modes with intervals from the
  conditional variances, per grouping factor and term;
- `plot_effects`: predicted category probabilities across one fixed-effect variable, the
  others held at their mean (numeric) or first level (categorical).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats


def _pyplot():
    try:
        import matplotlib

        matplotlib.use(matplotlib.get_backend() or "Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("plots need matplotlib: pip install 'interlace[plot]'") from None
    return plt


MAX_LABELS = 40  # level labels on one panel before they are thinned


def plot_ranef(result, factor: str | None = None, level: float = 0.95, ax=None,
               sort: str | None = "first", top: int | None = None):
    """Conditional modes of one grouping factor's random effects with intervals
    mode +- z * sqrt(conditional variance), a panel per term, all panels in one row order:
    ``sort="first"`` by the first term (the intercept), a term's name, or None (the levels'
    order). ``top=N`` shows the N highest and N lowest levels with intervals and the rest as
    dots; beyond 40 levels the labels are thinned. ``ax``: an Axes for a one-term factor, a
    sequence of Axes or a Figure otherwise. Returns the figure."""
    if not result.random_effects:
        raise ValueError("this model has no random effects to plot")
    plt = _pyplot()
    factor = factor or next(iter(result.random_effects))
    if factor not in result.random_effects:
        raise ValueError(f"no grouping factor {factor!r}; choose from {list(result.random_effects)}")
    modes = result.random_effects[factor]
    cond_sd = np.sqrt(result.cond_var[factor])
    z = stats.norm.ppf(0.5 + level / 2)
    columns = list(modes.columns)
    key = columns[0] if sort == "first" else sort
    if key is not None and key not in columns:
        raise ValueError(f"sort must be 'first', None or one of {columns}, not {sort!r}")
    order = (np.argsort(modes[key].to_numpy(), kind="stable") if key is not None
             else np.arange(len(modes)))
    n = len(order)
    shown = np.ones(n, bool)
    y = np.arange(n, dtype=float)
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be a whole number of at least 1, not {top!r}")
        shown[top:n - top] = False  # the middle of the order: dots in a band of `top` rows
        middle = n - shown.sum()
        if middle:
            y[top:n - top] = top + np.linspace(0.5, top - 0.5, middle)
            y[n - top:] = 2 * top + np.arange(top)
    rows = y.max() + 1 if n else 0
    axes, fig = _panel_axes(plt, ax, len(columns), height=min(0.15 * rows + 2, 12))
    labels = np.asarray(modes.index)[order]
    every = max(1, int(np.ceil(shown.sum() / MAX_LABELS)))
    ticks = list(np.flatnonzero(shown))[::every]
    for axis, col in zip(axes, columns):
        x = modes[col].to_numpy()[order]
        err = z * cond_sd[col].to_numpy()[order]
        axis.errorbar(x[shown], y[shown], xerr=err[shown], fmt="o", markersize=3, linewidth=1)
        if not shown.all():
            axis.plot(x[~shown], y[~shown], ".", color="grey", markersize=2)
        axis.axvline(0.0, color="grey", linewidth=0.8)
        axis.set_yticks(y[ticks])
        axis.set_yticklabels(labels[ticks], fontsize=7)
        axis.set_xlabel(f"{col}  (conditional mode, {level:.0%} interval)")
        axis.set_title(factor)
    fig.tight_layout()
    return fig


def _panel_axes(plt, ax, n_panels: int, height: float):
    """The axes to draw n panels on: new ones, the given Axes (one panel), a sequence of
    Axes or a Figure's axes (its own, or as many new ones as are missing)."""
    if ax is None:
        fig, axes = plt.subplots(1, n_panels, figsize=(4 * n_panels, height), squeeze=False)
        return list(axes[0]), fig
    if hasattr(ax, "add_subplot"):  # a Figure
        fig = ax
        if len(fig.axes) < n_panels:
            for i in range(len(fig.axes), n_panels):
                fig.add_subplot(1, n_panels, i + 1)
        return fig.axes[:n_panels], fig
    axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != n_panels:
        raise ValueError(f"this factor has {n_panels} terms, so ax must be {n_panels} Axes "
                         f"(a sequence) or a Figure, not {len(axes)} Axes")
    return axes, axes[0].figure


def effect_variables(result) -> list[str]:
    """The columns of the fixed part that an effects plot can vary."""
    model = result.model
    return [c for c in model.parts.fixed_columns
            if c in model.column_ranges or c in model.column_levels]


def plot_effects(result, variable: str, re_form: str = "zero", ax=None, n_points: int = 60,
                 ci: bool = True, level: float = 0.95, by: str | None = None,
                 kind: str = "lines"):
    """Predicted probability of each response category across ``variable``, with ``level``
    confidence limits (``predict(interval=True)``: on the logit scale, so inside [0, 1]):
    bands along a numeric variable, points with error bars for a factor's levels (dodged,
    not joined); ``kind="stacked"`` stacks the categories instead (no intervals). ``by``: a
    panel per level of a second variable (its minimum, mean and maximum if numeric). The
    other variables the model reads are held at their mean or first level, said in the
    caption; colours follow the response's order. Returns the figure."""
    plt = _pyplot()
    model = result.model
    known = effect_variables(result)
    for name in [variable] + ([by] if by is not None else []):
        if name not in known:
            raise ValueError(f"{name!r} is not a fixed-effect variable of this model; "
                             f"choose from {known}")
    if kind not in ("lines", "stacked"):
        raise ValueError(f"kind must be 'lines' or 'stacked', not {kind!r}")
    # every other column the model reads (offsets, random slopes) at a typical value
    base = {col: values[0] for col, values in model.column_ranges.items()}
    base.update({col: levels[0] for col, levels in model.column_levels.items()})
    if by is None:
        panels = [None]
    elif by in model.column_ranges:
        panels = list(np.array(model.column_ranges[by])[[1, 0, 2]])  # min, mean, max
    else:
        panels = list(model.column_levels[by])
    if ax is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.4), squeeze=False,
                                 sharey=True)
        axes = list(axes[0])
    else:
        axes, fig = _panel_axes(plt, ax, len(panels), 4.4)
    for axis, value in zip(axes, panels):
        values = dict(base) if by is None else {**base, by: value}
        _effects_panel(result, axis, variable, values, re_form, ci, level, kind, n_points,
                       titled=by)
        if by is not None:
            axis.set_title(f"{by} = {_typical(value)}\n" + axis.get_title(), fontsize=8)
    fig.tight_layout()
    return fig


def _effects_panel(result, ax, variable, base, re_form, ci, level, kind, n_points,
                   titled=None):
    """One panel; ``titled`` is a held variable the panel's title names (not the caption)."""
    plt = _pyplot()
    model = result.model
    numeric = variable in model.column_ranges
    if numeric:
        _, lo, hi = model.column_ranges[variable]
        grid = np.linspace(lo, hi, n_points)
    else:
        grid = list(model.column_levels[variable])
    newdata = pd.DataFrame({col: [value] * len(grid) for col, value in base.items()})
    newdata[variable] = grid
    for term in model.terms:  # random terms: covariates at the same values, a new level
        for col in term.factors:
            newdata[col] = "(new)"
    ci = ci and kind == "lines"
    with warnings.catch_warnings():  # the new level is the point: b = 0
        warnings.simplefilter("ignore", UserWarning)
        if ci:
            prob, lower, upper = result.predict(newdata, re_form=re_form, interval=True,
                                                level=level)
        else:
            prob = result.predict(newdata, re_form=re_form)
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, prob.shape[1]))  # ordered
    xs = grid if numeric else np.arange(len(grid), dtype=float)
    width = 0.6 / prob.shape[1]
    bottom = np.zeros(len(grid))
    for k, (category, colour) in enumerate(zip(prob.columns, colours)):
        p = prob[category].to_numpy()
        if kind == "stacked":
            if numeric:
                ax.fill_between(xs, bottom, bottom + p, color=colour, label=str(category))
            else:
                ax.bar(xs, p, bottom=bottom, width=0.6, color=colour, label=str(category))
            bottom = bottom + p
        elif numeric:
            ax.plot(xs, p, color=colour, label=str(category))
            if ci:
                ax.fill_between(xs, lower[category], upper[category], color=colour, alpha=0.2,
                                linewidth=0)
        else:
            at = xs + (k - (prob.shape[1] - 1) / 2) * width
            err = (np.vstack([p - lower[category], upper[category] - p]) if ci else None)
            ax.errorbar(at, p, yerr=err, fmt="o", color=colour, markersize=4,
                        label=str(category))
    if not numeric:
        ax.set_xticks(xs)
        ax.set_xticklabels([str(g) for g in grid])
    ax.set_xlabel(variable)
    ax.set_ylabel("probability" if kind == "lines" else "cumulative probability")
    ax.set_ylim(0, 1)
    ax.legend(title=model.parts.response, fontsize=8)
    held = ", ".join(f"{c} = {_typical(v)}" for c, v in base.items()
                     if c not in (variable, titled))
    effects = {"zero": "random effects at 0", "marginal": "averaged over the random effects",
               "conditional": "random effects at 0 (a new level)"}.get(re_form, re_form)
    ax.set_title(f"{effects}" + (f"; {held}" if held else "")
                 + (f"; {level:.0%} intervals" if ci else ""), fontsize=8)


def _typical(value) -> str:
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


def plot_latent(result, newdata=None, ax=None, n_points: int = 400):
    """The model on its latent scale: for each row of ``newdata`` (default: the first
    fitting row), the density of the latent variable x'beta + e (e from the link's
    distribution, times the row's scale; random effects at 0) with the cut-points alpha_k
    (the row's, with nominal effects) drawn as vertical lines and the areas between them,
    the category probabilities, labelled. With nominal or scale effects, one row at a time.
    Returns the figure."""
    plt = _pyplot()
    from .links import get_link
    from .prediction import row_inverse_scale, row_thresholds

    model = result.model
    link = get_link(model.link)
    fixed = model.fixed
    if newdata is None:
        # the first fitting row's x'beta + offset, without predicting every row
        eta = np.array([fixed.X[0] * fixed.x_scale @ result.fe_params.to_numpy()
                        + model.offset[0]])
        names = ["first row"]
        nominal = None if fixed.N is None else fixed.N[:1] * fixed.n_scale
        scale = None if fixed.W is None else fixed.W[:1] * fixed.w_scale
    else:
        X, offset, _, index, nominal, scale = model.rows(newdata, "zero", True)
        eta, names = X @ result.fe_params.to_numpy() + offset, [str(i) for i in index]
    if (nominal is not None or scale is not None) and len(eta) != 1:
        raise ValueError("with nominal or scale effects each row has its own cut-points and "
                         "latent scale: plot_latent() takes one row at a time")
    alpha = np.atleast_2d(row_thresholds(result, model, nominal))[0]
    inv_scale = row_inverse_scale(result, scale)
    spread = 1.0 if inv_scale is None else 1.0 / float(inv_scale[0])
    span = np.concatenate([alpha, eta])
    width = max(4.0 * spread, float(np.ptp(span)))
    x = np.linspace(span.min() - 0.6 * width, span.max() + 0.6 * width, n_points)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.6))
    else:
        fig = ax.figure
    for e, name in zip(eta, names):
        ax.plot(x, link.pdf((x - e) / spread) / spread, label=f"{name}: x'beta = {e:.2f}")
    for k, a in enumerate(alpha):
        ax.axvline(a, color="grey", linewidth=0.8, linestyle="--")
        ax.text(a, ax.get_ylim()[1] * 0.95, model.cut_names[k], rotation=90,
                ha="right", va="top", fontsize=7)
    ax.set_xlabel(f"latent scale ({model.link} link)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
