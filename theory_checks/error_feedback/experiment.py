"""``convlab run error_feedback``: one EF21 or EF21-W run on a quadratic or logistic instance
at its theory step (``γ_QM``, ``γ_AM``) times ``step_scale``; the summary: the constants
(L, L_AM, L_QM, ξ, ρ), the step, iterations to ``||∇f||² <= 1e-6 ||∇f(x0)||²``, the worst
ratio of the running mean of ``||∇f||²`` to EF21's bound (record_every = 1) and the floats sent."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.methods import ef21 as M
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from theory_checks.error_feedback import instances as I
from theory_checks.error_feedback import theory as T
from theory_checks.generators import load

problems = load("error_feedback")

DEFAULTS = {"problem": "quadratic", "method": "ef21", "step": "qm", "step_scale": 1.0,
            "compressor": "top_k", "k": 3, "n": 20, "dim": 30, "heterogeneity": 10.0,
            "fraction": 0.1, "samples": 50, "ridge": 0.01, "equal_lipschitz": False,
            "init": "exact", "num_steps": 2000, "record_every": 1, "seed": 0}
SCHEMA = {"problem": Choice("quadratic", "logistic"), "method": Choice("ef21", "ef21_w"),
          "step": Choice("qm", "am"), "step_scale": Float(0.0, 1e4, "right"),
          "compressor": Choice(*M.COMPRESSORS), "k": Int(1, 1024), "n": Int(2, 4096),
          "dim": Int(2, 1024), "heterogeneity": Float(1.0, 1e8), "fraction": Float(0.0, 1.0),
          "samples": Int(1, 10**5), "ridge": Float(0.0, 1e8, "right"),
          "equal_lipschitz": Choice(True, False), "init": Choice(*M.INITS),
          "num_steps": Int(1, 10**7), "record_every": Int(1), "seed": Int(0, SEED_MAX)}


def validate(config: dict[str, Any]) -> None:
    """Every key: types, ranges, k <= dim, record_every | num_steps, size budgets."""
    check_config(config, SCHEMA)
    if config["k"] > config["dim"]:
        raise ValueError(f"k ({config['k']}) must be <= dim ({config['dim']})")
    if config["num_steps"] % config["record_every"]:
        raise ValueError(f"record_every: num_steps ({config['num_steps']}) must be a multiple of "
                         f"record_every ({config['record_every']})")
    per_client = config["dim"] if config["problem"] == "quadratic" else config["samples"]
    require_budget("n", float(config["n"]) * per_client * config["dim"], 5e7)
    require_budget("num_steps", float(config["num_steps"]) * config["n"] * per_client * config["dim"],
                   5e11, "operations")


def make_problem(config: dict[str, Any], key: jax.Array) -> Any:
    common = dict(n=config["n"], dim=config["dim"], heterogeneity=float(config["heterogeneity"]),
                  fraction=float(config["fraction"]))
    if config["problem"] == "quadratic":
        return problems.make_quadratic(key, equal_lipschitz=config["equal_lipschitz"], **common)
    return problems.make_logistic(key, samples=config["samples"], ridge=float(config["ridge"]),
                                  **common)


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """The run; see the module docstring."""
    config = {**DEFAULTS, **config}
    validate(config)
    k_p, k_r = jax.random.split(jax.random.key(config["seed"]))
    p = make_problem(config, k_p)
    a = M.compressor_alpha(config["compressor"], config["k"], config["dim"])
    L, AM, QM = float(p.L), float(p.L_AM), float(p.L_QM)
    gamma = config["step_scale"] * float(T.step(L, QM if config["step"] == "qm" else AM, a))
    factory = M.ef21_w if config["method"] == "ef21_w" else M.ef21
    method = factory(gamma, num_clients=config["n"], k=config["k"],
                     compressor=config["compressor"], init=config["init"])
    trace = convlab.run(method, p, p.x0, key=k_r, num_steps=config["num_steps"],
                        record_every=config["record_every"], progress=progress)
    g = np.asarray(trace["grad_norm_sq"])
    k = np.asarray(trace.k, dtype=np.float64)
    summary = {"L": L, "L_AM": AM, "L_QM": QM, "alpha": a, "xi": float(T.xi(a)),
               "rho": float(T.rho(L, QM, AM, a)), "step_size": gamma,
               "iterations_to_eps": float(I.iterations_to(k, g)), "final_grad_norm_sq": float(g[-1]),
               "floats_sent": float(config["num_steps"] * config["n"]
                                    * M.floats_per_client(config["compressor"], config["k"],
                                                          config["dim"])),
               "diverged": int(trace.diverged)}
    if config["record_every"] == 1 and config["init"] == "exact":
        delta0 = float(p.loss(p.x0) - p.f_star)
        bound = 2 * delta0 / (gamma * k[1:])
        summary["bound_ratio_max"] = float(np.max(I.running_mean(g) / bound))
    return trace, summary
