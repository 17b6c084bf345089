"""A model check by simulation, as R's DHARMa does it (which has no ordinal models).

For each fitting row, responses are simulated from the fitted model (``simulate``) and the
observed category placed among them: the scaled residual is
(#{simulated < observed} + U * #{simulated == observed}) / nsim with U uniform, uniform on
(0, 1) when the model is right. Tests:

- uniformity: Kolmogorov-Smirnov of the scaled residuals against U(0, 1);
- dispersion: the variance of the observed category codes around the simulations' means,
  against the same for each simulation in turn; the ratio is 1 under the model, and the
  p-value is the simulations' share at least as far from 1 (two-sided).

``check(...).plot()`` draws the QQ plot against the uniform, the residuals against the
predicted mean category, and against a covariate of choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class ModelCheck:
    residuals: pd.Series  # scaled residuals, uniform on (0, 1) under the model
    predicted: pd.Series  # mean simulated category (1..K), per row
    uniformity: tuple  # (KS statistic, p-value)
    dispersion: tuple  # (ratio observed / simulated, p-value)
    data: object = None  # the fitting data, for plots against a covariate

    def __str__(self) -> str:
        return (f"scaled residuals of {len(self.residuals)} rows\n"
                f"uniformity (KS): D = {self.uniformity[0]:.4f}, p = {self.uniformity[1]:.3g}\n"
                f"dispersion: ratio = {self.dispersion[0]:.3f}, p = {self.dispersion[1]:.3g}")

    def plot(self, covariate: str | None = None):
        """QQ against the uniform, residuals against the predicted mean category, and
        (``covariate``, a column of the fitting data) against it. Returns the figure."""
        from .plots import _pyplot

        plt = _pyplot()
        panels = 3 if covariate is not None else 2
        fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4))
        r = np.sort(self.residuals.to_numpy())
        expected = (np.arange(1, len(r) + 1) - 0.5) / len(r)
        axes[0].plot(expected, r, ".", markersize=2)
        axes[0].plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        axes[0].set(xlabel="expected (uniform)", ylabel="scaled residual",
                    title=f"QQ; KS p = {self.uniformity[1]:.3g}")
        for ax, x, label in [(axes[1], self.predicted, "predicted mean category")] + (
                [(axes[2], _column(self.data, covariate, self.residuals.index), covariate)]
                if covariate else []):
            ax.plot(np.asarray(x), self.residuals.to_numpy(), ".", markersize=2, alpha=0.5)
            for q in (0.25, 0.5, 0.75):
                ax.axhline(q, color="grey", linewidth=0.8, linestyle="--")
            ax.set(xlabel=label, ylabel="scaled residual", ylim=(0, 1))
        fig.tight_layout()
        return fig


def _column(data, name, rows):
    """The column at the fitting rows (rows with missing values were left out of the fit)."""
    from .frames import to_pandas

    if data is None:
        raise ValueError("pass the fitting data to check(data=...) to plot against a column")
    frame = to_pandas(data)
    if name not in frame.columns:
        raise ValueError(f"no column {name!r} in the fitting data")
    if not rows.isin(frame.index).all():
        raise ValueError("the data passed to check() is not the data the model was fitted to")
    return frame[name].loc[rows]


def check(result, nsim: int = 250, seed=None, re_form: str = "conditional",
          data=None) -> ModelCheck:
    """See `CLMMResult.check`."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    sims = result.simulate(nsim=nsim, seed=rng, re_form=re_form)
    simulated = np.column_stack([sims[c].cat.codes.to_numpy() for c in sims.columns])
    observed = result.model.fixed.codes
    below = (simulated < observed[:, None]).sum(axis=1)
    tied = (simulated == observed[:, None]).sum(axis=1)
    scaled = (below + rng.uniform(size=len(observed)) * tied) / nsim
    mean = simulated.mean(axis=1)
    observed_var = np.mean((observed - mean) ** 2)
    simulated_var = np.mean((simulated - mean[:, None]) ** 2, axis=0)
    ratio = observed_var / np.mean(simulated_var)
    spread = simulated_var / np.mean(simulated_var)
    p_dispersion = min(1.0, 2 * min(np.mean(spread >= ratio), np.mean(spread <= ratio)))
    index = sims.index
    return ModelCheck(pd.Series(scaled, index=index, name="scaled residual"),
                      pd.Series(mean + 1, index=index, name="predicted"),
                      tuple(stats.kstest(scaled, "uniform")[:2]), (ratio, p_dispersion), data)
