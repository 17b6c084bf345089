"""interlace: cumulative link mixed models (ordinal regression with random effects).

The pipeline, in the order a fit runs through it:

- ``formula``: split the response, fixed terms and lme4-style random terms;
- ``rformula``: read each part as R's formula language (a whitelist; nothing is run as
  Python) and translate it for formulaic;
- ``frames`` / ``coding`` / ``design`` / ``random_design``: data to plain columns, the
  response codes, the fixed design (B1, B2) and the random design (the rows of A = Z Lambda);
- ``links``, ``intervals``, ``thresholds``: the small numerical pieces;
- ``factor``, ``laplace``: the Laplace objective and its exact gradient;
- ``model``: ``clmm_model()``, the model as data (design + objective), and its ``fit()``;
- ``optimize``: the start, the optimisers and their strategy, the Hessian, convergence,
  steered by ``Control`` and recorded in ``OptSummary`` (``result.optinfo``);
- ``fit``: ``clmm()``, the public entry (builds the model and fits it);
- ``result``: ``CLMMResult`` and its summary; ``prediction`` and ``inference`` (confint,
  anova) after the fit.

Words used throughout: a *term* is one ``(expr | g)``; a *grouping factor* is its ``g``;
*theta* are R's ``ST`` parameters (per term the entries of the lower-triangular L with
covariance L L', diagonal first); *u* the spherical random effects, b = L u per level.
See docs/architecture.md.
"""

from .bootstrap import bootstrap_lrt
from .datasets import load_soup, load_wine
from .effect_tests import nominal_test, scale_test
from .fit import clm, clmm
from .inference import anova
from .model import ClmmModel, clmm_model
from .optimize import Control, OptSummary
from .result import CLMMResult, ConvergenceWarning

__all__ = ["CLMMResult", "ClmmModel", "Control", "ConvergenceWarning", "OptSummary", "anova",
           "bootstrap_lrt", "clm", "clmm", "clmm_model", "load_soup", "load_wine",
           "nominal_test", "scale_test"]
__version__ = "0.1.0"
