"""bilevel.fixed-step-diverges: on an (L0, L1)-smooth (cosh) upper level from a large ‖x0‖, a
fixed-step method (SOBA) diverges or stalls at every step size while BO-REP converges, at equal
oracle budget. Hao, Gong & Liu 2024 (the reproduction PAPERS.md §3 asks for). [text]"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from convlab import plots
from theory_checks import kinds
from theory_checks.bilevel import broken
from theory_checks.bilevel import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "bilevel.fixed-step-diverges", "ordering"
CITATION = I.CITE
STATEMENT = ("on an (L0, L1)-smooth (exp) upper level from a large ||x0||, a fixed-step method "
             "(SOBA) diverges or stalls at every step size while BO-REP converges, at equal "
             "oracle budget")
SIZES = {"quick": dict(seeds=6, steps=4000, init=20.0,
                       etas=tuple(float(e) for e in 10.0 ** -np.arange(8))),
         "full": dict(seeds=16, steps=16000, init=20.0,
                      etas=tuple(float(e) for e in 10.0 ** -np.arange(10)))}
RECORDS = 50


@dataclasses.dataclass(frozen=True)
class Evidence:
    etas: np.ndarray            # SOBA's step sizes
    init: float                 # ||x0||_∞
    budget: int                 # BO-REP's total oracle calls (SOBA gets the same)
    bo_best: np.ndarray         # BO-REP's min_k ||∇Φ||, [seed]
    bo_diverged: np.ndarray     # [seed]: first non-finite step, -1 if none
    bo_curves: tuple            # (calls, ||∇Φ|| [seed, record])
    fixed_best: np.ndarray      # SOBA's min_k ||∇Φ|| (inf: diverged), [eta, seed]
    fixed_diverged: np.ndarray  # [eta, seed]
    fixed_curves: tuple         # (calls, ||∇Φ|| [eta, seed, record])
    g0: float                   # ||∇Φ(x0)||
    threshold: dict             # eta -> the |u| beyond which GD on cosh(u)/d overshoots
    dim_x: int
    x0_inf: float               # ||x0||_∞ of the generated problem (must be init)


def measure(*, seeds: int, steps: int, init: float, etas: tuple[float, ...]) -> Evidence:
    return _measure(seeds=seeds, steps=steps, init=init, etas=etas)


def _measure(*, seeds: int, steps: int, init: float, etas: tuple[float, ...],
             factory: Any = I.bo_rep_schedule) -> Evidence:
    p = I.synthetic(init_scale=init)
    keys = I.seeds(seeds, 2)
    bo = I.sweep_synthetic(p, keys, steps=steps, records=RECORDS, method="bo_rep", r=1.0,
                           radius=I.z_radius(p), factory=factory)
    budget = int(np.asarray(bo.oracle_calls)[0, -1])
    soba_steps = budget // 4  # SOBA costs 4 calls per step (batches of 1)
    etas = np.asarray(etas)
    fixed = I.sweep_synthetic(p, keys, steps=soba_steps, records=RECORDS, grid={"eta": etas},
                              method="soba_at")
    g_fixed = np.asarray(fixed["hypergrad_norm"])
    finite_min = np.where(np.isfinite(g_fixed), g_fixed, np.inf).min(axis=-1)
    diverged = np.asarray(fixed.diverged)
    best_fixed = np.where(diverged >= 0, np.inf, finite_min)   # [eta, seed]
    g_bo = np.asarray(bo["hypergrad_norm"])
    return Evidence(etas, init, budget, g_bo.min(axis=-1), np.asarray(bo.diverged),
                    (np.asarray(bo.oracle_calls)[0], g_bo), best_fixed, diverged,
                    (np.asarray(fixed.oracle_calls)[0, 0], g_fixed), float(g_bo[0, 0]),
                    {f"{e:g}": I.problems.divergence_threshold("exp", float(e), p.dim_x) for e in etas},
                    p.dim_x, float(np.abs(np.asarray(p.x0)).max()))


def judge(ev: Evidence) -> Verdict:
    best_fixed = ev.fixed_best.min(axis=0)   # the best step size, per seed (inf: all diverged)
    verdict = kinds.ordering(ev.bo_best, best_fixed, names=("bo_rep", "fixed_step_best"),
                             what="min_k ||∇Φ(x_k)|| at equal oracle budget (inf = diverged)")
    stalled = (ev.fixed_diverged < 0) & (ev.fixed_best > ev.bo_best[None, :])
    diverged = ev.fixed_diverged >= 0
    details = {**verdict.details, "bo_rep_diverged_runs": int((ev.bo_diverged >= 0).sum()),
               "fixed_diverged_etas": [f"{e:g}" for e, d in zip(ev.etas, diverged.all(axis=1)) if d],
               "fixed_stalled_etas": [f"{e:g}" for e, st in zip(ev.etas, stalled.all(axis=1)) if st],
               "budget": ev.budget, "init": ev.init}
    status = verdict.status
    if (ev.bo_diverged >= 0).any() or not (diverged | stalled).all():
        status = "violated"
    # the analytic threshold u_η (GD on cosh(u)/d overshoots beyond it): it solves
    # η sinh(u)/(d u) = 2, and a step diverges from ||x0||_∞ exactly when u_η < ||x0||_∞
    u = np.array([ev.threshold[f"{e:g}"] for e in ev.etas])
    residual = float(np.max(np.abs(ev.etas * np.sinh(u) / (ev.dim_x * u) / 2.0 - 1.0)))
    predicted_div = u < ev.init
    matches = bool(np.all(diverged.all(axis=1) == predicted_div) and np.all(diverged.any(axis=1) == predicted_div))
    matches = matches and ev.x0_inf == ev.init  # the generator's start is the one the threshold assumes
    details.update(threshold_residual=residual, divergence_matches_threshold=matches,
                   predicted_diverging_etas=[f"{e:g}" for e, d in zip(ev.etas, predicted_div) if d])
    if not (residual <= 1e-9 and matches):
        status = "violated"
    return Verdict(status, "every fixed step diverges or stalls; BO-REP converges (ratio < 1)",
                   verdict.measured, verdict.ci, verdict.margin, details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    calls, g = ev.bo_curves
    plots.error_curves(ax, calls, g, color="k", label="BO-REP (normalized momentum)")
    fcalls, fg = ev.fixed_curves
    for i, eta in enumerate(ev.etas):
        shown = np.where(np.isfinite(fg[i]), fg[i], np.nan)
        if np.isnan(shown).all(axis=0).all():
            continue
        shown = np.where(np.isnan(shown).all(axis=0, keepdims=True), np.inf, shown)
        tag = " (diverged)" if (ev.fixed_diverged[i] >= 0).all() else ""
        ax.semilogy(fcalls, np.nanmedian(shown, axis=0), color=f"C{i}", label=f"SOBA η = {eta:g}{tag}")
    ax.set_xlabel("oracle calls")
    ax.set_ylabel("||∇Φ(x_k)||")
    ax.set_title(f"||x0||_∞ = {ev.init:g}, exp upper level: {verdict.status}", fontsize=9)
    ax.legend(fontsize=6)


def negative_controls(ev: Evidence):
    """A fixed step that converges below BO-REP, BO-REP diverging, BO-REP without its
    normalization run through the measurement (a fixed-step method itself: it diverges), and a
    threshold that does not solve its equation (nor predict which steps diverge)."""
    best, diverged = ev.fixed_best.copy(), ev.fixed_diverged.copy()
    best[0], diverged[0] = 0.1 * ev.bo_best, -1
    yield "a fixed step converges", dataclasses.replace(ev, fixed_best=best, fixed_diverged=diverged)
    bo = ev.bo_diverged.copy()
    bo[0] = 10
    yield "BO-REP diverges", dataclasses.replace(ev, bo_diverged=bo)
    yield "BO-REP without normalization", _measure(
        seeds=ev.bo_best.size, steps=SIZES["quick"]["steps"], init=ev.init,
        etas=tuple(float(e) for e in ev.etas), factory=broken.bo_rep_unnormalized_schedule)
    wrong = {e: 2.0 * u for e, u in ev.threshold.items()}  # e.g. the overshoot test at η h'/(du) > 1
    yield "threshold off by a factor", dataclasses.replace(ev, threshold=wrong)
