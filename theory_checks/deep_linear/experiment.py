"""``convlab run deep_linear``: one GD run on a whitened deep linear net; each mode's measured
half-learning time against eq. (11) (D = 2) or the quadrature of eq. (15) (D >= 3, decoupled)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from theory_checks.deep_linear import instances as I
from theory_checks.generators import load

problems = load("deep_linear")

DEFAULTS = {"modes": 6, "hidden": 6, "depth": 2, "init": "decoupled", "u0": 1e-3,
            "init_scale": 1e-3, "s_min": 0.5, "s_max": 6.0, "eta": 0.005, "num_steps": 4000,
            "record_every": 2, "seed": 0}
SCHEMA = {"modes": Int(1, 1000), "hidden": Int(1, 4000), "depth": Int(2, 100),
          "init": Choice(*problems.INITS), "u0": Float(0.0, np.inf, "neither"),
          "init_scale": Float(0.0, 1e6, "neither"), "s_min": Float(0.0, 1e6, "neither"),
          "s_max": Float(0.0, 1e6, "neither"), "eta": Float(0.0, np.inf, "neither"),
          "num_steps": Int(1, 10**7), "record_every": Int(1), "seed": Int(0, SEED_MAX)}


def validate(config: dict[str, Any]) -> None:
    """Every key: types, ranges, cross-key rules and a size budget, before any work."""
    check_config(config, SCHEMA)
    if config["s_min"] > config["s_max"]:
        raise ValueError(f"s_min ({config['s_min']}) must be <= s_max ({config['s_max']})")
    if config["hidden"] < config["modes"]:
        raise ValueError(f"hidden ({config['hidden']}) must be >= modes ({config['modes']})")
    if config["init"] == "decoupled" and not config["u0"] < config["s_min"]:
        raise ValueError(f"u0 ({config['u0']}) must be < s_min ({config['s_min']})")
    if config["init"] == "orthogonal" and config["hidden"] != config["modes"]:
        raise ValueError("hidden must equal modes for init=orthogonal")
    if config["num_steps"] % config["record_every"]:
        raise ValueError(f"num_steps ({config['num_steps']}) must be a multiple of record_every "
                         f"({config['record_every']})")
    size = float(config["hidden"]) ** 2 * config["depth"]
    require_budget("hidden", size, 1e8)
    require_budget("num_steps", float(config["num_steps"]) * size * config["hidden"], 1e13,
                   "operations")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """GD with step ``eta``; singular values geometric in [s_min, s_max]; returns the trace and
    each mode's half-learning time with the theory's."""
    validate(config)
    key = jax.random.key(config["seed"])
    s = np.geomspace(config["s_max"], config["s_min"], config["modes"])
    D = config["depth"]
    p = problems.make_deep_linear(key, singular_values=tuple(s), depth=D, hidden=config["hidden"],
                                  init=config["init"], u0=config["u0"],
                                  init_scale=config["init_scale"])
    trace = convlab.run(convlab.gd(config["eta"]), p, p.x0, key=key, num_steps=config["num_steps"],
                        record_every=config["record_every"], progress=progress)
    t = np.asarray(trace.k) * config["eta"]
    t_half = I.crossing_times(t, np.asarray(trace["modes"]), s / 2.0)
    u_start = np.asarray(p.u0) if config["init"] == "decoupled" or D != 2 else np.asarray(I.effective_u0(p))
    if D == 2:
        theory = I.half_time(s, u_start)
    elif config["init"] == "decoupled":
        theory = np.array([I.half_time_depth(D, float(v), float(config["u0"])) for v in s])
    else:
        theory = np.full(s.shape, np.nan)
    return trace, {"s": s.tolist(), "t_half": t_half.tolist(), "t_half_theory": theory.tolist(),
                   "final_gap": float(np.asarray(trace["gap"])[-1]), "diverged": int(trace.diverged)}
