"""``convlab run sgd_stability``: one SGD run on an interpolating regression at ``eta_rel`` times
its exact threshold η*(B) (the summary: η*, 2/λ_max, 2B/Tr H, ρ(T(η)), the final ||δ||²), or on
the diagonal linear network at step ``eta`` (the summary: Tr H, λ_max, ||β̂||₁ at the end)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.methods.sgd import sgd
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from theory_checks.generators import load
from theory_checks.sgd_stability import theory as T

problems = load("sgd_stability")

DEFAULTS = {"problem": "regression", "rows": "equal", "num_samples": 10, "dim": 40,
            "batch_size": 1, "replace": True, "eta_rel": 0.9, "eta": 0.01, "num_steps": 400,
            "record_every": 10, "seed": 0}
PROBLEMS = ("regression", "network")
SCHEMA = {"problem": Choice(*PROBLEMS), "rows": Choice(*problems.ROW_KINDS),
          "num_samples": Int(1, 100), "dim": Int(2, 10**5), "batch_size": Int(1, 10**6),
          "replace": Choice(True, False), "eta_rel": Float(0.0, 100.0, "right"),
          "eta": Float(0.0, 1e3, "right"), "num_steps": Int(1, 10**7), "record_every": Int(1),
          "seed": Int(0, SEED_MAX)}


def validate(config: dict[str, Any]) -> None:
    """Every key (used by the chosen problem or not): types, ranges, cross-key rules, budgets."""
    check_config(config, SCHEMA)
    if config["num_samples"] >= config["dim"]:
        raise ValueError(f"num_samples ({config['num_samples']}) must be < dim ({config['dim']}) "
                         "so the minima interpolate")
    if not config["replace"] and config["batch_size"] > config["num_samples"]:
        raise ValueError(f"batch_size ({config['batch_size']}) must be <= num_samples "
                         f"({config['num_samples']}) without replacement")
    if config["num_steps"] % config["record_every"]:
        raise ValueError(f"num_steps ({config['num_steps']}) must be a multiple of record_every "
                         f"({config['record_every']})")
    require_budget("num_samples", float(config["num_samples"]) ** 4, 1.01e8)  # the n² x n² operator
    require_budget("num_steps", float(config["num_steps"]) * config["batch_size"] * config["dim"],
                   5e10, "operations")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """One run; see the module docstring."""
    validate(config)
    key = jax.random.key(config["seed"])
    k_prob, k_run = jax.random.split(key)
    B, replace = config["batch_size"], config["replace"]
    n, d = config["num_samples"], config["dim"]
    if config["problem"] == "regression":
        p = problems.make_interpolating_regression(k_prob, num_samples=n, dim=d, rows=config["rows"])
        A = T.project(np.asarray(p.sample_hessians))
        kappa = T.noise_weight(B, A.shape[0], replace)
        eta_star = T.eta_star(A, kappa)
        eta = config["eta_rel"] * eta_star
        trace = convlab.run(sgd(eta, batch_size=B, replace=replace), p, p.x0, key=k_run,
                            num_steps=config["num_steps"], record_every=config["record_every"],
                            progress=progress)
        final = float(np.asarray(trace["distance_sq"])[-1])
        return trace, {"eta_star": eta_star, "eta": eta, "two_over_lambda_max": 2.0 / T.sharpness(A),
                       "two_b_over_trace": 2.0 * B / T.trace_h(A),
                       "rho_T": float(T.radius_at(A, kappa, [eta])[0]),
                       "final_distance_sq": final, "diverged": int(trace.diverged)}
    p = problems.make_diagonal_linear_network(k_prob, num_samples=n, dim=d)
    eta = config["eta"]
    trace = convlab.run(sgd(eta, batch_size=B, replace=replace), p, p.x0, key=k_run,
                        num_steps=config["num_steps"], record_every=config["record_every"],
                        progress=progress)
    last = {m: float(np.asarray(trace[m])[-1]) for m in ("loss", "trace_h", "sharpness", "l1_beta")}
    return trace, {"eta": eta, **last, "eta_trace_h": eta * last["trace_h"],
                   "eta_sharpness": eta * last["sharpness"], "diverged": int(trace.diverged)}
