"""The likelihood of the model without random effects (R's ``clm``), in the interface the
optimisers and results use for the Laplace objective: value and exact gradient in phi = psi
(objective units), evaluation counts, and a trivial "inner solve" (there is no u)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import ClmmDesign
from .intervals import interval_terms
from .links import Link
from .optimize.control import Control


@dataclass
class FixedOnlyModes:
    """What a fit needs of the inner solve when there are no random effects: the value."""

    phi: np.ndarray
    value: float
    converged: bool = True


class FixedEffectsObjective:
    """-log L(psi) = -sum_i w_i log pi_i(e1_i, e2_i), and its gradient."""

    def __init__(self, design: ClmmDesign, link: Link, control: Control | None = None):
        self.design = design
        self.link = link
        self.control = Control() if control is None else control
        self.random = design.random  # no terms
        self.n_psi = design.n_psi
        self.n_evaluations = 0
        self.n_inner = 0
        self.warm_start = None  # no inner solve to start

    def _terms(self, phi: np.ndarray):
        return interval_terms(self.link, *self.design.fixed.predictors(phi),
                              self.control.block_rows)

    def gradient(self, phi: np.ndarray, terms) -> np.ndarray:
        """The gradient of -log L at phi, given the interval terms there."""
        fixed, w = self.design.fixed, self.design.weights
        e1 = e2 = None
        if fixed.W is not None:
            e1, e2 = fixed.predictors(phi)
        return -fixed.transpose_times(w * terms.p1, -w * terms.p2, slice(None),
                                      fixed.inverse_scale(phi), e1, e2)

    def value(self, phi: np.ndarray) -> float:
        self.n_evaluations += 1
        value = -float(np.dot(self.design.weights, self._terms(phi).log_prob))
        return value if np.isfinite(value) else np.inf

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        self.n_evaluations += 1
        t = self._terms(phi)
        w = self.design.weights
        value = -float(np.dot(w, t.log_prob))
        if not np.isfinite(value):
            return np.inf, np.full(len(phi), np.nan)
        return value, self.gradient(phi, t)

    def conditional_modes(self, phi: np.ndarray) -> FixedOnlyModes:
        return FixedOnlyModes(phi.copy(), self.value(phi))
