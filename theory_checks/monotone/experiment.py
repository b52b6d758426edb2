"""``convlab run monotone``: one method on one problem for about ``epochs`` epochs."""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget

from theory_checks.monotone.methods import figure_methods, run_for_epochs
from theory_checks.generators import load

problems = load("monotone")

PROBLEMS = ("cocoercive", "huber", "game", "bilinear", "box")
METHODS = ("halpern", "vr_halpern", "eg", "eag", "vr_eg", "inexact_halpern")
DEFAULTS = {"problem": "cocoercive", "method": "vr_halpern", "n": 256, "dim": 20,
            "epochs": 200, "seed": 0, "records": 200}
SCHEMA = {"problem": Choice(*PROBLEMS), "method": Choice(*METHODS), "n": Int(1, 10**6),
          "dim": Int(1, 10**4), "epochs": Int(1, 10**6), "seed": Int(0, SEED_MAX),
          "records": Int(1, 10**6)}


def validate(config: dict[str, Any]) -> None:
    """Every key: types, ranges and a size budget (n components of dim x dim matrices)."""
    check_config(config, SCHEMA)
    if config["method"] in ("halpern", "vr_halpern") and config["problem"] not in ("cocoercive", "huber"):
        raise ValueError(f"method {config['method']!r} needs a cocoercive problem (cocoercive, huber), "
                         f"got problem={config['problem']!r}")
    require_budget("dim", float(config["n"]) * config["dim"] ** 2, 2e8)
    require_budget("epochs", float(config["epochs"]) * config["n"] * config["dim"] ** 2, 1e13,
                   "operations")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """One method on one problem, with the step sizes of :func:`.methods.figure_methods`; the
    summary has the final residual and the epochs spent."""
    name, method_name = config["problem"], config["method"]
    if name not in PROBLEMS:
        raise ValueError(f"problem must be one of {PROBLEMS}, got {name!r}")
    if method_name not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method_name!r}")
    key = jax.random.key(config["seed"])
    n, dim = config["n"], config["dim"]
    makers: dict[str, Callable] = {
        "cocoercive": lambda: problems.make_cocoercive_sum(key, n_components=n, dim=dim),
        "huber": lambda: problems.make_cocoercive_sum(key, n_components=n, dim=dim, kind="huber"),
        "game": lambda: problems.make_matrix_game(key, n_components=n, dim=dim),
        "bilinear": lambda: problems.make_quadratic_minmax(key, n_components=n, dim=dim),
        "box": lambda: problems.make_quadratic_minmax(key, n_components=n, dim=dim,
                                                      kind="quadratic", box=1.0),
    }
    p = makers[name]()
    methods = figure_methods(p)
    if method_name not in methods:
        raise ValueError(f"method {method_name!r} needs a cocoercive problem (cocoercive, huber)")
    trace = run_for_epochs(methods[method_name], p, key, config["epochs"],
                           records=max(1, config["records"]), progress=progress)
    return trace, {"final_residual": float(np.asarray(trace["residual"])[-1]),
                   "epochs": float(np.asarray(trace.oracle_calls)[-1] / n), "L": float(p.L),
                   "L_avg": float(p.L_avg), "diverged": int(trace.diverged)}
