"""bilevel.periodic-update: BO-REP with period I uses ∝ 1/I of the lower-level oracle calls of
I = 1 and reaches the same stationarity (mean min ‖∇Φ‖ within 25%). Hao, Gong & Liu 2024,
Alg. 1 (periodic lower-level updates, I = O(1/ε²)). [derived]"""

from __future__ import annotations

import dataclasses

import numpy as np

import convlab
from convlab import plots
from convlab.methods import bilevel as methods
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
    batch: int               # lower-level batch


def measure(*, seeds: int, K0: int, steps: int, periods: tuple[int, ...], inner: int) -> Evidence:
    p = I.synthetic()
    K = steps
    r = K / K0
    keys = I.seeds(seeds, 3)
    periods = np.asarray(periods)
    best, lower, total, curves = [], [], [], []
    for period in periods:
        method = I.scheduled_bo_rep(r, p, period=int(period), inner=inner)
        trace = I.sweep_synthetic(p, keys, steps=K, records=RECORDS, method="bo_rep", r=r,
                                  radius=I.z_radius(p), period=int(period), inner=inner)
        o = dict(method.options)
        schedule = np.asarray(methods.lower_calls_schedule(K, refine=o["refine_steps"], period=int(period),
                                                           inner=o["inner_steps"], batch=o["batch_lower"]))
        g = np.asarray(trace["hypergrad_norm"])
        best.append(g.min(axis=1))
        lower.append(float(schedule[-1]))
        total.append(float(np.asarray(trace.oracle_calls)[0, -1]))
        curves.append((np.asarray(trace.k)[0], g))
    return Evidence(periods, np.stack(best), np.asarray(lower), np.asarray(total), tuple(curves),
                    K, o["refine_steps"], o["inner_steps"], o["batch_lower"])


def judge(ev: Evidence) -> Verdict:
    fits = [convlab.RateFit("power", c, c, c, np.nan, (0.0, 0.0), np.nan, 1, 1, 0)
            for c in ev.lower_calls]
    saving = kinds.scaling(ev.periods, fits, -1.0, PERIOD_TOL)
    ratios = ev.best.mean(axis=1) / ev.best[0].mean()
    rng = np.random.default_rng(0)
    boot = ev.best[:, rng.integers(0, ev.best.shape[1], (2000, ev.best.shape[1]))].mean(axis=2)
    boot_ratio = boot / boot[:1]
    lo, hi = np.quantile(boot_ratio.max(axis=0), [0.025, 0.975])
    worst = float(ratios.max())
    same = ("holds" if worst <= 1 + STATIONARITY_TOL else
            "violated" if lo > 1 + STATIONARITY_TOL else "inconclusive")
    status = kinds.worst_status([saving.status, same])
    details = {"lower_calls": ev.lower_calls.tolist(), "total_calls": ev.total_calls.tolist(),
               "periods": ev.periods.tolist(), "stationarity_ratio_to_I1": ratios.tolist(),
               "stationarity_status": same, "stationarity_ci_worst": [float(lo), float(hi)],
               "stationarity_tol": STATIONARITY_TOL, "exponent_status": saving.status,
               "exponent_tol": PERIOD_TOL, "refine_steps": ev.refine,
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


def negative_controls(ev: Evidence):
    """A schedule that ignores the period (the lower calls of I = 1 at every I), and a
    stationarity at the largest I twice that of I = 1."""
    flat = [float(methods.lower_calls_schedule(ev.K, refine=ev.refine, period=1, inner=ev.inner,
                                               batch=ev.batch)[-1]) for _ in ev.periods]
    yield "period ignored", dataclasses.replace(ev, lower_calls=np.asarray(flat))
    worse = ev.best.copy()
    worse[-1] = 2.0 * worse[0]
    yield "stationarity degrades", dataclasses.replace(ev, best=worse)
