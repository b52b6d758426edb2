"""Shared instances of the monotone family: cocoercive finite sums, the deterministic Halpern
measurement (envelope and slope claims) and the calls-to-ε measurement over n (√n law and
ordering claims), with their Evidence and drawing helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods.extragradient import eg
from convlab.methods.vr_halpern import page_batch_size, vr_halpern
from theory_checks.monotone.measures import calls_to_eps, record_spacing
from theory_checks.generators import load

problems = load("monotone")

CITE = "Cai, Alacaoglu & Diakonikolas, ICLR 2024 (arXiv 2310.02987)"
CITE_LIEDER = "Lieder, Optim. Lett. 2021, Thm 2.1 (cocoercive form, PAPERS.md §4)"
CITE_PEP = ("Lieder 2021 & Drori-Teboulle 2014, worst cases by PEPit (Goujaud et al. 2024, "
            "Taylor, Hendrickx & Glineur 2017)")
ROWS = 5                # rows per Huber component (both modes)
PROBLEM_SEED = 2310     # one mean operator (H, u*, u0) for every n: only the components change
EG_STEPS = np.array([0.25, 0.5, 0.9])   # EG steps (× 1/L) tried; the best one is EG's count
ROUNDING_FACTOR = 4.0
"""Flops per coordinate of one Halpern step that can each add one rounding error to ``u_k``."""
HALPERN_CASES = (("quadratic", 1e-3, "quadratic, spectrum [1e-3, 1]"),
                 ("quadratic", 1.0, "worst case H = L·I"),
                 ("huber", 1e-3, "Huber regression"))
HALPERN_SIZES = {"quick": dict(seeds=6, dim=20, n=64, steps=4000, record_every=10),
                 "full": dict(seeds=16, dim=40, n=256, steps=20000, record_every=20)}
SCALING_SIZES = {"quick": dict(n_grid=(64, 256, 1024, 4096), dim=20, eps_rel=1e-4, vr_seeds=4,
                               vr_steps=13000, det_steps=8000, eg_steps=6000, record_every=10),
                 "full": dict(n_grid=(64, 256, 1024, 4096, 16384), dim=20, eps_rel=5e-5,
                              vr_seeds=12, vr_steps=32000, det_steps=16000, eg_steps=12000,
                              record_every=10)}


def seed_keys(n: int, salt: int) -> jax.Array:
    """``n`` keys split from ``key(salt)``."""
    return jax.random.split(jax.random.key(salt), n)


def record_axis(trace: Any) -> np.ndarray:
    """The record axis of a swept trace (identical for every run)."""
    return np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]


def cocoercive(key: jax.Array, *, n: int, dim: int, kind: str = "quadratic", mu: Any = 1e-3):
    """A cocoercive finite sum of ``n`` components (``ROWS`` rows per Huber component)."""
    return problems.make_cocoercive_sum(key, n_components=n, dim=dim, kind=kind, mu=mu, rows=ROWS)


# --- deterministic Halpern (envelope and slope) ---------------------------------------------------
def halpern_run(key, hp, *, kind: str, n: int, dim: int, steps: int, record_every: int,
                make_method=convlab.halpern):
    """Halpern (``make_method(η)``, η = 2/L: ``T = I - (2/L)F``); returns (trace, L R,
    (‖u_0‖ + ‖u*‖)/R)."""
    p = cocoercive(key, n=n, dim=dim, kind=kind, mu=hp["mu"])
    trace = convlab.run(make_method(2.0 / p.L), p, p.x0, key=key, num_steps=steps,
                        record_every=record_every)
    r0 = jnp.linalg.norm(p.x0 - p.x_star)
    return trace, p.L * r0, (jnp.linalg.norm(p.x0) + jnp.linalg.norm(p.x_star)) / r0


@dataclasses.dataclass(frozen=True)
class HalpernEvidence:
    """``‖F u_k‖ / (L‖u_0 - u*‖)`` per case of ``HALPERN_CASES``, its bound and power fits."""

    k: np.ndarray
    cases: tuple[str, ...]
    normalized: np.ndarray     # [case, seed, record]
    bound: np.ndarray          # 1/(k+1), [record]
    fit: convlab.RateFit       # random quadratics
    fit_huber: convlab.RateFit
    n: int
    rounding: float            # a priori forward-error allowance, normalized units
    dim: int = 0


def measure_halpern(*, seeds: int, dim: int, n: int, steps: int,
                    record_every: int, make_method=convlab.halpern) -> HalpernEvidence:
    """Every case of ``HALPERN_CASES``; ``make_method`` (a factory of η) swaps in a variant."""
    curves, magnitude = [], []
    for kind in ("quadratic", "huber"):
        mus = np.array([mu for k, mu, _ in HALPERN_CASES if k == kind])
        trace, scale, size = convlab.sweep(
            halpern_run, seed_keys(seeds, 11), {"mu": mus},
            static=dict(kind=kind, n=n, dim=dim, steps=steps, record_every=record_every,
                        make_method=make_method))
        curves.append(np.asarray(trace["residual"]) / np.asarray(scale)[..., None])
        magnitude.append(float(np.max(size)))
    k = record_axis(trace)
    # T is nonexpansive: the rounding errors of N steps add up without amplification, each step
    # adding at most ROUNDING_FACTOR ulps of ‖u_0‖ + ‖u*‖; ‖F(·)‖ turns an error e into ≤ L e.
    rounding = ROUNDING_FACTOR * steps * np.finfo(np.float64).eps * max(magnitude)
    normalized = np.concatenate(curves)  # [case, seed, record] in the order of HALPERN_CASES
    return HalpernEvidence(k, tuple(c[2] for c in HALPERN_CASES), normalized, 1.0 / (k + 1.0),
                           convlab.fit_rate(k, normalized[0], kind="power"),
                           convlab.fit_rate(k, normalized[2], kind="power"), n, rounding, dim)


def draw_halpern(ev: HalpernEvidence, verdict: Any, fig: Any) -> None:
    ax = fig.axes[0]
    pos = ev.k > 0
    for i, name in enumerate(ev.cases):
        plots.error_curves(ax, ev.k[pos], ev.normalized[i][:, pos], label=name, color=f"C{i}",
                           logx=True)
    plots.bound_curve(ax, ev.k[pos], ev.bound[pos], label="bound 1/(k+1)")
    plots.fit_line(ax, ev.fit, color="C3")
    ax.set_xlabel("iteration k")
    ax.set_ylabel("||F(u_k)|| / (L ||u_0 - u*||)")
    envelope = isinstance(verdict.predicted, str)  # the slope claim predicts a number
    what = (f"worst ratio to the bound {verdict.measured:.10f}" if envelope
            else f"exponent {verdict.measured:.3f}, predicted {verdict.predicted:g}")
    ax.set_title(f"Halpern, T = I - (2/L)F, n = {ev.n}: {verdict.status} ({what})", fontsize=9)
    ax.legend(fontsize=7)


# --- oracle calls to ε against n (√n law and ordering) --------------------------------------------
@dataclasses.dataclass(frozen=True)
class ScalingEvidence:
    """Calls to ε for every n: VR-Halpern ``[n, seed]``, Halpern ``[n]``; EG at the largest n."""

    n: np.ndarray
    vr_calls: np.ndarray
    vr_iterations: np.ndarray
    det_calls: np.ndarray
    eps: np.ndarray            # absolute ε per n
    eps_rel: float
    L_avg: np.ndarray
    quantization: float        # max relative calls between the hitting record and the previous
    eg_calls_by_step: np.ndarray
    eg_steps: np.ndarray
    eg_calls: float            # EG's best over EG_STEPS
    curves: dict               # n -> {"det": (epochs, residual), "vr": [(epochs, residual), ...]}
    batch: tuple[int, ...]
    dim: int = 20
    vr_steps: int = 0
    record_every: int = 10


def run_vr(problem: Any, *, num_seeds: int, steps: int, every: int, salt: int,
           make_method=vr_halpern) -> list:
    """VR-Halpern (η = 1/L_avg), one compiled run per seed: its ``lax.cond`` on the refresh coin
    would become a ``select`` (a full pass every step) under ``vmap``."""
    method = make_method(1.0 / float(problem.L_avg))
    return [convlab.run(method, problem, problem.x0, key=key, num_steps=steps, record_every=every)
            for key in seed_keys(num_seeds, salt)]


def eg_run(key, hp, prob, *, steps: int, record_every: int):
    """EG with step ``h/L`` on the shared problem ``prob``."""
    return convlab.run(eg(hp["h"] / prob.L), prob, prob.x0,
                       key=key, num_steps=steps, record_every=record_every)


_SCALING: dict[tuple, ScalingEvidence] = {}
"""Measured once per sizes: the √n and ordering claims share this ~16 s measurement."""


def measure_scaling(*, n_grid: tuple[int, ...], dim: int, eps_rel: float, vr_seeds: int,
                    vr_steps: int, det_steps: int, eg_steps: int,
                    record_every: int) -> ScalingEvidence:
    """Calls to reach ε for every n of the grid: VR-Halpern (seeds), Halpern; EG at max n."""
    cache_key = (n_grid, dim, eps_rel, vr_seeds, vr_steps, det_steps, eg_steps, record_every)
    if cache_key not in _SCALING:
        _SCALING[cache_key] = _measure_scaling(n_grid, dim, eps_rel, vr_seeds, vr_steps,
                                               det_steps, eg_steps, record_every)
    return _SCALING[cache_key]


def _measure_scaling(n_grid, dim, eps_rel, vr_seeds, vr_steps, det_steps, eg_steps,
                     every) -> ScalingEvidence:
    key = jax.random.key(PROBLEM_SEED)
    grid = np.asarray(n_grid)
    vr_calls, vr_iters, det_calls, eps_abs, L_avg, quantization, curves = [], [], [], [], [], [], {}
    for n in grid:
        p = cocoercive(key, n=int(n), dim=dim)
        eps = eps_rel * float(p.L * jnp.linalg.norm(p.x0 - p.x_star))
        det = convlab.run(convlab.halpern(2.0 / float(p.L)), p, p.x0, key=key,
                          num_steps=det_steps, record_every=every)
        vrs = run_vr(p, num_seeds=vr_seeds, steps=vr_steps, every=every, salt=int(n))
        calls, iterations = vr_counts(vrs, eps)
        vr_calls.append(calls)
        vr_iters.append(iterations)
        det_calls.append(float(calls_to_eps(det.oracle_calls, det["residual"], eps)))
        eps_abs.append(eps)
        L_avg.append(float(p.L_avg))
        quantization.append(max([record_spacing(t.oracle_calls, t["residual"], eps) for t in vrs]
                                + [record_spacing(det.oracle_calls, det["residual"], eps)]))
        curves[int(n)] = {"det": (np.asarray(det.oracle_calls) / n, np.asarray(det["residual"])),
                          "vr": [(np.asarray(t.oracle_calls) / n, np.asarray(t["residual"]))
                                 for t in vrs]}
    p = cocoercive(key, n=int(grid[-1]), dim=dim)
    eg_trace = convlab.sweep(eg_run, jax.random.split(key, 1), {"h": EG_STEPS}, data=p,
                             static=dict(steps=eg_steps, record_every=every))
    eg_all = calls_to_eps(np.asarray(eg_trace.oracle_calls)[:, 0],
                          np.asarray(eg_trace["residual"])[:, 0], eps_abs[-1])
    return ScalingEvidence(grid, np.stack(vr_calls), np.stack(vr_iters), np.asarray(det_calls),
                           np.asarray(eps_abs), eps_rel, np.asarray(L_avg),
                           float(max(quantization)), eg_all, EG_STEPS, float(np.min(eg_all)),
                           curves, tuple(page_batch_size(int(n)) for n in grid), dim, vr_steps,
                           every)


def vr_counts(traces: list, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Oracle calls and iterations to ``eps`` of each VR run (``inf`` if never reached)."""
    return (np.array([calls_to_eps(t.oracle_calls, t["residual"], eps) for t in traces]),
            np.array([calls_to_eps(t.k, t["residual"], eps) for t in traces]))
