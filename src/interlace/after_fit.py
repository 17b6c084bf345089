"""What comes after a fit, as methods of `CLMMResult`: simulation, residuals, the model
check, estimated marginal means and contrasts, the parametric bootstrap (each delegating to
its module)."""

from __future__ import annotations

import pandas as pd


class AfterFit:
    """The analysis after the fit (a mixin of `CLMMResult`)."""

    def simulate(self, nsim: int = 1, seed=None, re_form: str | None = "conditional",
                 newdata=None, allow_new_levels: bool = True) -> pd.DataFrame:
        """Responses simulated from the fitted model: a DataFrame with columns ``sim_1``, ...,
        ordered Categoricals with the response's levels, a row per row of ``newdata`` (default:
        the fitting rows, under their labels).

        ``re_form``: ``"conditional"`` keeps the conditional modes, ``"new"`` draws new random
        effects from the fitted covariance for every simulation, ``None`` sets them to 0.
        The same ``seed`` gives the same draws (numpy's PCG64 generator).

        Examples
        --------
        >>> import interlace
        >>> fit = interlace.clmm("rating ~ temp + contact + (1|judge)", interlace.load_wine())
        >>> sims = fit.simulate(nsim=3, seed=1)
        >>> sims.shape, list(sims["sim_1"].cat.categories)
        ((72, 3), ['1', '2', '3', '4', '5'])
        """
        from .simulation import simulate

        return simulate(self, nsim, seed, re_form, newdata, allow_new_levels)

    def residuals(self, kind: str = "quantile", seed=None,
                  re_form: str = "conditional") -> pd.Series:
        """Residuals of the fitting rows: ``"quantile"`` (randomized, standard normal under
        the model), ``"surrogate"`` (the link's latent law, centred) or ``"probability"``
        (P(Y < y) - P(Y > y)); see `residuals.residuals`."""
        from .residuals import residuals

        return residuals(self, kind, seed, re_form)

    def check(self, nsim: int = 250, seed=None, re_form: str = "conditional", data=None):
        """A DHARMa-style check by simulation: scaled residuals, uniformity and dispersion
        tests, ``.plot(covariate)`` (pass the fitting ``data`` to plot against its columns);
        see `checks.check`."""
        from .checks import check

        return check(self, nsim, seed, re_form, data)

    def emmeans(self, specs, by=None, at=None, mode: str = "latent", level: float = 0.95,
                weights: str = "equal", re_form=None) -> pd.DataFrame:
        """Estimated marginal means as R's emmeans computes them for clmm (modes latent,
        linear.predictor, cum.prob, exc.prob, prob, mean.class); ``specs`` a column, a list,
        or ``"~ temp | contact"``. See `emmeans`."""
        from .emmeans import emmeans_table

        return emmeans_table(self, specs, by, at, mode, level, weights, re_form)[0]

    def contrasts(self, specs, method="pairwise", by=None, mode: str = "latent",
                  adjust: str | None = None, level: float = 0.95, at=None, re_form=None,
                  seed=None) -> pd.DataFrame:
        """Contrasts of marginal means with emmeans' methods, labels and adjustments."""
        from .emmeans import contrast_table

        return contrast_table(self, specs, method, by, mode, adjust, level, at, re_form, seed)

    def bootstrap(self, nsim: int = 200, seed=None, level: float = 0.95,
                  n_jobs: int = 1) -> pd.DataFrame:
        """Percentile intervals of every estimate and SD from refits to simulations with new
        random effects (``attrs``: draws, failures); see `bootstrap.bootstrap`."""
        from .bootstrap import bootstrap

        return bootstrap(self, nsim, seed, level, n_jobs)
