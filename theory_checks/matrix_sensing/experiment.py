"""``convlab run matrix_sensing``: one GD (or one-step modified GD) run on a fresh instance."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from convlab.methods.one_step_gd import one_step_gd
from theory_checks.generators import load

problems = load("matrix_sensing")

DEFAULTS = {"parameterization": "asymmetric", "method": "gd", "n": 20, "r": 2, "k": 3,
            "num_measurements": 600, "alpha": 0.1, "imbalance": 1.0 / 3.0,
            "condition_number": 1.0, "eta": 0.1, "threshold": 1e-3, "scale": 1.0,
            "num_steps": 4000, "record_every": 10, "seed": 0}
METHODS = ("gd", "one_step")
SCHEMA = {"parameterization": Choice("asymmetric", "symmetric"), "method": Choice(*METHODS),
          "n": Int(1, 10**4), "r": Int(1), "k": Int(1), "num_measurements": Int(1, 10**7),
          "alpha": Float(0.0, 1e3, "right"), "imbalance": Float(0.0, 1e3, "right"),
          "condition_number": Float(1.0, 1e12), "eta": Float(0.0, np.inf, "right"),
          "threshold": Float(0.0, 1e6), "scale": Float(0.0, 1e6, "right"),
          "num_steps": Int(1, 10**7), "record_every": Int(1), "seed": Int(0, SEED_MAX)}


def validate(config: dict[str, Any]) -> None:
    """Every key (used by the chosen parameterization or not): types, ranges, r <= k <= n and
    a size budget (the measurement operator holds num_measurements x n^2 numbers)."""
    check_config(config, SCHEMA)
    if config["r"] > config["n"]:
        raise ValueError(f"r must be <= n = {config['n']}, got {config['r']}")
    if config["k"] > config["n"]:
        raise ValueError(f"k must be <= n = {config['n']}, got {config['k']}")
    if config["parameterization"] == "symmetric" and config["method"] != "gd":
        raise ValueError("method: the one-step modification needs the asymmetric parameterization")
    require_budget("num_measurements", float(config["num_measurements"]) * config["n"] ** 2, 3e8)
    require_budget("num_steps", float(config["num_steps"]) * config["num_measurements"]
                   * config["n"] ** 2, 1e13, "operations")


def _problem(config: dict[str, Any], key: jax.Array) -> Any:
    if config["parameterization"] == "symmetric":
        if config["method"] != "gd":
            raise ValueError("method: the one-step modification needs the asymmetric parameterization")
        return problems.make_symmetric_sensing(key, n=config["n"], r=config["r"], k=config["k"],
                                               num_measurements=config["num_measurements"],
                                               alpha=config["alpha"],
                                               condition_number=config["condition_number"])
    if config["parameterization"] == "asymmetric":
        return problems.make_asymmetric_sensing(key, n1=config["n"], n2=config["n"],
                                                r=config["r"], k=config["k"],
                                                num_measurements=config["num_measurements"],
                                                alpha=config["alpha"], imbalance=config["imbalance"],
                                                condition_number=config["condition_number"])
    raise ValueError("parameterization must be 'symmetric' or 'asymmetric', "
                     f"got {config['parameterization']!r}")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """One run: GD (or the one-step modified GD, asymmetric only) on a fresh instance; the
    summary has the final (relative) error and, when it decays, the fitted linear rate."""
    key_problem, key_run = jax.random.split(jax.random.key(config["seed"]))
    if config["method"] not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {config['method']!r}")
    p = _problem(config, key_problem)
    method = (convlab.gd(config["eta"]) if config["method"] == "gd" else
              one_step_gd(config["eta"], threshold=config["threshold"], scale=config["scale"]))
    trace = convlab.run(method, p, p.x0, key=key_run, num_steps=config["num_steps"],
                        record_every=config["record_every"], progress=progress)
    err = np.asarray(trace["error"])
    summary = {"final_error": float(err[-1]),
               "relative_final_error": float(err[-1] / np.linalg.norm(np.asarray(p.M_star))),
               "diverged": int(trace.diverged)}
    if np.all(np.isfinite(err)) and err[-1] > 0:
        fit = convlab.fit_rate(np.asarray(trace.k), err, kind="linear")
        summary.update(linear_rate=fit.rate, linear_rate_window=list(fit.window))
    return trace, summary
