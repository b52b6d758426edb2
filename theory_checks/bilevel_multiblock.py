"""Multi-block bilevel optimization (PAPERS.md §3, multi-block paragraph): parallel speedup of BSVRB.

Hu, Qiu, Guo, Zhang & Yang, "Blockwise Stochastic Variance-Reduced Methods with Parallel Speedup
for Multi-Block Bilevel Optimization", ICML 2023. With ``m`` lower-level problems, ``I`` blocks
and ``B`` samples per block per iteration, BSVRB finds an ε-stationary point within

.. math::
    T(I, B) = O\\Big(\\frac{m}{\\epsilon^3}\\Big[\\frac{\\mathbb 1(I < m)}{I\\sqrt I} + \\frac{1}{I\\sqrt B}\\Big]\\Big)

iterations [text]: parallel speedup in both ``I`` and ``B``. Problems:
``problems.bilevel_multiblock`` (hyperparameter optimization of group-wise ridge penalties over
``m`` regression tasks; exact ``∇Φ`` by linear solves); methods:
``convlab.methods.multiblock_bilevel`` (``bsvrb_v1``, ``bsvrb_v2``, ``blockwise_sgd_bilevel``).

Claim (family ``bilevel``)
--------------------------
``bilevel.multiblock-speedup`` (scaling): iterations to ``‖∇Φ(x_k)‖ ≤ ε`` of BSVRB-v2 (the
Hessian-vector-product variant), with every hyperparameter set from (ε, I, B) as the theorem
prescribes, scale like the bound over two grids chosen so that one term dominates:

- **B-grid**: ``I = m`` (indicator off), ``B ∈ {1, 4, 16, 64}`` (paper size: 1..64 by 2×):
  the bound is ``ε^-3/√B`` exactly, predicted exponent **-1/2**;
- **I-grid**: ``B = 256`` (paper size 1024) ≫ ``I ∈ {1, 2, 4, 8}`` < ``m = 16`` (paper size
  1..16 < 32): ``[1/(I√I) + 1/(I√B)]`` is dominated by ``I^{-3/2}``; the predicted exponent is the
  least-squares slope of log(bound) over the grid itself, **-1.452** (-1.467 at paper size; the
  ``1/(I√B)`` term pulls it from -3/2 towards -1). With a small fixed B the second term would
  dominate instead and the exponent would be -1: the grids keep ``B ≥ 32 I``.

Measured: the first record ``k`` with ``‖∇Φ(x_k)‖ ≤ ε`` of each run (exact hypergradient at the
recorded iterate, ``ε = ε_rel ‖∇Φ(x_0)‖``), averaged over seeds; the exponent is the log-log
slope of the mean counts against I (or B), with a parametric-bootstrap CI from each point's
bootstrap-over-seeds CI (``kinds.scaling``). The theorem bounds ``min_t E‖∇Φ(x_t)‖`` (through
``(1/T) Σ_t E‖∇Φ(x_t)‖² ≤ ε²``); the first hitting time of the norm is the measurable analogue.
Records are spaced ``≤ 1/300`` of the horizon, so quantization moves a count by ≤ ~1%.

Tolerance **0.15**, decided before measuring: it must separate the predicted -1/2 from "no
speedup" (0) and "linear speedup" (-1) in B, and -1.45 from the ``1/(I√B)``-dominated -1 in I
(0.15 leaves ≥ 0.3 between the bands), and it absorbs the non-asymptotic parts of the counts
(warm-up of the estimators, discrete steps: the hitting time is ``c/η`` only as ``η → 0``).

Hyperparameters as functions of (ε, I, B) [check: the paper's body was not accessible; the
abstract gives the bound, the official code gives the updates and ``γ``]
------------------------------------------------------------------------------------------------
- ``γ = (m-I)/(I(1-α)) + (1-α)`` (:func:`~convlab.methods.multiblock_bilevel.msvr_gamma`):
  MSVR's choice; ``I = m`` gives STORM's ``1-α``. [derived: with sampling probability ``p =
  I/m`` the expected estimator error obeys ``E e_t = (1-pα) e_{t-1} + (pγ - p(1-α) - (1-p)) Δ_t``,
  so ``γ = (1-α) + (m-I)/I`` cancels the drift ``Δ_t`` of unsampled blocks; the code's
  ``(m-I)/(I(1-α))`` is the same to first order in α.]
- Let ``D(I, B) = 𝟙(I<m)/√I + 1/√B`` (so the bound is ``(m/I) D ε^-3``). Implemented
  (:func:`theory_hparams`): ``η = K_η ε_rel (I/m)/D`` (x step), ``τ = τ_v = K_y ε_rel/D`` (lower
  level and linear-system steps, applied to sampled blocks only), ``α = β = min(1, K_a ε_rel²/D²)``.
  [derived, from the estimator recursions: a block's MSVR error has stationary size
  ``~ α σ²/B + (m/I)²‖Δw‖²(𝟙(I<m) + 1/B)/α`` per visit; the ``x`` STORM error
  ``~ β σ²_blocks/I + η²/(Iβ)``. Holding both at ``ε²`` gives ``α, β ∝ ε²/D²`` and
  ``η ∝ (I/m) ε/D``, hence ``T ∝ 1/(ηε²) ∝ (m/I) D ε^-3``: the bound. The lower-level steps scale
  like ``η m/I`` so that a block's progress per visit keeps pace with ``x``.] Every factor of
  the stated bound is thus in ``η``: the claim checks that with α, β shrunk as prescribed the
  variance stays below ε along the way, so the counts follow ``1/η`` — the speedup is real only
  if the estimators keep up (the non-variance-reduced baseline with the same steps never reaches
  ε at ``B = 1``: the figure shows it, the tests use it as a negative control).
- Constants ``K_η = 4``, ``K_y = 4``, ``K_a = 78`` (``α = β = 0.5`` at the grid's largest
  ``1/D`` = 8, ``η = 0.32`` there) were set once from the problem's scale (``L_g ≈ 3``) and a
  pilot at one size (whose only change was halving ``K_a`` so that the top point still
  averages, α < 1); they were not adjusted to the exponents.

Measured (quick size: m = 16, dim_x = 4, dim_y = 8, 4 seeds, ``ε_rel = 0.01``, float64, 2-core
CPU, ~65 s of which ~4 s per compiled (I, B)):

- B-grid (I = m = 16, B = 1, 4, 16, 64): mean iterations 1192, 486, 230, 109; exponent
  **-0.572**, 95% CI [-0.594, -0.548], predicted -0.500: holds (margin 0.078). The excess
  -0.07 is the discreteness of the steps: ``η·T`` falls from 48 at η = 0.04 (B = 1) to 35 at
  η = 0.32 (B = 64) — larger steps use their length a little more efficiently on this problem.
- I-grid (B = 256, I = 1, 2, 4, 8 < m = 16): 13515, 4997, 1929, 664; exponent **-1.442**
  [-1.485, -1.399], predicted -1.451: holds.
- Non-VR baseline with the same steps (B-grid ends): never reaches ε at B = 1 (its noise floor
  ≈ 2.3 ε), 109 iterations at B = 64 (where α = 0.5 and the noise is small either way).
- Counts are quantized by ≤ 0.9% (record spacing / count); no run diverged.

Figures
-------
The claim's PNG and the figure group ``bilevel/multiblock`` (:func:`figure_multiblock`): iterations
to ε against B (I = m) and against I (B large), log-log, seeds as dots, the fitted and the
predicted slopes, and the non-VR baseline's counts on the B-grid.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

import convlab
from convlab import plots
from convlab.methods.multiblock_bilevel import blockwise_sgd_bilevel, bsvrb_v2
from problems import bilevel_multiblock as problems
from theory_checks import kinds
from theory_checks.registry import register, register_figures
from theory_checks.verdict import Claim, Verdict

FAMILY = "bilevel"
CITE = ("Hu, Qiu, Guo, Zhang & Yang, ICML 2023, 'Blockwise Stochastic Variance-Reduced Methods "
        "with Parallel Speedup for Multi-Block Bilevel Optimization'")

SIZES = {
    True: dict(m=16, dim_x=4, dim_y=8, seeds=4, eps_rel=0.01,
               grid_B=(1, 4, 16, 64), grid_I=(1, 2, 4, 8), big_B=256),
    False: dict(m=32, dim_x=4, dim_y=8, seeds=16, eps_rel=0.005,
                grid_B=(1, 2, 4, 8, 16, 32, 64), grid_I=(1, 2, 4, 8, 16), big_B=1024),
}
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
    """BSVRB-v2's hyperparameters as functions of (ε, I, B) (module docstring)."""
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


def _problem(quick: bool):
    s = SIZES[quick]
    return problems.make_multi_block(jax.random.key(PROBLEM_SEED), m=s["m"], dim_x=s["dim_x"],
                                     dim_y=s["dim_y"])


@functools.lru_cache(maxsize=None)
def _runner(I: int, B: int, steps: int, every: int, vr: bool):
    def make_run(key, hp, prob):
        if vr:
            method = bsvrb_v2(hp["outer_step"], hp["inner_step"], hp["linear_step"], alpha=hp["alpha"],
                              beta=hp["beta"], blocks=I, batch=B)
        else:
            method = blockwise_sgd_bilevel(hp["outer_step"], hp["inner_step"], hp["linear_step"],
                                           blocks=I, batch=B)
        return convlab.run(method, prob, prob.iterate0(), key=key, num_steps=steps, record_every=every,
                           metrics={"hypergrad_norm": problems.hypergrad_norm})
    return make_run


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
    trace = convlab.sweep(_runner(I, B, steps, every, vr), keys, {n: [v] for n, v in hp.items()}, data=p)
    norms = np.asarray(trace["hypergrad_norm"]).reshape(seeds, -1)
    k = np.asarray(trace.k).reshape(seeds, -1)[0]
    eps = eps_rel * float(problems.hypergrad_norm(p, p.x0))
    return {"iterations": hitting_iterations(k, norms, eps), "k": k, "median": np.median(norms, axis=0),
            "hparams": hp, "every": every, "diverged": int(np.sum(np.asarray(trace.diverged) >= 0))}


@functools.lru_cache(maxsize=None)
def measure(quick: bool) -> dict[str, Any]:
    s = SIZES[quick]
    p = _problem(quick)
    m = s["m"]
    b_grid, i_grid = np.asarray(s["grid_B"]), np.asarray(s["grid_I"])
    vr_B = [measure_point(p, m, int(B), s["eps_rel"], s["seeds"]) for B in b_grid]
    vr_I = [measure_point(p, int(I), s["big_B"], s["eps_rel"], s["seeds"]) for I in i_grid]
    ends = (int(b_grid[0]), int(b_grid[-1]))  # the baseline at the grid's ends: two compiles
    sgd_B = [measure_point(p, m, B, s["eps_rel"], s["seeds"], vr=False, salt=7) for B in ends]
    bounds_B = [bound_iterations(m, int(B), m) for B in b_grid]
    bounds_I = [bound_iterations(int(I), s["big_B"], m) for I in i_grid]
    every = [pt["every"] for pt in vr_B + vr_I]
    counts = [pt["iterations"].mean() for pt in vr_B + vr_I]
    return {"m": m, "eps_rel": s["eps_rel"], "big_B": s["big_B"], "B": b_grid, "I": i_grid,
            "iters_B": np.stack([pt["iterations"] for pt in vr_B]),
            "iters_I": np.stack([pt["iterations"] for pt in vr_I]),
            "sgd_B": np.asarray(ends), "sgd_iters_B": np.stack([pt["iterations"] for pt in sgd_B]),
            "bounds_B": np.asarray(bounds_B), "bounds_I": np.asarray(bounds_I),
            "predicted_B": predicted_exponent(b_grid, bounds_B),
            "predicted_I": predicted_exponent(i_grid, bounds_I),
            "quantization": float(np.max(np.asarray(every) / np.asarray(counts))),
            "curves_B": [(pt["k"], pt["median"]) for pt in vr_B],
            "curves_I": [(pt["k"], pt["median"]) for pt in vr_I],
            "hparams_B": [pt["hparams"] for pt in vr_B], "hparams_I": [pt["hparams"] for pt in vr_I],
            "diverged": sum(pt["diverged"] for pt in vr_B + vr_I)}


def _scaling(values: np.ndarray, iterations: np.ndarray, exponent: float) -> Verdict:
    return kinds.scaling(values, [kinds.mean_fit(row) for row in iterations], exponent, TOL)


def judge(ev: dict[str, Any]) -> Verdict:
    verdicts = {"B": _scaling(ev["B"], ev["iters_B"], ev["predicted_B"]),
                "I": _scaling(ev["I"], ev["iters_I"], ev["predicted_I"])}
    verdict = kinds.combine(verdicts, "B")
    verdict.details.update({
        "tolerance": TOL, "quantization": ev["quantization"], "diverged_runs": ev["diverged"],
        "mean_iterations_B": ev["iters_B"].mean(axis=1).tolist(),
        "mean_iterations_I": ev["iters_I"].mean(axis=1).tolist(),
        "baseline_B": ev["sgd_B"].tolist(),
        "baseline_mean_iterations_B": ev["sgd_iters_B"].mean(axis=1).tolist(),
        "eps_rel": ev["eps_rel"], "m": ev["m"], "B_of_I_grid": ev["big_B"]})
    return verdict


def _panel(ax: Any, values: np.ndarray, iterations: np.ndarray, bounds: np.ndarray, verdict: Any,
           name: str, baseline: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    for row, v in zip(iterations, values):
        ax.loglog(np.full(row.shape, v, float), row, ".", color="C0", alpha=0.4)
    means = iterations.mean(axis=1)
    ax.loglog(values, means, "o-", color="C0", label="BSVRB-v2 (mean; dots: seeds)")
    ref = means[0] * bounds / bounds[0]
    ax.loglog(values, ref, "--", color="0.4", label=f"bound ∝ (m/I)D, slope {verdict.get('predicted', float('nan')):.3f}")
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


def draw(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    fig.clear()
    fig.set_size_inches(11.0, 4.4)
    ax_B, ax_I = fig.subplots(1, 2)
    _panel(ax_B, ev["B"].astype(float), ev["iters_B"], ev["bounds_B"], verdict.details.get("B", {}),
           f"I = m = {ev['m']}", (ev["sgd_B"], ev["sgd_iters_B"]))
    ax_B.set_xlabel("samples per block B")
    ax_I.set_xlabel(f"blocks per iteration I (B = {ev['big_B']})")
    _panel(ax_I, ev["I"].astype(float), ev["iters_I"], ev["bounds_I"], verdict.details.get("I", {}),
           f"I < m = {ev['m']}")
    for ax in (ax_B, ax_I):
        ax.set_ylabel(f"iterations to ||∇Φ|| ≤ {ev['eps_rel']:g}·||∇Φ(x0)||")
    fig.suptitle(f"BSVRB parallel speedup: {verdict.status} (tolerance {TOL})", fontsize=10)


def figure_multiblock(out_dir: Any, quick: bool) -> list[str]:
    """The speedup grid: iterations to ε against B (I = m) and against I (B large), log-log."""
    ev = measure(quick)
    fig, _ = plots.new_figure()
    draw(ev, judge(ev), fig)
    return [str(plots.save_figure(fig, Path(out_dir) / "bilevel.multiblock.png"))]


CLAIM = Claim(
    "bilevel.multiblock-speedup", CITE,
    "iterations to ε of BSVRB scale as the bound m ε^-3 (𝟙(I<m)/(I√I) + 1/(I√B)) predicts: fitted "
    "exponents in B (I = m) and in I (B ≫ I) match the bound's slopes over the grid (parallel "
    "speedup in both I and B)",
    "scaling", measure, judge, draw)
register(CLAIM)
register_figures(FAMILY, "multiblock", figure_multiblock)
