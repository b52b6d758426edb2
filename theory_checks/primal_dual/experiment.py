"""``convlab run primal_dual``: one PDHG run (Alg. 1, Alg. 2 or adaptive) on one instance, with
the theory's bound at N (D/N for the ergodic gap, (1+ε)C/N² for Alg. 2, none otherwise)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods.pdhg import ORDERS, pdhg, pdhg_accelerated, pdhg_adaptive
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from theory_checks.primal_dual import instances as I

problems = I.problems

DEFAULTS = {"problem": "box", "method": "pdhg", "ratio": 1.0, "product": 0.99, "theta": 1.0,
            "order": "dual_first", "num_steps": 1000, "record_every": 10, "seed": 0, "n": 30,
            "m": 20, "s_min": 0.5, "spectrum": "uniform"}
PROBLEMS = ("box", "simplex", "bilinear", "rof")
METHODS = ("pdhg", "accelerated", "adaptive")
SCHEMA = {"problem": Choice(*PROBLEMS), "method": Choice(*METHODS),
          "ratio": Float(0.0, np.inf, "neither"), "product": Float(0.0, 100.0, "right"),
          "theta": Float(0.0, 1.0), "order": Choice(*ORDERS), "num_steps": Int(1, 10**7),
          "record_every": Int(1), "seed": Int(0, SEED_MAX), "n": Int(3, 5000), "m": Int(2, 5000),
          "s_min": Float(0.0, 1.0, "right"), "spectrum": Choice(*problems.SPECTRA)}


def validate(config: dict[str, Any]) -> None:
    """Every key (used by the chosen problem or not): types, ranges, cross-key rules, budgets."""
    check_config(config, SCHEMA)
    if config["num_steps"] % config["record_every"]:
        raise ValueError(f"record_every: must divide num_steps ({config['num_steps']}), "
                         f"got {config['record_every']}")
    if config["method"] == "accelerated" and config["problem"] != "rof":
        raise ValueError("method: 'accelerated' needs a strongly convex G: use problem=rof")
    require_budget("n", float(config["n"]) * config["m"], 2.5e7)
    require_budget("num_steps", float(config["num_steps"]) * config["n"] * config["m"], 5e11,
                   "operations")


def _error(problem: Any, z: Any) -> jax.Array:
    return jnp.sum((z[0] - problem.x_star) ** 2)


def _gap(problem: Any, z: Any) -> jax.Array:
    return problem.gap(z[0], z[1])


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """Run the chosen method; returns the trace and a summary with the final value and bound."""
    name, n = config["problem"], config["num_steps"]
    key = jax.random.key(config["seed"])
    if name == "box":
        p = problems.make_box_game(key, n=config["n"], m=config["m"])
    elif name == "simplex":
        p = problems.make_simplex_game(key, n=config["n"], m=config["m"])
    elif name == "bilinear":
        p = problems.make_bilinear_game(key, n=config["n"], s_min=config["s_min"],
                                        spectrum=config["spectrum"])
    else:
        p = problems.make_rof_1d(key, n=config["n"])
    L = float(p.L)
    tau, sigma = (float(v) for v in I.steps_from_ratio(config["ratio"], L, config["product"]))
    bound, bound_name = float("nan"), "none"
    if config["method"] == "accelerated":
        method = pdhg_accelerated(1.0 / L, 1.0 / L, float(p.gamma))
        bound, bound_name = 1.1 * float(p.C(1.0 / L)) / n**2, "(1+0.1) C/N² (N >= 100)"
    elif config["method"] == "adaptive":
        method = pdhg_adaptive(1.0 / L)
    else:
        method = pdhg(tau, sigma, config["theta"], order=config["order"])
    metric = {"box": "gap", "simplex": "gap", "bilinear": "distance", "rof": "error"}[name]
    fn = {"gap": _gap, "distance": I.z_norm, "error": _error}[metric]
    trace = convlab.run(method, p, p.z0, key=key, num_steps=n, record_every=config["record_every"],
                        metrics={metric: fn}, progress=progress)
    summary = {"metric": metric, "final": float(np.asarray(trace[metric])[-1]), "L": L,
               "diverged": int(trace.diverged), "bound_at_N": bound, "bound": bound_name}
    if name in ("box", "simplex") and config["method"] == "pdhg":
        xs, ys = I.iterates(method, p, n, key)
        summary["ergodic_gap_at_N"] = float(p.gap(I.ergodic(xs)[-1], I.ergodic(ys)[-1]))
        summary["bound_at_N"], summary["bound"] = float(p.D(tau, sigma)) / n, "D/N (ergodic gap)"
    return trace, summary
