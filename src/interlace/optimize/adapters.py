"""The general-purpose optimisers, adapted: scipy's L-BFGS-B (with the exact gradient) and
Py-BOBYQA (derivative-free), on the objective's coordinates with sd >= 0 bounds."""

from __future__ import annotations

import numpy as np
import scipy.optimize

from .control import Control


class BestPoint:
    """Wraps the objective for an optimiser and keeps the lowest finite value it was shown:
    an optimiser that stops after stepping where the objective is infinite (the conditional
    modes could not be found) hands back that point, not the best one."""

    def __init__(self, objective):
        self.objective = objective
        self.value, self.phi = np.inf, None

    def _keep(self, phi, value):
        if value < self.value:
            self.value, self.phi = value, np.array(phi, dtype=float)

    def value_and_grad(self, phi):
        value, grad = self.objective.value_and_grad(phi)
        self._keep(phi, value)
        return value, grad

    def value_only(self, phi):
        value = self.objective.value(phi)
        self._keep(phi, value)
        return value

    def best(self, phi, value):
        """The optimiser's answer (phi, with its value) if no better point was seen."""
        return phi if self.phi is None or value <= self.value else self.phi


def run_optimizer(objective, phi0: np.ndarray, lower: np.ndarray, optimizer: str,
                  control: Control, verbose: bool):
    """(phi, success, message, iterations) of ``"lbfgsb"`` or ``"bobyqa"`` from phi0."""
    bounds_lower = lower  # 0 for standard deviations, -inf for the rest
    tracked = BestPoint(objective)
    if optimizer == "lbfgsb":
        res = scipy.optimize.minimize(
            tracked.value_and_grad, phi0, jac=True, method="L-BFGS-B",
            bounds=list(zip(bounds_lower, [np.inf] * len(phi0))),
            options={"maxiter": control.lbfgsb_maxiter, "maxfun": control.lbfgsb_maxfun,
                     "ftol": control.lbfgsb_ftol, "gtol": control.lbfgsb_gtol,
                     "maxcor": control.lbfgsb_maxcor},
            callback=_progress(objective) if verbose else None,
        )
        return tracked.best(res.x, res.fun), bool(res.success), str(res.message), int(res.nit)
    import pybobyqa

    res = pybobyqa.solve(
        tracked.value_only, phi0, bounds=(bounds_lower, np.full(len(phi0), np.inf)),
        rhobeg=control.bobyqa_rhobeg, rhoend=control.bobyqa_rhoend,
        maxfun=max(2000, 500 * len(phi0)), print_progress=verbose,
    )
    ok = res.flag in (res.EXIT_SUCCESS, res.EXIT_SLOW_WARNING)
    return tracked.best(res.x, res.f), ok, str(res.msg), int(res.nf)


def _progress(objective):
    state = {"it": 0}

    def callback(xk, *args):
        state["it"] += 1
        value, grad = objective.value_and_grad(xk)
        print(f"iter {state['it']:4d}  objective {value:.8f}  max|grad| {np.max(np.abs(grad)):.3e}",
              flush=True)

    return callback
