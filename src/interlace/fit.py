"""``clmm()``: the public entry. It builds the model (`model.ClmmModel`: formula, design,
objective) and fits it (`optimize`); see docs/architecture.md for the pipeline."""

from __future__ import annotations

from .model import ClmmModel, _check_fit_arguments
from .optimize.control import Control
from .result import CLMMResult


def clmm(formula: str, data, groups=None, random=None, link: str = "logit",
         threshold: str = "flexible", nAGQ: int = 1, optimizer: str = "auto",
         theta0=None, weights=None, na_action: str = "drop", verbose: bool = False,
         threads: int | None = 1, control: Control | None = None, nominal=None,
         scale=None, client=None) -> CLMMResult:
    """Fit a cumulative link mixed model by maximising the Laplace approximation.

    Parameters
    ----------
    formula : str
        ``"response ~ fixed terms"``, optionally with lme4-style random terms such as
        ``"rating ~ temp + contact + (1|judge)"``.
    data : pandas, polars or pyarrow table, or a Dask DataFrame
        A Dask DataFrame is fitted where its partitions live, on the active
        ``dask.distributed`` client (or ``client=``), and never collected (docs/scaling.md).
    groups : str or list of str, optional
        Grouping columns, one random intercept each (``groups="judge"`` is ``(1|judge)``).
    random : str or list of str, optional
        lme4-style random terms, e.g. ``["(1 + PROD|RESP)"]``. Random effects come from one
        of: terms in the formula, ``random``, ``groups``.
    link : {"logit", "probit", "cloglog", "loglog", "cauchit"}
    threshold : {"flexible", "symmetric", "symmetric2", "equidistant"}
        R's threshold structures; ``result.threshold_params`` holds their parameters.
    nAGQ : int
        1: the Laplace approximation. n > 1: adaptive Gauss-Hermite quadrature with n points;
        -n < -1: non-adaptive Gauss-Hermite. Quadrature needs a single scalar random term.
    optimizer : {"auto", "lbfgsb", "bobyqa"}
        ``"auto"`` (default; ``"newton"`` is its old name): Newton steps on the exact
        gradient from a guessed Hessian,
        corrected by BFGS updates and replaced by differences near the optimum, started from
        a fit to a subsample on large data (from 50,000 rows) and from the clm fit for a
        single scalar random term; L-BFGS-B from R's start for other models on smaller
        data. ``"lbfgsb"``: L-BFGS-B from R's start. ``"bobyqa"``: derivative-free. Every
        one ends with Newton steps on a difference Hessian and falls back to L-BFGS-B
        (BOBYQA) if it stops early.
    theta0 : array-like, optional
        Starting random-effect parameters in R's ``ST`` layout (per term: the standard
        deviations on the diagonal of L, then L's lower triangle by column), in the data's
        units.
    weights : str or array-like, optional
        Non-negative case weights: a column name, a pandas Series (matched to the data's
        rows by index) or one value per row. Rows of weight 0 are left out, as in R.
    na_action : {"drop", "raise"}
        Rows with a missing value in a column the model uses: dropped with a warning, or an
        error. R's names ``"na.omit"`` and ``"na.fail"`` are taken for them.
    verbose : bool
        Print the optimiser's progress.
    threads : int or None
        Threads for dense linear algebra (BLAS). 1, the default, was measured fastest: on a
        60k-row crossed fit with a 1,200-level dense Schur complement, 7.7 s against 8.3 s
        for two threads on an idle 2-core machine, 7.5 s against 15.8 s with the other core
        busy. None leaves BLAS's own setting. The Schur complement's factorisation and
        inverse alone take ``Control.dense_threads`` (every core) from 1,000 random effects
        outside the largest factor, where they dominate (q2 = 5,000: 0.77 -> 0.44 s and
        1.35 -> 0.70 s per call on an idle 2-core machine; on a busy one set
        ``Control(dense_threads=1)``).

    control : Control, optional
        Tuning constants (`interlace.Control`); ``result.optinfo`` records what the fit did.
    nominal : str, optional
        A one-sided formula (``"~ contact"``) of nominal effects: one coefficient per
        threshold parameter (partial proportional odds), as R's ``clm(nominal=)``.
    scale : str, optional
        A one-sided formula (``"~ temp"``) of scale effects: the latent scale is
        exp(w'zeta), dividing both the fixed and the random part, as R's ``clm(scale=)``.
    client : dask.distributed.Client, optional
        The cluster for a Dask DataFrame (default: the active client).

    Returns
    -------
    CLMMResult

    Examples
    --------
    >>> import interlace
    >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
    >>> round(fit.llf, 2)
    -81.57
    """
    # fit() checks these too; here they fail before a large design is built
    _check_fit_arguments(optimizer=optimizer, verbose=verbose, threads=threads)
    model = ClmmModel(formula, data, groups=groups, random=random, link=link,
                      threshold=threshold, nAGQ=nAGQ, weights=weights, na_action=na_action,
                      control=control, nominal=nominal, scale=scale, client=client)
    return model.fit(optimizer=optimizer, theta0=theta0, verbose=verbose, threads=threads)


def clm(formula: str, data, link: str = "logit", threshold: str = "flexible", weights=None,
        na_action: str = "drop", control: Control | None = None, nominal=None,
        scale=None) -> CLMMResult:
    """Fit a cumulative link model without random effects (R's ``clm``), through the same
    machinery and result type as `clmm` (its random-effect attributes empty), so that
    ``interlace.anova(clm_fit, clmm_fit)`` tests a variance component as R's
    ``anova(clm, clmm)`` does. A formula with random terms is an error that says to use
    `clmm`. Arguments as for `clmm`.

    Examples
    --------
    >>> import interlace
    >>> fit = interlace.clm("rating ~ temp + contact", interlace.load_wine())
    >>> round(fit.llf, 2), round(float(fit.fe_params["tempwarm"]), 4)
    (-86.49, 2.5031)
    """
    model = ClmmModel(formula, data, link=link, threshold=threshold, weights=weights,
                      na_action=na_action, control=control, random_effects=False,
                      nominal=nominal, scale=scale)
    return model.fit()
