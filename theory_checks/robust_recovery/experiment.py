"""``convlab run robust_recovery``: one SubGM or ℓ2-GD run, its fitted rate and the Sign-RIP
estimate of its operator."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from convlab.methods.subgm import subgm
from theory_checks.robust_recovery import instances as I
from theory_checks.generators import load

problems = load("robust_recovery")

DEFAULTS = {"method": "subgm", "dim": 20, "rank": 2, "search_rank": 2,
            "num_measurements": 800, "outlier_fraction": 0.2, "outlier_scale": I.OUTLIER_SCALE,
            "outlier_kind": "gaussian", "noise_std": 0.0, "condition_number": 1.0,
            "alpha": 1e-12, "step0": 0.1, "decay": 0.9975, "schedule": "geometric",
            "num_steps": 4000, "record_every": 40, "seed": 0, "sign_rip_directions": 64}
METHODS = ("subgm", "gd_l2")
SCHEMA = {"method": Choice(*METHODS), "dim": Int(1, 10**4), "rank": Int(1), "search_rank": Int(1),
          "num_measurements": Int(1, 10**7), "outlier_fraction": Float(0.0, 1.0, "left"),
          "outlier_scale": Float(0.0, 1e12), "outlier_kind": Choice(*problems.OUTLIER_KINDS),
          "noise_std": Float(0.0, 1e6), "condition_number": Float(1.0, 1e12),
          "alpha": Float(0.0, 1e3, "right"), "step0": Float(0.0, np.inf, "right"),
          "decay": Float(0.0, 1e6, "right"), "schedule": Choice("geometric", "inverse_t"),
          "num_steps": Int(1, 10**7), "record_every": Int(1), "seed": Int(0, SEED_MAX),
          "sign_rip_directions": Int(1, 10**5)}


def validate(config: dict[str, Any]) -> None:
    """Every key: types, ranges, ranks <= dim and a size budget (num_measurements x dim^2)."""
    check_config(config, SCHEMA)
    if config["schedule"] == "geometric" and config["decay"] > 1:
        raise ValueError(f"decay must be <= 1 with the geometric schedule, got {config['decay']}")
    for name in ("rank", "search_rank"):
        if config[name] > config["dim"]:
            raise ValueError(f"{name} must be <= dim = {config['dim']}, got {config[name]}")
    require_budget("num_measurements", float(config["num_measurements"]) * config["dim"] ** 2, 3e8)
    require_budget("num_steps", float(config["num_steps"]) * config["num_measurements"]
                   * config["dim"] ** 2, 1e13, "operations")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """One run: SubGM (``schedule`` geometric or inverse_t) or ℓ2-GD (``method="gd_l2"``, step
    ``step0``) from ``U_0 = α B``; the summary holds the final error, the fitted rate over the
    second half against ``-log ρ`` (geometric SubGM) and the Sign-RIP estimate of the operator."""
    if config["method"] not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {config['method']!r}")
    key = jax.random.key(config["seed"])
    k_prob, k_init, k_rip = jax.random.split(key, 3)
    p = problems.make_robust_recovery(
        k_prob, dim=config["dim"], rank=config["rank"], search_rank=config["search_rank"],
        num_measurements=config["num_measurements"], outlier_fraction=config["outlier_fraction"],
        outlier_scale=config["outlier_scale"], outlier_kind=config["outlier_kind"],
        noise_std=config["noise_std"], condition_number=config["condition_number"])
    if config["method"] == "subgm":
        method = subgm(config["step0"], config["decay"], schedule=config["schedule"])
    else:
        method, p = convlab.gd(config["step0"]), p.with_loss("l2")
    x0 = p.initial_point(config["alpha"], k_init)
    n = config["num_steps"]
    trace = convlab.run(method, p, x0, key=key, num_steps=n, record_every=config["record_every"],
                        metrics=I.METRICS, progress=progress)
    rip = problems.sign_rip_estimate(p, k_rip, num_directions=config["sign_rip_directions"])
    summary = {"final_error": float(np.asarray(trace["error"])[-1]),
               "final_floor": float(np.asarray(trace["floor"])[-1]),
               "diverged": int(trace.diverged), "sign_rip_delta": rip.delta,
               "sign_rip_delta_median": rip.delta_median, "sign_rip_phi_min": rip.phi_min,
               "sign_rip_direction_rank": rip.direction_rank,
               "outliers": int(np.asarray(p.outlier_mask).sum())}
    if config["method"] == "subgm" and config["schedule"] == "geometric" and trace.num_records >= 6:
        k, err = np.asarray(trace.k), np.asarray(trace["error"])
        try:
            fit = convlab.fit_rate(k, err, window=(n / 2, n), diverged=trace.diverged)
            summary.update(rate=fit.rate, rate_ci=[fit.ci_low, fit.ci_high],
                           predicted_rate=I.predicted_rate(config["decay"]))
        except ValueError:
            pass
    return trace, summary
