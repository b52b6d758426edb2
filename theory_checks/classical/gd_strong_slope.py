"""classical.gd-strong-slope: on the worst-case two-eigenvalue quadratic GD's fitted linear rate
equals -log((κ-1)/(κ+1)) (exact there; the 0.1% tolerance covers rounding and the fit). [text]"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from convlab import plots
from theory_checks import kinds
from theory_checks.classical import instances as I
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("classical")

ID, KIND = "classical.gd-strong-slope", "slope"
CITATION = I.CITE_STRONG
STATEMENT = "worst-case two-eigenvalue quadratic: linear rate exactly -log((κ-1)/(κ+1))"
SIZES = {"quick": dict(seeds=8, dim=40), "full": dict(seeds=32, dim=400)}
MU, STEPS = 0.1, 200


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    mu: float
    err: np.ndarray          # ||x_k - x*|| / ||x_0 - x*||, [seed, k]
    fit: convlab.RateFit


def measure(*, seeds: int, dim: int) -> Evidence:
    trace, r0 = convlab.sweep(I.quadratic_run, I.seeds(seeds, 4), {"mu": np.array([MU])},
                              static=dict(kind="worst_case", dim=dim, steps=STEPS, record_every=1))
    k = I.record_axis(trace)
    err = np.asarray(trace["distance"])[0] / np.asarray(r0)[0, :, None]
    fit = convlab.fit_rate(k, err, kind="linear", diverged=trace.diverged[0])
    return Evidence(k, MU, err, fit)


def judge(ev: Evidence) -> Verdict:
    predicted = float(-np.log(I.contraction(np.asarray(ev.mu))))
    return kinds.slope(ev.fit, predicted, tol=1e-3 * predicted, what="-log contraction per step")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    plots.error_curves(ax, ev.k, ev.err, label="GD, γ = 2/(L+μ)")
    plots.bound_curve(ax, ev.k, np.exp(-verdict.predicted * ev.k), label="((κ-1)/(κ+1))^k")
    plots.fit_line(ax, ev.fit)
    ax.set_xlabel("k")
    ax.set_ylabel("||x_k - x*|| / ||x_0 - x*||")
    ax.set_title(f"worst-case quadratic, κ = {1 / ev.mu:g}: {verdict.status}")
    ax.legend(fontsize=8)


def negative_controls(ev: Evidence):
    """GD with γ = 1/L contracts by 1 - μ/L, not (κ-1)/(κ+1)."""
    p = problems.make_strongly_convex_quadratic(jax.random.key(0), dim=40, mu=ev.mu, L=1.0,
                                                kind="worst_case")
    t = convlab.run(convlab.gd(1.0), p, p.x0, key=jax.random.key(0), num_steps=STEPS)
    yield "step 1/L", dataclasses.replace(ev, fit=convlab.fit_rate(t.k, t["distance"], kind="linear"))
