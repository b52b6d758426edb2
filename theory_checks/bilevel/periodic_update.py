"""bilevel.periodic-update: BO-REP with period I uses ∝ 1/I of the lower-level oracle calls of
I = 1 and reaches the same stationarity (mean min ‖∇Φ‖ within 25%). Hao, Gong & Liu 2024,
Alg. 1 (periodic lower-level updates, I = O(1/ε²)). [derived]"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import convlab
from convlab import plots
from theory_checks import kinds
from theory_checks.bilevel import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "bilevel.periodic-update", "scaling"
CITATION = I.CITE
STATEMENT = ("BO-REP with period I uses ∝ 1/I of the lower-level oracle calls of I = 1 and "
             "reaches the same stationarity (mean min ||∇Φ|| within 25%)")
SIZES = {"quick": dict(seeds=6, K0=250, steps=4000, periods=(1, 2, 4, 8), inner=4),
         "full": dict(seeds=16, K0=250, steps=16000, periods=(1, 2, 4, 8, 16), inner=4)}
RECORDS = 50
PERIOD_TOL = 0.1         # exponent tolerance of lower calls vs I (NOTES.md)
STATIONARITY_TOL = 0.25  # "same stationarity": mean min ‖∇Φ‖ within 25% of I = 1


@dataclasses.dataclass(frozen=True)
class Evidence:
    periods: np.ndarray      # I
    best: np.ndarray         # min_k ||∇Φ(x_k)||, [period, seed]
    lower_calls: np.ndarray  # lower-level calls of the whole run, [period]
    total_calls: np.ndarray  # all oracle calls, [period]
    curves: tuple            # per period: (k, ||∇Φ|| [seed, record])
    K: int                   # outer steps
    refine: int              # refinement steps (part of the lower calls)
    inner: int               # lower steps per update N
    theory_lower: np.ndarray  # Algorithm 1's count: R + N⌊(K-1)/I⌋ (batch 1), [period]


def measure(*, seeds: int, K0: int, steps: int, periods: tuple[int, ...], inner: int) -> Evidence:
    return _measure(seeds=seeds, K0=K0, steps=steps, periods=periods, inner=inner)


def _measure(*, seeds: int, K0: int, steps: int, periods: tuple[int, ...], inner: int,
             factory: Any = I.bo_rep_schedule) -> Evidence:
    p = I.synthetic()
    K = steps
    r = K / K0
    keys = I.seeds(seeds, 3)
    periods = np.asarray(periods)
    best, lower, total, curves, theory = [], [], [], [], []
    for period in periods:
        spec = I.bo_rep_spec(r, I.z_radius(p), period=int(period), inner=inner)
        trace = I.sweep_synthetic(p, keys, steps=K, records=RECORDS, method="bo_rep", r=r,
                                  radius=I.z_radius(p), period=int(period), inner=inner, factory=factory)
        g = np.asarray(trace["hypergrad_norm"])
        best.append(g.min(axis=1))
        total.append(float(np.asarray(trace.oracle_calls)[0, -1]))
        # the run's own lower calls: all its calls less the upper ones, b_f + 2 b_h = 3 per step
        lower.append(total[-1] - 3.0 * int(np.asarray(trace.k)[0, -1]))
        theory.append(theory_lower_calls(int(np.asarray(trace.k)[0, -1]), spec))
        curves.append((np.asarray(trace.k)[0], g))
    return Evidence(periods, np.stack(best), np.asarray(lower), np.asarray(total), tuple(curves),
                    K, spec["refine_steps"], spec["inner_steps"], np.asarray(theory))


def theory_lower_calls(K: int, spec: dict) -> float:
    """Lower-level calls of K outer steps of Algorithm 1 (batch 1): ``R`` refinement steps at
    k = 0 and ``N`` at every ``k = I, 2I, ... < K``."""
    return float(spec["refine_steps"] + spec["inner_steps"] * ((K - 1) // spec["period"]))


def judge(ev: Evidence) -> Verdict:
    fits = [convlab.RateFit("power", c, c, c, np.nan, (0.0, 0.0), np.nan, 1, 1, 0)
            for c in ev.lower_calls]
    saving = kinds.scaling(ev.periods, fits, -1.0, PERIOD_TOL)
    count = kinds.certificate(ev.lower_calls, ev.theory_lower, relation="==", tol=0.0,
                              predicted="lower calls = R + N⌊(K-1)/I⌋")
    ratios = ev.best.mean(axis=1) / ev.best[0].mean()
    rng = np.random.default_rng(0)
    boot = ev.best[:, rng.integers(0, ev.best.shape[1], (2000, ev.best.shape[1]))].mean(axis=2)
    boot_ratio = boot / boot[:1]
    lo, hi = np.quantile(boot_ratio.max(axis=0), [0.025, 0.975])
    worst = float(ratios.max())
    # the band rule, one-sided: the whole CI of the worst ratio within 1 + tol
    same = ("holds" if np.isfinite(hi) and hi <= 1 + STATIONARITY_TOL else
            "violated" if not np.isfinite(worst) or lo > 1 + STATIONARITY_TOL else "inconclusive")
    status = kinds.worst_status([saving.status, count.status, same])
    details = {"lower_calls": ev.lower_calls.tolist(), "total_calls": ev.total_calls.tolist(),
               "periods": ev.periods.tolist(), "stationarity_ratio_to_I1": ratios.tolist(),
               "stationarity_status": same, "stationarity_ci_worst": [float(lo), float(hi)],
               "stationarity_tol": STATIONARITY_TOL, "exponent_status": saving.status,
               "exponent_tol": PERIOD_TOL, "refine_steps": ev.refine,
               "count_status": count.status, "theory_lower_calls": ev.theory_lower.tolist(),
               "lower_calls_ratio_times_I": (ev.lower_calls / ev.lower_calls[0] * ev.periods).tolist()}
    return Verdict(status, -1.0, saving.measured, saving.ci, min(saving.margin, 1 + STATIONARITY_TOL - worst),
                   details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(10.0, 4.0)
    ax1, ax2 = fig.subplots(1, 2)
    period = ev.periods.astype(float)
    ax1.loglog(period, ev.lower_calls, "o-", label="lower-level calls (measured)")
    ax1.loglog(period, ev.lower_calls[0] / period, "--", color="0.5", label="∝ 1/I")
    ax1.set_xlabel("period I")
    ax1.set_ylabel("lower-level oracle calls")
    ax1.set_title(f"exponent {verdict.measured:.3f} (predicted -1)", fontsize=9)
    ax1.legend(fontsize=7)
    for i, (k, g) in enumerate(ev.curves):
        plots.error_curves(ax2, k[1:], np.minimum.accumulate(g, axis=1)[:, 1:], color=f"C{i}",
                           label=f"I = {int(period[i])}", logx=True)
    ax2.set_xlabel("iteration k")
    ax2.set_ylabel("min_{j≤k} ||∇Φ(x_j)||")
    ax2.set_title(f"same stationarity: max ratio {max(verdict.details['stationarity_ratio_to_I1']):.3f}",
                  fontsize=9)
    ax2.legend(fontsize=7)
    fig.suptitle(f"periodic lower-level updates: {verdict.status}", fontsize=10)


def _period_ignored(r: float, radius: float, *, period: int | None = None,
                    inner: int | None = None) -> Any:
    """BO-REP updating the lower level at every step, whatever its period (a broken schedule)."""
    return I.bo_rep_schedule(r, radius, period=1, inner=inner)


def negative_controls(ev: Evidence):
    """BO-REP that ignores its period, run through the measurement, and a stationarity at the
    largest I twice that of I = 1."""
    ends = (int(ev.periods[0]), int(ev.periods[-1]))  # two periods: two compiled programs
    yield "period ignored", _measure(seeds=ev.best.shape[1], K0=SIZES["quick"]["K0"], steps=ev.K,
                                     periods=ends, inner=ev.inner, factory=_period_ignored)
    worse = ev.best.copy()
    worse[-1] = 2.0 * worse[0]
    yield "stationarity degrades", dataclasses.replace(ev, best=worse)
