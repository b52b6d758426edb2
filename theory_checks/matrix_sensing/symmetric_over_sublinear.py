"""matrix_sensing.symmetric-over-sublinear: symmetric XXᵀ, k > r: sublinear, ||XXᵀ - M*||_F ~ c/t
(power exponent 1), a linear rate rejected. Xiong, Ding & Du, ICLR 2024, Thm (symmetric lower
bound). [text]"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import convlab
from convlab import plots
from theory_checks import kinds
from theory_checks.matrix_sensing import fits
from theory_checks.matrix_sensing import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "matrix_sensing.symmetric-over-sublinear", "slope"
CITATION = I.CITE + ", Thm (symmetric lower bound)"
STATEMENT = ("symmetric XXᵀ, k > r: sublinear, ||XXᵀ - M*||_F ~ c/t (power exponent 1, "
             "Ω(1/T²) for the squared error); a linear rate is rejected")
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, k=3, steps=20000,
                       record_every=20),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, k=5, steps=40000,
                      record_every=40)}
POWER_TOL = 0.1   # pre-asymptotic bias of a window's exponent, below (NOTES.md)


@dataclasses.dataclass(frozen=True)
class Evidence:
    setup: I.Setup
    width: int
    k: np.ndarray
    err: np.ndarray                 # relative error, [seed, record]
    diverged: np.ndarray
    sigma_min: np.ndarray | None    # σ_min(X), [seed, record]
    fit: convlab.RateFit            # power law over the last decade above the floor
    drift: dict[str, Any]


def sublinear_fits(k: np.ndarray, err: np.ndarray,
                   diverged: np.ndarray | None = None) -> tuple[convlab.RateFit, dict[str, Any]]:
    """The power-law fit over the last decade above the floor (``convlab.fit_rate``'s automatic
    power window) and the drift test on the same window."""
    fit = convlab.fit_rate(k, err, kind="power", diverged=diverged)
    drift = (fits.drift_test(k, err, fit.window, diverged=diverged) if np.isfinite(fit.rate)
             else {"verdict": "undecided", "reason": "no finite run"})
    return fit, drift


def measure(*, seeds: int, n: int, r: int, m: int, eta: float, alpha: float, k: int, steps: int,
            record_every: int) -> Evidence:
    setup = I.Setup(seeds, n, r, m, eta, alpha)
    run = I.sweep(setup, "symmetric", k, "gd", steps, record_every, (alpha,))
    err, diverged = run.err[0], run.diverged[0]
    fit, drift = sublinear_fits(run.k, err, diverged)
    return Evidence(setup, k, run.k, err, diverged, run.sigma_min[0], fit, drift)


def judge(ev: Evidence) -> Verdict:
    """holds: the exponent is within POWER_TOL of 1 (band rule) AND the drift test rejects a
    linear rate; violated: the exponent's CI misses the band OR the decay is linear."""
    slope = kinds.slope(ev.fit, 1.0, POWER_TOL, what="power-law exponent of ||XXᵀ - M*||_F")
    status = kinds.worst_status([slope.status, fits.drift_status(ev.drift["verdict"], want="sublinear")])
    details = {**slope.details, "exponent_status": slope.status, "drift": ev.drift}
    return Verdict(status, "error ~ c/t: power exponent 1 (±0.1), linear fit rejected",
                   slope.measured, slope.ci, slope.margin, details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    k, fit = ev.k, ev.fit
    plots.error_curves(ax, k, ev.err, label=f"GD, symmetric, k = {ev.width} > r = {ev.setup.r}",
                       logx=True)
    plots.fit_line(ax, fit, color="C3")
    if np.isfinite(fit.rate):
        k_ref = k[k > 0]
        ref = np.exp(fit.intercept) * k_ref ** -1.0 * fit.window[1] ** (1.0 - fit.rate)
        plots.bound_curve(ax, k_ref, ref, label="slope -1 (c/t), matched at the window's end",
                          color="0.4")
        ax.axvspan(*fit.window, color="0.85", zorder=0)
    ratio = ev.drift.get("ratio")
    extra = (f"linear rates late/early {ratio:.2f} (ρ* {ev.drift['threshold']:.2f}): "
             f"{ev.drift['verdict']}" if ratio is not None else ev.drift.get("reason", ""))
    I.style_time_axes(ax)
    ax.set_title(f"symmetric, k > r: {verdict.status}\n{extra}", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


def negative_controls(ev: Evidence):
    """The linearly converging k = r trace: a huge exponent and a linear drift ratio."""
    exact = I.sweep(ev.setup, "symmetric", ev.setup.r, "gd", *I.EXACT_HORIZON, (ev.setup.alpha,))
    fit, drift = sublinear_fits(exact.k, exact.err[0], exact.diverged[0])
    yield "k = r trace", dataclasses.replace(ev, width=ev.setup.r, k=exact.k, err=exact.err[0],
                                             diverged=exact.diverged[0], fit=fit, drift=drift)
