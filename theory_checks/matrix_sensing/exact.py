"""The shared parts of the two k = r claims (symmetric-exact-linear, asymmetric-exact-linear):
GD from a small random init converges linearly, at the rate the theory's step map has at the
run's limit (NOTES.md, "Local rates"). Evidence, measure, judge, figure and the negative
controls that run broken methods and generators through the same measure path."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import convlab
from convlab import plots
from theory_checks import kinds
from theory_checks.matrix_sensing import fits
from theory_checks.matrix_sensing import instances as I
from theory_checks.matrix_sensing import linearised as lin
from theory_checks.verdict import Verdict

DIVERGING_ALPHA = 3.0   # with η = 0.1 GD diverges (PAPERS.md: α = 1 already does at η = 0.05)
# negative controls (NOTES.md): a broken step, a wrong generator
STEP_FACTOR = 1.2       # GD applying 1.2·η·∇ (a wrong step constant)
HALF_GRADIENT = 0.5     # a gradient missing its factor 2
Y_SCALE = 1.02          # measurements of 1.02·M* (y ≠ A(M*))
A_SCALE = 1.3           # the operator scaled by 1.3 (E<A_i, Z>² = 1.69 ||Z||²)
TRUTH_TOL = 1e-10       # the generator's M* against its documented factors and spectrum: rounding


@dataclasses.dataclass(frozen=True)
class LinearEvidence:
    """GD at width ``k``: relative errors ``[seed, record]``, the late-window fit and drift
    test, and the local evidence at the run's limit."""

    setup: I.Setup
    parameterization: str
    width: int
    k: np.ndarray
    err: np.ndarray
    diverged: np.ndarray
    reference_rate: float              # [derived] isotropic linearised rate, reported, not judged
    fit: convlab.RateFit | None
    window: tuple[float, float] | None
    drift: dict[str, Any]
    local: lin.LocalEvidence | None
    truth: float = 0.0                 # the generator's truth against its own description
    variant: tuple = ()


def linear_reference(setup: I.Setup, parameterization: str) -> float:
    """[derived] linearised local rate of the slowest error block at k = r for isotropic
    measurements: ``2ησ_r`` (symmetric) and ``ησ_r`` (asymmetric); finite ``m`` moves it."""
    sigma_r = float(np.asarray(I.problem(setup, parameterization, setup.r).sigma_star)[-1])
    return (2.0 if parameterization == "symmetric" else 1.0) * setup.eta * sigma_r


def truth_residual(p) -> float:
    """How far the generator's ``M*`` is from what it says it is: ``M* = X* X*ᵀ`` (or
    ``F* G*ᵀ``), singular values ``sigma_star`` with ``σ_1 = 1`` and rank r."""
    m_star = np.asarray(p.M_star)
    factors = (np.asarray(p.X_star) @ np.asarray(p.X_star).T if hasattr(p, "X_star")
               else np.asarray(p.F_star) @ np.asarray(p.G_star).T)
    sv = np.linalg.svd(m_star, compute_uv=False)
    sigma = np.asarray(p.sigma_star)
    return float(max(np.abs(m_star - factors).max(), np.abs(sv[: sigma.size] - sigma).max(),
                     sv[sigma.size], abs(sigma[0] - 1.0)))


def exact_measure(parameterization: str):
    """``measure(**sizes)`` of a k = r claim in the given parameterization."""
    def measure(*, seeds: int, n: int, r: int, m: int, eta: float, alpha: float, steps: int,
                record_every: int) -> LinearEvidence:
        return measure_exact(I.Setup(seeds, n, r, m, eta, alpha), parameterization, steps=steps,
                             record_every=record_every)
    return measure


def measure_exact(setup: I.Setup, parameterization: str, *, steps: int, record_every: int,
                  width: int | None = None, variant: tuple = ()) -> LinearEvidence:
    """GD at ``width`` (default r) with a ``variant`` (broken method/generator/init, for the
    negative controls; the theory's map keeps the claimed η and the generator's A, M*)."""
    width = setup.r if width is None else width
    run = I.sweep(setup, parameterization, width, "gd", steps, record_every, (setup.alpha,),
                  variant)
    err, diverged = run.err[0], run.diverged[0]
    lf = fits.linear_fit(run.k, err, diverged)
    local = I.local_of(run, 0, setup, parameterization, width, "gd", lf.window, variant)
    truth = truth_residual(I.problem(setup, parameterization, width))
    return LinearEvidence(setup, parameterization, width, run.k, err, diverged,
                          linear_reference(setup, parameterization), lf.fit, lf.window, lf.drift,
                          local, truth, tuple(variant))


def linear_part(ev: LinearEvidence) -> Verdict:
    """holds: the rate's CI lies above 0 AND the drift test finds the decay linear; violated:
    no decay (CI at or below 0, every run diverged) OR the drift test says sublinear."""
    fit, drift = ev.fit, ev.drift
    predicted = "rate > 0 (CI excludes 0), no drift"
    details = {"fit": fits.fit_record(fit), "drift": drift,
               "reference_rate_linearised": ev.reference_rate}
    if np.all(ev.diverged >= 0):
        return Verdict("violated", predicted, float("nan"), None, float("nan"),
                       {**details, "reason": "every run diverged"})
    if fit is None:
        return Verdict("inconclusive", predicted, float("nan"), None, float("nan"), details)
    if not np.isfinite(fit.rate):
        return Verdict("violated", predicted, fit.rate, None, float("nan"),
                       {**details, "reason": "no finite run to fit (diverged)"})
    rate_status = ("holds" if fit.ci_low > 0 else "violated" if fit.ci_high <= 0 else "inconclusive")
    status = kinds.worst_status([rate_status, fits.drift_status(drift["verdict"], want="linear")])
    return Verdict(status, predicted, fit.rate, (fit.ci_low, fit.ci_high), fit.ci_low, details)


def judge_linear(ev: LinearEvidence) -> Verdict:
    """Parts (kinds.combine; violated as soon as one is): ``local rate`` (measured window rate
    per seed = the theory's linearised map's, to RTOL; the method's own map equal to it),
    ``linear`` (rate > 0 and no drift), ``limit is a solution``, ``operator`` and ``truth``
    (the generator's M* as documented, to TRUTH_TOL)."""
    parts = lin.local_parts(ev.k, ev.err, ev.diverged, ev.local)
    parts["linear"] = linear_part(ev)
    parts["truth"] = kinds.certificate([ev.truth], [0.0], relation="<=", tol=TRUTH_TOL,
                                       predicted="M* = X*X*ᵀ, σ(M*) = sigma_star, σ_1 = 1")
    return kinds.combine(parts, "local rate")


def draw_linear(ev: LinearEvidence, verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    s = ev.setup
    plots.error_curves(ax, ev.k, ev.err, label=f"GD, k = r = {s.r}, α = {s.alpha:g}, η = {s.eta:g}")
    loc = ev.local
    if loc is not None and loc.window is not None:
        a = loc.window[0]
        start = float(np.exp(np.mean(np.log(ev.err[:, int(np.argmax(ev.k >= a))]))))
        t = ev.k[(ev.k >= a) & (ev.k <= loc.window[1])]
        plots.bound_curve(ax, t, start * np.exp(-loc.reference.mean() * (t - a)), color="C3",
                          label="theory's map at the limit (linearised)")
        ax.axvspan(*loc.window, color="0.85", zorder=0, label="local window")
    rate = verdict.details.get("local rate", {})
    extra = (f"measured / predicted rate {verdict.measured:.4f}" if np.isfinite(verdict.measured)
             else rate.get("reason", ""))
    I.style_time_axes(ax)
    ax.set_title(f"{ev.parameterization}, k = r: {verdict.status}\n{extra}", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def linear_controls(ev: LinearEvidence):
    """Broken implementations run through the claim's own measure path (each must be
    violated): GD applying 1.2·η·∇, a gradient missing its factor 2, measurements of 1.02·M*,
    an operator scaled by 1.3; an init of scale 3 (every run diverges)."""
    s, steps, every = ev.setup, ev.k[-1], int(ev.k[1] - ev.k[0])
    again = lambda **kw: measure_exact(s, ev.parameterization, steps=int(steps), record_every=every, **kw)
    yield "GD step 1.2η", again(variant=(("grad_factor", STEP_FACTOR),))
    yield "gradient missing its factor 2", again(variant=(("grad_factor", HALF_GRADIENT),))
    yield "y = A(1.02 M*)", again(variant=(("y_scale", Y_SCALE),))
    yield "A scaled by 1.3", again(variant=(("A_scale", A_SCALE),))
    yield "α = 3 (diverges)", measure_exact(dataclasses.replace(s, alpha=DIVERGING_ALPHA, seeds=3),
                                            ev.parameterization, steps=200, record_every=5)
