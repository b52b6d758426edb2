"""``convlab run bilevel``: one method on one bilevel problem."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from theory_checks.bilevel import ridge_observation as applications
from theory_checks.bilevel import instances as I

DEFAULTS = {"problem": "synthetic", "method": "bo_rep", "steps": 2000, "seed": 0, "records": 100,
            "init": I.INIT}
PROBLEMS = ("synthetic", "quartic", "representation", "cleaning")
SCHEMA = {"problem": Choice(*PROBLEMS), "method": Choice(*I.FIGURE_METHODS), "steps": Int(1, 10**7),
          "seed": Int(0, SEED_MAX), "records": Int(1, 10**6), "init": Float(-1e6, 1e6)}


def validate(config: dict[str, Any]) -> None:
    """Every key: types and ranges (steps >= 1, 1 <= records <= steps)."""
    check_config(config, SCHEMA)
    if config["records"] > config["steps"]:
        raise ValueError(f"records must be <= steps = {config['steps']}, got {config['records']}")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """BO-REP (the schedule at r = 1) or a baseline on the synthetic problems; on the
    applications, the claim's methods at the second step of their grid (quick-size instances).
    The summary has the final ‖∇Φ‖ and Φ."""
    name, method_name = config["problem"], config["method"]
    if name not in PROBLEMS:
        raise ValueError(f"problem must be one of {PROBLEMS}, got {name!r}")
    if method_name not in I.FIGURE_METHODS:
        raise ValueError(f"method must be one of {I.FIGURE_METHODS}, got {method_name!r}")
    if name in ("synthetic", "quartic"):
        p = I.synthetic(init_scale=float(config["init"]), kind="exp" if name == "synthetic" else "quartic")
        method = I.scheduled_bo_rep(1.0, p) if method_name == "bo_rep" else I.synthetic_baseline(method_name)
    else:
        quick = applications.SIZES["quick"]
        p = I.app_problem(name, **(quick["rep"] if name == "representation" else quick["clean"]))
        method = I.app_method(method_name, I.APP_GRIDS[name][method_name][1], name)
    steps = int(config["steps"])
    every = max(1, steps // max(1, int(config["records"])))
    trace = convlab.run(method, p, p.start, key=jax.random.key(int(config["seed"])),
                        num_steps=every * max(1, steps // every), record_every=every, progress=progress)
    return trace, {"final_hypergrad_norm": float(np.asarray(trace["hypergrad_norm"])[-1]),
                   "final_phi": float(np.asarray(trace["phi"])[-1]),
                   "oracle_calls": int(np.asarray(trace.oracle_calls)[-1]), "diverged": int(trace.diverged)}
