"""``convlab run coordinate_descent``: one coordinate rule on one quadratic, with its bound."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.methods import coordinate_descent as M
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from theory_checks.coordinate_descent.instances import EPS, iterations_to, rate_constant
from theory_checks.generators import load

problems = load("coordinate_descent")

DEFAULTS = {"rule": "gsl", "kind": "dense", "dim": 12, "spread": 1000.0, "start": "random",
            "num_steps": 2000, "record_every": 1, "seed": 0, "step_scale": 1.0}
SCHEMA = {"rule": Choice(*M.RULES), "kind": Choice(*problems.KINDS), "dim": Int(2, 4096),
          "spread": Float(1.0, 1e12), "start": Choice(*problems.STARTS),
          "num_steps": Int(1, 10**7), "record_every": Int(1), "seed": Int(0, SEED_MAX),
          "step_scale": Float(0.0, 2.0, "right")}


def validate(config: dict[str, Any]) -> None:
    """Every key: types, ranges, the vertex-enumeration limit and a size budget."""
    check_config(config, SCHEMA)
    if config["num_steps"] % config["record_every"]:
        raise ValueError(f"record_every: num_steps ({config['num_steps']}) must be a multiple of "
                         f"record_every ({config['record_every']})")
    if config["start"] in ("gs_attaining", "gsl_attaining") and config["dim"] > problems.MAX_ENUMERATION_DIM:
        raise ValueError(f"start: {config['start']} needs dim <= {problems.MAX_ENUMERATION_DIM}, "
                         f"got dim={config['dim']}")
    require_budget("num_steps", float(config["num_steps"]) * config["dim"] ** 2, 5e11, "operations")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """The rule on the quadratic; returns the trace and a summary: iterations to 1e-8 gap_0,
    the rule's bound constant and the bound's gap at N."""
    validate({**DEFAULTS, **config})
    config = {**DEFAULTS, **config}
    k_p, k_r = jax.random.split(jax.random.key(config["seed"]))
    p = problems.make_quadratic(k_p, dim=config["dim"], kind=config["kind"],
                                spread=config["spread"], start=config["start"])
    method = M.coordinate_descent(config["rule"], config["step_scale"])
    trace = convlab.run(method, p, p.x0, key=k_r, num_steps=config["num_steps"],
                        record_every=config["record_every"], progress=progress)
    gap = np.asarray(trace["gap"])
    constants = {"mu": p.mu, "mu1": p.mu1, "mu_L": p.mu_L, "L": p.L, "L_bar": p.L_bar}
    rate = float(rate_constant(config["rule"], {k: float(v) for k, v in constants.items()},
                               config["dim"]))
    n = config["num_steps"]
    return trace, {"metric": "gap", "final": float(gap[-1]),
                   "iterations_to_eps": float(iterations_to(np.asarray(trace.k), gap, EPS)),
                   "rate_constant": rate, "bound_at_N": float(gap[0] * (1.0 - rate) ** n),
                   "diverged": int(trace.diverged)}
