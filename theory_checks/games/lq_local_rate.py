"""games.lq-local-rate: on the LQ game at λ = 1, projected Euler (h = α/β², 2α/β²) and RK4
(h = 1/β, 2/β, inside the guideline 2.5/β) converge at the tail rate -log ρ of the Jacobian of
the theory's step map (x - hF(x), the classical RK4 stages; F by autodiff of the players' costs)
at x* = 0. Sharma, arXiv 2512.06791 (2025), LQ game; Hairer & Wanner (RK4). [derived]"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np

import convlab
from convlab import plots
from convlab.local import local_rate, map_local_rate
from convlab.methods import game_dynamics
from theory_checks import kinds
from theory_checks.games import broken, reference
from theory_checks.games import instances as I
from theory_checks.games.stability import rk4_amplification
from theory_checks.verdict import Verdict
from theory_checks.generators import load

games = load("games")

ID, KIND = "games.lq-local-rate", "local-rate"
CITATION = I.CITE + ", LQ game at λ = 1; Hairer & Wanner 1996 (RK4)"
STATEMENT = ("LQ game, λ = 1: Euler (h = α/β², 2α/β²) and RK4 (h = 1/β, 2/β) converge at "
             "-log ρ of the theory's step-map Jacobian at x*")
SIZES = {"quick": dict(seeds=6, euler_steps=1000, rk4_steps=200),
         "full": dict(seeds=24, euler_steps=1000, rk4_steps=200)}
LAMBDA = 1.0
RTOL = 1e-3    # leftover faster mode: (ρ2/ρ1)^k_lo <= 1.2e-5 (NOTES.md), fixed before measuring
EXACT = 1e-9   # reference ρ against its closed form: rounding only
METHODS = {"euler": game_dynamics.projected_euler, "rk4": game_dynamics.rk4}
REFERENCE_MAPS = {"euler": reference.euler_map, "rk4": reference.rk4_map}


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: dict[str, np.ndarray]              # record axis per method
    err: dict[str, np.ndarray]            # ||x_k - x*||_M / ||x_0 - x*||_M, [step, seed, R]
    diverged: dict[str, np.ndarray]       # [step, seed]
    steps: dict[str, np.ndarray]          # h per method, [step]
    labels: dict[str, tuple[str, ...]]
    reference_rate: dict[str, np.ndarray]       # -log ρ of the theory's map, [step]
    implementation_rate: dict[str, np.ndarray]  # -log ρ of the method's own step, [step]
    closed_form_rate: dict[str, np.ndarray]     # -log max_s |R(-h s)|, s = μ0 ± λ√(ab)
    fixed_point_residual: float


def lq_run(key, hp, data, *, make_method, steps: int):
    """One start ``x0 ~ N(0, I)`` (the seed's key) with step ``hp["h"]``."""
    game = data["game"]
    k_start, k_run = jax.random.split(key)
    x0 = jax.random.normal(k_start, game.x_star.shape, game.x_star.dtype)
    return convlab.run(make_method(hp["h"]), game, x0, key=k_run, num_steps=steps,
                       metrics={"m_norm": games.m_norm})


def spectrum() -> np.ndarray:
    """The LQ game's eigenvalues ``s = μ0 ± λ√(ab)`` = (α, β) of its balanced metric (NOTES.md)."""
    return I.MU0 + np.array([-1.0, 1.0]) * LAMBDA * math.sqrt(I.A * I.B)


def closed_form(name: str, h: np.ndarray) -> np.ndarray:
    """``-log max_s |1 - hs|`` (Euler), ``-log max_s |R(-hs)|`` (RK4) on the eigenvalues."""
    s = spectrum()
    z = -np.asarray(h)[:, None] * s[None, :]
    amp = 1.0 + z if name == "euler" else rk4_amplification(z)
    return -np.log(np.max(np.abs(amp), axis=1))


def _measure(*, seeds: int, euler_steps: int, rk4_steps: int, make_methods=METHODS) -> Evidence:
    game = I.lq_game(LAMBDA)
    alpha, beta = spectrum()  # derived, not certified: the certificate is other claims' subject
    steps = {"euler": np.array([1.0, 2.0]) * alpha / beta**2, "rk4": np.array([1.0, 2.0]) / beta}
    labels = {"euler": ("α/β²", "2α/β²"), "rk4": ("1/β", "2/β")}
    F = jax.jit(reference.field(game.player_costs, game.block_sizes))
    out: dict[str, dict[str, Any]] = {n: {} for n in ("k", "err", "diverged", "ref", "own", "cf")}
    residual = 0.0
    for name, num_steps in (("euler", euler_steps), ("rk4", rk4_steps)):
        trace = convlab.sweep(lq_run, jax.random.split(jax.random.key(I.GAME_SALT + 3), seeds),
                              {"h": steps[name]}, data={"game": game},
                              static=dict(make_method=make_methods[name], steps=num_steps))
        m = np.asarray(trace["m_norm"])
        out["k"][name], out["err"][name] = I.record_axis(trace), m / m[..., :1]
        out["diverged"][name] = np.asarray(trace.diverged)
        refs = [map_local_rate(REFERENCE_MAPS[name](F, float(h)), game.x_star) for h in steps[name]]
        residual = max([residual] + [r.fixed_point_residual for r in refs])
        out["ref"][name] = np.array([r.rate for r in refs])
        out["own"][name] = np.array([local_rate(make_methods[name](float(h)), game, game.x_star).rate
                                     for h in steps[name]])
        out["cf"][name] = closed_form(name, steps[name])
    return Evidence(out["k"], out["err"], out["diverged"], steps, labels, out["ref"], out["own"],
                    out["cf"], residual)


def measure(*, seeds: int, euler_steps: int, rk4_steps: int) -> Evidence:
    return _measure(seeds=seeds, euler_steps=euler_steps, rk4_steps=rk4_steps)


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for name in ("euler", "rk4"):
        for j, label in enumerate(ev.labels[name]):
            parts[f"{name} h = {label}"] = kinds.local_rate(
                ev.k[name], ev.err[name][j], ev.reference_rate[name][j], rtol=RTOL,
                diverged=ev.diverged[name][j], implementation=ev.implementation_rate[name][j])
    ref = np.concatenate([ev.reference_rate[n] for n in ("euler", "rk4")])
    cf = np.concatenate([ev.closed_form_rate[n] for n in ("euler", "rk4")])
    parts["closed form"] = kinds.certificate(ref, cf, relation="==", tol=EXACT * float(np.max(cf)),
                                             predicted="-log max_s |R(-hs)|, s = μ0 ± λ√(ab)")
    verdict = kinds.combine(parts, f"euler h = {ev.labels['euler'][0]}")
    return dataclasses.replace(verdict, details={**verdict.details,
                                                 "fixed_point_residual": ev.fixed_point_residual})


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(10.0, 4.0)
    for ax, name, title in zip(fig.subplots(1, 2), ("euler", "rk4"), ("projected Euler", "RK4")):
        k = ev.k[name]
        for j, label in enumerate(ev.labels[name]):
            plots.error_curves(ax, k, ev.err[name][j], color=f"C{j}",
                               label=f"h = {label} = {ev.steps[name][j]:.4g}")
            plots.bound_curve(ax, k, np.exp(-ev.reference_rate[name][j] * k), color=f"C{j}",
                              label="exp(-k·(-log ρ)), theory's map")
        ax.set_ylim(1e-16, 2.0)
        ax.set_xlabel("k")
        ax.set_ylabel("||x_k - x*||_M / ||x_0 - x*||_M")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"LQ game λ = {LAMBDA:g}: local rates {verdict.status} (measured/predicted "
                 f"{verdict.measured:.6f})", fontsize=10)


def negative_controls(ev: Evidence):
    """Run through the same measure path: Euler with a 1.2x step; RK4 with a wrong third stage
    (x - h k2 instead of x - (h/2) k2). And the reference ρ against a wrong closed form
    (the Euler polynomial claimed for RK4)."""
    sizes = dict(seeds=ev.err["euler"].shape[1], euler_steps=int(ev.k["euler"][-1]),
                 rk4_steps=int(ev.k["rk4"][-1]))
    yield "Euler at 1.2h", _measure(**sizes, make_methods={**METHODS, "euler": broken.EULER_SCALED})
    yield "RK4 wrong third stage", _measure(**sizes, make_methods={**METHODS,
                                                                   "rk4": broken.rk4_wrong_stage})
    yield "Euler closed form for RK4", dataclasses.replace(
        ev, closed_form_rate={**ev.closed_form_rate,
                              "rk4": closed_form("euler", ev.steps["rk4"])})
