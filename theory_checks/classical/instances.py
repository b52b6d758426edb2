"""Shared instances of the classical family: seeded runs, normalised so every bound is the
same for every seed (gaps by ``L R²``, distances and residuals by ``||x_0 - x*||``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from theory_checks.generators import load

problems = load("classical")

CITE_DT = "Drori & Teboulle, Math. Program. 2014, Thm 3.1"
CITE_STRONG = "Nesterov, Introductory Lectures 2004, Thm 2.1.15"
CITE_LIEDER = "Lieder, Optim. Lett. 2021, Thm 2.1"
MUS = np.array([0.01, 0.1, 0.5])  # strong convexity moduli, with L = 1
FLOAT64_DISTANCE_FLOOR = 1e-13  # ~500 eps: where ||x_k - x*|| / ||x_0 - x*|| stops shrinking


def seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def record_axis(trace: Any) -> np.ndarray:
    """The record axis of a swept trace (identical for every run)."""
    return np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]


def contraction(mu: Any, L: float = 1.0) -> Any:
    """GD's per-step contraction (κ-1)/(κ+1) at γ = 2/(L+μ)."""
    kappa = L / mu
    return (kappa - 1.0) / (kappa + 1.0)


def smooth_run(key, hp, *, loss: str, dim: int, samples: int, steps: int, record_every: int):
    """GD with step ``h/L`` on a random L-smooth convex problem; returns (trace, L R²)."""
    k_prob, k_run = jax.random.split(key)
    p = problems.make_smooth_convex(k_prob, num_samples=samples, dim=dim, loss=loss)
    trace = convlab.run(convlab.gd(hp["h"] / p.L), p, p.x0, key=k_run, num_steps=steps,
                        record_every=record_every)
    return trace, p.L * p.R**2


def huber_run(key, hp, *, steps: int):
    """GD with step ``h/L`` on the Huber worst case built for ``steps``; (trace, L R²)."""
    p = problems.make_huber_worst_case(key, num_steps=steps, dim=3, relative_step=hp["h"])
    trace = convlab.run(convlab.gd(hp["h"] / p.L), p, p.x0, key=key, num_steps=steps)
    return trace, p.L * p.R**2


def quadratic_run(key, hp, *, kind: str, dim: int, steps: int, record_every: int):
    """GD with γ = 2/(L+μ) on a μ-strongly convex quadratic; (trace, ||x_0 - x*||)."""
    k_prob, k_run = jax.random.split(key)
    p = problems.make_strongly_convex_quadratic(k_prob, dim=dim, mu=hp["mu"], L=1.0, kind=kind)
    trace = convlab.run(convlab.gd(2.0 / (p.L + p.mu)), p, p.x0, key=k_run, num_steps=steps,
                        record_every=record_every)
    return trace, jnp.linalg.norm(p.x0 - p.x_star)


def halpern_run(key, hp, *, kind: str, dim: int, steps: int, record_every: int):
    """Halpern (λ_k = 1/(k+2)) on a nonexpansive map; (trace, ||x_0 - x*||)."""
    k_prob, k_run = jax.random.split(key)
    p = problems.make_nonexpansive_map(k_prob, dim=dim, kind=kind)
    trace = convlab.run(convlab.halpern(), p, p.x0, key=k_run, num_steps=steps,
                        record_every=record_every)
    return trace, jnp.linalg.norm(p.x0 - p.x_star)


def halpern_residuals(map_kinds: tuple[str, ...], *, seeds_: int, dim: int,
                      steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k, residual / ||x_0 - x*||)`` of Halpern on each map kind: ``[kind, seed, record]``."""
    values = []
    for kind in map_kinds:
        trace, r0 = convlab.sweep(halpern_run, seeds(seeds_, 5), None,
                                  static=dict(kind=kind, dim=dim, steps=steps, record_every=10))
        values.append(np.asarray(trace["residual"]) / np.asarray(r0)[:, None])
    return record_axis(trace), np.stack(values)


def draw_envelopes(ev: Any, verdict: Any, fig: Any, *, ylabel: str, logx: bool = False,
                   ylim: tuple[float, float] | None = None) -> None:
    """One panel per problem kind: seed bands per parameter value, dashed bounds."""
    fig.clear()
    axes = fig.subplots(1, ev.normalized.shape[0], squeeze=False)[0]
    for ax, name, per_problem in zip(axes, ev.problems, ev.normalized):
        for i, h in enumerate(ev.params):
            plots.error_curves(ax, ev.k, per_problem[i], label=f"{ev.param} = {h:g}",
                               color=f"C{i}", logx=logx)
            plots.bound_curve(ax, ev.k, ev.bound[i], label=None, color=f"C{i}")
        ax.set_xlabel("k")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
        if ylim is not None:
            ax.set_ylim(*ylim)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(f"{verdict.status}: worst ratio to the bound (dashed) {verdict.measured:.3g}",
                 fontsize=10)


def draw_halpern(ev: Any, verdict: Any, fig: Any, fit: Any = None) -> None:
    ax = fig.axes[0]
    for i, kind in enumerate(ev.kinds):
        plots.error_curves(ax, ev.k, ev.normalized[i], label=kind, color=f"C{i}", logx=True)
    plots.bound_curve(ax, ev.k, 2.0 / (ev.k + 1.0), label="2/(k+1)")
    if fit is not None:
        plots.fit_line(ax, fit)
    ax.set_xlabel("k")
    ax.set_ylabel("||x_k - T x_k|| / ||x_0 - x*||")
    ax.set_title(f"Halpern: {verdict.status}")
    ax.legend(fontsize=8)


@dataclasses.dataclass(frozen=True)
class EnvelopeEvidence:
    """Normalised curves ``[problem, param, seed, record]`` and their bound ``[param, record]``."""

    k: np.ndarray
    params: np.ndarray
    param: str
    problems: tuple[str, ...]
    normalized: np.ndarray
    bound: np.ndarray
