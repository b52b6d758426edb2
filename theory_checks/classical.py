"""Classical references with exact answers (PAPERS.md §6): the engine's own validation.

Claims (all registered under family ``classical``):

- ``classical.gd-smooth-envelope`` (envelope): GD with step ``h/L``, ``h ∈ (0, 1]``, on random
  L-smooth convex problems obeys ``f(x_k) - f* <= L R² / (4 k h + 2)`` for every k
  (Drori & Teboulle 2014, Thm 3.1).
- ``classical.gd-huber-tight`` (envelope, tight): on the Huber worst case built for N steps the
  gap at N equals that bound to within 1%, for several N and h (tightness of the same theorem).
- ``classical.gd-strong-envelope`` (envelope): GD with ``γ = 2/(L+μ)`` on random μ-strongly
  convex quadratics obeys ``||x_k - x*|| <= ((κ-1)/(κ+1))^k ||x_0 - x*||``.
- ``classical.gd-strong-slope`` (slope): on the worst-case two-eigenvalue quadratic the fitted
  linear rate equals ``-log((κ-1)/(κ+1))`` (exact there; the tolerance 0.1% covers rounding and
  the fit only).
- ``classical.halpern-envelope`` (envelope): Halpern with ``λ_k = 1/(k+2)`` on nonexpansive maps
  (rotations, box projections and reflections) obeys ``||x_k - T x_k|| <= 2||x_0 - x*||/(k+1)``
  (Lieder 2021).
- ``classical.halpern-slope`` (slope): the residual's power-law exponent over the last decade
  is 1. Measured at quick size: 0.999 (rotation ∘ box projection, 5 rotation planes); a single
  rotation plane gives the exact residual ``2||x_0-x*|| |sin((k+1)θ/2)|/(k+1)`` whose oscillation
  makes a power fit meaningless, which is why the maps use several random planes. The
  tolerance 0.05 is the allowance for the pre-asymptotic O(1/k) correction at k ~ 10².

Everything is normalised so the bound is the same for every seed: gaps by ``L R²``, distances
and residuals by ``||x_0 - x*||``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from problems import classical as problems
from theory_checks import kinds
from theory_checks.registry import Experiment, register, register_experiment
from theory_checks.verdict import Claim, Verdict

CITE_DT = "Drori & Teboulle, Math. Program. 2014, Thm 3.1"
CITE_STRONG = "Nesterov, Introductory Lectures 2004, Thm 2.1.15"
CITE_LIEDER = "Lieder, Optim. Lett. 2021, Thm 2.1"

SIZES = {
    True: dict(seeds=8, dim=40, samples=20, steps=400, record_every=2,
               huber_steps=(1, 4, 16, 64, 256), halpern_steps=4000, halpern_dim=10),
    False: dict(seeds=32, dim=400, samples=200, steps=4000, record_every=10,
                huber_steps=(1, 10, 100, 1000, 10000), halpern_steps=40000, halpern_dim=20),
}
RELATIVE_STEPS = np.array([0.25, 0.5, 1.0])
MUS = np.array([0.01, 0.1, 0.5])  # with L = 1


def _seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def _k(trace: Any) -> np.ndarray:
    """The record axis of a swept trace (identical for every run)."""
    return np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]


# --- GD on smooth convex problems --------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _smooth_runner(loss: str, dim: int, samples: int, steps: int, record_every: int):
    def make_run(key, hp):
        k_prob, k_run = jax.random.split(key)
        p = problems.make_smooth_convex(k_prob, num_samples=samples, dim=dim, loss=loss)
        trace = convlab.run(convlab.gd(hp["h"] / p.L), p, p.x0, key=k_run, num_steps=steps,
                            record_every=record_every)
        return trace, p.L * p.R**2
    return make_run


def measure_smooth_envelope(quick: bool) -> dict[str, Any]:
    s = SIZES[quick]
    gaps = []
    for loss in problems.LOSSES:
        run = _smooth_runner(loss, s["dim"], s["samples"], s["steps"], s["record_every"])
        trace, scale = convlab.sweep(run, _seeds(s["seeds"], 1), {"h": RELATIVE_STEPS})
        gaps.append(np.asarray(trace["gap"]) / np.asarray(scale)[..., None])
    k = _k(trace)
    bound = 1.0 / (4.0 * k[None, :] * RELATIVE_STEPS[:, None] + 2.0)  # [H, R]
    return {"k": k, "h": RELATIVE_STEPS, "param": "h", "problems": problems.LOSSES,
            "normalized": np.stack(gaps), "bound": bound}  # normalized: [problem, H, S, R]


def judge_smooth_envelope(ev: dict[str, Any]) -> Verdict:
    return kinds.envelope(ev["normalized"], ev["bound"][None, :, None, :],
                          predicted="f(x_k)-f* <= L R²/(4kh+2)")


def draw_envelopes(ev: dict[str, Any], verdict: Verdict, fig: Any, *, ylabel: str,
                   logx: bool = False, ylim: tuple[float, float] | None = None) -> None:
    """One panel per problem kind: seed bands per parameter value, dashed bounds."""
    values = ev["normalized"]  # [problem, H, S, R]
    fig.clear()
    axes = fig.subplots(1, values.shape[0], squeeze=False)[0]
    for ax, name, per_problem in zip(axes, ev["problems"], values):
        for i, h in enumerate(ev["h"]):
            plots.error_curves(ax, ev["k"], per_problem[i], label=f"{ev['param']} = {h:g}",
                               color=f"C{i}", logx=logx)
            plots.bound_curve(ax, ev["k"], ev["bound"][i], label=None, color=f"C{i}")
        ax.set_xlabel("k")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
        if ylim is not None:
            ax.set_ylim(*ylim)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(f"{verdict.status}: worst ratio to the bound (dashed) {verdict.measured:.3g}",
                 fontsize=10)


# --- Huber worst case --------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _huber_runner(steps: int):
    def make_run(key, hp):
        p = problems.make_huber_worst_case(key, num_steps=steps, dim=3, relative_step=hp["h"])
        trace = convlab.run(convlab.gd(hp["h"] / p.L), p, p.x0, key=key, num_steps=steps)
        return trace, p.L * p.R**2
    return make_run


def measure_huber_tight(quick: bool) -> dict[str, Any]:
    steps = SIZES[quick]["huber_steps"]
    h = np.array([0.5, 1.0])
    final = np.zeros((len(steps), len(h)))
    curves = {}
    for i, n in enumerate(steps):
        trace, scale = convlab.sweep(_huber_runner(n), _seeds(1, 2), {"h": h})
        gap = np.asarray(trace["gap"])[:, 0] / np.asarray(scale)[:, 0, None]  # [H, R]
        final[i] = gap[:, -1]
        curves[n] = (_k(trace), gap[-1])
    bound = 1.0 / (4.0 * np.asarray(steps)[:, None] * h[None, :] + 2.0)
    return {"N": np.asarray(steps), "h": h, "normalized_final_gap": final, "bound": bound,
            "curves": curves}


def judge_huber_tight(ev: dict[str, Any]) -> Verdict:
    return kinds.envelope(ev["normalized_final_gap"], ev["bound"], tight=0.01,
                          predicted="f(x_N)-f* = L R²/(4Nh+2) within 1%")


def draw_huber_tight(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    for j, h in enumerate(ev["h"]):
        ax.loglog(ev["N"], ev["normalized_final_gap"][:, j], "o", color=f"C{j}", label=f"measured, h = {h:g}")
        ax.loglog(ev["N"], ev["bound"][:, j], "--", color=f"C{j}", label=f"L R²/(4Nh+2), h = {h:g}")
    ax.set_xlabel("N (instance built for N steps)")
    ax.set_ylabel("(f(x_N) - f*) / (L R²)")
    ax.set_title(f"Huber worst case: {verdict.status} (ratio {verdict.details['min_ratio']:.6f}"
                 f"-{verdict.measured:.6f})")
    ax.legend(fontsize=8)


# --- strongly convex quadratics ----------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _quadratic_runner(kind: str, dim: int, steps: int, record_every: int):
    def make_run(key, hp):
        k_prob, k_run = jax.random.split(key)
        p = problems.make_strongly_convex_quadratic(k_prob, dim=dim, mu=hp["mu"], L=1.0, kind=kind)
        trace = convlab.run(convlab.gd(2.0 / (p.L + p.mu)), p, p.x0, key=k_run, num_steps=steps,
                            record_every=record_every)
        return trace, jnp.linalg.norm(p.x0 - p.x_star)
    return make_run


def _contraction(mu: np.ndarray, L: float = 1.0) -> np.ndarray:
    kappa = L / mu
    return (kappa - 1.0) / (kappa + 1.0)


def measure_strong_envelope(quick: bool) -> dict[str, Any]:
    s = SIZES[quick]
    run = _quadratic_runner("random", s["dim"], s["steps"], s["record_every"])
    trace, r0 = convlab.sweep(run, _seeds(s["seeds"], 3), {"mu": MUS})
    k = _k(trace)
    normalized = np.asarray(trace["distance"]) / np.asarray(r0)[..., None]
    bound = _contraction(MUS)[:, None] ** k[None, :]
    return {"k": k, "h": MUS, "param": "μ", "problems": ("random quadratics, L = 1",),
            "normalized": normalized[None], "bound": bound}


FLOAT64_DISTANCE_FLOOR = 1e-13  # ~500 eps: where ||x_k - x*|| / ||x_0 - x*|| stops shrinking


def judge_strong_envelope(ev: dict[str, Any]) -> Verdict:
    return kinds.envelope(ev["normalized"], ev["bound"][None, :, None, :],
                          atol=FLOAT64_DISTANCE_FLOOR,
                          predicted="||x_k-x*|| <= ((κ-1)/(κ+1))^k ||x_0-x*||")


def measure_strong_slope(quick: bool) -> dict[str, Any]:
    s = SIZES[quick]
    mu = np.array([0.1])
    run = _quadratic_runner("worst_case", s["dim"], 200, 1)
    trace, r0 = convlab.sweep(run, _seeds(s["seeds"], 4), {"mu": mu})
    k = _k(trace)
    err = np.asarray(trace["distance"])[0] / np.asarray(r0)[0, :, None]
    fit = convlab.fit_rate(k, err, kind="linear", diverged=trace.diverged[0])
    return {"k": k, "mu": float(mu[0]), "err": err, "fit": fit}


def judge_strong_slope(ev: dict[str, Any]) -> Verdict:
    predicted = float(-np.log(_contraction(np.asarray(ev["mu"]))))
    return kinds.slope(ev["fit"], predicted, tol=1e-3 * predicted, what="-log contraction per step")


def draw_strong_slope(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    plots.error_curves(ax, ev["k"], ev["err"], label="GD, γ = 2/(L+μ)")
    plots.bound_curve(ax, ev["k"], np.exp(-verdict.predicted * ev["k"]), label="((κ-1)/(κ+1))^k")
    plots.fit_line(ax, ev["fit"])
    ax.set_xlabel("k")
    ax.set_ylabel("||x_k - x*|| / ||x_0 - x*||")
    ax.set_title(f"worst-case quadratic, κ = {1 / ev['mu']:g}: {verdict.status}")
    ax.legend(fontsize=8)


# --- Halpern ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _halpern_runner(kind: str, dim: int, steps: int, record_every: int):
    def make_run(key, hp):
        k_prob, k_run = jax.random.split(key)
        p = problems.make_nonexpansive_map(k_prob, dim=dim, kind=kind)
        trace = convlab.run(convlab.halpern(), p, p.x0, key=k_run, num_steps=steps,
                            record_every=record_every)
        return trace, jnp.linalg.norm(p.x0 - p.x_star)
    return make_run


def _halpern_traces(quick: bool, kinds_: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    s = SIZES[quick]
    values = []
    for kind in kinds_:
        run = _halpern_runner(kind, s["halpern_dim"], s["halpern_steps"], 10)
        trace, r0 = convlab.sweep(run, _seeds(s["seeds"], 5), None)
        values.append(np.asarray(trace["residual"]) / np.asarray(r0)[:, None])
    return _k(trace), np.stack(values)  # [kind, S, R]


def measure_halpern_envelope(quick: bool) -> dict[str, Any]:
    k, normalized = _halpern_traces(quick, problems.MAP_KINDS)
    return {"k": k, "kinds": problems.MAP_KINDS, "normalized": normalized, "bound": 2.0 / (k + 1.0)}


def judge_halpern_envelope(ev: dict[str, Any]) -> Verdict:
    return kinds.envelope(ev["normalized"], ev["bound"][None, None, :],
                          predicted="||x_k - T x_k|| <= 2||x_0-x*||/(k+1)")


def draw_halpern(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    for i, kind in enumerate(ev["kinds"]):
        plots.error_curves(ax, ev["k"], ev["normalized"][i], label=kind, color=f"C{i}", logx=True)
    plots.bound_curve(ax, ev["k"], ev["bound"], label="2/(k+1)")
    if "fit" in ev:
        plots.fit_line(ax, ev["fit"])
    ax.set_xlabel("k")
    ax.set_ylabel("||x_k - T x_k|| / ||x_0 - x*||")
    ax.set_title(f"Halpern: {verdict.status}")
    ax.legend(fontsize=8)


def measure_halpern_slope(quick: bool) -> dict[str, Any]:
    k, normalized = _halpern_traces(quick, ("rotation_box",))
    fit = convlab.fit_rate(k, normalized[0], kind="power")
    return {"k": k, "kinds": ("rotation_box",), "normalized": normalized, "bound": 2.0 / (k + 1.0),
            "fit": fit}


def judge_halpern_slope(ev: dict[str, Any]) -> Verdict:
    return kinds.slope(ev["fit"], 1.0, tol=0.05, what="power-law exponent of the residual")


# --- registration --------------------------------------------------------------------------------
CLAIMS = [
    Claim("classical.gd-smooth-envelope", CITE_DT,
          "GD, step h/L (h ≤ 1), L-smooth convex: f(x_k)-f* ≤ L R²/(4kh+2) for all k",
          "envelope", measure_smooth_envelope, judge_smooth_envelope,
          functools.partial(draw_envelopes, ylabel="(f(x_k) - f*) / (L R²)", logx=True)),
    Claim("classical.gd-huber-tight", CITE_DT,
          "the Huber worst case attains L R²/(4Nh+2) to within 1% (tightness)",
          "envelope", measure_huber_tight, judge_huber_tight, draw_huber_tight),
    Claim("classical.gd-strong-envelope", CITE_STRONG,
          "GD, γ = 2/(L+μ), μ-strongly convex quadratic: ||x_k-x*|| ≤ ((κ-1)/(κ+1))^k ||x_0-x*||",
          "envelope", measure_strong_envelope, judge_strong_envelope,
          functools.partial(draw_envelopes, ylabel="||x_k - x*|| / ||x_0 - x*||",
                            ylim=(FLOAT64_DISTANCE_FLOOR / 10, 2.0))),
    Claim("classical.gd-strong-slope", CITE_STRONG,
          "worst-case two-eigenvalue quadratic: linear rate exactly -log((κ-1)/(κ+1))",
          "slope", measure_strong_slope, judge_strong_slope, draw_strong_slope),
    Claim("classical.halpern-envelope", CITE_LIEDER,
          "Halpern λ_k = 1/(k+2), nonexpansive T: ||x_k - T x_k|| ≤ 2||x_0-x*||/(k+1)",
          "envelope", measure_halpern_envelope, judge_halpern_envelope, draw_halpern),
    Claim("classical.halpern-slope", CITE_LIEDER,
          "Halpern residual decays as a power law with exponent 1 (O(1/k), last decade fitted)",
          "slope", measure_halpern_slope, judge_halpern_slope, draw_halpern),
]
for _claim in CLAIMS:
    register(_claim)


# --- `convlab run classical` ------------------------------------------------------------------
RUN_DEFAULTS = {"problem": "smooth_convex", "h": 1.0, "num_steps": 1000, "record_every": 10,
                "seed": 0, "dim": 40, "num_samples": 20, "loss": "least_squares", "mu": 0.1,
                "kind": "rotation_box"}
RUN_PROBLEMS = ("smooth_convex", "huber_worst_case", "quadratic", "nonexpansive")


def run_experiment(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """One classical run: GD with step h/L (or 2/(L+μ) on ``quadratic``), Halpern on
    ``nonexpansive``; returns the trace and a summary with the final value and its bound."""
    name = config["problem"]
    if name not in RUN_PROBLEMS:
        raise ValueError(f"problem must be one of {RUN_PROBLEMS}, got {name!r}")
    key = jax.random.key(config["seed"])
    n, h = config["num_steps"], config["h"]
    if name == "smooth_convex":
        p = problems.make_smooth_convex(key, num_samples=config["num_samples"], dim=config["dim"],
                                        loss=config["loss"])
        method, metric = convlab.gd(h / float(p.L)), "gap"
        bound = float(p.L * p.R**2) / (4 * n * h + 2)
    elif name == "huber_worst_case":
        p = problems.make_huber_worst_case(key, num_steps=n, dim=config["dim"], relative_step=h)
        method, metric = convlab.gd(h / float(p.L)), "gap"
        bound = float(p.L * p.R**2) / (4 * n * h + 2)
    elif name == "quadratic":
        p = problems.make_strongly_convex_quadratic(key, dim=config["dim"], mu=config["mu"], L=1.0)
        method, metric = convlab.gd(2.0 / (1.0 + config["mu"])), "distance"
        bound = float(_contraction(np.asarray(config["mu"])) ** n * jnp.linalg.norm(p.x0 - p.x_star))
    else:
        p = problems.make_nonexpansive_map(key, dim=config["dim"], kind=config["kind"])
        method, metric = convlab.halpern(h), "residual"
        bound = 2.0 * float(jnp.linalg.norm(p.x0 - p.x_star)) / (n + 1)
    trace = convlab.run(method, p, p.x0, key=key, num_steps=n, record_every=config["record_every"],
                        progress=progress)
    final = float(np.asarray(trace[metric])[-1])
    return trace, {"metric": metric, "final": final, "bound_at_N": bound,
                   "diverged": int(trace.diverged)}


register_experiment(Experiment("classical", RUN_DEFAULTS, run_experiment))
