"""bilevel.multiblock-speedup: BSVRB's iterations to ε scale as its bound m ε⁻³ (𝟙(I<m)/(I√I) +
1/(I√B)) predicts, in B (I = m) and in I (B ≫ I): parallel speedup in both. Hu, Qiu, Guo, Zhang &
Yang, ICML 2023. [text] (hyperparameters as functions of (ε, I, B): [check], NOTES.md)"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np

import convlab
from convlab.methods.multiblock_bilevel import blockwise_sgd_bilevel, bsvrb_v2
from theory_checks import kinds
from theory_checks.bilevel import instances as I
from theory_checks.bilevel.instances import problems as BILEVEL
from theory_checks.verdict import Verdict

ID, KIND = "bilevel.multiblock-speedup", "scaling"
CITATION = I.CITE_MULTIBLOCK
STATEMENT = ("iterations to ε of BSVRB scale as the bound m ε^-3 (𝟙(I<m)/(I√I) + 1/(I√B)) "
             "predicts: fitted exponents in B (I = m) and in I (B ≫ I) match the bound's slopes "
             "over the grid (parallel speedup in both I and B)")
SIZES = {"quick": dict(m=16, dim_x=4, dim_y=8, seeds=4, eps_rel=0.01,
                       grid_B=(1, 4, 16, 64), grid_I=(1, 2, 4, 8), big_B=256),
         "full": dict(m=32, dim_x=4, dim_y=8, seeds=16, eps_rel=0.005,
                      grid_B=(1, 2, 4, 8, 16, 32, 64), grid_I=(1, 2, 4, 8, 16), big_B=1024)}
PROBLEM_SEED = 2305
K_ETA, K_Y, K_A = 4.0, 4.0, 78.0
HORIZON = 75.0        # steps = HORIZON / η: ≥ 1.25x the largest measured hitting time η·T (30-60)
RECORDS = 300         # records per run (quantization of the counts ≤ ~1%)
TOL = 0.15


def bound_factor(I: int, B: int, m: int) -> float:
    """``D(I, B) = 𝟙(I<m)/√I + 1/√B``; the bound is ``(m/I)·D·ε^-3``."""
    return (1.0 / math.sqrt(I) if I < m else 0.0) + 1.0 / math.sqrt(B)


def bound_iterations(I: int, B: int, m: int) -> float:
    """The bound without its constant and ``ε^-3``: ``(m/I)(𝟙(I<m)/(√I) + 1/√B)``."""
    return m / I * bound_factor(I, B, m)


def theory_hparams(I: int, B: int, m: int, eps_rel: float) -> dict[str, float]:
    """BSVRB-v2's hyperparameters as functions of (ε, I, B) (NOTES.md)."""
    D = bound_factor(I, B, m)
    weight = min(1.0, K_A * eps_rel**2 / D**2)
    return {"outer_step": K_ETA * eps_rel * (I / m) / D, "inner_step": K_Y * eps_rel / D,
            "linear_step": K_Y * eps_rel / D, "alpha": weight, "beta": weight}


def predicted_exponent(values: Any, bounds: Any) -> float:
    """Least-squares slope of ``log bound`` against ``log value`` over the grid."""
    slope, _ = np.polyfit(np.log(np.asarray(values, float)), np.log(np.asarray(bounds, float)), 1)
    return float(slope)


def hitting_iterations(k: Any, norms: Any, eps: float) -> np.ndarray:
    """First ``k`` with ``norms <= eps`` along the last axis (``inf`` if never)."""
    k, norms = np.asarray(k, np.float64), np.asarray(norms, np.float64)
    hit = norms <= eps
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), k[first], np.inf)


def multiblock_run(key, hp, problem, *, I: int, B: int, steps: int, every: int, vr: bool):
    """BSVRB-v2 (``vr``) or the non-variance-reduced baseline at the hyperparameters ``hp``."""
    if vr:
        method = bsvrb_v2(hp["outer_step"], hp["inner_step"], hp["linear_step"], alpha=hp["alpha"],
                          beta=hp["beta"], blocks=I, batch=B)
    else:
        method = blockwise_sgd_bilevel(hp["outer_step"], hp["inner_step"], hp["linear_step"],
                                       blocks=I, batch=B)
    return convlab.run(method, problem, problem.iterate0(), key=key, num_steps=steps, record_every=every,
                       metrics={"hypergrad_norm": BILEVEL.multiblock_hypergrad_norm})


def _horizon(eta: float) -> tuple[int, int]:
    every = max(1, round(HORIZON / eta / RECORDS))
    return every * RECORDS, every


def measure_point(p: Any, I: int, B: int, eps_rel: float, seeds: int, *, vr: bool = True,
                  salt: int = 0) -> dict[str, Any]:
    """Hitting iterations of ``seeds`` runs at one (I, B) with :func:`theory_hparams` (one
    compiled sweep), plus the median curve for the figures."""
    hp = theory_hparams(I, B, p.m, eps_rel)
    steps, every = _horizon(hp["outer_step"])
    keys = jax.random.split(jax.random.key(1000 * I + B + salt), seeds)
    trace = convlab.sweep(multiblock_run, keys, {n: [v] for n, v in hp.items()}, data=p,
                          static=dict(I=I, B=B, steps=steps, every=every, vr=vr))
    norms = np.asarray(trace["hypergrad_norm"]).reshape(seeds, -1)
    k = np.asarray(trace.k).reshape(seeds, -1)[0]
    eps = eps_rel * float(BILEVEL.multiblock_hypergrad_norm(p, p.x0))
    return {"iterations": hitting_iterations(k, norms, eps), "k": k, "median": np.median(norms, axis=0),
            "hparams": hp, "every": every, "diverged": int(np.sum(np.asarray(trace.diverged) >= 0))}


@dataclasses.dataclass(frozen=True)
class Evidence:
    m: int
    eps_rel: float
    big_B: int                 # B of the I-grid
    B: np.ndarray              # the B-grid (I = m)
    I: np.ndarray              # the I-grid (B = big_B)
    iters_B: np.ndarray        # hitting iterations, [B, seed]
    iters_I: np.ndarray        # [I, seed]
    sgd_B: np.ndarray          # where the non-VR baseline ran (the B-grid's ends)
    sgd_iters_B: np.ndarray    # its hitting iterations (inf: never), [end, seed]
    bounds_B: np.ndarray
    bounds_I: np.ndarray
    predicted_B: float         # least-squares slope of the bound over each grid
    predicted_I: float
    quantization: float        # max record spacing / mean count
    curves_B: tuple            # (k, median ||∇Φ||) per grid point
    curves_I: tuple
    hparams_B: tuple
    hparams_I: tuple
    diverged: int              # diverged BSVRB runs


def _measure(*, m: int, dim_x: int, dim_y: int, seeds: int, eps_rel: float,
             grid_B: tuple[int, ...], grid_I: tuple[int, ...], big_B: int) -> Evidence:
    p = BILEVEL.make_multi_block(jax.random.key(PROBLEM_SEED), m=m, dim_x=dim_x, dim_y=dim_y)
    b_grid, i_grid = np.asarray(grid_B), np.asarray(grid_I)
    vr_B = [measure_point(p, m, int(B), eps_rel, seeds) for B in b_grid]
    vr_I = [measure_point(p, int(I), big_B, eps_rel, seeds) for I in i_grid]
    ends = (int(b_grid[0]), int(b_grid[-1]))  # the baseline at the grid's ends: two compiles
    sgd_B = [measure_point(p, m, B, eps_rel, seeds, vr=False, salt=7) for B in ends]
    bounds_B = [bound_iterations(m, int(B), m) for B in b_grid]
    bounds_I = [bound_iterations(int(I), big_B, m) for I in i_grid]
    every = [pt["every"] for pt in vr_B + vr_I]
    counts = [pt["iterations"].mean() for pt in vr_B + vr_I]
    return Evidence(
        m, eps_rel, big_B, b_grid, i_grid, np.stack([pt["iterations"] for pt in vr_B]),
        np.stack([pt["iterations"] for pt in vr_I]), np.asarray(ends),
        np.stack([pt["iterations"] for pt in sgd_B]), np.asarray(bounds_B), np.asarray(bounds_I),
        predicted_exponent(b_grid, bounds_B), predicted_exponent(i_grid, bounds_I),
        float(np.max(np.asarray(every) / np.asarray(counts))),
        tuple((pt["k"], pt["median"]) for pt in vr_B), tuple((pt["k"], pt["median"]) for pt in vr_I),
        tuple(pt["hparams"] for pt in vr_B), tuple(pt["hparams"] for pt in vr_I),
        sum(pt["diverged"] for pt in vr_B + vr_I))


def measure(*, m: int, dim_x: int, dim_y: int, seeds: int, eps_rel: float,
            grid_B: tuple[int, ...], grid_I: tuple[int, ...], big_B: int) -> Evidence:
    """Both grids and the baseline (~55 s at quick size, computed once per process: the
    multiblock figure group draws it again)."""
    return I.shared(ID, _measure, m=m, dim_x=dim_x, dim_y=dim_y, seeds=seeds, eps_rel=eps_rel,
                    grid_B=grid_B, grid_I=grid_I, big_B=big_B)


def _scaling(values: np.ndarray, iterations: np.ndarray, exponent: float) -> Verdict:
    return kinds.scaling(values, [kinds.mean_fit(row) for row in iterations], exponent, TOL)


def judge(ev: Evidence) -> Verdict:
    verdicts = {"B": _scaling(ev.B, ev.iters_B, ev.predicted_B),
                "I": _scaling(ev.I, ev.iters_I, ev.predicted_I)}
    verdict = kinds.combine(verdicts, "B")
    verdict.details.update({
        "tolerance": TOL, "quantization": ev.quantization, "diverged_runs": ev.diverged,
        "mean_iterations_B": ev.iters_B.mean(axis=1).tolist(),
        "mean_iterations_I": ev.iters_I.mean(axis=1).tolist(),
        "baseline_B": ev.sgd_B.tolist(),
        "baseline_mean_iterations_B": ev.sgd_iters_B.mean(axis=1).tolist(),
        "eps_rel": ev.eps_rel, "m": ev.m, "B_of_I_grid": ev.big_B})
    return verdict


def _panel(ax: Any, values: np.ndarray, iterations: np.ndarray, bounds: np.ndarray, verdict: Any,
           name: str, baseline: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    for row, v in zip(iterations, values):
        ax.loglog(np.full(row.shape, v, float), row, ".", color="C0", alpha=0.4)
    means = iterations.mean(axis=1)
    ax.loglog(values, means, "o-", color="C0", label="BSVRB-v2 (mean; dots: seeds)")
    ref = means[0] * bounds / bounds[0]
    slope = verdict.get("predicted", float("nan"))
    ax.loglog(values, ref, "--", color="0.4", label=f"bound ∝ (m/I)D, slope {slope:.3f}")
    if baseline is not None:
        where, counts = baseline
        finite = np.isfinite(counts).all(axis=1)
        shown = np.where(finite, counts.mean(axis=1), np.nan)
        ax.loglog(where.astype(float), shown, "s", color="C1",
                  label="no VR, same steps (missing: ε never reached)")
    ci = verdict.get("ci") or (float("nan"), float("nan"))
    ax.set_title(f"{name}: {verdict.get('status')}, exponent {verdict.get('measured', float('nan')):.3f} "
                 f"[{ci[0]:.3f}, {ci[1]:.3f}]", fontsize=8)
    ax.legend(fontsize=7)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(11.0, 4.4)
    ax_B, ax_I = fig.subplots(1, 2)
    _panel(ax_B, ev.B.astype(float), ev.iters_B, ev.bounds_B, verdict.details.get("B", {}),
           f"I = m = {ev.m}", (ev.sgd_B, ev.sgd_iters_B))
    ax_B.set_xlabel("samples per block B")
    ax_I.set_xlabel(f"blocks per iteration I (B = {ev.big_B})")
    _panel(ax_I, ev.I.astype(float), ev.iters_I, ev.bounds_I, verdict.details.get("I", {}),
           f"I < m = {ev.m}")
    for ax in (ax_B, ax_I):
        ax.set_ylabel(f"iterations to ||∇Φ|| ≤ {ev.eps_rel:g}·||∇Φ(x0)||")
    fig.suptitle(f"BSVRB parallel speedup: {verdict.status} (tolerance {TOL})", fontsize=10)


def negative_controls(ev: Evidence):
    """The non-VR baseline's counts in place of BSVRB's at the B-grid's ends (a real broken
    method: it never reaches ε at B = 1), counts flat in B, and counts ∝ 1/I (the batch term
    alone) in I."""
    fake = ev.iters_B.copy()
    fake[[0, -1]] = ev.sgd_iters_B
    yield "no variance reduction", dataclasses.replace(ev, iters_B=fake)
    flat = np.repeat(ev.iters_B[:1], len(ev.B), axis=0)
    flat = flat * np.exp(0.02 * np.random.default_rng(0).normal(size=flat.shape))
    yield "no speedup in B", dataclasses.replace(ev, iters_B=flat)
    yield "1/I speedup only", dataclasses.replace(
        ev, iters_I=ev.iters_I[:1] * (1.0 / ev.I.astype(float))[:, None])
