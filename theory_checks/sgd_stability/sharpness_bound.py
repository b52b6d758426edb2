"""sgd_stability.sharpness-bound: η*(B) ≤ 2/λ_max(H) for every batch size and both samplings,
with equality for full-batch GD; η* by the generalized eigenvalue equals η* by bisection on
ρ(T(η)); GD at 0.95·2/λ_max converges at the local rate of its own step map. Wu & Su 2023;
Wu, Ma & E 2018; PAPERS-wave2.md §11 [derived]."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from convlab.local import gradient_step, local_rate, map_local_rate
from convlab.methods.sgd import sgd
from theory_checks import kinds
from theory_checks.sgd_stability import instances as I
from theory_checks.sgd_stability import theory as T
from theory_checks.verdict import Verdict

problems = I.problems

ID, KIND = "sgd_stability.sharpness-bound", "certificate"
CITATION = I.CITE_WU_SU
STATEMENT = ("η*(B)·λ_max(H) ≤ 2 for B = 1, 2, 5, 10, with and without replacement; = 2 for GD "
             "(B = n without replacement); 1/ρ(𝓛⁻¹𝓠) = bisection on ρ(T) and ρ(T) crosses 1 at η*; GD's tail rate = -log ρ "
             "of its step map transverse to θ* + null(X)")
SIZES = {"quick": dict(seeds=2, gd_seeds=4, gd_steps=200),
         "full": dict(seeds=8, gd_seeds=16, gd_steps=400)}
ROWS = ("equal", "unequal")
GD_FACTOR = 0.95     # η = 0.95·2/λ_max: ρ = 0.9 from the top mode, the others ≤ 0.85 here
RTOL = 0.03          # the local-rate allowance for the transient of the next mode (≤ 0.85/0.9)
BISECT_BATCHES = (1, 5)   # bisection (60 spectral radii each) on seed 0; the bracket everywhere
BRACKET = 1e-6       # ρ(T) ≤ 1 at η*(1 - 1e-6) and > 1 at η*(1 + 1e-6): η* is the crossing


@dataclasses.dataclass(frozen=True)
class Evidence:
    batches: tuple
    eta_lmax: np.ndarray        # η*(B)·λ_max, [rows, seed, sampling, B]
    eta_lmax_gd: np.ndarray     # η*_GD·λ_max, [rows, seed]
    formula_vs_bisection: np.ndarray   # η*(formula) / η*(bisection), seed 0, B = 1, 5: [rows, sampling, B]
    bracket: np.ndarray         # ρ(T) at η*(1 ∓ 1e-6), [rows, seed, sampling, B, 2]
    k: np.ndarray
    gd_distance: np.ndarray     # ||θ_k - θ*|| / ||θ_0 - θ*||, [seed, record]
    gd_diverged: np.ndarray
    reference_rate: np.ndarray  # -log ρ of θ - η∇L (autodiff), transverse to null(X), [seed]
    method_rate: np.ndarray     # -log ρ of sgd(B = n, without replacement)'s own step, [seed]
    closed_form_rate: np.ndarray  # -log max_i |1 - ηλ_i| over the nonzero spectrum, [seed]


def gd_run(key, hp, data, *, steps: int):
    n = data.X.shape[0]
    method = sgd(hp["eta"], batch_size=n, replace=False)
    return convlab.run(method, data, data.x0, key=key, num_steps=steps,
                       metrics={"distance_sq": problems.distance_sq})


def _null_space(X: np.ndarray) -> np.ndarray:
    _, s, vt = np.linalg.svd(X, full_matrices=True)
    return vt[int(np.sum(s > 1e-10 * s.max())):].T


def _gd_local(seeds: int, steps: int, make=sgd):
    curves, flags, ref, own, closed = [], [], [], [], []
    for s in range(seeds):
        p = I.regression(100 + s, "equal")
        X = np.asarray(p.X)
        w = np.linalg.eigvalsh(X.T @ X / X.shape[0])
        w = w[w > T.SPAN_RTOL * w.max()]
        eta = GD_FACTOR * 2.0 / w.max()
        trace = convlab.sweep(gd_run, I.seeds(1, 30 + s), {"eta": np.array([eta])}, data=p,
                              static=dict(steps=steps))
        d = np.sqrt(np.asarray(trace["distance_sq"])[0, 0])
        curves.append(d / d[0])
        flags.append(np.asarray(trace.diverged)[0, 0])
        tangent = _null_space(X)
        ref.append(map_local_rate(gradient_step(p.loss, eta), p.x_star, tangent=tangent).rate)
        own.append(local_rate(make(eta, batch_size=X.shape[0], replace=False), p, p.x_star,
                              tangent=tangent, key=jax.random.key(s)).rate)
        closed.append(-np.log(np.max(np.abs(1.0 - eta * w))))
    k = np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]
    return k, np.stack(curves), np.array(flags), np.array(ref), np.array(own), np.array(closed)


def _measure(*, seeds: int, gd_seeds: int, gd_steps: int, threshold=T.eta_star, make=sgd) -> Evidence:
    shape = (len(ROWS), seeds, len(I.SAMPLINGS), len(I.BATCHES))
    eta_lmax, gd, bracket = np.zeros(shape), np.zeros(shape[:2]), np.zeros(shape + (2,))
    ratio = np.zeros((len(ROWS), len(I.SAMPLINGS), len(BISECT_BATCHES)))
    for r, rows in enumerate(ROWS):
        for s in range(seeds):
            A = I.projected(I.regression(s, rows))
            lmax, n = T.sharpness(A), A.shape[0]
            for j, replace in enumerate(I.SAMPLINGS):
                for b, B in enumerate(I.BATCHES):
                    kap = I.kappa(B, n, replace)
                    e = threshold(A, kap)
                    eta_lmax[r, s, j, b] = e * lmax
                    bracket[r, s, j, b] = T.radius_at(A, kap, e * (1.0 + BRACKET * np.array([-1, 1])))
                    if s == 0 and B in BISECT_BATCHES:
                        ratio[r, j, BISECT_BATCHES.index(B)] = e / T.eta_star_bisection(A, kap)
            gd[r, s] = threshold(A, I.kappa(n, n, False)) * lmax
    return Evidence(I.BATCHES, eta_lmax, gd, ratio, bracket, *_gd_local(gd_seeds, gd_steps, make))


def measure(*, seeds: int, gd_seeds: int, gd_steps: int) -> Evidence:
    return _measure(seeds=seeds, gd_seeds=gd_seeds, gd_steps=gd_steps)


def judge(ev: Evidence) -> Verdict:
    return kinds.combine({
        "η*·λ_max ≤ 2": kinds.certificate(ev.eta_lmax, 2.0, relation="<=", tol=2 * I.EXACT,
                                          predicted="η*(B) ≤ 2/λ_max(H)"),
        "GD: η*·λ_max = 2": kinds.certificate(ev.eta_lmax_gd, 2.0, relation="==", tol=2 * I.EXACT,
                                              predicted="η*_GD = 2/λ_max(H)"),
        "formula = bisection": kinds.certificate(ev.formula_vs_bisection, 1.0, relation="==",
                                                 tol=I.EXACT, predicted="1/ρ(𝓛⁻¹𝓠) = sup{η: ρ(T) ≤ 1}"),
        "stable below η*": kinds.certificate(ev.bracket[..., 0], 1.0, relation="<=", tol=0.0,
                                             predicted="ρ(T(η*(1 - 1e-6))) ≤ 1"),
        "unstable above η*": kinds.certificate(np.ones_like(ev.bracket[..., 1]), ev.bracket[..., 1],
                                               relation="<=", tol=0.0,
                                               predicted="ρ(T(η*(1 + 1e-6))) > 1"),
        "GD local rate": kinds.local_rate(ev.k, ev.gd_distance, ev.reference_rate, rtol=RTOL,
                                          diverged=ev.gd_diverged, implementation=ev.method_rate),
        "GD closed form": kinds.certificate(ev.reference_rate, ev.closed_form_rate, relation="==",
                                            tol=I.EXACT, predicted="-log max|1 - ηλ_i|"),
    }, "η*·λ_max ≤ 2")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    B = np.array(ev.batches)
    for r, rows in enumerate(ROWS):
        for j, replace in enumerate(I.SAMPLINGS):
            vals = ev.eta_lmax[r, :, j, :]
            ax.plot(B, vals.mean(axis=0), "o-" if replace else "s--", color=f"C{r}",
                    label=f"{rows} rows, {I.sampling_name(replace)}")
    ax.axhline(2.0, color="k", linestyle="--", label="2 (GD: η* = 2/λ_max)")
    ax.set_xscale("log")
    ax.set_xlabel("batch size B (n = 10)")
    ax.set_ylabel("η*(B)·λ_max(H)")
    ax.legend(fontsize=6)
    ax.set_title(f"η* ≤ 2/λ_max: {verdict.status}", fontsize=9)
    for s in range(ev.gd_distance.shape[0]):
        bx.semilogy(ev.k, ev.gd_distance[s], color=f"C{s}", linewidth=1)
        bx.semilogy(ev.k, np.exp(-ev.reference_rate[s] * ev.k), "k:", linewidth=0.8)
    bx.set_xlabel("k")
    bx.set_ylabel("GD ||θ_k - θ*|| / ||θ_0 - θ*||  (dotted: ρ^k)")
    bx.set_title("GD at 0.95·2/λ_max: local rate", fontsize=9)


def _half_step_sgd(eta, **options):
    return sgd(0.5 * eta, **options)


def negative_controls(ev: Evidence):
    """A threshold from the trace (2B/Tr H, the equal-norm B = 1 value scaled by the batch size)
    exceeds 2/λ_max at large B and misses the bisection; GD run at half its step leaves the
    theory's local rate (and its own step map's)."""
    seeds, gd_seeds, steps = ev.eta_lmax.shape[1], ev.gd_distance.shape[0], ev.k.size - 1
    yield "threshold 2B/Tr H", _measure(seeds=seeds, gd_seeds=gd_seeds, gd_steps=steps,
                                        threshold=_trace_threshold)
    yield "GD at half its step", _measure(seeds=seeds, gd_seeds=gd_seeds, gd_steps=steps,
                                          make=_half_step_sgd)


def _trace_threshold(A, kappa):
    """A wrong threshold: 2/(κ·Tr H) (the equal-norm B = 1 value scaled by the batch size)."""
    return 2.0 / (max(kappa, 1e-300) * T.trace_h(A)) if kappa > 0 else 2.0 / T.sharpness(A)
