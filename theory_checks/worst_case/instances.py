"""Shared pieces of the worst_case claims: PEP values through the bridge (theory_checks.pep),
runs of convlab's own methods on the attaining instances (problems.worst_case), the two
Evidence types and their judging and drawing.

Instances are built at ``L = 4``, ``R = 2`` (not 1: a step ``h`` where ``h/L`` is meant must
show) and the measured values are normalised like PEP's (``/(L R²)`` etc.)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods import eag, fgm, gd, halpern, ogm, proximal_point
from theory_checks import kinds, pep
from theory_checks.generators import load
from theory_checks.verdict import Verdict

W = load("worst_case")
PEP_RTOL = 1e-5   # relative: CLARABEL measured 2e-9..4e-7 on these models (NOTES.md)
L_INST, R_INST = 4.0, 2.0
PPM_STEP = 0.5    # γ of the proximal point claims
EAG_STEP = 1.0 / 8.0   # α L
CITE_PEP = "Taylor, Hendrickx & Glineur 2017; PEPit"
SOLVER = pep.DEFAULT_SOLVER


def gd_step(relative_step: float, L: float) -> float:
    """GD's step ``h/L``."""
    return relative_step / L


def pep_curve(name: str, Ns, **params):
    """``(ok, reason, values or None)``: PEP worst cases of model ``name`` over ``Ns``."""
    ok, reason = pep.available()
    if not ok:
        return False, reason, None
    return True, "", np.array([pep.worst_case(name, int(n), **params) for n in Ns])


# --- PEP vs analytic -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PEPEvidence:
    """PEP worst cases and the analytic bound at each N (and each parameter, rows)."""

    N: np.ndarray
    bound: np.ndarray                 # [rows, N]
    labels: tuple[str, ...]           # one per row
    pep_available: bool
    reason: str = ""
    pep: np.ndarray | None = None     # [rows, N]
    solver: str = SOLVER


def pep_evidence(Ns, rows, name: str, bound) -> PEPEvidence:
    """``rows``: ``[(label, params)]``; ``bound(N, **params)``."""
    Ns = np.asarray(Ns)
    b = np.array([[bound(int(n), **p) for n in Ns] for _, p in rows])
    values, reason, ok = [], "", True
    for _, p in rows:
        ok, reason, v = pep_curve(name, Ns, **p)
        if not ok:
            break
        values.append(v)
    return PEPEvidence(Ns, b, tuple(lab for lab, _ in rows), ok, reason,
                       np.array(values) if ok else None)


def unavailable(predicted: str, reason: str) -> Verdict:
    return Verdict("inconclusive", predicted, float("nan"),
                   details={"reason": reason or pep.INSTALL_HINT})


def judge_tight(ev: PEPEvidence, predicted: str) -> Verdict:
    """PEP/bound = 1 to the solver's accuracy everywhere (a certificate)."""
    if not ev.pep_available:
        return unavailable(predicted, ev.reason)
    v = kinds.certificate(ev.pep / ev.bound, np.ones_like(ev.bound), relation="==", tol=PEP_RTOL,
                          predicted=predicted)
    return dataclasses.replace(v, details={**v.details, "N": ev.N.tolist(), "rows": list(ev.labels),
                                           "pep": ev.pep.tolist(), "bound": ev.bound.tolist(),
                                           "solver": ev.solver})


def judge_below(ev: PEPEvidence, predicted: str) -> Verdict:
    """PEP ≤ bound everywhere (sound) and strictly below it, by more than the solver's accuracy,
    at every N ≥ 2 (not tight); the relative gaps are reported."""
    if not ev.pep_available:
        return unavailable(predicted, ev.reason)
    ratio = ev.pep / ev.bound
    later = ev.N >= 2
    parts = {"pep_le_bound": kinds.certificate(ratio, np.ones_like(ratio), relation="<=",
                                               tol=PEP_RTOL, predicted="PEP <= bound"),
             "strictly_below": kinds.certificate(PEP_RTOL - (1.0 - ratio[:, later]),
                                                 np.zeros_like(ratio[:, later]), relation="<=",
                                                 tol=0.0, predicted="1 - PEP/bound > solver accuracy")}
    v = kinds.combine(parts, "pep_le_bound")
    return dataclasses.replace(v, details={**v.details, "N": ev.N.tolist(), "rows": list(ev.labels),
                                           "relative_gap": (1.0 - ratio).tolist(),
                                           "pep": ev.pep.tolist(), "bound": ev.bound.tolist()})


# --- runs attaining PEP --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RunEvidence:
    """Measured (normalised) values of convlab's own method on the attaining instance, the PEP
    worst cases and the analytic bound at each N (rows: parameters); the sampled interpolation
    violation of every instance."""

    N: np.ndarray
    measured: np.ndarray              # [rows, N]
    bound: np.ndarray                 # [rows, N]
    labels: tuple[str, ...]
    interpolation_violation: float
    pep_available: bool
    reason: str = ""
    pep: np.ndarray | None = None
    instance: str = ""


def judge_attained(ev: RunEvidence, predicted: str, *, tight: bool = True) -> Verdict:
    """Measured ≤ PEP (envelope, rounding ``PEP_RTOL``), attaining it within ``PEP_RTOL`` when
    ``tight``; every instance in its class (sampled interpolation violation ≤ 1e-12)."""
    if not ev.pep_available:
        return unavailable(predicted, ev.reason)
    parts = {"attains_pep": kinds.envelope(ev.measured, ev.pep, predicted=predicted,
                                           rtol=PEP_RTOL, tight=PEP_RTOL if tight else None),
             "in_class": kinds.certificate(ev.interpolation_violation, 0.0, relation="<=",
                                           tol=1e-12, predicted="sampled interpolation "
                                           "inequalities hold")}
    v = kinds.combine(parts, "attains_pep")
    return dataclasses.replace(v, details={**v.details, "N": ev.N.tolist(), "rows": list(ev.labels),
                                           "measured": ev.measured.tolist(),
                                           "pep": ev.pep.tolist(), "bound": ev.bound.tolist(),
                                           "instance": ev.instance})


def run_controls(ev: RunEvidence):
    """A run 1% above PEP; a run 1% short of it (not attained); an instance out of its class."""
    if not ev.pep_available:
        return
    over = ev.measured.copy()
    over[0, -1] = 1.01 * ev.pep[0, -1]
    yield "a run above the PEP worst case", dataclasses.replace(ev, measured=over)
    yield "runs 1% short of PEP", dataclasses.replace(ev, measured=0.99 * ev.measured)
    yield "an instance outside its class", dataclasses.replace(ev, interpolation_violation=1e-3)


def pep_controls(ev: PEPEvidence, tight: bool):
    """Tight: a bound 1% loose, one 1/(N+2)-shifted. Not tight: a bound 1% below PEP, and the
    PEP value itself as the bound (so not strictly below)."""
    if not ev.pep_available:
        return
    if tight:
        yield "bound 1% loose", dataclasses.replace(ev, bound=1.01 * ev.bound)
        yield "bound 1% too small", dataclasses.replace(ev, bound=0.99 * ev.bound)
    else:
        yield "bound 1% below PEP", dataclasses.replace(ev, bound=0.99 * ev.pep)
        yield "bound equal to PEP (tight)", dataclasses.replace(ev, bound=ev.pep.copy())


def draw_curves(ev, verdict: Verdict, fig, *, title: str, ylabel: str) -> None:
    """Analytic bound, PEP and (for runs) measured vs N, log-log, one colour per row."""
    fig.clear()
    ax = fig.subplots()
    N = ev.N.astype(float)
    for i, label in enumerate(ev.labels):
        ax.plot(N, ev.bound[i], "--", color=f"C{i}", label=f"analytic {label}")
        if ev.pep_available:
            ax.plot(N, ev.pep[i], "o", mfc="none", ms=10, color=f"C{i}", label=f"PEP {label}")
        if isinstance(ev, RunEvidence):
            ax.plot(N, ev.measured[i], "x", ms=7, color=f"C{i}", label=f"measured run {label}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (iterations)")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=6)
    status = verdict.status if ev.pep_available else f"inconclusive: {ev.reason[:60]}"
    ax.set_title(f"{title}: {status}", fontsize=9)


# --- the runs ------------------------------------------------------------------------------------
def _gap(trace, N: int, scale: float) -> float:
    return float(np.asarray(trace["gap"])[int(N)] / scale)


def gd_gaps(Ns, steps, dim: int = 2) -> tuple[np.ndarray, float]:
    """GD (step h/L) on its worst case for each (h, N): ``(f(x_N) - f*)/(L R²)``; the largest
    sampled interpolation violation."""
    key = jax.random.key(0)
    horizon = int(max(Ns))
    out, worst = [], 0.0
    for h in steps:
        row = []
        for n in Ns:
            p = W.make_gd_worst_case(key, num_steps=int(n), relative_step=float(h), dim=dim,
                                     L=L_INST, R=R_INST)
            t = convlab.run(gd(gd_step(float(h), L_INST)), p, p.x0, key=key, num_steps=horizon)
            row.append(_gap(t, n, L_INST * R_INST**2))
            worst = max(worst, violation(p, dim))
        out.append(row)
    return np.array(out), worst


def ogm_gaps(Ns, dim: int = 2) -> tuple[np.ndarray, float]:
    key = jax.random.key(0)
    out, worst = [], 0.0
    for n in Ns:
        p = W.make_ogm_worst_case(key, num_steps=int(n), dim=dim, L=L_INST, R=R_INST)
        t = convlab.run(ogm(1.0 / L_INST, num_steps=int(n)), p, p.x0, key=key, num_steps=int(n))
        out.append(_gap(t, n, L_INST * R_INST**2))
        worst = max(worst, violation(p, dim))
    return np.array([out]), worst


def _fgm_huber_run(key, hp, *, horizon: int):
    """FGM (step 1/L) on the 1-D Huber function of kink ``hp["tau"]``: the normalised gap at
    every k."""
    x0 = jnp.full((1,), R_INST)
    p = W.HuberType(jnp.asarray(L_INST), hp["tau"], x0, jnp.zeros_like(x0), jnp.zeros(()))
    t = convlab.run(fgm(1.0 / L_INST), p, p.x0, key=key, num_steps=horizon)
    return t["gap"] / (L_INST * R_INST**2)


def fgm_worst_huber(Ns, grid: int = 256, levels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For each N, the worst Huber kink ``τ`` for convlab's FGM, found by maximising the run's
    own gap over a τ grid refined ``levels`` times (no PEP data used); ``(gaps, taus)``."""
    keys = jax.random.split(jax.random.key(0), 1)
    horizon = int(max(Ns))
    taus = np.geomspace(1e-4, 1.0, grid) * R_INST
    first = np.asarray(convlab.sweep(_fgm_huber_run, keys, {"tau": taus},
                                     static=dict(horizon=horizon)))[:, 0, :]
    gaps, best = [], []
    for n in Ns:
        values, grid_n = first[:, int(n)], taus
        for _ in range(levels):
            i = int(np.argmax(values))
            lo, hi = grid_n[max(i - 1, 0)], grid_n[min(i + 1, len(grid_n) - 1)]
            grid_n = np.linspace(lo, hi, grid)
            values = np.asarray(convlab.sweep(_fgm_huber_run, keys, {"tau": grid_n},
                                              static=dict(horizon=horizon)))[:, 0, int(n)]
        i = int(np.argmax(values))
        gaps.append(float(values[i]))
        best.append(float(grid_n[i]))
    return np.array([gaps]), np.array(best)


def ppm_gaps(Ns, dim: int = 2) -> tuple[np.ndarray, float]:
    """Proximal point (step γ) on ``c‖x‖``: ``(f(x_N) - f*)/R²``."""
    key = jax.random.key(0)
    out, worst = [], 0.0
    for n in Ns:
        p = W.make_ppm_worst_case(key, num_steps=int(n), step=PPM_STEP, dim=dim, R=R_INST)
        t = convlab.run(proximal_point(PPM_STEP), p, p.x0, key=key, num_steps=int(max(Ns)))
        out.append(_gap(t, n, R_INST**2))
        worst = max(worst, violation(p, dim, smooth=False))
    return np.array([out]), worst


def halpern_residuals(Ns, dim: int = 2) -> np.ndarray:
    """Halpern (η = 1) on the point reflection: ``‖x_N - T x_N‖/(2R)`` (the cocoercive form
    ``‖F u_N‖/(L R)`` of theory_checks.pep, L = 1 there: F = (I - T)/2)."""
    key = jax.random.key(0)
    p = W.make_halpern_worst_case(key, dim=dim, R=R_INST)
    t = convlab.run(halpern(1.0), p, p.x0, key=key, num_steps=int(max(Ns)))
    r = np.asarray(t["residual"])
    return np.array([[r[int(n)] / (2.0 * R_INST) for n in Ns]])


def eag_residuals(Ns, dim: int = 2) -> np.ndarray:
    """EAG (step 1/(8L)) on the skew operator ``F z = L J z``: ``‖F z_N‖²/(L² R²)``."""
    key = jax.random.key(0)
    p = W.make_skew_operator(key, dim=dim, L=L_INST, R=R_INST)
    t = convlab.run(eag(EAG_STEP / L_INST), p, p.x0, key=key, num_steps=int(max(Ns)))
    r = np.asarray(t["residual_sq"])
    return np.array([[r[int(n)] / (L_INST * R_INST) ** 2 for n in Ns]])


def violation(problem, dim: int, *, smooth: bool = True, mu: float = 0.0,
              L: float = L_INST, num: int = 64) -> float:
    """Sampled interpolation violation of ``problem`` at ``num`` points of scale ``R``."""
    pts = np.random.default_rng(0).standard_normal((num, dim)) * R_INST
    pts[: min(num, 3)] = np.asarray(problem.x0) * np.array([[1.0], [0.5], [0.01]])[: min(num, 3)]
    return W.interpolation_violation(problem, pts, L=L, mu=mu, smooth=smooth)


# --- instances built from the PEP solution -------------------------------------------------------
ONE_D_RESIDUAL = 1e-3   # the plain solve is used when its worst case is 1-D to this (else "trace")


def pep_instance(name: str, N: int, **params):
    """The 1-D smooth convex interpolant (problems.worst_case.make_interpolated_worst_case) of
    model ``name``'s PEP worst case, projected on its leading direction, scaled to ``L_INST``,
    ``R_INST``; ``(problem, residual, reduction)``. The interior-point solution is used when it
    is one-dimensional to ``ONE_D_RESIDUAL``, else PEPit's trace heuristic (rule fixed before
    measuring; NOTES.md). Only PEP's points, gradients and values enter — never at run time."""
    reduce = None
    wc = pep.worst_case_points(name, N, reduce=None, **params)
    x0, X, G, residual = wc.project_1d()
    if residual > ONE_D_RESIDUAL:
        reduce = "trace"
        wc = pep.worst_case_points(name, N, reduce=reduce, **params)
        x0, X, G, residual = wc.project_1d()
    L, R = L_INST, R_INST
    p = W.make_interpolated_worst_case(jax.random.key(0), points=R * X, grads=L * R * G,
                                       values=L * R * R * wc.values, x0=R * x0, L=L)
    return p, residual, reduce


def interpolated_gap(method, p, N: int, horizon: int) -> float:
    """``(f(x_N) - f*)/(L‖x_0 - x*‖²)`` of ``method`` on the interpolant (its own ``x*``, ``f*``),
    read at step N of a ``horizon``-step run (one compiled program for every N)."""
    t = convlab.run(method, p, p.x0, key=jax.random.key(0), num_steps=int(horizon))
    r0 = float(jnp.abs(p.x0[0] - p.x_star[0]))
    return float(np.asarray(t["gap"])[int(N)]) / (L_INST * r0**2)


def violation_1d(problem, num: int = 64) -> float:
    """Sampled THG violation of a 1-D problem over its hull's range and beyond."""
    lo, hi = float(problem.b.min()), float(problem.b.max())
    span = hi - lo + R_INST
    pts = np.concatenate([np.linspace(lo - span, hi + span, num), np.asarray(problem.b),
                          np.asarray(problem.x0)])[:, None]
    return W.interpolation_violation(problem, pts, L=L_INST)
