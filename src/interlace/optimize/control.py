"""How a fit is steered (`Control`, as R's ``clmm.control`` or lme4's ``glmerControl``) and what
it did (`OptSummary`, as MixedModels.jl's, on every result as ``result.optinfo``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

OPTIMIZERS = ("auto", "newton", "lbfgsb", "bobyqa")  # "newton" is the old name of "auto"
RANDOM_SOLVERS = ("auto", "exact", "iterative")


@dataclass(frozen=True)
class Control:
    """Tuning constants of a fit. The defaults are what the benchmark measured best; change
    them to study a fit, or to reach a path (a subsample start on small data) in a test.

    Attributes
    ----------
    grad_tol : max |gradient| (R's coordinates, coefficients per SD of their column) below
        which a fit counts as converged.
    unidentified_se : a standard error above this (latent units per SD of x) means a
        parameter is not identified (separation).
    subsample_from, subsample_share : from this many rows the ``auto`` optimiser starts from
        a fit to one row in ``subsample_share`` (itself started the same way while large).
    subsample_rows_per_level : when a row sample would leave fewer rows than this per level
        of the grouping factor with the most levels, the sample takes whole levels of it
        instead (one in ``subsample_share``): with about one row per level the sample's SD
        is far from the data's, and the Newton steps from it are many.
    long_step : a step (R's coordinates) after which the Hessian must be formed again.
    guess_step : longest first trial of a Newton step from a guessed Hessian.
    newton_min_sd : below this standard deviation, Newton steps in log(sd) hand over to
        L-BFGS-B (which reaches a bound of 0 at once).
    max_newton_steps : Newton steps of the final polish (0: none).
    boundary_probe : how far off its bound of 0 a held standard deviation is tried.
    max_restarts : rounds of the fallback optimiser after the first attempt.
    hessian_step : relative step of the Hessian's forward differences of the exact gradient.
    lbfgsb_maxiter, lbfgsb_maxfun, lbfgsb_ftol, lbfgsb_gtol, lbfgsb_maxcor : scipy's
        L-BFGS-B options.
    bobyqa_rhobeg, bobyqa_rhoend : Py-BOBYQA's trust-region radii.
    inner_step_tol, inner_max_iter, inner_max_halvings : the conditional modes' Newton solve.
    block_rows : rows per block where per-row work is done a block at a time (the link
        computations, the gradient); prediction holds ``block_rows * 64`` values at once.
    rows_per_level : a block of the gradient's pass holds at least this many rows per random
        effect (q): each block adds q-sized partial sums, which at 300,000 levels and 32k-row
        blocks cost 3x the rest of the gradient (measured at 1M rows: 532 -> 177 ms per
        gradient with one block; best near 4 q at 30,000 levels). 0 turns the rule off.
    reuse_large_blocks : keep glibc's freed large blocks for reuse during the fit: 15-20%
        faster at 100k rows (0.50 -> 0.41 s), 5% at a million. Off by default because it
        cannot be undone exactly: glibc has no getter for its thresholds, and setting one
        turns its dynamic mmap threshold off for the rest of the process (the thresholds are
        put back to glibc's defaults after the fit). The command line turns it on (the
        process is its own).
    partitions : the Laplace objective's rows in this many partitions, each owning whole
        levels of the first random term (`partitioned.PartitionedLaplace`, the row backend a
        cluster runs): the same fit, sums taken in another order. 1 (default): one block.
    random_solver : how H = I + A'WDA is handled. "exact": block elimination and a dense
        Schur complement of the terms after the largest (q2 x q2; its cost grows as q2^3);
        "iterative": conjugate gradients, and the log-determinant and the gradient's entries
        of H^-1 estimated from ``probes`` fixed random probes (`iterative`; the result says so
        and gives the estimate's standard error); "auto": iterative from q2 >= ``iterative_from``
        (measured at 1M rows: q2 = 5,000 exact 123 s, iterative 45 s; q2 = 2,500 in three
        crossed factors 121 s and 117 s; q2 = 1,000 at 200k rows 8.9 s and 9.9 s).
    sample_iterative_from : the subsample start's fits (a start only; a fit on the exact
        path stays exact) take the iterative path from this many random effects outside the
        largest factor (1M rows, 20,000 x 5,000 crossed, exact: 574 -> 261 s when added).
    probes, probe_seed : how many Rademacher probes, and their seed (fixed for the whole fit,
        so the objective is a deterministic function of the parameters).
    cg_rtol, cg_max_iter : conjugate gradients stop at ||residual|| <= cg_rtol ||b||.
    dense_threads, dense_threads_from : BLAS threads for the factorisation and inverse of the
        Schur complement from q2 >= ``dense_threads_from`` (0: every core); the rest of the fit
        keeps ``fit(threads=)``'s limit, one by default, as small products spin with more
        (`threads`; q2 = 5,000 on 2 cores: Cholesky 0.77 -> 0.44 s, inverse 1.35 -> 0.70 s).
    """

    grad_tol: float = 1e-4
    unidentified_se: float = 100.0
    subsample_from: int = 50_000
    subsample_share: int = 8
    subsample_rows_per_level: int = 4
    long_step: float = 1e-5
    guess_step: float = 0.5
    newton_min_sd: float = 0.05
    max_newton_steps: int = 50
    boundary_probe: float = 1e-2
    max_restarts: int = 3
    hessian_step: float = 1e-7
    lbfgsb_maxiter: int = 5000
    lbfgsb_maxfun: int = 10000
    lbfgsb_ftol: float = 1e-12
    lbfgsb_gtol: float = 1e-6
    lbfgsb_maxcor: int = 20
    bobyqa_rhobeg: float = 0.2
    bobyqa_rhoend: float = 1e-9
    inner_step_tol: float = 1e-10
    inner_max_iter: int = 100
    inner_max_halvings: int = 40
    block_rows: int = 1 << 15
    rows_per_level: int = 4
    reuse_large_blocks: bool = False
    partitions: int = 1
    random_solver: str = "auto"
    iterative_from: int = 5_000
    sample_iterative_from: int = 1_000
    probes: int = 32
    probe_seed: int = 1
    cg_rtol: float = 1e-10
    cg_max_iter: int = 2000
    dense_threads: int = 0
    dense_threads_from: int = 1_000

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "str":
                ok = value in RANDOM_SOLVERS
            elif f.type == "bool":
                ok = isinstance(value, bool)
            elif f.type == "int":
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            else:
                ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                      and value > 0)
            if not ok and f.type == "str":
                raise ValueError(f"Control.{f.name} must be one of {RANDOM_SOLVERS}, "
                                 f"not {value!r}")
            if not ok:
                raise ValueError(f"Control.{f.name} must be a {f.type} "
                                 f"({'positive' if f.type == 'float' else 'non-negative'}), "
                                 f"not {value!r}")
        if self.probes < 2:
            raise ValueError("Control.probes must be at least 2 (the estimate's standard error "
                             "needs two)")
        if self.block_rows < 1 or self.subsample_share < 2 or self.partitions < 1:
            raise ValueError("Control.block_rows and partitions must be at least 1 and "
                             "subsample_share at least 2")


@dataclass
class OptSummary:
    """What a fit did: where it started, which optimisers ran and why, how much it cost."""

    optimizer: str  # as asked: auto, lbfgsb or bobyqa
    start: str = ""  # "clm fit", "theta0", "fit to a subsample of N rows"
    phases: list = field(default_factory=list)  # what ran, in order
    restarts: list = field(default_factory=list)  # why each restart happened
    subsample_starts: list = field(default_factory=list)  # (rows, used, why), innermost first
    n_evaluations: int = 0  # objective evaluations on all the rows
    n_inner: int = 0  # inner Newton steps
    n_iter: int = 0  # the optimisers' own iterations
    max_grad: float = float("nan")
    converged: bool = False
    elapsed: float = 0.0  # seconds
    control: Control = field(default_factory=Control)
    # how H was handled; with "iterative" the log-likelihood is estimated (logdet by probes)
    random_solver: str = "exact"
    loglik_se: float = 0.0  # the estimated log-likelihood's standard error (0: exact)

    def estimate_note(self) -> str:
        """What the summary says of an estimated log-likelihood ('' when it is exact)."""
        if self.random_solver != "iterative":
            return ""
        return (f"log-determinant estimated from {self.control.probes} probes "
                f"(conjugate gradients): logLik standard error {self.loglik_se:.3g}")

    def lines(self) -> list[str]:
        out = [f"optimizer: {self.optimizer}; start: {self.start}"]
        for rows, used, why in self.subsample_starts:
            out.append(f"  subsample of {rows:,} rows: {'used' if used else 'declined'}"
                       + (f" ({why})" if why else ""))
        out += [f"  {phase}" for phase in self.phases]
        out += [f"  restart: {why}" for why in self.restarts]
        if self.estimate_note():
            out.append(f"  {self.estimate_note()}")
        out.append(f"evaluations {self.n_evaluations}, inner Newton steps {self.n_inner}, "
                   f"optimiser iterations {self.n_iter}, max|grad| {self.max_grad:.2e}, "
                   f"{self.elapsed:.3f} s, {'converged' if self.converged else 'NOT converged'}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())
