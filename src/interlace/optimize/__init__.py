"""Optimisation: from the start to the optimum, steered by `Control`, recorded in `OptSummary`.

- `start`: the fixed-effects-only fit (R's ``clm``) and a guess of the Hessian there;
- `strategy`: which start and optimiser, the subsample start, restarts;
- `newton`: Newton steps in R's coordinates from a guessed or differenced Hessian;
- `adapters`: scipy's L-BFGS-B and Py-BOBYQA;
- `hessian`: the gradient and Hessian in R's coordinates;
- `convergence`: whether the result can be trusted, and why not.
"""

from .control import OPTIMIZERS, Control, OptSummary

__all__ = ["OPTIMIZERS", "Control", "OptSummary"]
