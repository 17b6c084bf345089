"""Newton's method on the free parameters in R's coordinates: from a guessed Hessian
(corrected by block secant and BFGS updates while steps are long) or from differences of
the exact gradient, until the gradient is at the floor of precision."""

from __future__ import annotations

import numpy as np

from ..parameters import Parameterisation
from .control import Control
from .hessian import hessian_directions, r_gradient, r_hessian


def _absolute_eigenvalues(hess: np.ndarray) -> np.ndarray:
    eigval, eigvec = np.linalg.eigh(0.5 * (hess + hess.T))
    floor = 1e-8 * max(1.0, float(np.max(np.abs(eigval))))
    return (eigvec * np.maximum(np.abs(eigval), floor)) @ eigvec.T


def _bfgs_update(hess: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    return block_secant_update(hess, s[:, None], y[:, None])


def block_secant_update(hess: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Block BFGS: the closest update of ``hess`` with ``new @ s = y`` for every column of
    s (steps or difference directions) and y (the gradient's changes along them)."""
    hs = hess @ s
    sy = s.T @ y
    return (hess - hs @ np.linalg.solve(s.T @ hs, hs.T)
            + y @ np.linalg.solve(0.5 * (sy + sy.T), y.T))


class TowardsZero(Exception):
    """Newton steps from a guess are taking a standard deviation towards 0 (below
    ``Control.newton_min_sd``): in log(sd) a singular fit is approached a constant factor per step;
    L-BFGS-B, on the sd with its bound at 0, gets there at once."""

    def __init__(self, phi):
        super().__init__("a standard deviation is heading for 0")
        self.phi = phi


def newton_polish(objective, phi, lower, control: Control, hess_guess=None,
                  difference_directions=(), verbose=False, give_up_near_zero=False,
                  max_steps=None):
    """Newton steps on the free parameters in R's coordinates until the gradient is at the
    floor of precision; returns phi, R's coordinates, value, gradient, Hessian, steps taken.

    Without a guess the Hessian comes from differences of the gradient. A guess (a
    subsample's Hessian, or clm's), first made to agree with differences along
    `difference_directions`, is corrected by BFGS updates while the steps are long, with step
    halving, and replaced by differences once they are short. Either way the Hessian returned is one of
    differences taken within ``Control.long_step`` of phi, so a fit that the optimiser already brought
    to the optimum costs one Hessian.
    """
    max_steps = control.max_newton_steps if max_steps is None else max_steps
    param = Parameterisation.at(objective, phi)
    x = param.to_r(phi)
    value, g = r_gradient(objective, param, phi, x)
    exact = hess_guess is None
    if exact:
        hess = r_hessian(objective, param, phi, control.hessian_step, g)
    else:
        hess = hess_guess
        if len(difference_directions):
            dirs = np.asarray(difference_directions)
            hess = block_secant_update(hess, dirs.T, hessian_directions(
                objective, param, phi, dirs, control.hessian_step, g))
    steps = 0
    # the iterative path estimates the value and the gradient (`iterative`)
    estimated = getattr(objective, "iterative", False)
    # the gradient's rounding grows with the size of the sum (1e-8 at a million rows)
    floor = max(1e-9, 1e-14 * abs(value))
    while steps < max_steps and np.max(np.abs(g), initial=0.0) >= floor:
        try:
            np.linalg.cholesky(hess)
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            if exact:
                break
            # a guess that is not positive definite (far from the optimum, where the objective
            # curves down in theta): its eigenvalues in absolute value still give descent
            hess = _absolute_eigenvalues(hess)
            continue
        # Near the optimum the decrease (~ g'H^-1 g / 2) is below the objective's rounding,
        # so a step is also kept when the value holds within that and the gradient shrinks.
        noise = 1e-11 * max(1.0, abs(value))
        # from a guess, no first trial beyond control.guess_step: far off, a long step mostly costs
        # inner iterations before the halving brings it back
        longest = float(np.max(np.abs(step), initial=0.0))
        t = 1.0 if exact or longest <= control.guess_step else control.guess_step / longest
        accepted = False
        for _ in range(1 if exact else 20):
            # A step that would make a standard deviation negative is shortened, not cut off
            # at the bound: stopped there early, several of them can leave the fit in a
            # corner whose way out no single coordinate shows.
            x_trial = x - t * step
            if np.all(param.from_r(x_trial, phi) >= lower):
                new_value, new_g = r_gradient(objective, param, phi, x_trial)
                # an estimated objective's value and gradient disagree by the estimate's
                # error: there the gradient, whose zero is sought, decides alone
                if new_value <= value or (
                        (estimated or new_value <= value + noise)
                        and np.max(np.abs(new_g)) < np.max(np.abs(g))):
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            if exact:
                break
            hess, exact = r_hessian(objective, param, phi, control.hessian_step, g), True
            continue
        s, y = x_trial - x, new_g - g
        x, phi, value, g = x_trial, param.from_r(x_trial, phi), new_value, new_g
        steps += 1
        if give_up_near_zero and param.log_theta and np.any(phi[param.n_psi:] < control.newton_min_sd):
            raise TowardsZero(phi)
        if verbose:
            print(f"newton {steps:4d}  objective {value:.8f}  max|grad| "
                  f"{np.max(np.abs(g)):.3e}", flush=True)
        if np.max(np.abs(s)) > control.long_step:
            if s @ y > 0:
                hess = _bfgs_update(hess, s, y)
            exact = False
        elif not exact:
            hess, exact = r_hessian(objective, param, phi, control.hessian_step, g), True
        now_free = Parameterisation.at(objective, phi).free
        if not np.array_equal(now_free, param.free):
            # a standard deviation reached its bound: on in R's coordinates, which leave it
            # out, with what is known of the Hessian in the others
            keep = now_free[param.free]
            phi, param, value, g, hess, more = newton_polish(
                objective, phi, lower, control, hess_guess=hess[np.ix_(keep, keep)],
                max_steps=max_steps - steps, verbose=verbose)
            return phi, param, value, g, hess, steps + more
    if not exact:
        hess = r_hessian(objective, param, phi, control.hessian_step, g)
    return phi, param, value, g, hess, steps
