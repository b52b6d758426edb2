"""``convlab run classical``: one GD or Halpern run with its bound at N."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from theory_checks.classical.instances import contraction
from theory_checks.generators import load

problems = load("classical")

DEFAULTS = {"problem": "smooth_convex", "h": 1.0, "num_steps": 1000, "record_every": 10,
            "seed": 0, "dim": 40, "num_samples": 20, "loss": "least_squares", "mu": 0.1,
            "kind": "rotation_box"}
PROBLEMS = ("smooth_convex", "huber_worst_case", "quadratic", "nonexpansive")
SCHEMA = {"problem": Choice(*PROBLEMS), "h": Float(0.0, np.inf, "right"), "num_steps": Int(1, 10**7),
          "record_every": Int(1), "seed": Int(0, SEED_MAX), "dim": Int(1, 10**5),
          "num_samples": Int(1, 10**6), "loss": Choice(*problems.LOSSES),
          "mu": Float(0.0, 1.0, "right"), "kind": Choice(*problems.MAP_KINDS, problems.ATTAINING_MAP_KIND)}


def validate(config: dict[str, Any]) -> None:
    """Every key (used by the chosen problem or not): types, ranges and a size budget."""
    check_config(config, SCHEMA)
    require_budget("dim", float(config["dim"]) * max(config["num_samples"], config["dim"]), 2e8)
    require_budget("num_steps", float(config["num_steps"]) * config["dim"], 5e10, "operations")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """GD with step h/L (or 2/(L+μ) on ``quadratic``), Halpern on ``nonexpansive``; returns the
    trace and a summary with the final value and its bound."""
    name = config["problem"]
    if name not in PROBLEMS:
        raise ValueError(f"problem must be one of {PROBLEMS}, got {name!r}")
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
        bound = float(contraction(np.asarray(config["mu"])) ** n * jnp.linalg.norm(p.x0 - p.x_star))
    else:
        p = problems.make_nonexpansive_map(key, dim=config["dim"], kind=config["kind"])
        method, metric = convlab.halpern(h), "residual"
        bound = 2.0 * float(jnp.linalg.norm(p.x0 - p.x_star)) / (n + 1)
    trace = convlab.run(method, p, p.x0, key=key, num_steps=n, record_every=config["record_every"],
                        progress=progress)
    final = float(np.asarray(trace[metric])[-1])
    return trace, {"metric": metric, "final": final, "bound_at_N": bound,
                   "diverged": int(trace.diverged)}
