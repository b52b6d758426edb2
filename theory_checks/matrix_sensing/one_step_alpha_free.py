"""matrix_sensing.one-step-alpha-free: asymmetric FGᵀ, k > r, one-step modification: the linear
rate does not depend on α and is within a factor 2 of the k = r rate. Xiong, Ding & Du, ICLR
2024, one-step modification. [text] (α-free), [derived] (factor 2)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from theory_checks import kinds
from theory_checks.matrix_sensing import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "matrix_sensing.one-step-alpha-free", "scaling"
CITATION = I.CITE + ", one-step modification"
STATEMENT = ("asymmetric FGᵀ, k > r, one-step modification: linear rate independent of α and "
             "within a factor 2 of the k = r rate")
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, k=3,
                       alphas=(0.03, 0.045, 0.065, 0.1), steps=2000, record_every=5,
                       exact_steps=1000, exact_every=5),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, k=5,
                      alphas=(0.025, 0.035, 0.05, 0.07), steps=2000, record_every=5,
                      exact_steps=2000, exact_every=5)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    modified: I.AlphaEvidence   # one-step modified GD at k > r (windows start after the trigger)
    exact: I.AlphaEvidence      # plain GD at k = r over the same α grid
    trigger: np.ndarray         # iteration the modification fired, [α, seed] (inf: never)
    threshold: float            # the trigger's loss threshold


def measure(*, seeds: int, n: int, r: int, m: int, eta: float, alpha: float, k: int,
            alphas: tuple[float, ...], steps: int, record_every: int, exact_steps: int,
            exact_every: int) -> Evidence:
    setup = I.Setup(seeds, n, r, m, eta, alpha)
    alphas = tuple(alphas)
    modified, trigger, threshold = I.measure_modified(setup, k, alphas, steps=steps,
                                                      record_every=record_every)
    exact = I.plain_alpha_evidence(setup, r, alphas, steps=exact_steps, record_every=exact_every)
    return Evidence(modified, exact, trigger, threshold)


def closeness(rates: np.ndarray, fits: list, ref_rates: np.ndarray, ref_fits: list, *,
              num_draws: int = 4000, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """log of (geometric mean of ``rates``) / (geometric mean of ``ref_rates``), with a
    parametric-bootstrap CI from each fit's CI (as kinds.scaling does)."""
    def sd(fs):
        return np.array([(f.ci_high - f.ci_low) / 3.92 for f in fs])
    rng = np.random.default_rng(seed)
    a = np.log(np.clip(rng.normal(rates, sd(fits), size=(num_draws, rates.size)), 1e-300, None))
    b = np.log(np.clip(rng.normal(ref_rates, sd(ref_fits), size=(num_draws, ref_rates.size)),
                       1e-300, None))
    boot = a.mean(axis=1) - b.mean(axis=1)
    value = float(np.mean(np.log(rates)) - np.mean(np.log(ref_rates)))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return value, (float(lo), float(hi))


def judge(ev: Evidence) -> Verdict:
    """holds: (a) the rates do not move with α (slope 0 ± RATE_EXPONENT_TOL, kinds.scaling) AND
    (b) their geometric mean is within CLOSE_FACTOR of the k = r rate (band rule on the log
    ratio) AND (c) every decay is linear; violated if any part's CI misses its band."""
    mod, exact = ev.modified, ev.exact
    scaling, drift = I.scaling_with_drift(mod, 0.0)
    details = {**scaling.details, "exponent_status": scaling.status, "linearity_status": drift,
               "per_alpha": I.per_alpha_details(mod), "exact_per_alpha": I.per_alpha_details(exact),
               "close_factor": I.CLOSE_FACTOR}
    rates, ref = I.rates(mod), I.rates(exact)
    parts = [scaling.status, drift]
    if np.all(np.isfinite(rates) & (rates > 0)) and np.all(np.isfinite(ref) & (ref > 0)):
        value, ci = closeness(rates, [f.fit for f in mod.fits], ref, [f.fit for f in exact.fits])
        close = kinds.band_status(value, ci, 0.0, math.log(I.CLOSE_FACTOR))
        details.update(rate_ratio_to_exact=math.exp(value),
                       rate_ratio_ci=[math.exp(ci[0]), math.exp(ci[1])], closeness_status=close)
        parts.append(close)
    else:
        details["closeness_status"] = "violated: a rate is not positive/finite"
        parts.append("violated" if scaling.status != "inconclusive" else "inconclusive")
    return Verdict(kinds.worst_status(parts), 0.0, scaling.measured, scaling.ci, scaling.margin,
                   details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    axes = fig.subplots(1, 2)
    fig.set_size_inches(10.0, 4.0)
    ref = float(np.exp(np.nanmean(np.log(I.rates(ev.exact)))))
    I.draw_alpha_panels(ev.modified, axes, exponent=0.0, reference=ref, trigger=ev.trigger,
                        title=f"one-step modified GD, k = {ev.modified.width} > r = {ev.modified.setup.r}")
    ratio = verdict.details.get("rate_ratio_to_exact", float("nan"))
    axes[1].set_title(f"{verdict.status}: exponent {verdict.measured:.3f}, "
                      f"rate / (k = r rate) = {ratio:.2f}", fontsize=9)


def negative_controls(ev: Evidence):
    """Plain GD (rates ∝ α², far below the k = r rate) in place of the modified method."""
    mod = ev.modified
    steps, every = I.PLAIN_HORIZON
    plain = I.plain_alpha_evidence(mod.setup, mod.width, tuple(mod.alphas), steps=steps,
                                   record_every=every)
    yield "plain GD", dataclasses.replace(ev, modified=dataclasses.replace(mod, fits=plain.fits))
